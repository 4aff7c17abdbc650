/* What a pool says about itself for `fcgiwsgi-ctl status` and the
 * waits on recycles: plain copies, read from the pool's books and, through
 * the scoreboard's checks, from its workers' slots. */
#ifndef FW_POOL_INFO_H
#define FW_POOL_INFO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "scoreboard.h"

struct fw_pool;

/* How the last recycle that ended went. Times are wall-clock ms since the
 * epoch (status prints them as ISO 8601 UTC). */
struct fw_pool_last_recycle {
    uint64_t seq;      /* 0: no recycle has ended yet (the rest is zero) */
    const char *cause; /* fw_pool_cause_name */
    int64_t started_unix_ms, ended_unix_ms;
    int64_t duration_ms; /* monotonic: a clock step does not change it */
    bool ok;
};

enum fw_pool_worker_state {
    FW_POOL_WORKER_STARTING,
    FW_POOL_WORKER_IDLE,
    FW_POOL_WORKER_BUSY,
    FW_POOL_WORKER_RETIRING, /* replaced as soon as its successor is ready */
    FW_POOL_WORKER_STOPPING,
};

struct fw_pool_worker_info {
    pid_t pid;
    uint32_t generation;
    enum fw_pool_worker_state state;
    unsigned busy;        /* requests running now */
    unsigned connections; /* FastCGI connections it holds (served, kept or waiting) */
    uint64_t requests;
    uint64_t rss_bytes;
    int64_t age_ms;
    /* What its request threads serve now, as they say (scoreboard.h has
     * the checks), the oldest first. */
    unsigned n_now;
    struct fw_scoreboard_request now[FW_SLOT_REQUESTS_MAX];
};

struct fw_pool_info {
    const char *name;
    const char *listen;
    const char *model;             /* "fixed", "dynamic" or "ondemand" */
    unsigned processes;            /* fixed: wanted now; dynamic: max */
    unsigned configured_processes; /* fixed: what the configuration says */
    bool scaled;                   /* fixed: `scale` set processes away from it, until reload */
    unsigned min, max, threads;
    uint32_t generation;
    unsigned workers[FW_POOL_WORKER_STOPPING + 1]; /* by state */
    uint64_t requests;                             /* served, including by workers gone */
    bool stopped;
    bool recycling;
    bool recycle_queued;
    uint64_t recycles;         /* started */
    uint64_t recycles_done;    /* the seq of the last one that ended */
    const char *recycle_cause; /* the running one's (recycling) */
    int64_t recycle_started_unix_ms;
    int64_t recycle_ms;       /* how long the running one has run */
    const char *last_recycle; /* "" if none yet */
    bool last_recycle_ok;
    struct fw_pool_last_recycle last;
    unsigned crashes;    /* start-up crashes in a row */
    int64_t backoff_ms;  /* until the next spawn is allowed; 0 if none */
    bool backoff_capped; /* no worker serves: the wait is cut to backoff_capped_ms */
    int64_t backoff_capped_ms;
    const char *backoff_reason; /* the last failure, with an import's traceback end; "" */
    bool config_failed;
    /* A worker serves 500s because an app did not import: the error's last
     * line (the fix, when a module refused a sub-interpreter); "" if none. */
    const char *import_error;
    /* fcgiwsgi-ctl drain: out of the balancer's rotation (a /ping answers
     * 503), kept until undrain; drain_refusing once the listener refuses
     * connections (a moment after the command). */
    bool drained;
    bool drain_refusing;
    unsigned connections; /* FastCGI connections its workers hold, as they say */
};

void fw_pool_info(const struct fw_pool *pool, struct fw_pool_info *out);
/* Calls fn for each worker process; stops early if fn returns false. */
void fw_pool_each_worker(const struct fw_pool *pool,
                         bool (*fn)(const struct fw_pool_worker_info *w, void *data), void *data);

#endif
