/* The private state of a pool and of its workers, shared by the pool
 * module's files (pool.c, pool_worker.c, pool_recycle.c, pool_listen.c,
 * pool_sizing.c, pool_info.c) and nothing else: everyone outside goes
 * through pool.h. */
#ifndef FW_POOL_TYPES_H
#define FW_POOL_TYPES_H

#include "pool.h"

#include "backoff.h"
#include "fcgi/page.h"
#include "fcgi/slot.h"
#include "lib/sock.h"
#include "output.h"
#include "scoreboard.h"
#include "sizing.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/* A recycle record being kept: which (1 + its number among the pool's
 * records; 0: none), and the pool's failed and cut requests when it began.
 * The record itself may leave the ring while it runs (32 more begin); the
 * counts by cause still take it in when it ends. */
struct fw_pool_recording {
    size_t record;
    enum fw_pool_cause cause;
    uint64_t failed_at_start, cut_at_start;
    int64_t started_ms; /* monotonic */
};

enum proc_state {
    PROC_STARTING, /* forked, not ready */
    PROC_RUNNING,  /* ready, serving */
    PROC_RETIRING, /* asked for a replacement; serving until it is ready */
    PROC_STOPPING, /* SIGTERM sent; finishing its requests */
};

enum fw_pool_drain_state {
    FW_POOL_DRAIN_NONE,     /* listening */
    FW_POOL_DRAIN_SETTLING, /* new connections held off, the queue being taken */
    FW_POOL_DRAIN_SHUT,     /* the listener refuses connections */
};

struct proc {
    struct fw_pool *pool;
    pid_t pid;
    enum proc_state state;
    struct fw_slot *slot;
    uint32_t generation;
    int channel_fd, output_fd;
    int64_t started_ms;
    bool startup_timed_out;
    bool load_failed;        /* serving 500s: its app did not import */
    char import_error[512];  /* then: the last line of its slot's error, for status */
    bool asked_to_retire;    /* it asks once (max_requests, memory_limit, out of fds) */
    bool replaced;           /* stopped because its replacement was ready */
    bool served;             /* it was ready: connections may have reached it */
    bool unlistened;         /* stopping, it said it accepts no more */
    int64_t kill_at_ms;      /* stopping: SIGKILL past this */
    int64_t idle_since_ms;   /* running with no request in progress since then; 0 if busy */
    uint64_t seen_requests;  /* requests counter when last looked at */
    uint64_t requests;       /* the most its slot has claimed (a counter only goes up) */
    struct fw_output output; /* its stdout and stderr */
    bool output_paused;      /* its pipe is out of the loop until the pool's next second */
    uint64_t junk_unlogged;  /* channel bytes that were no message, not yet logged */
    int64_t junk_logged_ms;  /* when they were last logged; 0: never */
    int pending_signal;      /* pid 0 (forked by a template, no hello yet): sent at the hello */
    uid_t uid;               /* a template's: the user its workers run as; (uid_t)-1: unchanged */
    unsigned forks_pending;  /* a template's fork requests it has not answered */
    int64_t fork_progress_ms; /* when it last took one up (or was sent one while idle) */
    bool stuck_killed;       /* a template killed for not answering them */
    bool import_healed;      /* a template whose import failed, to be replaced once idle */
    uint64_t hello_ino;      /* pid 0: the inode of its channel's end, which its pid must hold */

    /* metrics (pool_metrics.c): the most its slot has plausibly claimed;
     * killed by the master's request_timeout backstop; its memory, and when
     * that was read (0: never) */
    struct fw_scoreboard_counts counts;
    bool killed_for_timeout;
    int64_t memory_read_ms;
    struct fw_pool_worker_memory memory;
    /* its replacement's recycle record while it runs (pool_metrics.c) */
    struct fw_pool_recording recording;

    struct proc *next;
};

/* What a worker's slot says, as far as the master believes it. */
static inline uint64_t proc_requests(struct proc *p)
{
    return fw_scoreboard_requests(p->slot, &p->requests);
}

struct fw_pool {
    const struct fw_conf_pool *conf;
    struct fw_pool_env env;
    struct fw_log_sink *log; /* its `log:`, or NULL: the main log */

