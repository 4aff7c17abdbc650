/* Log line formatting and the single write() per line. The fd and level are
 * process-wide because every thread, the Python streams and the signal-free
 * master loop all log through here. */
#include "config.h"

#include "log.h"

#include "dir.h"
#include "syslog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static atomic_bool stderr_too; /* errors and warnings also on fd 2, while starting */
static atomic_int log_level = FW_LOG_NOTICE;
static char log_prefix[128];
static char syslog_ident[32] = "fcgiwsgi";
static int syslog_facility = LOG_DAEMON;

static const char *const level_names[] = { "err", "warn", "notice", "info", "debug" };
static const int level_severity[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

/* The deadline mode (fw_log_set_deadline). O_NONBLOCK is a flag of the
 * open file description, and a stderr log shares its description with every
 * worker (their fd 4), with whoever started us and its other children: set
 * there, it would turn their writes into EAGAIN failures, and workers are
 * meant to keep blocking writes. So the master gets a way of its own that
 * leaves the shared description alone, chosen by what the fd is:
 * - a socket (journald's stdout stream, a syslog socket): send() with
 *   MSG_DONTWAIT, a flag of the call, not of the description;
 * - a pipe, FIFO or terminal: a description of our own for the same pipe or
 *   device, opened through /proc/self/fd/N with O_NONBLOCK (Linux opens the
 *   object itself there, not a copy of the fd);
 * - a regular file: plain write(), which never returns EAGAIN (a full disk
 *   fails at once with ENOSPC);
 * - else, or without /proc: poll() for POLLOUT before each write. Weaker: a
 *   pipe polls writable with one free page, and a longer line can still
 *   block in write().
 * A partial write waits for the rest until the deadline, then the line is
 * cut and the next one starts with a newline. */
enum nb_how { NB_PLAIN, NB_SEND, NB_OWN_FD, NB_POLL };

static atomic_bool nb_on;
static atomic_int nb_deadline_ms;

struct fw_log_sink {
    pthread_mutex_t lock; /* the deadline mode's state, a syslog socket's */
    atomic_int fd;
    bool owned;     /* fd is ours to close: a file we opened, our syslog socket */
    char *target;   /* as opened: "stderr", a file's path, "syslog[:PATH]"; NULL for an fd */
    bool is_syslog; /* fd is a datagram socket that takes syslog lines */
    char syslog_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int64_t retry_ms; /* syslog: no connect() before this */
    enum nb_how how;
    int nb_fd;    /* what is written to: fd, or own_fd */
    int own_fd;   /* ours to close, or -1 */
    bool stalled; /* the last line missed its deadline: try without waiting */
    bool cut;     /* the last line went out in part */
    uint64_t dropped;
};

static struct fw_log_sink main_sink = {
    .lock = PTHREAD_MUTEX_INITIALIZER, .fd = 2, .nb_fd = -1, .own_fd = -1
};

struct fw_log_sink *fw_log_main(void)
{
    return &main_sink;
}

static struct fw_log_sink *sink_of(struct fw_log_sink *s)
{
    return s ? s : &main_sink;
}

/* With s->lock held. */
static void nb_prepare(struct fw_log_sink *s, int fd)
{
    if (s->own_fd >= 0)
        close(s->own_fd);
    s->own_fd = -1;
    s->nb_fd = fd;
    s->how = NB_POLL;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return;
    if (S_ISREG(st.st_mode)) {
        s->how = NB_PLAIN;
    } else if (S_ISSOCK(st.st_mode)) {
        s->how = NB_SEND;
    } else {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int own = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (own >= 0) {
            s->own_fd = s->nb_fd = own;
            s->how = NB_OWN_FD;
        }
    }
}

/* With s->lock held: the sink forgets what it wrote to, closing what was
 * its own unless `forget` (a worker just forked: the numbers may already be
 * the worker's own fds). */
static void sink_reset(struct fw_log_sink *s, bool forget)
{
    int fd = atomic_exchange(&s->fd, -1);
    if (!forget && s->owned && fd > 2)
        close(fd);
    if (!forget && s->own_fd >= 0)
        close(s->own_fd);
    s->owned = false;
    s->own_fd = s->nb_fd = -1;
    free(s->target);
    s->target = NULL;
    s->is_syslog = false;
    s->stalled = s->cut = false;
    s->dropped = 0;
    s->retry_ms = 0;
}

void fw_log_set_fd(int fd)
{
    pthread_mutex_lock(&main_sink.lock);
    sink_reset(&main_sink, true);
    atomic_store(&main_sink.fd, fd);
    atomic_store(&nb_on, false);
    pthread_mutex_unlock(&main_sink.lock);
}

void fw_log_use_syslog_fd(int fd, const char *path)
{
    pthread_mutex_lock(&main_sink.lock);
    sink_reset(&main_sink, true);
    snprintf(main_sink.syslog_path, sizeof(main_sink.syslog_path), "%s", path);
    main_sink.is_syslog = true;
    atomic_store(&main_sink.fd, fd);
    atomic_store(&nb_on, false);
    nb_prepare(&main_sink, fd);
    pthread_mutex_unlock(&main_sink.lock);
}

void fw_log_set_deadline(int deadline_ms)
{
    pthread_mutex_lock(&main_sink.lock);
    atomic_store(&nb_deadline_ms, deadline_ms < 0 ? 0 : deadline_ms);
    nb_prepare(&main_sink, atomic_load(&main_sink.fd));
    atomic_store(&nb_on, true);
    pthread_mutex_unlock(&main_sink.lock);
}

void fw_log_set_level(enum fw_log_level max_level)
{
    atomic_store(&log_level, (int)max_level);
}

enum fw_log_level fw_log_get_level(void)
{
    return (enum fw_log_level)atomic_load(&log_level);
}

int fw_log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

void fw_log_set_prefix(const char *prefix)
{
    snprintf(log_prefix, sizeof(log_prefix), "%s", prefix ? prefix : "");
}

void fw_log_set_syslog(const char *ident, int facility)
{
    snprintf(syslog_ident, sizeof(syslog_ident), "%s", ident ? ident : "fcgiwsgi");
    syslog_facility = facility;
}

int fw_log_syslog_facility(void)
{
    return syslog_facility;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An existing file is opened as it is (logrotate's `create` set its owner
 * and mode); a new one gets 0640 and the group. */
static int open_file(const char *path, long group)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0 || errno != ENOENT)
            return fd;
        /* Its directory too, one level, like our sockets' (lib/dir.h);
         * the open says what went wrong if that fails. */
        fw_dir_make_for(path);
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0640);
        if (fd >= 0) {
            /* Not ours to give (a manager that is not root): the file keeps
             * the manager's group. */
            if (group >= 0 && fchown(fd, (uid_t)-1, (gid_t)group) < 0 && errno != EPERM)
                fw_log(FW_LOG_WARN, "log %s: setting its group: %s", path, strerror(errno));
            return fd;
        }
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

