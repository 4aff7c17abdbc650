/* A worker's slot in the manager's scoreboard (shared memory, a page of its
 * own; see manager/scoreboard.h). The master zeroes it and sets the state
 * at spawn, and the state again at stop and exit; the worker writes the
 * rest while it runs, with plain atomic stores: it never blocks on the
 * master. The master reads it for status, dynamic sizing and timeouts, and
 * trusts none of it (pid and generation are in the master's own books). */
#ifndef FW_SLOT_H
#define FW_SLOT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum fw_slot_state {
    FW_SLOT_FREE,     /* no process */
    FW_SLOT_STARTING, /* forked, not ready (master) */
    FW_SLOT_IDLE,     /* ready, no request running (worker) */
    FW_SLOT_BUSY,     /* at least one request running (worker) */
    FW_SLOT_STOPPING, /* told to stop, finishing (master or worker) */
};

#define FW_SLOT_ERROR_MAX 2048
#define FW_SLOT_REQUESTS_MAX 8 /* request threads that say what they serve; all count in busy */
#define FW_SLOT_METHOD_MAX 16
#define FW_SLOT_PATH_MAX 160
#define FW_SLOT_BUCKETS_MAX 16 /* histogram bounds; one more bucket past the last (+Inf) */
#define FW_SLOT_CLASSES 6      /* 1xx, 2xx, 3xx, 4xx, 5xx, other (none sent, out of range) */

/* Why a worker asked to be replaced (FW_WORKER_MSG_RETIRE). */
enum fw_slot_retire {
    FW_SLOT_RETIRE_NONE,
    FW_SLOT_RETIRE_MAX_REQUESTS,
    FW_SLOT_RETIRE_MEMORY_LIMIT,
    FW_SLOT_RETIRE_REQUEST_TIMEOUT,
    FW_SLOT_RETIRE_FDS,
};

/* What one request thread serves now, for status: written by that thread
 * alone. The path is REQUEST_URI's, without scheme, authority, query or
 * fragment (a URI can carry a secret; a path rarely does), cut to fit.
 * seq is odd while the thread writes (a seqlock): the master copies, and
 * keeps the copy only if seq was even and unchanged around it; then it
 * still checks and escapes every byte, since a worker runs app code. */
struct fw_slot_request {
    _Atomic uint32_t seq;
    _Atomic int64_t start_ms; /* CLOCK_MONOTONIC; 0: none running */
    char method[FW_SLOT_METHOD_MAX];
    char path[FW_SLOT_PATH_MAX];
};

struct fw_slot {
    _Atomic int state;               /* enum fw_slot_state */
    _Atomic uint32_t busy;           /* worker: requests running now */
    _Atomic uint64_t requests;       /* worker: requests finished */
    _Atomic int64_t oldest_start_ms; /* worker: CLOCK_MONOTONIC start of the oldest running
                                        request on a thread that is busy, 0 if none */
    _Atomic uint64_t rss_bytes;      /* worker: resident set size, updated between requests */
    struct fw_slot_request now[FW_SLOT_REQUESTS_MAX]; /* worker: thread i serves now, i < 8 */
    char error[FW_SLOT_ERROR_MAX]; /* worker: why preloading failed (the traceback's end),
                                      written before it sends LOAD_FAILED */
    /* worker: FastCGI connections open (served, kept or waiting), on its
     * tick. Last, so the layout above stays (t/apps' slot liar knows it). */
    _Atomic uint32_t conns;

    /* Metrics (after conns, for the same reason). Counters only go up and
     * are bumped once per finished request with atomic adds, so they are
     * exact with any number of threads; the master folds them into its
     * pool's totals when the worker is reaped, through the checks of
     * manager/scoreboard.h. */
    _Atomic uint64_t by_class[FW_SLOT_CLASSES]; /* worker: requests by status class */
    _Atomic uint64_t app_us;                    /* worker: the app's own time, summed */
    _Atomic uint64_t busy_us; /* worker: time from params to the response's end, summed */
    _Atomic uint64_t bucket[FW_SLOT_BUCKETS_MAX + 1]; /* worker: requests whose app time was
                                                         at most bucket_le_us[i] (and above
                                                         the bound before): not cumulative */
    _Atomic int retire; /* worker: enum fw_slot_retire, before it sends RETIRE */
    /* master, before the spawn: the histogram's bounds (the pool's
     * metrics_buckets); the worker only reads them. */
    uint32_t n_buckets;
    uint64_t bucket_le_us[FW_SLOT_BUCKETS_MAX];
};

/* t/apps/metrics_app.wsgi's /lie writes here, as a lying app would. */
_Static_assert(offsetof(struct fw_slot, by_class) == 3624, "the metrics liar's offset");

/* One page each (manager/scoreboard.c maps whole pages). */
_Static_assert(sizeof(struct fw_slot) <= 4096, "a scoreboard slot fits a page");

#endif
