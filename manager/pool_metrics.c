/* A pool's metrics (pool_metrics.h, pool_info.h): what its workers count
 * in their slots, read through the scoreboard's checks and folded in when
 * they are reaped; what the master sees itself (spawns, exits, the listen
 * queue, the pool at its most processes); the recycle records. */
#include "config.h"

#include "pool_metrics.h"

#include "fcgi/worker.h"
#include "lib/log.h"
#include "lib/sockq.h"
#include "loop.h"
#include "pool.h"
#include "pool_worker.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MEMORY_EVERY_MS 2000
#define MEMORY_WANTED_MS 60000
#define MAX_WARN_EVERY_MS 10000
#define SMAPS_READ_MAX 4096 /* smaps_rollup is a dozen lines */

static const char *const exit_names[FW_POOL_EXIT_NCAUSES] = {
    "crash", "signal", "max_requests", "memory_limit", "request_timeout", "fds", "recycle", "stop",
};

const char *fw_pool_exit_name(enum fw_pool_exit cause)
{
    return (unsigned)cause < FW_POOL_EXIT_NCAUSES ? exit_names[cause] : "unknown";
}

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned threads_of(const struct fw_pool *pool)
{
    return pool->conf->threads ? pool->conf->threads : 1;
}

void fw_pool_metrics_read(struct proc *p)
{
    fw_scoreboard_counts(p->slot, &p->counts, threads_of(p->pool),
                         fw_loop_now_ms() - p->started_ms);
}

static void add_counts(struct fw_scoreboard_counts *to, const struct fw_scoreboard_counts *c)
{
    for (size_t i = 0; i < FW_SLOT_CLASSES; i++)
        to->by_class[i] += c->by_class[i];
    for (size_t i = 0; i <= FW_SLOT_BUCKETS_MAX; i++)
        to->bucket[i] += c->bucket[i];
    to->app_us += c->app_us;
    to->busy_us += c->busy_us;
}

static enum fw_pool_exit exit_cause(const struct fw_pool *pool, const struct proc *p, int status,
                                    bool expected)
{
    if (p->killed_for_timeout || (WIFEXITED(status) && WEXITSTATUS(status) == FW_EXIT_TIMEOUT))
        return FW_POOL_EXIT_REQUEST_TIMEOUT;
    if (!expected)
        return WIFSIGNALED(status) ? FW_POOL_EXIT_SIGNAL : FW_POOL_EXIT_CRASH;
    if (p->asked_to_retire) {
        switch (fw_scoreboard_retire(p->slot)) {
        case FW_SLOT_RETIRE_MAX_REQUESTS: return FW_POOL_EXIT_MAX_REQUESTS;
        case FW_SLOT_RETIRE_MEMORY_LIMIT: return FW_POOL_EXIT_MEMORY_LIMIT;
        case FW_SLOT_RETIRE_REQUEST_TIMEOUT: return FW_POOL_EXIT_REQUEST_TIMEOUT;
        case FW_SLOT_RETIRE_FDS: return FW_POOL_EXIT_FDS;
        case FW_SLOT_RETIRE_NONE: break;
        }
    }
    return p->generation < pool->generation ? FW_POOL_EXIT_RECYCLE : FW_POOL_EXIT_STOP;
}

static void replacement_ended(struct proc *p);

void fw_pool_metrics_reaped(struct fw_pool *pool, struct proc *p, int status, bool expected)
{
    fw_pool_metrics_read(p);
    add_counts(&pool->done_counts, &p->counts);
    pool->exits[exit_cause(pool, p, status, expected)]++;
    /* Requests it still ran when it died: a kill at graceful_timeout, a
     * crash, or its own cut (exit 1) at the end of a stop. */
    bool cut = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != FW_EXIT_OK);
    if (cut)
        pool->cut_requests += proc_busy(p);
    replacement_ended(p);
}

/* Every 5xx the pool answered, by workers alive or gone. */
static uint64_t failed_total(struct fw_pool *pool)
{
    uint64_t n = pool->done_counts.by_class[4];
    for (struct proc *p = pool->procs; p; p = p->next) {
        fw_pool_metrics_read(p);
        n += p->counts.by_class[4];
    }
    return n;
}

/* A new record in the ring, over the oldest; rec says which it is. */
static struct fw_pool_recycle_record *begin_record(struct fw_pool *pool,
                                                   struct fw_pool_recording *rec,
                                                   enum fw_pool_cause cause, const char *why)
{
    struct fw_pool_recycle_record *r = &pool->recycles[pool->n_recycles % FW_POOL_RECYCLES_KEPT];
    pool->n_recycles++;
    memset(r, 0, sizeof(*r));
    r->cause = fw_pool_cause_name(cause);
    snprintf(r->why, sizeof(r->why), "%s", why);
    r->started_unix_ms = unix_ms();
    r->started_ms = fw_loop_now_ms();
    r->running = true;
    *rec = (struct fw_pool_recording){
        .record = pool->n_recycles,
        .cause = cause,
        .failed_at_start = failed_total(pool),
        .cut_at_start = pool->cut_requests,
        .started_ms = r->started_ms,
    };
    return r;
}