int fw_log_sink_open(struct fw_log_sink *s, const char *target, long group)
{
    s = sink_of(s);
    const char *sys = fw_syslog_target_path(target);
    if (sys && strlen(sys) >= sizeof(s->syslog_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd;
    if (strcmp(target, "stderr") == 0)
        fd = 2;
    else if (sys)
        fd = fw_syslog_socket(sys);
    else
        fd = open_file(target, group);
    char *copy = strdup(target);
    if (fd < 0 || !copy) {
        int saved = fd < 0 ? errno : ENOMEM;
        if (fd > 2)
            close(fd);
        free(copy);
        errno = saved;
        return -1;
    }
    pthread_mutex_lock(&s->lock);
    /* A thread may be inside write() on the old fd; closing it only makes
     * that write fail, which a logger tolerates. stderr stays open. */
    sink_reset(s, false);
    atomic_store(&s->fd, fd);
    s->owned = fd > 2;
    s->target = copy;
    if (sys) {
        s->is_syslog = true;
        snprintf(s->syslog_path, sizeof(s->syslog_path), "%s", sys);
    }
    if (atomic_load(&nb_on) || sys)
        nb_prepare(s, fd);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int fw_log_open(const char *target)
{
    return fw_log_sink_open(&main_sink, target, -1);
}

struct fw_log_sink *fw_log_sink_new(void)
{
    struct fw_log_sink *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    atomic_store(&s->fd, -1);
    s->nb_fd = s->own_fd = -1;
    return s;
}

void fw_log_sink_free(struct fw_log_sink *s)
{
    if (!s || s == &main_sink)
        return;
    sink_reset(s, false);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int fw_log_sink_fd(const struct fw_log_sink *s)
{
    return atomic_load(&sink_of((struct fw_log_sink *)s)->fd);
}

const char *fw_log_sink_syslog_path(const struct fw_log_sink *s)
{
    s = sink_of((struct fw_log_sink *)s);
    return s->is_syslog ? s->syslog_path : NULL;
}

/* "2026-11-23 18:30:01.123 notice [pool p pid 1] ", in UTC: local time
 * would follow the TZ that an app may set for the whole process (Django
 * does, from TIME_ZONE), and the lines of one log would jump between zones.
 * For syslog, "<PRI>Mmm dd hh:mm:ss fcgiwsgi[pid]: [pool p pid 1] ": the
 * level is in PRI. */
static size_t format_head(const struct fw_log_sink *s, char *buf, size_t size,
                          enum fw_log_level level)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t n;
    int m;
    if (s->is_syslog) {
        n = fw_syslog_head(buf, size, syslog_facility, level_severity[level], syslog_ident,
                           getpid(), ts.tv_sec);
        m = snprintf(buf + n, size - n, "%s%s%s", log_prefix[0] ? "[" : "", log_prefix,
                     log_prefix[0] ? "] " : "");
    } else {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
        m = snprintf(buf + n, size - n, ".%03ld %s %s%s%s", ts.tv_nsec / 1000000L,
                     level_names[level], log_prefix[0] ? "[" : "", log_prefix,
                     log_prefix[0] ? "] " : "");
    }
    if (m < 0)
        return n;
    n += (size_t)m;
    return n < size ? n : size - 1;
}

/* Bytes a peer could forge or hide a line with (CR, LF, ESC sequences for a
 * terminal, BS...) are written as \xHH wherever they come from: a URI, a
 * file name, a header an app logs, a control command. TAB stays: it cannot
 * start a line. Bytes >= 0x80 stay too (UTF-8 text, or not). */
static bool must_escape(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static size_t count_escapes(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += must_escape((unsigned char)s[i]);
    return n;
}

/* Writes len + 3 * count_escapes(s, len) bytes. */
static size_t copy_escaped(char *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (must_escape(c)) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += w;
        len -= (size_t)w;
    }
}

static bool wait_writable(int fd, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - monotonic_ms();
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int r = poll(&pfd, 1, left > 0 ? (int)left : 0);
        if (r < 0 && errno == EINTR)
            continue;
        return r > 0 && (pfd.revents & POLLOUT);
    }
}

/* With s->lock held: the bytes that went out by the deadline. */
static size_t nb_put(struct fw_log_sink *s, const char *buf, size_t len, int wait_ms)
{
    int64_t deadline_ms = monotonic_ms() + wait_ms;
    size_t off = 0;
    while (off < len) {
        if (s->how == NB_POLL && !wait_writable(s->nb_fd, deadline_ms))
            break;
        ssize_t w = s->how == NB_SEND
                        ? send(s->nb_fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL)
                        : write(s->nb_fd, buf + off, len - off);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && s->how != NB_POLL &&
            wait_writable(s->nb_fd, deadline_ms))
            continue;
        break; /* EPIPE, ENOSPC, the deadline: the rest is dropped */
    }
    return off;
}

/* With s->lock held: one datagram of head and body, by the deadline. A
 * daemon that went away (its socket closed: ECONNREFUSED, then ENOTCONN;
 * or not there yet: ENOENT) is connected to again, at most once a second:
 * rsyslog and journald recreate /dev/log when they restart. */
static bool syslog_put(struct fw_log_sink *s, const char *head, size_t hlen, const char *body,
                       size_t blen, int wait_ms)
{
    int64_t deadline_ms = monotonic_ms() + wait_ms;
    struct iovec iov[2] = { { (void *)head, hlen }, { (void *)body, blen } };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
    bool reconnected = false;
    for (int attempt = 0; attempt < 64; attempt++) {
        if (sendmsg(s->nb_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            return true;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait_writable(s->nb_fd, deadline_ms))
                continue;
            return false;
        }
        if ((errno == ECONNREFUSED || errno == ENOTCONN || errno == ECONNRESET || errno == ENOENT ||
             errno == EDESTADDRREQ) &&
            !reconnected && monotonic_ms() >= s->retry_ms) {
            reconnected = true;
            if (fw_syslog_connect(s->nb_fd, s->syslog_path) == 0)
                continue;
            s->retry_ms = monotonic_ms() + 1000;
        }
        return false; /* EMSGSIZE, ENOBUFS, no daemon: dropped */
    }
    return false;
}

/* With s->lock held: each line of buf (every one starts with a head of
 * hlen bytes and ends with LF) as datagrams of at most
 * FW_SYSLOG_DATAGRAM_MAX bytes, the head repeated on each part; false if
 * some were dropped, which are counted. */
static bool syslog_lines(struct fw_log_sink *s, const char *buf, size_t len, size_t hlen,
                         int *wait_ms)
{
    bool all = true;
    size_t room = FW_SYSLOG_DATAGRAM_MAX > hlen + 64 ? FW_SYSLOG_DATAGRAM_MAX - hlen : 64;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        size_t head_len = hlen < (size_t)(line_end - p) ? hlen : (size_t)(line_end - p);
        const char *body = p + head_len;
        size_t blen = (size_t)(line_end - body);
        do {
            size_t part = blen < room ? blen : room;
            if (syslog_put(s, p, head_len, body, part, *wait_ms)) {
                s->stalled = false;
            } else {
                s->dropped++;
                s->stalled = true;
                *wait_ms = 0;
                all = false;
            }
            body += part;
            blen -= part;
        } while (blen > 0);
        p = line_end + (nl ? 1 : 0);
    }
    return all;
}

