/* Log line formatting and the single write() per line. The fd and level are
 * process-wide because every thread, the Python streams and the signal-free
 * master loop all log through here. */
#include "config.h"

#include "log.h"

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
#include <time.h>
#include <unistd.h>

static atomic_int log_fd = 2;
static atomic_bool stderr_too; /* errors and warnings also on fd 2, while starting */
static atomic_int log_level = FW_LOG_NOTICE;
static char log_prefix[128];

static const char *const level_names[] = { "err", "warn", "notice", "info", "debug" };

/* The deadline mode (fw_log_set_deadline). O_NONBLOCK is a flag of the
 * open file description, and a stderr log shares its description with every
 * worker (their fd 4), with whoever started us and its other children: set
 * there, it would turn their writes into EAGAIN failures, and workers are
 * meant to keep blocking writes. So the master gets a way of its own that
 * leaves the shared description alone, chosen by what the fd is:
 * - a socket (journald's stdout stream): send() with MSG_DONTWAIT, a flag of
 *   the call, not of the description;
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
static struct {
    pthread_mutex_t lock;
    int deadline_ms;
    enum nb_how how;
    int fd;       /* what is written to: log_fd, or own_fd */
    int own_fd;   /* ours to close, or -1 */
    bool stalled; /* the last line missed its deadline: try without waiting */
    bool cut;     /* the last line went out in part */
    uint64_t dropped;
} nb = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1, .own_fd = -1 };

/* With nb.lock held. */
static void nb_prepare(int fd)
{
    if (nb.own_fd >= 0)
        close(nb.own_fd);
    nb.own_fd = -1;
    nb.fd = fd;
    nb.how = NB_POLL;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return;
    if (S_ISREG(st.st_mode)) {
        nb.how = NB_PLAIN;
    } else if (S_ISSOCK(st.st_mode)) {
        nb.how = NB_SEND;
    } else {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int own = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (own >= 0) {
            nb.own_fd = nb.fd = own;
            nb.how = NB_OWN_FD;
        }
    }
}

void fw_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
    pthread_mutex_lock(&nb.lock);
    /* Forgotten, not closed: in a worker just forked from the master, the
     * number may already belong to one of the worker's own fds. */
    nb.own_fd = -1;
    nb.fd = -1;
    nb.stalled = nb.cut = false;
    nb.dropped = 0;
    atomic_store(&nb_on, false);
    pthread_mutex_unlock(&nb.lock);
}

void fw_log_set_deadline(int deadline_ms)
{
    pthread_mutex_lock(&nb.lock);
    nb.deadline_ms = deadline_ms < 0 ? 0 : deadline_ms;
    nb_prepare(atomic_load(&log_fd));
    atomic_store(&nb_on, true);
    pthread_mutex_unlock(&nb.lock);
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

int fw_log_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    pthread_mutex_lock(&nb.lock);
    int old = atomic_exchange(&log_fd, fd);
    if (atomic_load(&nb_on))
        nb_prepare(fd);
    pthread_mutex_unlock(&nb.lock);
    /* A thread may be inside write() on the old fd; closing it only makes
     * that write fail, which a logger tolerates. stderr stays open. */
    if (old > 2)
        close(old);
    return 0;
}

/* "2026-11-23 18:30:01.123 notice [pool p pid 1] ", in UTC: local time
 * would follow the TZ that an app may set for the whole process (Django
 * does, from TIME_ZONE), and the lines of one log would jump between zones. */
static size_t format_head(char *buf, size_t size, enum fw_log_level level)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
    int m =
        snprintf(buf + n, size - n, ".%03ld %s %s%s%s", ts.tv_nsec / 1000000L, level_names[level],
                 log_prefix[0] ? "[" : "", log_prefix, log_prefix[0] ? "] " : "");
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

static void write_all(const char *buf, size_t len)
{
    int fd = atomic_load(&log_fd);
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

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* With nb.lock held: the bytes that went out by the deadline. */
static size_t nb_put(const char *buf, size_t len, int wait_ms)
{
    int64_t deadline_ms = monotonic_ms() + wait_ms;
    size_t off = 0;
    while (off < len) {
        if (nb.how == NB_POLL && !wait_writable(nb.fd, deadline_ms))
            break;
        ssize_t w = nb.how == NB_SEND
                        ? send(nb.fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL)
                        : write(nb.fd, buf + off, len - off);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && nb.how != NB_POLL &&
            wait_writable(nb.fd, deadline_ms))
            continue;
        break; /* EPIPE, ENOSPC, the deadline: the rest is dropped */
    }
    return off;
}

