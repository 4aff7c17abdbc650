/* Pools: creating and freeing them, keeping their number of workers right
 * on every tick, stop, start and scale. The parts live beside it:
 * pool_worker.c (one worker's life), pool_recycle.c (generations),
 * pool_listen.c (sockets), pool_sizing.c (dynamic pools), pool_info.c
 * (what status shows). */
#include "config.h"

#include "pool.h"

#include "backoff.h"
#include "pool_template.h"
#include "lib/log.h"
#include "lib/sock.h"
#include "listener.h"
#include "loop.h"
#include "pool_drain.h"
#include "pool_listen.h"
#include "pool_metrics.h"
#include "pool_page.h"
#include "pool_recycle.h"
#include "pool_sizing.h"
#include "pool_types.h"
#include "pool_worker.h"
#include "scoreboard.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_TIMEOUT_GRACE_MS 10000

const char *fw_pool_name(const struct fw_pool *pool)
{
    return pool->conf->name;
}

struct fw_pool *fw_pool_new(const struct fw_conf_pool *conf, const struct fw_pool_env *env,
                            int inherited_fd, struct fw_log_sink *log)
{
    struct fw_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return NULL;
    pool->conf = conf;
    pool->log = log;
    pool->env = *env;
    pool->listen_fd = -1;
    pool->old_listen_fd = -1;
    pool->pending_fd = -1;
    pool->drain_timer_fd = -1;
    pool->page_fd = -1;
    pool->processes = conf->processes;
    pool->generation_since_unix_ms = (int64_t)time(NULL) * 1000;
    fw_output_rate_init(&pool->output_rate, fw_loop_now_ms());
    if (inherited_fd >= 0) {
        /* Workers need it non-blocking; systemd's path stays its own. */
        pool->listen_fd = inherited_fd;
        fw_sock_set_nonblock(inherited_fd, 1);
        if (env->listeners && fw_listeners_add(env->listeners, conf->listen_addr.text, inherited_fd,
                                               conf->name, NULL, false) < 0) {
            free(pool);
            return NULL;
        }
    } else if ((pool->listen_fd = fw_pool_listen_open(log, env->listeners, conf, pool->unix_path,
                                                      sizeof(pool->unix_path), &pool->unix_file)) <
               0) {
        free(pool);
        return NULL;
    }
    fw_pool_sample(pool); /* status knows its queue from the start, not the first tick */
    return pool;
}

void fw_pool_free(struct fw_pool *pool)
{
    if (!pool)
        return;
    struct proc *p = pool->procs;
    while (p) {
        struct proc *next = p->next;
        fw_pool_worker_close_fds(p);
        fw_output_free(&p->output);
        free(p);
        p = next;
    }
    fw_pool_template_free_all(pool);
    fw_pool_worker_report_dropped(pool, true);
    fw_pool_drain_free(pool);
    fw_pool_page_free(pool);
    fw_pool_listen_close(pool, &pool->listen_fd, pool->unix_path);
    fw_pool_listen_close_old(pool);
    fw_pool_listen_close(pool, &pool->pending_fd, pool->pending_unix_path);
    free(pool);
}

unsigned fw_pool_alive(const struct fw_pool *pool)
{
    unsigned n = 0;
    for (const struct proc *p = pool->procs; p; p = p->next)
        n++;
    return n + fw_pool_template_count(pool);
}

static void maintain(struct fw_pool *pool);

void fw_pool_maintain(struct fw_pool *pool)
{
    fw_pool_worker_report_dropped(pool, false);
    fw_pool_worker_resume_output(pool);
    maintain(pool);
    fw_pool_recycle_check_done(pool);
    fw_pool_metrics_replacements_check(pool);
}