/* With s->lock held: false if the line was dropped (or cut), which is
 * counted. */
static bool nb_line(struct fw_log_sink *s, const char *buf, size_t len, int wait_ms)
{
    size_t w = nb_put(s, buf, len, wait_ms);
    if (w == len)
        return true;
    s->dropped++;
    s->stalled = true;
    s->cut = s->cut || w > 0;
    return false;
}

/* Lines formatted for s (each starting with a head of hlen bytes) to it. */
static void emit(struct fw_log_sink *s, const char *buf, size_t len, size_t hlen)
{
    if (!s->is_syslog && !atomic_load(&nb_on)) {
        write_all(atomic_load(&s->fd), buf, len);
        return;
    }
    pthread_mutex_lock(&s->lock);
    int wait_ms = s->stalled            ? 0
                  : atomic_load(&nb_on) ? atomic_load(&nb_deadline_ms)
                                        : FW_LOG_SYSLOG_WAIT_MS;
    if (s->nb_fd < 0) {
        s->dropped++;
        goto out;
    }
    if (s->cut) {
        if (nb_put(s, "\n", 1, wait_ms) != 1) {
            s->dropped++;
            s->stalled = true;
            goto out;
        }
        s->cut = false;
    }
    if (s->dropped) {
        char note[384];
        size_t nh = format_head(s, note, sizeof(note) - 96, FW_LOG_WARN);
        size_t n = nh + (size_t)snprintf(note + nh, sizeof(note) - nh,
                                         "%" PRIu64 " log line%s dropped (log not writable)\n",
                                         s->dropped, s->dropped == 1 ? "" : "s");
        uint64_t dropped = s->dropped;
        s->dropped = 0;
        if (!(s->is_syslog ? syslog_lines(s, note, n, nh, &wait_ms)
                           : nb_line(s, note, n, wait_ms))) {
            /* Not a line to count: this one is. */
            s->dropped = dropped + 1;
            s->stalled = true;
            goto out;
        }
    }
    if (s->is_syslog)
        syslog_lines(s, buf, len, hlen, &wait_ms);
    else if (nb_line(s, buf, len, wait_ms))
        s->stalled = false;
out:
    pthread_mutex_unlock(&s->lock);
}