/* With nb.lock held: false if the line was dropped (or cut), which is
 * counted. */
static bool nb_line(const char *buf, size_t len, int wait_ms)
{
    size_t w = nb_put(buf, len, wait_ms);
    if (w == len)
        return true;
    nb.dropped++;
    nb.stalled = true;
    nb.cut = nb.cut || w > 0;
    return false;
}

static void emit(const char *buf, size_t len)
{
    if (!atomic_load(&nb_on)) {
        write_all(buf, len);
        return;
    }
    pthread_mutex_lock(&nb.lock);
    int wait_ms = nb.stalled ? 0 : nb.deadline_ms;
    if (nb.cut) {
        if (nb_put("\n", 1, wait_ms) != 1) {
            nb.dropped++;
            nb.stalled = true;
            goto out;
        }
        nb.cut = false;
    }
    if (nb.dropped) {
        char note[384];
        size_t n = format_head(note, sizeof(note) - 96, FW_LOG_WARN);
        n += (size_t)snprintf(note + n, sizeof(note) - n,
                              "%" PRIu64 " log line%s dropped (log not writable)\n", nb.dropped,
                              nb.dropped == 1 ? "" : "s");
        if (!nb_line(note, n, wait_ms))
            goto out;
        nb.dropped = 0;
    }
    if (nb_line(buf, len, wait_ms))
        nb.stalled = false;
out:
    pthread_mutex_unlock(&nb.lock);
}

/* The line to the log, and to stderr too while starting (see log.h). */
static void emit_line(enum fw_log_level level, const char *line, size_t len)
{
    emit(line, len);
    if (atomic_load(&stderr_too) && level <= FW_LOG_WARN && atomic_load(&log_fd) != 2) {
        ssize_t w = write(2, line, len);
        (void)w;
    }
}

void fw_log_write(enum fw_log_level level, const char *func, int errnum, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level))
        return;
    int saved_errno = errno;
    char stackbuf[2048];
    char head[256];
    size_t hlen = format_head(head, sizeof(head), level);

    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int mlen = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (mlen < 0) {
        va_end(ap2);
        errno = saved_errno;
        return;
    }
    char errtext[128] = "";
    if (errnum)
        snprintf(errtext, sizeof(errtext), ": %s", strerror(errnum));
    /* The function's name only at debug: above it, a line must read well to
     * an operator on its own, and C names are noise there. */
    if (level != FW_LOG_DEBUG)
        func = NULL;
    size_t flen = func ? strlen(func) + 2 : 0;
    /* Long lines are kept whole: a traceback or an app's line may be long. */
    size_t need = hlen + flen + (size_t)mlen + strlen(errtext) + 2;
    char *buf = need <= sizeof(stackbuf) ? stackbuf : malloc(need);
    if (!buf) {
        va_end(ap2);
        errno = saved_errno;
        return;
    }
    memcpy(buf, head, hlen);
    size_t n = hlen;
    if (func) {
        n += (size_t)snprintf(buf + n, need - n, "%s: ", func);
    }
    vsnprintf(buf + n, need - n, fmt, ap2);
    va_end(ap2);
    n += (size_t)mlen;
    n += (size_t)snprintf(buf + n, need - n, "%s\n", errtext);
    size_t escapes = count_escapes(buf + hlen, n - 1 - hlen);
    char *escaped = escapes ? malloc(n + 3 * escapes) : NULL;
    if (escaped) {
        memcpy(escaped, buf, hlen);
        size_t e = hlen + copy_escaped(escaped + hlen, buf + hlen, n - 1 - hlen);
        escaped[e++] = '\n';
        emit_line(level, escaped, e);
        free(escaped);
    } else {
        /* Out of memory for the escapes: the line still must not split. */
        for (size_t i = hlen; escapes && i < n - 1; i++)
            if (must_escape((unsigned char)buf[i]))
                buf[i] = '?';
        emit_line(level, buf, n);
    }
    if (buf != stackbuf)
        free(buf);
    errno = saved_errno;
}

void fw_log_set_stderr_too(bool on)
{
    atomic_store(&stderr_too, on);
}

void fw_log_block(enum fw_log_level level, const char *tag, const char *text, size_t len)
{
    if ((int)level > atomic_load(&log_level))
        return;
    int saved_errno = errno;
    char head[256];
    size_t hlen = format_head(head, sizeof(head), level);
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
    emit(buf, n);
    free(buf);
    errno = saved_errno;
}
