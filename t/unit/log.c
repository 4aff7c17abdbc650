/* lib/log: one write per line, levels, prefixes, long lines kept whole,
 * control bytes escaped. */
#include "config.h"

#include "lib/log.h"
#include "tap.h"

#include "lib/syslog.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The master's mode: a log pipe nobody reads costs at most the deadline
 * once, lines are dropped and counted, and the shared write end stays
 * blocking for the workers that have it too. */
static void deadline_mode(void)
{
    int p[2];
    if (pipe(p) < 0) {
        ok(0, "pipe");
        return;
    }
    fw_log_set_fd(p[1]);
    fw_log_set_deadline(20);
    long long t0 = now_ms();
    int i;
    for (i = 0; i < 20000; i++)
        fw_log(FW_LOG_NOTICE, "filler line %d, long enough to fill the pipe quickly", i);
    long long took = now_ms() - t0;
    ok(took < 1000, "20000 lines into a full pipe return at once");
    diag("took %lld ms", took);
    ok(!(fcntl(p[1], F_GETFL) & O_NONBLOCK), "the shared write end stays blocking");

    /* Drain: the next line goes out after the count of what was lost. */
    int flags = fcntl(p[0], F_GETFL);
    fcntl(p[0], F_SETFL, flags | O_NONBLOCK);
    static char buf[1 << 16];
    while (read(p[0], buf, sizeof(buf)) > 0)
        ;
    fw_log(FW_LOG_NOTICE, "after the drain");
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    ok(strstr(buf, " log lines dropped (log not writable)\n") != NULL,
       "the lost lines are counted");
    ok(strstr(buf, "] after the drain\n") != NULL, "then the line is written");
    const char *count = strstr(buf, "] ");
    long dropped = count ? strtol(count + 2, NULL, 10) : 0;
    ok(dropped > 0 && dropped < 20000, "the count is of the lines that did not fit");
    diag("%s", buf);
    fw_log_set_fd(2);
    close(p[0]);
    close(p[1]);
}