/* The record still in the ring, or NULL: 32 newer ones took its place. */
static struct fw_pool_recycle_record *recorded(struct fw_pool *pool,
                                               const struct fw_pool_recording *rec)
{
    if (!rec->record || pool->n_recycles - rec->record >= FW_POOL_RECYCLES_KEPT)
        return NULL;
    return &pool->recycles[(rec->record - 1) % FW_POOL_RECYCLES_KEPT];
}

/* Windows can overlap (replacements during a recycle, or several at
 * once): each record counts what the pool failed and cut in its own. The
 * failed count reads the pool's totals, so a reaped worker must have been
 * folded in first, or it would seem to go back. */
static void end_record(struct fw_pool *pool, struct fw_pool_recording *rec, bool ok,
                       unsigned replaced, int64_t ended_unix_ms, int64_t duration_ms)
{
    if (!rec->record)
        return;
    uint64_t failed = failed_total(pool) - rec->failed_at_start;
    uint64_t cut = pool->cut_requests - rec->cut_at_start;
    struct fw_pool_recycle_record *r = recorded(pool, rec);
    if (r) {
        r->running = false;
        r->ok = ok;
        r->ended_unix_ms = ended_unix_ms;
        r->duration_ms = duration_ms;
        r->replaced = replaced;
        r->failed_requests = failed;
        r->cut_requests = cut;
    }
    pool->recycles_by[rec->cause < FW_POOL_NCAUSES ? rec->cause : 0][ok]++;
    pool->recycle_failed_requests += failed;
    pool->recycle_cut_requests += cut;
    rec->record = 0;
}

void fw_pool_metrics_recycle_began(struct fw_pool *pool, const char *why, uint32_t old_generation)
{
    struct fw_pool_recycle_record *r =
        begin_record(pool, &pool->recording, pool->recycle_cause, why);
    r->seq = pool->recycle_seq;
    r->started_unix_ms = pool->recycle_started_unix_ms;
    r->started_ms = pool->recycle_started_ms;
    r->old_generation = old_generation;
    r->new_generation = pool->generation;
}

void fw_pool_metrics_recycle_ended(struct fw_pool *pool, bool ok)
{
    if (ok)
        pool->generation_since_unix_ms = unix_ms();
    else
        pool->recycles_failed++;
    end_record(pool, &pool->recording, ok, ok ? pool->recycle_old : 0, pool->last.ended_unix_ms,
               pool->last.duration_ms);
}

/* Replacements: a worker past max_requests or memory_limit asked for one
 * and serves on until it is ready. Its record runs from the ask until the
 * old worker accepts no more, as a recycle's does; ok if it was stopped
 * because the new one was ready (not by a stop of the pool, or a crash).
 * Other asks (fds, request_timeout) are counted as exits only. */
void fw_pool_metrics_replacement_began(struct proc *p)
{
    enum fw_pool_cause cause;
    switch (fw_scoreboard_retire(p->slot)) {
    case FW_SLOT_RETIRE_MAX_REQUESTS: cause = FW_POOL_CAUSE_MAX_REQUESTS; break;
    case FW_SLOT_RETIRE_MEMORY_LIMIT: cause = FW_POOL_CAUSE_MEMORY_LIMIT; break;
    default: return;
    }
    if (p->recording.record)
        return;
    char why[96];
    snprintf(why, sizeof(why), "worker pid %ld %s", (long)p->pid,
             cause == FW_POOL_CAUSE_MAX_REQUESTS ? "reached max_requests"
                                                 : "grew past memory_limit");
    struct fw_pool_recycle_record *r = begin_record(p->pool, &p->recording, cause, why);
    r->old_generation = r->new_generation = p->generation;
}

static void replacement_ended(struct proc *p)
{
    end_record(p->pool, &p->recording, p->replaced, 1, unix_ms(),
               fw_loop_now_ms() - p->recording.started_ms);
}

void fw_pool_metrics_replacements_check(struct fw_pool *pool)
{
    for (struct proc *p = pool->procs; p; p = p->next)
        if (p->recording.record && p->state == PROC_STOPPING &&
            (!p->served || p->unlistened || p->channel_fd < 0))
            replacement_ended(p);
}

size_t fw_pool_recycles(const struct fw_pool *pool,
                        struct fw_pool_recycle_record out[FW_POOL_RECYCLES_KEPT])
{
    size_t n = pool->n_recycles < FW_POOL_RECYCLES_KEPT ? pool->n_recycles : FW_POOL_RECYCLES_KEPT;
    size_t first = pool->n_recycles - n;
    int64_t now = fw_loop_now_ms();
    for (size_t i = 0; i < n; i++) {
        out[i] = pool->recycles[(first + i) % FW_POOL_RECYCLES_KEPT];
        if (out[i].running)
            out[i].duration_ms = now - out[i].started_ms;
    }
    return n;
}