    struct fw_log_sink *access; /* its `access_log:`, or NULL */
    int listen_fd;
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* ours to unlink, or "" */
    /* reload to another address: the new socket is opened first (pending),
     * and the old one is closed once the recycle to the new address ends. */
    int pending_fd, old_listen_fd;
    uint64_t old_listen_seq; /* the recycle whose good end closes old_listen_fd */
    char pending_unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char old_unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct fw_sock_file unix_file, pending_file; /* what bind() made at unix_path, pending's */
    struct proc *procs;
    /* spawn: template: its templates (pool_template.c), one per generation
     * still needed; not in procs, so nothing that counts workers sees them */
    struct proc *templates;
    unsigned processes; /* fixed: how many (scale overrides the configured number) */
    uint32_t generation;
    bool stopping;
    unsigned cut; /* workers killed, or that cut requests, at graceful_timeout while stopping */
    bool config_failed;         /* a worker exited with FW_EXIT_CONFIG */
    uint64_t requests_done;     /* by workers that have exited */
    uint32_t failed_generation; /* highest generation number ever abandoned */

    /* Recycles: one runs at a time; triggers meanwhile coalesce into one more. */
    uint64_t recycle_seq; /* recycles started */
    uint64_t recycle_done_seq;
    bool last_recycle_ok;
    bool recycle_active;
    bool recycle_queued;
    char queued_why[128];
    enum fw_pool_cause recycle_cause, queued_cause; /* the running (or last) one's, the queued */
    int64_t recycle_started_ms;                     /* the running (or last) one's, monotonic */
    int64_t recycle_started_unix_ms;                /* the same, wall clock, for status */
    struct fw_pool_last_recycle last;               /* the last that ended (seq 0: none yet) */
    unsigned recycle_old;               /* workers of the old generation when it began */
    char last_recycle[2560];            /* how the last recycle ended, for status */
    char load_error[FW_SLOT_ERROR_MAX]; /* a new worker's import error, for the report */

    struct fw_sizing_rate rate;             /* dynamic: spawns per second, doubling while short */
    bool watching_listen;                   /* on demand: master waits for the first connection */
    struct fw_backoff backoff;              /* start-up crashes in a row */
    char crash_why[FW_SLOT_ERROR_MAX + 160]; /* the last one, for status */
    struct fw_output_rate output_rate;      /* of all its workers' stdout and stderr */
    int64_t share_logged_ms;                /* "its share of the scoreboard" last logged */

    /* Drain (pool_drain.c): the operator's word, kept across restarts,
     * reloads, stop and start until undrain. */
    bool drained;
    enum fw_pool_drain_state drain_state;
    int drain_timer_fd;        /* ticks while settling; -1 */
    int64_t drain_started_ms;  /* monotonic */
    unsigned drain_reset;      /* connections still queued when the listener was shut */
    /* Metrics (pool_metrics.c): workers gone are folded into these. */
    struct fw_scoreboard_counts done_counts;
    uint64_t spawns;
    uint64_t exits[FW_POOL_EXIT_NCAUSES];
    uint64_t cut_requests;
    uint64_t max_reached;
    bool at_max;           /* at the most processes with connections waiting, now */
    int64_t max_warned_ms; /* the last "reached max processes" warning; 0: none */
    uint64_t max_unwarned; /* times reached since that warning */
    bool queue_known;
    unsigned queue_now, queue_peak, queue_backlog;
    int64_t generation_since_unix_ms;
    int64_t memory_wanted_ms; /* status last showed workers' memory; 0: never */
    uint64_t recycles_failed;
    /* Recycles ended by cause and [ok], and the requests that failed or
     * were cut in them; the last FW_POOL_RECYCLES_KEPT recorded in a ring
     * (n_recycles: ever recorded). */
    uint64_t recycles_by[FW_POOL_NCAUSES][2];
    uint64_t recycle_failed_requests, recycle_cut_requests;
    struct fw_pool_recycle_record recycles[FW_POOL_RECYCLES_KEPT];
    size_t n_recycles;
    struct fw_pool_recording recording; /* the pool's recycle's */

    /* status_path: the page its workers answer it from (pool_page.c);
     * NULL and -1 until needed. */
    struct fw_page *page;
    int page_fd;
};

static inline uint32_t proc_busy(const struct proc *p)
{
    unsigned threads = p->pool->conf->threads ? p->pool->conf->threads : 1;
    return fw_scoreboard_busy(p->slot, threads);
}

#endif
