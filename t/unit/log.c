/* lib/log: one write per line, levels, prefixes, long lines kept whole,
 * control bytes escaped. */
#include "config.h"

#include "lib/log.h"
#include "tap.h"

#include <fcntl.h>
#include <stdlib.h>
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
    close(fd);
    deadline_mode();
    fw_log_set_fd(2);
    return done_testing();
}