static void maintain(struct fw_pool *pool)
{
    const struct fw_conf_pool *c = pool->conf;
    int64_t now = fw_loop_now_ms();
    unsigned starting = 0, running = 0, retiring = 0;
    fw_pool_template_tick(pool);
    for (struct proc *p = pool->procs; p; p = p->next) {
        switch (p->state) {
        case PROC_STARTING:
            starting++;
            if (c->startup_timeout_ms && now - p->started_ms > (int64_t)c->startup_timeout_ms &&
                !p->startup_timed_out) {
                fw_log_to(pool->log, FW_LOG_ERR,
                          "[pool %s pid %ld] not ready after startup_timeout; killing it", c->name,
                          (long)p->pid);
                fw_pool_worker_signal(p, SIGKILL);
                p->startup_timed_out = true;
            }
            break;
        case PROC_RUNNING:
            running++;
            /* Workers spawned before the last failure say nothing. */
            if (pool->backoff.crashes && p->started_ms > pool->backoff.last_crash_ms &&
                now - p->started_ms > FW_BACKOFF_YOUNG_MS) {
                fw_log_to(pool->log, FW_LOG_NOTICE,
                          "[pool %s] a worker has run for %d s: back-off reset", c->name,
                          FW_BACKOFF_YOUNG_MS / 1000);
                fw_backoff_reset(&pool->backoff);
            }
            break;
        case PROC_RETIRING: retiring++; break;
        case PROC_STOPPING:
            if (now >= p->kill_at_ms && p->kill_at_ms) {
                fw_log_to(pool->log, FW_LOG_WARN,
                          "[pool %s pid %ld] still running after graceful_timeout; killing it",
                          c->name, (long)p->pid);
                fw_pool_worker_signal(p, SIGKILL);
                p->kill_at_ms = 0;
                pool->cut += pool->stopping;
            }
            break;
        }
        /* The worker enforces request_timeout itself (it interrupts the
         * call, or answers 504 and asks to be replaced within about 5 s);
         * this is the backstop for one too stuck to do it. */
        if (p->state == PROC_RUNNING && c->request_timeout_ms) {
            int64_t oldest = fw_scoreboard_oldest_start_ms(p->slot, p->started_ms, now);
            if (oldest &&
                now - oldest > (int64_t)c->request_timeout_ms + REQUEST_TIMEOUT_GRACE_MS) {
                fw_log_to(pool->log, FW_LOG_ERR,
                          "[pool %s pid %ld] a request has run for %lld ms, past "
                          "request_timeout, and the worker did not stop; killing it",
                          c->name, (long)p->pid, (long long)(now - oldest));
                fw_pool_worker_signal(p, SIGKILL);
                p->killed_for_timeout = true;
                fw_pool_worker_set_state(p, PROC_STOPPING, "request_timeout");
                p->kill_at_ms = 0;
            }
        }
    }
    if (pool->stopping)
        return;
    unsigned wanted =
        c->pm == FW_CONF_PM_FIXED ? pool->processes : fw_pool_sizing_target(pool, now, running);
    /* Retiring workers are replaced first and stopped once enough new ones
     * are ready, so even a one-process pool never stops serving. */
    if (retiring && running >= wanted) {
        for (struct proc *p = pool->procs; p; p = p->next)
            if (p->state == PROC_RETIRING) {
                p->replaced = true;
                fw_pool_worker_stop(p, "replaced");
            }
    }
    if (pool->config_failed ||
        now < fw_backoff_next_spawn_ms(&pool->backoff, running + retiring > 0))
        return;
    while (starting + running < wanted) {
        if (c->pm == FW_CONF_PM_DYNAMIC && !fw_sizing_rate_allows(&pool->rate, now))
            break;
        if (fw_pool_worker_spawn(pool) < 0)
            break;
        starting++;
        if (pool->backoff.crashes)
            break; /* backing off: one at a time */
    }
    if (c->pm == FW_CONF_PM_DYNAMIC && c->min == 0)
        fw_pool_sizing_watch_demand(pool, starting + running + retiring);
}

void fw_pool_stop(struct fw_pool *pool, bool now)
{
    pool->stopping = true;
    pool->recycle_queued = false;
    for (struct proc *p = pool->procs; p; p = p->next) {
        fw_pool_worker_stop(p, "pool stopping");
        if (now) {
            fw_pool_worker_signal(p, SIGKILL);
            p->kill_at_ms = 0;
        }
    }
    fw_pool_template_stop_all(pool, now);
    if (pool->watching_listen) {
        fw_loop_del(pool->env.loop, pool->listen_fd);
        pool->watching_listen = false;
    }
    if (pool->recycle_active) {
        snprintf(pool->last_recycle, sizeof(pool->last_recycle),
                 "generation %u abandoned: the pool was stopped", pool->generation);
        fw_pool_recycle_finish(pool, false);
    }
}

void fw_pool_start(struct fw_pool *pool)
{
    if (!pool->stopping)
        return;
    pool->stopping = false;
    fw_pool_recycle_new_generation(pool); /* workers still finishing belong to the old run */
    fw_log_to(pool->log, FW_LOG_NOTICE, "[pool %s] started (generation %u)", pool->conf->name,
              pool->generation);
    fw_pool_maintain(pool);
}

bool fw_pool_stopped(const struct fw_pool *pool)
{
    return pool->stopping;
}

int fw_pool_scale(struct fw_pool *pool, unsigned processes)
{
    if (pool->conf->pm != FW_CONF_PM_FIXED || processes == 0)
        return -1;
    fw_log_to(pool->log, FW_LOG_NOTICE, "[pool %s] scaled from %u to %u processes",
              pool->conf->name, pool->processes, processes);
    pool->processes = processes;
    /* Fewer: the newest go first (the oldest are warm). Retiring ones count. */
    unsigned have = 0;
    for (struct proc *p = pool->procs; p; p = p->next)
        if (p->state != PROC_STOPPING && p->generation == pool->generation)
            have++;
    for (struct proc *p = pool->procs; p && have > processes; p = p->next)
        if (p->state != PROC_STOPPING && p->generation == pool->generation) {
            fw_pool_worker_stop(p, "scaled down");
            have--;
        }
    fw_pool_maintain(pool);
    return 0;
}

const struct fw_conf_pool *fw_pool_conf(const struct fw_pool *pool)
{
    return pool->conf;
}

unsigned fw_pool_cut(const struct fw_pool *pool)
{
    return pool->cut;
}
