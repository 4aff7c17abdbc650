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

/* A worker's memory from /proc/PID/smaps_rollup (the kernel's figures, not
 * the worker's word), refreshed on the master's tick while status is read
 * (pool_metrics.c says how); 0 until first read. */
struct fw_pool_worker_memory {
    uint64_t rss_bytes, pss_bytes;
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
    struct fw_pool_worker_memory memory;
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
    /* spawn: "fresh" or "template"; then the current generation's template
     * (pid 0: none now, being started or backing off) */
    const char *spawn;
    pid_t template_pid;
    const char *template_state; /* "starting", "ready", "import failed" (its forks retry it) */
    int64_t template_age_ms;
    unsigned templates; /* not stopping, older generations' still needed included */
};

#define FW_POOL_CAUSES_MAX 8 /* >= FW_POOL_NCAUSES (pool.h) */

/* Why workers exited, as the master saw it (fcgiwsgi_pool_exits_total). */
enum fw_pool_exit {
    FW_POOL_EXIT_CRASH,           /* an exit status nobody asked for */
    FW_POOL_EXIT_SIGNAL,          /* killed by a signal nobody sent */
    FW_POOL_EXIT_MAX_REQUESTS,    /* replaced after max_requests */
    FW_POOL_EXIT_MEMORY_LIMIT,    /* replaced past memory_limit */
    FW_POOL_EXIT_REQUEST_TIMEOUT, /* left (or killed) after a request stuck past request_timeout */
    FW_POOL_EXIT_FDS,             /* replaced when the app held every file descriptor */
    FW_POOL_EXIT_RECYCLE,         /* stopped because a newer generation took over */
    FW_POOL_EXIT_STOP,            /* stopped for anything else: stop, scale, idle, shutdown */
    FW_POOL_EXIT_NCAUSES
};
/* "crash", "signal", "max_requests", ... */
const char *fw_pool_exit_name(enum fw_pool_exit cause);

/* One recycle, or one reload's, or one worker's replacement after
 * max_requests or memory_limit, as recorded (the last FW_POOL_RECYCLES_KEPT
 * per pool, of all kinds together). Times: wall clock ms since the epoch;
 * 0 while running. */
#define FW_POOL_RECYCLES_KEPT 32
struct fw_pool_recycle_record {
    uint64_t seq; /* the recycle's; 0 for a replacement (it is no recycle of the pool) */
    const char *cause; /* fw_pool_cause_name */
    char why[160];     /* the trigger as logged: "a watched file changed: /srv/app.wsgi" */
    int64_t started_unix_ms, ended_unix_ms, duration_ms;
    uint32_t old_generation, new_generation;
    bool running, ok;
    /* Requests answered 5xx by the pool while it ran, and requests cut
     * (their worker killed, or exiting, with them in flight): 0 and 0 is
     * a recycle nobody noticed. */
    uint64_t failed_requests, cut_requests;
    unsigned replaced; /* workers of the old generation (a replacement: 1, of its own) */
    int64_t started_ms; /* monotonic, for a running one's duration */
};

/* The pool's counters: what its workers' slots say (through the checks of
 * scoreboard.h), with the last figures of every worker gone folded in. */
struct fw_pool_metrics {
    uint64_t requests;
    struct fw_scoreboard_counts counts;
    size_t n_buckets;
    const uint64_t *bucket_le_us; /* the pool's metrics_buckets */
    uint64_t spawns;
    uint64_t exits[FW_POOL_EXIT_NCAUSES];
    uint64_t cut_requests;
    uint64_t max_reached; /* times it was at its most processes, none idle, connections waiting */
    bool listen_queue_known;
    unsigned listen_queue, listen_queue_peak, listen_backlog;
    int64_t generation_since_unix_ms; /* when the current generation became the serving one */
    uint64_t recycles_failed;
    uint64_t recycles_by[FW_POOL_CAUSES_MAX][2]; /* by enum fw_pool_cause, [ok] */
    uint64_t recycle_failed_requests, recycle_cut_requests;
};

void fw_pool_metrics(const struct fw_pool *pool, struct fw_pool_metrics *out);
/* The recycles recorded, oldest first; returns how many (<= FW_POOL_RECYCLES_KEPT). */
size_t fw_pool_recycles(const struct fw_pool *pool,
                        struct fw_pool_recycle_record out[FW_POOL_RECYCLES_KEPT]);

void fw_pool_info(const struct fw_pool *pool, struct fw_pool_info *out);
/* Calls fn for each worker process; stops early if fn returns false. */
void fw_pool_each_worker(const struct fw_pool *pool,
                         bool (*fn)(const struct fw_pool_worker_info *w, void *data), void *data);

#endif