/* fw_log_keep_errors(): the buffer, the level of what it holds (-1:
 * nothing yet), and a flag read without the lock on every line. */
static atomic_bool keeping;
static struct {
    pthread_mutex_t lock;
    char *buf;
    size_t cap;
    int level;
} kept = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, -1 };

void fw_log_keep_errors(char *buf, size_t cap)
{
    pthread_mutex_lock(&kept.lock);
    kept.buf = cap ? buf : NULL;
    kept.cap = cap;
    kept.level = -1;
    if (kept.buf)
        kept.buf[0] = '\0';
    atomic_store(&keeping, kept.buf != NULL);
    pthread_mutex_unlock(&kept.lock);
}

/* Copies "tag: msg" into the kept buffer, if level is err, or warn while no
 * err is held; control bytes as '?', cut to fit. */
static void keep(enum fw_log_level level, const char *tag, const char *msg, size_t len)
{
    if (level > FW_LOG_WARN || !atomic_load(&keeping))
        return;
    pthread_mutex_lock(&kept.lock);
    if (kept.buf && (kept.level < 0 || (int)level <= kept.level)) {
        size_t n = 0, tlen = tag ? strlen(tag) : 0;
        const char *parts[3] = { tag, tag ? ": " : NULL, msg };
        size_t lens[3] = { tlen, tag ? 2 : 0, len };
        for (int i = 0; i < 3; i++)
            for (size_t j = 0; j < lens[i] && n + 1 < kept.cap; j++) {
                unsigned char c = (unsigned char)parts[i][j];
                kept.buf[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
            }
        kept.buf[n] = '\0';
        kept.level = (int)level;
    }
    pthread_mutex_unlock(&kept.lock);
}

/* The message body: the function's name only at debug (above it, a line
 * must read well to an operator on its own, and C names are noise there),
 * the text, the errno text; escaped. malloc'd, NULL on out of memory. */
static char *format_body(enum fw_log_level level, const char *func, int errnum, const char *fmt,
                         va_list ap, size_t *len)
{
    va_list ap2;
    va_copy(ap2, ap);
    int mlen = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (mlen < 0)
        return NULL;
    char errtext[128] = "";
    if (errnum)
        snprintf(errtext, sizeof(errtext), ": %s", strerror(errnum));
    if (level != FW_LOG_DEBUG)
        func = NULL;
    size_t flen = func ? strlen(func) + 2 : 0;
    size_t raw_len = flen + (size_t)mlen + strlen(errtext);
    char *raw = malloc(raw_len + 1);
    if (!raw)
        return NULL;
    size_t n = 0;
    if (func)
        n += (size_t)snprintf(raw, raw_len + 1, "%s: ", func);
    vsnprintf(raw + n, raw_len + 1 - n, fmt, ap);
    n += (size_t)mlen;
    memcpy(raw + n, errtext, strlen(errtext) + 1);
    size_t escapes = count_escapes(raw, raw_len);
    if (!escapes) {
        *len = raw_len;
        return raw;
    }
    char *escaped = malloc(raw_len + 3 * escapes + 1);
    if (!escaped) {
        /* Out of memory for the escapes: the line still must not split. */
        for (size_t i = 0; i < raw_len; i++)
            if (must_escape((unsigned char)raw[i]))
                raw[i] = '?';
        *len = raw_len;
        return raw;
    }
    *len = copy_escaped(escaped, raw, raw_len);
    escaped[*len] = '\0';
    free(raw);
    return escaped;
}

/* head + body + LF to s, and to stderr too while starting (see log.h), in
 * the file format there. */
static void emit_body(struct fw_log_sink *s, enum fw_log_level level, const char *body, size_t blen)
{
    char stackbuf[2048];
    for (int pass = 0; pass < 2; pass++) {
        bool to_stderr = pass == 1;
        if (to_stderr && !(atomic_load(&stderr_too) && level <= FW_LOG_WARN &&
                           (s->is_syslog || atomic_load(&s->fd) != 2)))
            break;
        char head[256];
        struct fw_log_sink plain = { .is_syslog = false };
        size_t hlen = format_head(to_stderr ? &plain : s, head, sizeof(head), level);
        size_t need = hlen + blen + 1;
        char *buf = need <= sizeof(stackbuf) ? stackbuf : malloc(need);
        if (!buf)
            return;
        memcpy(buf, head, hlen);
        memcpy(buf + hlen, body, blen);
        buf[need - 1] = '\n';
        if (to_stderr) {
            ssize_t w = write(2, buf, need);
            (void)w;
        } else {
            emit(s, buf, need, hlen);
        }
        if (buf != stackbuf)
            free(buf);
    }
}

static void vwrite_to(struct fw_log_sink *s, enum fw_log_level level, const char *func, int errnum,
                      const char *fmt, va_list ap)
{
    if ((int)level > atomic_load(&log_level))
        return;
    int saved_errno = errno;
    size_t blen = 0;
    char *body = format_body(level, func, errnum, fmt, ap, &blen);
    if (body) {
        emit_body(sink_of(s), level, body, blen);
        keep(level, NULL, body, blen);
    }
    free(body);
    errno = saved_errno;
}

void fw_log_write(enum fw_log_level level, const char *func, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwrite_to(&main_sink, level, func, errnum, fmt, ap);
    va_end(ap);
}

void fw_log_write_to(struct fw_log_sink *s, enum fw_log_level level, const char *func, int errnum,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwrite_to(s, level, func, errnum, fmt, ap);
    va_end(ap);
}

void fw_log_set_stderr_too(bool on)
{
    atomic_store(&stderr_too, on);
}

void fw_log_block_to(struct fw_log_sink *s, enum fw_log_level level, const char *tag,
                     const char *text, size_t len)
{
    if ((int)level > atomic_load(&log_level))
        return;
    s = sink_of(s);
    int saved_errno = errno;
    char head[256];
    size_t hlen = format_head(s, head, sizeof(head), level);
    size_t tlen = tag ? strlen(tag) : 0;
    size_t tag_out = tlen + 3 * count_escapes(tag, tlen);
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n')
            lines++;
    /* The LFs count among the escapes: a little room to spare. */
    size_t need = len + 3 * count_escapes(text, len) + lines * (hlen + tag_out + 3) + 1;
    char *buf = malloc(need);
    if (!buf) {
        errno = saved_errno;
        return;
    }
    size_t n = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        memcpy(buf + n, head, hlen);
        n += hlen;
        if (tlen) {
            n += copy_escaped(buf + n, tag, tlen);
            buf[n++] = ':';
            buf[n++] = ' ';
        }
        /* A CRLF line end (an app's text written on Windows) is a line end,
         * not a CR to show. */
        size_t shown = nl && l > 0 && p[l - 1] == '\r' ? l - 1 : l;
        n += copy_escaped(buf + n, p, shown);
        buf[n++] = '\n';
        p += l + (nl ? 1 : 0);
    }
    emit(s, buf, n, hlen);
    free(buf);
    /* Its last line that holds something: a traceback's exception. */
    size_t last_end = len;
    while (last_end && (text[last_end - 1] == '\n' || text[last_end - 1] == '\r'))
        last_end--;
    size_t last = last_end;
    while (last && text[last - 1] != '\n')
        last--;
    if (last_end > last)
        keep(level, tag, text + last, last_end - last);
    errno = saved_errno;
}

void fw_log_block(enum fw_log_level level, const char *tag, const char *text, size_t len)
{
    fw_log_block_to(&main_sink, level, tag, text, len);
}