static int bind_dgram(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One datagram, or "" if none within ms. */
static const char *recv_one(int fd, int ms)
{
    static char buf[65536];
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void drain(int fd)
{
    char buf[65536];
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
}

/* log: syslog:PATH: RFC 3164 datagrams with the level as priority, the
 * prefix and the escaping kept; a receiver that is full or gone costs at
 * most the deadline (the master) or FW_LOG_SYSLOG_WAIT_MS once (a worker),
 * and one that comes back is found again. */
static void syslog_mode(void)
{
    char path[] = "/tmp/fwlogsockXXXXXX";
    int tmp = mkstemp(path);
    if (tmp >= 0)
        close(tmp);
    int rx = bind_dgram(path);
    ok(rx >= 0, "syslog: a receiving socket");
    char target[64];
    snprintf(target, sizeof(target), "syslog:%s", path);
    ok(fw_syslog_target_path("syslog") && !strcmp(fw_syslog_target_path("syslog"), "/dev/log") &&
           !strcmp(fw_syslog_target_path(target), path) && !fw_syslog_target_path("syslogx") &&
           !fw_syslog_target_path("/var/log/x"),
       "syslog targets: syslog, syslog:PATH");
    is(fw_syslog_facility_parse("local3"), LOG_LOCAL3, "facility names");
    is(fw_syslog_facility_parse("kern"), -1, "... kern is not one");

    fw_log_set_prefix("pool blog pid 7");
    fw_log_set_syslog("fcgiwsgi", LOG_DAEMON);
    ok(fw_log_open(target) == 0, "syslog: opened");
    ok(fw_log_sink_syslog_path(NULL) && !strcmp(fw_log_sink_syslog_path(NULL), path),
       "... it is a syslog sink");
    fw_log(FW_LOG_NOTICE, "hello %d", 42);
    const char *d = recv_one(rx, 2000);
    char want[128];
    snprintf(want, sizeof(want), " fcgiwsgi[%ld]: [pool blog pid 7] hello 42", (long)getpid());
    ok(!strncmp(d, "<29>", 4) && strlen(d) > 20 && d[7] == ' ' && d[10] == ' ' && d[13] == ':' &&
           !strcmp(d + 19, want),
       "syslog: <PRI>Mmm dd hh:mm:ss ident[pid]: [prefix] message, no LF");
    diag("%s", d);
    fw_log(FW_LOG_ERR, "x\r\nFORGED\x1b");
    d = recv_one(rx, 2000);
    ok(!strncmp(d, "<27>", 4) && strstr(d, "] x\\x0d\\x0aFORGED\\x1b") && !strchr(d, '\n'),
       "syslog: err is priority 27, controls escaped");
    fw_log(FW_LOG_WARN, "w");
    ok(!strncmp(recv_one(rx, 2000), "<28>", 4), "syslog: warn is 28");
    fw_log_set_level(FW_LOG_DEBUG);
    fw_log(FW_LOG_INFO, "i");
    ok(!strncmp(recv_one(rx, 2000), "<30>", 4), "syslog: info is 30");
    fw_log(FW_LOG_DEBUG, "d");
    ok(!strncmp(recv_one(rx, 2000), "<31>", 4), "syslog: debug is 31");
    fw_log_set_level(FW_LOG_NOTICE);
    const char block[] = "Traceback:\n  line 1\nValueError: x";
    fw_log_block(FW_LOG_ERR, "app /a.wsgi", block, sizeof(block) - 1);
    ok(strstr(recv_one(rx, 2000), "] app /a.wsgi: Traceback:") &&
           strstr(recv_one(rx, 2000), "] app /a.wsgi:   line 1") &&
           strstr(recv_one(rx, 2000), "] app /a.wsgi: ValueError: x"),
       "syslog: a block is a datagram per line");
    char *big = malloc(20001);
    memset(big, 'y', 20000);
    big[20000] = '\0';
    fw_log(FW_LOG_NOTICE, "%s", big);
    free(big);
    size_t total = 0;
    int parts = 0;
    bool each_small = true, each_headed = true;
    for (;;) {
        d = recv_one(rx, 300);
        if (!*d)
            break;
        parts++;
        each_small = each_small && strlen(d) <= FW_SYSLOG_DATAGRAM_MAX;
        each_headed = each_headed && !strncmp(d, "<29>", 4) && strstr(d, "] yyy");
        const char *y = strstr(d, "] ");
        total += y ? strlen(y + 2) : 0;
    }
    ok(parts == 3 && each_small && each_headed && total == 20000,
       "syslog: a 20000-byte line goes in parts of at most 8 KiB, each with the head");
    diag("%d parts, %zu bytes", parts, total);

    /* A worker (no deadline mode): a full socket costs the wait once. */
    long long t0 = now_ms();
    for (int i = 0; i < 2000; i++)
        fw_log(FW_LOG_NOTICE, "filler %d", i);
    long long took = now_ms() - t0;
    ok(took >= FW_LOG_SYSLOG_WAIT_MS - 50 && took < FW_LOG_SYSLOG_WAIT_MS + 1500,
       "syslog, no deadline mode: a full socket is waited for once, then lines are dropped");
    diag("took %lld ms", took);
    drain(rx);
    fw_log(FW_LOG_NOTICE, "after the drain");
    d = recv_one(rx, 2000);
    ok(strstr(d, " log lines dropped (log not writable)") && !strncmp(d, "<28>", 4),
       "syslog: the lost lines are counted, at warn");
    ok(strstr(recv_one(rx, 2000), "] after the drain") != NULL, "... then the line goes out");

    /* The master: a full socket costs the deadline at most once. */
    fw_log_set_deadline(20);
    t0 = now_ms();
    for (int i = 0; i < 2000; i++)
        fw_log(FW_LOG_NOTICE, "filler %d", i);
    took = now_ms() - t0;
    ok(took < 500, "syslog, deadline mode: 2000 lines into a full socket return at once");
    diag("took %lld ms", took);
    drain(rx);

    /* The daemon goes away and comes back (a restart recreates /dev/log). */
    close(rx);
    unlink(path);
    t0 = now_ms();
    for (int i = 0; i < 100; i++)
        fw_log(FW_LOG_NOTICE, "nobody listens %d", i);
    ok(now_ms() - t0 < 500, "syslog: no daemon: lines are dropped at once");
    rx = bind_dgram(path);
    usleep(1100 * 1000); /* past the reconnect's rate limit */
    fw_log(FW_LOG_NOTICE, "back");
    d = recv_one(rx, 2000);
    ok(strstr(d, " log lines dropped (log not writable)") != NULL,
       "syslog: reconnected to the new socket, the lost lines counted");
    ok(strstr(recv_one(rx, 2000), "] back") != NULL, "... and the line is there");
    fw_log_set_fd(2);
    close(rx);
    unlink(path);
}

/* A starting worker's last error, kept for the master (its slot). */
static void keep_errors(void)
{
    char kept[32];
    fw_log_keep_errors(kept, sizeof(kept));
    is(kept[0], '\0', "keep: setting the buffer empties it");
    fw_log(FW_LOG_NOTICE, "not an error");
    is(kept[0], '\0', "keep: a notice is not kept");
    fw_log(FW_LOG_WARN, "a warning");
    ok(!strcmp(kept, "a warning"), "keep: a warning, while there is no error");
    errno = ENOENT;
    fw_log_errno(FW_LOG_ERR, "open %s", "x");
    ok(!strcmp(kept, "open x: No such file or directo"), "keep: an error, with errno, cut to fit");
    fw_log(FW_LOG_WARN, "a later warning");
    ok(!strncmp(kept, "open x", 6), "keep: a warning does not replace an error");
    const char block[] = "Traceback:\n  line 1\nValueError: \x1b!\n\n";
    fw_log_block(FW_LOG_ERR, "app", block, sizeof(block) - 1);
    ok(!strcmp(kept, "app: ValueError: ?!"),
       "keep: a block by its last line, tagged, controls as ?");
    diag("kept: %s", kept);
    fw_log_keep_errors(NULL, 0);
    fw_log(FW_LOG_ERR, "after");
    ok(!strcmp(kept, "app: ValueError: ?!"), "keep: NULL stops it");
}

static char *read_all(int fd)
{
    static char buf[200000];
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

int main(void)
{
    char path[] = "/tmp/fwlogXXXXXX";
    int fd = mkstemp(path);
    ok(fd >= 0, "temp file");
    unlink(path);
    fw_log_set_fd(fd);
    fw_log_set_prefix("pool blog pid 7");
    fw_log_set_level(FW_LOG_NOTICE);

    fw_log(FW_LOG_NOTICE, "hello %d", 42);
    fw_log(FW_LOG_INFO, "dropped");
    errno = ENOENT;
    fw_log_errno(FW_LOG_ERR, "open %s", "x");
    char *text = read_all(fd);
    ok(strstr(text, " notice [pool blog pid 7] hello 42\n") != NULL,
       "line format: no function name above debug");
    ok(strstr(text, "dropped") == NULL, "level filter");
    ok(strstr(text, " err [pool blog pid 7] open x: No such file or directory\n") != NULL,
       "errno text");

    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        diag("cannot reset the temp file");
    fw_log_set_level(FW_LOG_DEBUG);
    fw_log(FW_LOG_DEBUG, "probe %d", 1);
    fw_log_set_level(FW_LOG_NOTICE);
    text = read_all(fd);
    ok(strstr(text, " debug [pool blog pid 7] main: probe 1\n") != NULL,
       "debug lines keep the function name");

    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        diag("cannot reset the temp file");
    char *big = malloc(10001);
    memset(big, 'y', 10000);
    big[10000] = '\0';
    fw_log(FW_LOG_WARN, "%s", big);
    text = read_all(fd);
    ok(strlen(text) > 10000 && strchr(text, '\n') == text + strlen(text) - 1,
       "a 10000-byte message stays one whole line");
    free(big);

    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        diag("cannot reset the temp file");
    const char block[] = "Traceback:\n  line 1\nValueError: x";
    fw_log_block(FW_LOG_ERR, "app /a.wsgi", block, sizeof(block) - 1);
    text = read_all(fd);
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    is(lines, 3, "block: one log line per text line");
    ok(strstr(text, "[pool blog pid 7] app /a.wsgi:   line 1\n") != NULL, "block lines tagged");

    /* Nothing a peer sent may start a line or hide one (issue 14, item 8). */
    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        diag("cannot reset the temp file");
    fw_log(FW_LOG_WARN, "SCRIPT_FILENAME %s is not a file", "/x\r\nFORGED\x1b[2J\x7f\tend");
    text = read_all(fd);
    ok(strstr(text, "] SCRIPT_FILENAME /x\\x0d\\x0aFORGED\\x1b[2J\\x7f\tend is not a file\n") !=
           NULL,
       "controls in a line written as \\xHH, TAB kept");
    ok(strchr(text, '\n') == text + strlen(text) - 1, "... and it stays one line");
    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        diag("cannot reset the temp file");
    const char evil[] = "peer sent x\r\nFORGED\x1b[0m\rhidden\r\nlast";
    fw_log_block(FW_LOG_NOTICE, "app \x1b/a.wsgi", evil, sizeof(evil) - 1);
    text = read_all(fd);
    ok(strstr(text, "app \\x1b/a.wsgi: peer sent x\n") != NULL,
       "block: a CRLF line end is a line end");
    ok(strstr(text, "app \\x1b/a.wsgi: FORGED\\x1b[0m\\x0dhidden\n") != NULL,
       "block: controls escaped, in the tag too");
    ok(strstr(text, "\nFORGED") == NULL && strchr(text, '\r') == NULL && strchr(text, 0x1b) == NULL,
       "block: no line starts with what the peer sent, no raw CR or ESC");

    is(fw_log_level_parse("debug"), FW_LOG_DEBUG, "level names");
    is(fw_log_level_parse("loud"), -1, "unknown level");
    keep_errors();
    close(fd);
    deadline_mode();
    syslog_mode();
    fw_log_set_fd(2);
    return done_testing();
}
