/* manager/output: a pool's token bucket and its dropped count, lines cut at
 * FW_OUTPUT_LINE_MAX whatever a worker sends, one budget per read, the
 * pool's read cap per second. */
#include "config.h"

#include "lib/log.h"
#include "manager/output.h"
#include "tap.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int log_fd;

static void reset_log(void)
{
    if (ftruncate(log_fd, 0) < 0 || lseek(log_fd, 0, SEEK_SET) < 0)
        diag("cannot reset the temp file");
}

/* Lines in the log, and the longest. */
static size_t log_lines(size_t *longest)
{
    static char buf[1 << 16];
    size_t lines = 0, cur = 0;
    *longest = 0;
    lseek(log_fd, 0, SEEK_SET);
    ssize_t n;
    while ((n = read(log_fd, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                lines++;
                *longest = cur > *longest ? cur : *longest;
                cur = 0;
            } else {
                cur++;
            }
        }
    return lines;
}

static void bucket(void)
{
    struct fw_output_rate r;
    fw_output_rate_init(&r, 1000);
    ok(fw_output_rate_take(&r, FW_OUTPUT_BURST_BYTES, 1000), "the whole burst at once");
    ok(!fw_output_rate_take(&r, 1, 1000), "then nothing in the same ms");
    ok(!fw_output_rate_take(&r, 1000, 1001), "a ms later, not 1000 bytes");
    is(r.dropped, 2, "dropped lines are counted");
    ok(fw_output_rate_take(&r, FW_OUTPUT_RATE_BYTES / 2, 1501),
       "half a second refills half a rate");
    ok(!fw_output_rate_take(&r, FW_OUTPUT_RATE_BYTES / 4, 1501), "and not more");
    ok(fw_output_rate_take(&r, FW_OUTPUT_BURST_BYTES, 1501 + 3600000),
       "an hour later: the burst, not an hour of rate (no overflow)");
    ok(!fw_output_rate_take(&r, 1, 1501 + 3600000), "... and the bucket is empty again");

    /* reported_ms starts at init (1000): the first report is due at 2000. */
    is(fw_output_rate_due(&r, 1999, false), 0, "no report within the first second");
    is(fw_output_rate_due(&r, 2000, false), 4, "then the count, once");
    is(fw_output_rate_due(&r, 2001, false), 0, "and it starts again");
    fw_output_rate_take(&r, FW_OUTPUT_BURST_BYTES * 2, 2001);
    is(fw_output_rate_due(&r, 2500, false), 0, "the next report waits a second");
    is(fw_output_rate_due(&r, 2500, true), 1, "unless forced (the pool goes away)");
    is(fw_output_rate_due(&r, 9000, true), 0, "nothing dropped: nothing to say");
}

static void lines(void)
{
    struct fw_output_rate r;
    struct fw_output o;
    int64_t now = 1000;
    size_t longest;
    fw_output_rate_init(&r, now);
    fw_output_init(&o, &r, "p", 42);

    reset_log();
    const char two[] = "one\ntw";
    fw_output_feed(&o, two, sizeof(two) - 1, now);
    fw_output_feed(&o, "o\n\npartial", 10, now);
    is(log_lines(&longest), 2, "lines split across reads (an empty one logs nothing)");
    fw_output_flush(&o, now);
    is(log_lines(&longest), 3, "flush logs the partial line");

    /* 10 MB without a newline, fed as a pipe would (16 KiB reads), with
     * time enough between reads that the bucket never runs dry. */
    reset_log();
    static char chunk[16384];
    memset(chunk, 'x', sizeof(chunk));
    size_t total = 10 << 20;
    for (size_t fed = 0; fed < total; fed += sizeof(chunk)) {
        now += 1000;
        fw_output_feed(&o, chunk, sizeof(chunk), now);
    }
    fw_output_flush(&o, now);
    size_t n = log_lines(&longest);
    is(n, total / FW_OUTPUT_LINE_MAX, "a 10 MB line is cut into FW_OUTPUT_LINE_MAX pieces");
    ok(longest < FW_OUTPUT_LINE_MAX + 128, "none longer than the cut and its prefix");
    ok(o.len == 0, "nothing is kept after a flush");

    /* Fed at once, the same 10 MB: the burst and no more. */
    reset_log();
    fw_output_rate_init(&r, now);
    for (size_t fed = 0; fed < total; fed += sizeof(chunk))
        fw_output_feed(&o, chunk, sizeof(chunk), now);
    n = log_lines(&longest);
    ok(n > 0 && n <= FW_OUTPUT_BURST_BYTES / FW_OUTPUT_LINE_MAX, "a flood gets the burst");
    is(r.dropped, total / FW_OUTPUT_LINE_MAX - n, "and the rest is counted");

    /* Control bytes cost what they become in the log (\xHH). */
    fw_output_rate_init(&r, now);
    static char ctl[FW_OUTPUT_LINE_MAX];
    memset(ctl, 1, sizeof(ctl) - 1);
    ctl[sizeof(ctl) - 1] = '\n';
    size_t logged = 0;
    for (int i = 0; i < 32; i++) {
        reset_log();
        fw_output_feed(&o, ctl, sizeof(ctl), now);
        logged += log_lines(&longest);
    }
    ok(logged <= FW_OUTPUT_BURST_BYTES / (4 * (FW_OUTPUT_LINE_MAX - 1)),
       "a line of control bytes costs four times its length");
    fw_output_free(&o);
}

static void reads(void)
{
    struct fw_output_rate r;
    struct fw_output o;
    fw_output_rate_init(&r, 0);
    fw_output_init(&o, &r, "p", 42);
    int p[2];
    if (pipe2(p, O_NONBLOCK) < 0) {
        ok(0, "pipe");
        return;
    }
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    static char data[200000];
    memset(data, 'y', sizeof(data));
    for (size_t i = 99; i < sizeof(data); i += 100)
        data[i] = '\n';
    ok(write(p[1], data, sizeof(data)) == (ssize_t)sizeof(data), "200000 bytes in a pipe");
    reset_log();
    is(fw_output_read(&o, p[0], FW_OUTPUT_BUDGET_BYTES, 0), 1, "one budget: more is left");
    int left = 0;
    ioctl(p[0], FIONREAD, &left);
    is(left, (long long)sizeof(data) - FW_OUTPUT_BUDGET_BYTES, "exactly the budget was read");
    while (fw_output_read(&o, p[0], FW_OUTPUT_BUDGET_BYTES, 0) == 1)
        ;
    ioctl(p[0], FIONREAD, &left);
    is(left, 0, "the rest on later turns, then 0 (empty)");

    /* The pool's cap per second. */
    r.read_bytes = FW_OUTPUT_READ_MAX_BYTES - 1000;
    ok(write(p[1], data, sizeof(data)) == (ssize_t)sizeof(data), "200000 more");
    is(fw_output_read(&o, p[0], FW_OUTPUT_BUDGET_BYTES, 500), 1, "the second's cap stops it");
    ioctl(p[0], FIONREAD, &left);
    is(left, (long long)sizeof(data) - 1000, "after the cap's last 1000 bytes");
    is(fw_output_rate_readable(&r, 999), 0, "nothing more this second");
    ok(fw_output_rate_readable(&r, 1000) == FW_OUTPUT_READ_MAX_BYTES, "all of it the next");
    close(p[1]);
    while (fw_output_read(&o, p[0], FW_OUTPUT_BUDGET_BYTES, 1000) == 1)
        ;
    is(fw_output_read(&o, p[0], FW_OUTPUT_BUDGET_BYTES, 1000), -1, "the pipe's end: -1");
    close(p[0]);
    fw_output_free(&o);
}

int main(void)
{
    char path[] = "/tmp/fwoutXXXXXX";
    log_fd = mkstemp(path);
    ok(log_fd >= 0, "temp file");
    unlink(path);
    fw_log_set_fd(log_fd);
    bucket();
    lines();
    reads();
    fw_log_set_fd(2);
    close(log_fd);
    return done_testing();
}
