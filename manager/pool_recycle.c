/* Rolling recycles: a new generation is started and must get ready before
 * the old one is told to stop; if it cannot, it is abandoned and the old
 * one keeps serving. One runs at a time; triggers meanwhile coalesce. */
#include "config.h"

#include "pool_recycle.h"

#include "backoff.h"
#include "lib/log.h"
#include "loop.h"
#include "pool_listen.h"
#include "pool_metrics.h"
#include "pool_worker.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void start_recycle(struct fw_pool *pool, enum fw_pool_cause cause, const char *why);

static const char *const cause_names[] = { "restart", "watch",        "reload",      "signal",
                                           "app",     "max_requests", "memory_limit" };

const char *fw_pool_cause_name(enum fw_pool_cause cause)
{
    return (unsigned)cause < sizeof(cause_names) / sizeof(cause_names[0]) ? cause_names[cause]
                                                                          : "unknown";
}

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A recycle is in progress while workers of an older generation remain. */
bool fw_pool_recycle_running(const struct fw_pool *pool)
{
    for (const struct proc *p = pool->procs; p; p = p->next)
        if (p->generation < pool->generation && p->state != PROC_STOPPING)
            return true;
    return false;
}

/* The end of a recycle, either way: report it, and run the one queued
 * meanwhile, if any. */
void fw_pool_recycle_finish(struct fw_pool *pool, bool ok)
{
    pool->recycle_active = false;
    pool->recycle_done_seq = pool->recycle_seq;
    pool->last_recycle_ok = ok;
    pool->last = (struct fw_pool_last_recycle){
        .seq = pool->recycle_seq,
        .cause = fw_pool_cause_name(pool->recycle_cause),
        .started_unix_ms = pool->recycle_started_unix_ms,
        .ended_unix_ms = unix_ms(),
        .duration_ms = fw_loop_now_ms() - pool->recycle_started_ms,
        .ok = ok,
    };
    fw_pool_metrics_recycle_ended(pool, ok);
    if (ok && pool->recycle_seq >= pool->old_listen_seq)
        fw_pool_listen_close_old(pool);
    if (pool->env.on_recycled)
        pool->env.on_recycled(pool, pool->recycle_seq, ok, pool->last_recycle, pool->env.data);
    if (pool->recycle_queued && !pool->stopping) {
        pool->recycle_queued = false;
        char why[sizeof(pool->queued_why)];
        memcpy(why, pool->queued_why, sizeof(why));
        start_recycle(pool, pool->queued_cause, why);
    }
}

/* An old worker told to stop may still accept a connection until it has
 * read the signal: the recycle ends once each that served has said it
 * accepts no more (or is gone, or was killed at graceful_timeout), so a
 * request made after `restart` returned gets the new code. */
static bool old_still_accepting(const struct fw_pool *pool)
{
    for (const struct proc *p = pool->procs; p; p = p->next)
        if (p->generation < pool->generation && p->state == PROC_STOPPING && p->served &&
            !p->unlistened && p->channel_fd >= 0)
            return true;
    return false;
}

/* Old workers are all stopping or gone: the new generation serves. */
void fw_pool_recycle_check_done(struct fw_pool *pool)
{
    if (!pool->recycle_active || fw_pool_recycle_running(pool) || old_still_accepting(pool))
        return;
    snprintf(pool->last_recycle, sizeof(pool->last_recycle),
             "generation %u ready: %u worker%s replaced in %lld ms", pool->generation,
             pool->recycle_old, pool->recycle_old == 1 ? "" : "s",
             (long long)(fw_loop_now_ms() - pool->recycle_started_ms));
    fw_log_to(pool->log, FW_LOG_NOTICE, "[pool %s] recycle done: %s", pool->conf->name,
              pool->last_recycle);
    fw_pool_recycle_finish(pool, true);
}

/* The new generation cannot get ready (import error, crash, startup
 * timeout): keep the old one serving, drop the new one, say why, and do
 * not retry on our own; the next trigger tries again. */
