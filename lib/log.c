/* Log line formatting and the single write() per line. The fd and level are
 * process-wide because every thread, the Python streams and the signal-free
 * master loop all log through here. */
#include "config.h"

#include "log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_fd = 2;
static atomic_int log_level = FW_LOG_NOTICE;
static char log_prefix[128];

static const char *const level_names[] = { "err", "warn", "notice", "info", "debug" };

void fw_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
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
    int old = atomic_exchange(&log_fd, fd);
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
        write_all(escaped, e);
        free(escaped);
    } else {
        /* Out of memory for the escapes: the line still must not split. */
        for (size_t i = hlen; escapes && i < n - 1; i++)
            if (must_escape((unsigned char)buf[i]))
                buf[i] = '?';
        write_all(buf, n);
    }
    if (buf != stackbuf)
        free(buf);
    errno = saved_errno;
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
    write_all(buf, n);
    free(buf);
    errno = saved_errno;
}
