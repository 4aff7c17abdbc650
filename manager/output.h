/* Workers' captured stdout and stderr in the master: read with a byte budget
 * per wakeup, cut into lines of at most FW_OUTPUT_LINE_MAX bytes, and logged
 * within the pool's rate (a token bucket of log bytes); lines over it are
 * dropped and counted, and the count is logged at most once a second. A
 * pool's pipes are read up to FW_OUTPUT_READ_MAX_BYTES a second; past it
 * they wait for the next second (the writers block, as on any slow pipe),
 * so a flood costs the master a few percent of a core, not all of it. It
 * owns the partial line and the bucket; the pipe's fd and its place in the
 * loop stay with pool.c. Every byte here comes from a worker: nothing is
 * buffered past one line, nothing read past the budget. */
#ifndef FW_OUTPUT_H
#define FW_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FW_OUTPUT_LINE_MAX 65536     /* a longer line is cut, the rest is a line of its own */
#define FW_OUTPUT_BUDGET_BYTES 65536 /* read from one worker's pipe per wakeup */
#define FW_OUTPUT_RATE_BYTES 262144  /* of log per second and pool, after the burst */
#define FW_OUTPUT_BURST_BYTES 1048576
#define FW_OUTPUT_REPORT_MS 1000           /* the dropped count is logged at most this often */
#define FW_OUTPUT_READ_MAX_BYTES (4 << 20) /* read from a pool's pipes per second */

/* One per pool, shared by its workers. */
struct fw_output_rate {
    uint64_t tokens; /* log bytes that may be written now */
    int64_t refilled_ms;
    uint64_t dropped; /* lines since the last report */
    int64_t reported_ms;
    int64_t window_ms; /* the second that read_bytes counts */
    uint64_t read_bytes;
};

void fw_output_rate_init(struct fw_output_rate *rate, int64_t now_ms);
/* Takes cost bytes from the bucket: true if the line may be logged; false
 * if not (it is counted as dropped). */
bool fw_output_rate_take(struct fw_output_rate *rate, uint64_t cost, int64_t now_ms);
/* The lines dropped since the last report, if a report is due now (or
 * force), and the count starts again; 0 if none or not yet. */
uint64_t fw_output_rate_due(struct fw_output_rate *rate, int64_t now_ms, bool force);
/* The bytes the pool's pipes may still be read this second (0: leave them
 * until the next), and their accounting. */
uint64_t fw_output_rate_readable(struct fw_output_rate *rate, int64_t now_ms);
void fw_output_rate_read(struct fw_output_rate *rate, uint64_t bytes);

/* One per worker. */
struct fw_output {
    struct fw_output_rate *rate; /* its pool's */
    struct fw_log_sink *log;     /* its pool's log; NULL: the main one */
    char tag[160];               /* "[pool P pid N] output" */
    char *line;                  /* the partial line: FW_OUTPUT_LINE_MAX bytes once used */
    size_t len;
};

void fw_output_init(struct fw_output *out, struct fw_output_rate *rate, const char *pool,
                    pid_t pid);
/* Splits data into lines and logs each one the rate allows; a partial line
 * is kept for the next call. */
void fw_output_feed(struct fw_output *out, const char *data, size_t len, int64_t now_ms);
/* Reads fd (non-blocking) until it is empty, budget bytes were read or the
 * pool's second is used up (fw_output_rate_readable). Returns 1 if reading
 * stopped short (more may wait: epoll is level-triggered, so the next loop
 * turn comes back), 0 if the pipe is empty, -1 at its end or on an error
 * (the partial line has then been logged). */
int fw_output_read(struct fw_output *out, int fd, size_t budget, int64_t now_ms);
/* Logs the partial line, if any (the worker is gone). */
void fw_output_flush(struct fw_output *out, int64_t now_ms);
void fw_output_free(struct fw_output *out);

#endif