void fw_pool_recycle_abort(struct fw_pool *pool, const char *why)
{
    uint32_t failed = pool->generation, old = 0;
    for (struct proc *p = pool->procs; p; p = p->next)
        if (p->generation < failed && p->state != PROC_STOPPING && p->generation >= old)
            old = p->generation;
    pool->generation = old;
    pool->failed_generation = failed; /* the next recycle numbers past it */
    for (struct proc *p = pool->procs; p; p = p->next) {
        if (p->generation > old)
            fw_pool_worker_stop(p, "its generation was abandoned");
        else if (p->state == PROC_RETIRING && !p->asked_to_retire)
            fw_pool_worker_set_state(p, PROC_RUNNING, "the recycle was abandoned");
    }
    snprintf(pool->last_recycle, sizeof(pool->last_recycle),
             "generation %u failed after %lld ms: %s; generation %u kept serving%s%s", failed,
             (long long)(fw_loop_now_ms() - pool->recycle_started_ms), why, old,
             pool->load_error[0] ? "\n" : "", pool->load_error);
    fw_log_to(pool->log, FW_LOG_ERR,
              "[pool %s] recycle to generation %u failed: %s; generation %u keeps serving",
              pool->conf->name, failed, why, old);
    fw_pool_recycle_finish(pool, false);
}

/* A new generation (numbered past any abandoned one), started now: an
 * operator's restart or start, or a deploy, says "try now", so no back-off
 * wait and no leftover configuration error. */
void fw_pool_recycle_new_generation(struct fw_pool *pool)
{
    if (pool->generation < pool->failed_generation)
        pool->generation = pool->failed_generation;
    pool->generation++;
    fw_backoff_reset(&pool->backoff);
    pool->config_failed = false;
}

static void start_recycle(struct fw_pool *pool, enum fw_pool_cause cause, const char *why)
{
    uint32_t old_generation = pool->generation;
    fw_pool_recycle_new_generation(pool);
    pool->recycle_seq++;
    pool->recycle_active = true;
    pool->recycle_cause = cause;
    pool->recycle_started_ms = fw_loop_now_ms();
    pool->recycle_started_unix_ms = unix_ms();
    pool->recycle_old = 0;
    pool->load_error[0] = '\0';
    fw_pool_metrics_recycle_began(pool, why, old_generation);
    fw_log_to(pool->log, FW_LOG_NOTICE, "[pool %s] rolling restart to generation %u (%s)",
              pool->conf->name, pool->generation, why);
    for (struct proc *p = pool->procs; p; p = p->next) {
        if (p->state == PROC_STOPPING)
            continue;
        pool->recycle_old++;
        if (p->state == PROC_RUNNING)
            fw_pool_worker_set_state(p, PROC_RETIRING, "restart");
    }
    fw_pool_maintain(pool);
}

/* A deploy that repoints a symlink and then runs `restart` trips the
 * watcher too, in either order; both mean the same change. */
static bool joins_watched(const struct fw_pool *pool)
{
    if (pool->recycle_cause != FW_POOL_CAUSE_WATCH || !pool->recycle_seq || pool->recycle_queued)
        return false;
    return pool->recycle_active ||
           fw_loop_now_ms() - pool->recycle_started_ms <= (int64_t)pool->env.restart_join_ms;
}

uint64_t fw_pool_restart(struct fw_pool *pool, enum fw_pool_cause cause, const char *why)
{
    if (pool->stopping)
        return 0;
    if (cause == FW_POOL_CAUSE_RESTART && joins_watched(pool)) {
        fw_log_to(pool->log, FW_LOG_NOTICE,
                  "[pool %s] %s: the recycle to generation %u that a watched file's change started "
                  "%s it",
                  pool->conf->name, why, pool->generation,
                  pool->recycle_active ? "is running: no other recycle, waiting for"
                                       : "has just ended: no other recycle, answered by");
        return pool->recycle_seq;
    }
    if (pool->recycle_active) {
        if (!pool->recycle_queued)
            fw_log_to(pool->log, FW_LOG_NOTICE,
                      "[pool %s] %s while recycling to generation %u: one more recycle follows",
                      pool->conf->name, why, pool->generation);
        pool->recycle_queued = true;
        pool->queued_cause = cause;
        snprintf(pool->queued_why, sizeof(pool->queued_why), "%s", why);
        return pool->recycle_seq + 1;
    }
    start_recycle(pool, cause, why);
    return pool->recycle_seq;
}

uint64_t fw_pool_restart_changed(struct fw_pool *pool, int64_t changed_ms, const char *why)
{
    /* The same millisecond counts: workers fork now but import the app tens
     * of ms later, after exec and Python's start (the manager catches up
     * with inotify before it starts a recycle, so an event queued before
     * the command is never read after it). */
    if (!pool->stopping && pool->recycle_seq && changed_ms <= pool->recycle_started_ms) {
        fw_log_to(pool->log, FW_LOG_NOTICE,
                  "[pool %s] %s, before the recycle to generation %u began (%s): no other recycle",
                  pool->conf->name, why, pool->generation, fw_pool_cause_name(pool->recycle_cause));
        return pool->recycle_seq;
    }
    return fw_pool_restart(pool, FW_POOL_CAUSE_WATCH, why);
}
