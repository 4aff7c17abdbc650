/* The master's side of workers' stdout and stderr: budgeted reads, bounded
 * lines, a token bucket per pool. Before it, one flooding worker (`yes` on
 * its inherited stdout) kept the loop reading until the pipe was empty,
 * which it never was: the control socket, signals and respawns waited, and
 * the log grew by 250 MB in 7 s. */
#include "config.h"

#include "output.h"

#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A log line's date, level and function name, beyond the tag and the text. */
#define LINE_HEAD_BYTES 48

void fw_output_rate_init(struct fw_output_rate *rate, int64_t now_ms)
{
    rate->tokens = FW_OUTPUT_BURST_BYTES;
    rate->refilled_ms = now_ms;
    rate->dropped = 0;
    rate->reported_ms = now_ms;
    rate->window_ms = now_ms;
    rate->read_bytes = 0;
}

uint64_t fw_output_rate_readable(struct fw_output_rate *rate, int64_t now_ms)
{
    if (now_ms - rate->window_ms >= 1000) {
        rate->window_ms = now_ms;
        rate->read_bytes = 0;
    }
    return rate->read_bytes >= FW_OUTPUT_READ_MAX_BYTES
               ? 0
               : FW_OUTPUT_READ_MAX_BYTES - rate->read_bytes;
}

void fw_output_rate_read(struct fw_output_rate *rate, uint64_t bytes)
{
    rate->read_bytes += bytes;
}

bool fw_output_rate_take(struct fw_output_rate *rate, uint64_t cost, int64_t now_ms)
{
    if (now_ms > rate->refilled_ms) {
        uint64_t elapsed = (uint64_t)(now_ms - rate->refilled_ms);
        /* Past a full refill the product could only overflow. */
        uint64_t add = elapsed >= 1000 * (uint64_t)FW_OUTPUT_BURST_BYTES / FW_OUTPUT_RATE_BYTES
                           ? FW_OUTPUT_BURST_BYTES
                           : elapsed * FW_OUTPUT_RATE_BYTES / 1000;
        rate->tokens =
            rate->tokens + add > FW_OUTPUT_BURST_BYTES ? FW_OUTPUT_BURST_BYTES : rate->tokens + add;
        rate->refilled_ms = now_ms;
    }
    if (cost > rate->tokens) {
        rate->dropped++;
        return false;
    }
    rate->tokens -= cost;
    return true;
}

uint64_t fw_output_rate_due(struct fw_output_rate *rate, int64_t now_ms, bool force)
{
    if (!rate->dropped || (!force && now_ms - rate->reported_ms < FW_OUTPUT_REPORT_MS))
        return 0;
    uint64_t n = rate->dropped;
    rate->dropped = 0;
    rate->reported_ms = now_ms;
    return n;
}

void fw_output_init(struct fw_output *out, struct fw_output_rate *rate, const char *pool, pid_t pid)
{
    out->rate = rate;
    out->log = NULL;
    snprintf(out->tag, sizeof(out->tag), "[pool %s pid %ld] output", pool, (long)pid);
    out->line = NULL;
    out->len = 0;
}

/* What the line costs in the log, as lib/log.c writes it: each control byte
 * but TAB becomes four (\xHH), so a line of them costs four times its
 * length, not its length. */
static uint64_t line_cost(const struct fw_output *out, const char *line, size_t len)
{
    uint64_t cost = len + strlen(out->tag) + LINE_HEAD_BYTES;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            cost += 3;
    }
    return cost;
}

static void emit(struct fw_output *out, const char *line, size_t len, int64_t now_ms)
{
    if (fw_output_rate_take(out->rate, line_cost(out, line, len), now_ms))
        fw_log_block_to(out->log, FW_LOG_NOTICE, out->tag, line, len);
}

void fw_output_feed(struct fw_output *out, const char *data, size_t len, int64_t now_ms)
{
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t chunk = (size_t)((nl ? nl : end) - p);
        /* A whole line in data, nothing kept: logged from data itself. */
        if (nl && out->len == 0 && chunk <= FW_OUTPUT_LINE_MAX) {
            emit(out, p, chunk, now_ms);
            p = nl + 1;
            continue;
        }
        if (!out->line && !(out->line = malloc(FW_OUTPUT_LINE_MAX))) {
            out->len = 0;
            return; /* out of memory: this output is lost, not the master */
        }
        size_t room = FW_OUTPUT_LINE_MAX - out->len;
        size_t take = chunk < room ? chunk : room;
        memcpy(out->line + out->len, p, take);
        out->len += take;
        p += take;
        if (out->len == FW_OUTPUT_LINE_MAX || (nl && p == nl)) {
            emit(out, out->line, out->len, now_ms);
            out->len = 0;
            if (nl && p == nl)
                p++;
        }
    }
}

int fw_output_read(struct fw_output *out, int fd, size_t budget, int64_t now_ms)
{
    char buf[16384];
    uint64_t readable = fw_output_rate_readable(out->rate, now_ms);
    if (budget > readable)
        budget = (size_t)readable;
    size_t done = 0;
    while (done < budget) {
        size_t want = budget - done < sizeof(buf) ? budget - done : sizeof(buf);
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0) {
            fw_output_flush(out, now_ms);
            return -1;
        }
        fw_output_rate_read(out->rate, (uint64_t)n);
        fw_output_feed(out, buf, (size_t)n, now_ms);
        done += (size_t)n;
    }
    return 1;
}

void fw_output_flush(struct fw_output *out, int64_t now_ms)
{
    if (out->len)
        emit(out, out->line, out->len, now_ms);
    out->len = 0;
}

void fw_output_free(struct fw_output *out)
{
    free(out->line);
    out->line = NULL;
    out->len = 0;
}