/* "Rss:   1234 kB" and "Pss:  567 kB" from one bounded read. */
static void read_memory(pid_t pid, struct fw_pool_worker_memory *m)
{
    char path[64], buf[SMAPS_READ_MAX + 1];
    snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, SMAPS_READ_MAX);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    static const char *const keys[2] = { "\nRss:", "\nPss:" };
    uint64_t *out[2] = { &m->rss_bytes, &m->pss_bytes };
    for (int k = 0; k < 2; k++) {
        const char *at = strstr(buf, keys[k]);
        unsigned long long kb;
        if (at && sscanf(at + 5, " %llu kB", &kb) == 1 && kb < (1ULL << 40))
            *out[k] = (uint64_t)kb * 1024;
    }
}

/* smaps_rollup makes the kernel walk the worker's page tables: a big
 * worker's costs milliseconds. So a status request never reads it; the
 * tick reads one worker per pool (the one read longest ago, at most every
 * 2 s each), and only while someone looks (status in the last minute). */
static void refresh_memory(struct fw_pool *pool, int64_t now)
{
    if (!pool->memory_wanted_ms || now - pool->memory_wanted_ms > MEMORY_WANTED_MS)
        return;
    struct proc *oldest = NULL;
    for (struct proc *p = pool->procs; p; p = p->next)
        if (!oldest || p->memory_read_ms < oldest->memory_read_ms)
            oldest = p;
    if (!oldest || (oldest->memory_read_ms && now - oldest->memory_read_ms < MEMORY_EVERY_MS))
        return;
    oldest->memory_read_ms = now;
    read_memory(oldest->pid, &oldest->memory);
}

/* On the tick: the listen queue, and whether the pool is at its most
 * processes, none idle, with connections waiting (php-fpm's "reached
 * pm.max_children"): counted each time it gets there, logged at most once
 * per 10 s with the count since the last line. */
void fw_pool_sample(struct fw_pool *pool)
{
    struct fw_sockq q;
    const struct fw_conf_pool *c = pool->conf;
    refresh_memory(pool, fw_loop_now_ms());
    if (pool->listen_fd < 0 || fw_sockq_read(pool->listen_fd, &q) < 0) {
        pool->queue_known = false;
        return;
    }
    pool->queue_known = true;
    pool->queue_now = q.queued;
    pool->queue_backlog = q.backlog;
    if (q.queued > pool->queue_peak)
        pool->queue_peak = q.queued;
    if (pool->stopping || pool->drained)
        return;
    unsigned most = c->pm == FW_CONF_PM_FIXED ? pool->processes : c->max, alive = 0, idle = 0;
    for (struct proc *p = pool->procs; p; p = p->next) {
        if (p->state == PROC_STOPPING)
            continue;
        alive++;
        idle += p->state != PROC_STARTING && proc_busy(p) < threads_of(pool);
    }
    bool at_max = q.queued > 0 && alive >= most && idle == 0;
    if (at_max && !pool->at_max) {
        pool->max_reached++;
        pool->max_unwarned++;
    }
    pool->at_max = at_max;
    int64_t now = fw_loop_now_ms();
    if (pool->max_unwarned &&
        (!pool->max_warned_ms || now - pool->max_warned_ms >= MAX_WARN_EVERY_MS)) {
        fw_log_to(pool->log, FW_LOG_WARN,
                  "[pool %s] reached its most processes (%u, each with %u thread%s busy) with %u "
                  "connection%s waiting, %" PRIu64 " time%s since the last warning: raise "
                  "processes (or max) if this lasts",
                  c->name, most, threads_of(pool), threads_of(pool) == 1 ? "" : "s", q.queued,
                  q.queued == 1 ? "" : "s", pool->max_unwarned, pool->max_unwarned == 1 ? "" : "s");
        pool->max_warned_ms = now;
        pool->max_unwarned = 0;
    }
}

void fw_pool_metrics(const struct fw_pool *pool, struct fw_pool_metrics *out)
{
    memset(out, 0, sizeof(*out));
    out->counts = pool->done_counts;
    out->requests = pool->requests_done;
    for (struct proc *p = pool->procs; p; p = p->next) {
        struct proc *w = (struct proc *)p;
        fw_pool_metrics_read(w);
        add_counts(&out->counts, &w->counts);
        out->requests += proc_requests(w);
    }
    out->n_buckets = pool->conf->n_metrics_buckets;
    out->bucket_le_us = pool->conf->metrics_buckets_us;
    out->spawns = pool->spawns;
    memcpy(out->exits, pool->exits, sizeof(out->exits));
    out->cut_requests = pool->cut_requests;
    out->max_reached = pool->max_reached;
    out->listen_queue_known = pool->queue_known;
    out->listen_queue = pool->queue_now;
    out->listen_queue_peak = pool->queue_peak;
    out->listen_backlog = pool->queue_backlog;
    out->generation_since_unix_ms = pool->generation_since_unix_ms;
    out->recycles_failed = pool->recycles_failed;
    memcpy(out->recycles_by, pool->recycles_by, sizeof(pool->recycles_by));
    out->recycle_failed_requests = pool->recycle_failed_requests;
    out->recycle_cut_requests = pool->recycle_cut_requests;
}

_Static_assert(FW_POOL_NCAUSES <= FW_POOL_CAUSES_MAX, "pool_info.h's room for recycle causes");
