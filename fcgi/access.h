/* A worker's access log: one line per request (lib/accessfmt renders it),
 * collected per request thread and written in whole lines, a batch per
 * write(), to the file the master opened (O_APPEND, so workers and threads
 * share it without tearing a line). The worker's main thread flushes every
 * batch on its tick, and at a reopen and at the end; a line is at most a
 * tick or two late, and lost only if the process is killed outright. It
 * does not open files (the master does) nor know the request path. */
#ifndef FW_ACCESS_H
#define FW_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fw_access;
struct fw_access_thread;
struct fw_param;

/* fd: the log (kept: replaced in place at reopen, never closed here);
 * format: NULL for the default. NULL with err filled on a bad format or
 * out of memory. */
struct fw_access *fw_access_new(int fd, const char *format, const char *pool, unsigned generation,
                                unsigned threads, char *err, size_t errlen);
/* Flushes and frees; every thread's state with it. */
void fw_access_free(struct fw_access *a);

/* Request thread `index` (< threads)'s state, NULL without a log. */
struct fw_access_thread *fw_access_thread(struct fw_access *a, unsigned index);

struct fw_access_request {
    const struct fw_param *params; /* as the web server sent them */
    size_t n_params;
    const char *mount; /* the app's, or NULL */
    int status;
    uint64_t body_bytes;
    int64_t app_us, total_us;
    /* CLOCK_MONOTONIC at the response's end (0: read the wall clock): the
     * line's time is taken from it and the wall clock's offset to it, read
     * on each flush, so a request reads no clock for its line. */
    int64_t ended_mono_us;
};

/* One request's line; a full batch is written first. */
void fw_access_log(struct fw_access_thread *t, const struct fw_access_request *r);

/* Writes every thread's batch (the main thread's tick; the end of a stop).
 * A thread busy adding a line is skipped unless wait. Also reads the wall
 * clock's offset to the monotonic one again: a clock step shows in the
 * lines' times from the next tick on (50 ms). */
void fw_access_flush(struct fw_access *a, bool wait);

/* The master reopened the file (logrotate): what was collected goes to
 * the old file, then fd takes the log's place (dup2). 0, or -1. */
int fw_access_reopen(struct fw_access *a, int fd);

#endif
