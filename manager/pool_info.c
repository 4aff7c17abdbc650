/* fw_pool_info and fw_pool_each_worker (pool_info.h): the pool's books as
 * status shows them. */
#include "config.h"

#include "pool_info.h"

#include "backoff.h"
#include "loop.h"
#include "pool_metrics.h"
#include "pool_types.h"
#include "pool_worker.h"
#include "scoreboard.h"

#include <string.h>

static enum fw_pool_worker_state worker_state(const struct proc *p)
{
    switch (p->state) {
    case PROC_STARTING: return FW_POOL_WORKER_STARTING;
    case PROC_RETIRING: return FW_POOL_WORKER_RETIRING;
    case PROC_STOPPING: return FW_POOL_WORKER_STOPPING;
    case PROC_RUNNING: break;
    }
    return proc_busy(p) ? FW_POOL_WORKER_BUSY : FW_POOL_WORKER_IDLE;
}

void fw_pool_info(const struct fw_pool *pool, struct fw_pool_info *out)
{
    const struct fw_conf_pool *c = pool->conf;
    memset(out, 0, sizeof(*out));
    out->name = c->name;
    out->listen = c->listen_addr.text;
    out->model = c->pm == FW_CONF_PM_FIXED ? "fixed" : c->min == 0 ? "ondemand" : "dynamic";
    out->processes = c->pm == FW_CONF_PM_FIXED ? pool->processes : c->max;
    out->min = c->pm == FW_CONF_PM_FIXED ? pool->processes : c->min;
    out->max = c->pm == FW_CONF_PM_FIXED ? pool->processes : c->max;
    out->threads = c->threads;
    out->generation = pool->generation;
    out->requests = pool->requests_done;
    for (const struct proc *p = pool->procs; p; p = p->next) {
        out->workers[worker_state(p)]++;
        out->requests += proc_requests((struct proc *)p);
        out->connections += fw_scoreboard_conns(p->slot);
    }
    out->drained = pool->drained;
    out->drain_refusing = pool->drain_state == FW_POOL_DRAIN_SHUT;
    out->stopped = pool->stopping;
    out->recycling = pool->recycle_active;
    out->recycle_queued = pool->recycle_queued;
    out->recycles = pool->recycle_seq;
    out->recycles_done = pool->recycle_done_seq;
    out->last_recycle_ok = pool->last_recycle_ok;
    out->last_recycle = pool->last_recycle;
    out->last = pool->last;
    out->recycle_cause = fw_pool_cause_name(pool->recycle_cause);
    out->recycle_started_unix_ms = pool->recycle_started_unix_ms;
    out->recycle_ms = pool->recycle_active ? fw_loop_now_ms() - pool->recycle_started_ms : 0;
    out->configured_processes = c->processes;
    out->scaled = c->pm == FW_CONF_PM_FIXED && pool->processes != c->processes;
    out->crashes = pool->backoff.crashes;
    out->backoff_reason = pool->backoff.crashes ? pool->crash_why : "";
    int64_t now = fw_loop_now_ms(),
            next = fw_backoff_next_spawn_ms(&pool->backoff, fw_pool_worker_serving(pool));
    out->backoff_ms = next > now ? next - now : 0;
    fw_backoff_wait_ms(&pool->backoff, fw_pool_worker_serving(pool), &out->backoff_capped);
    out->backoff_capped_ms = FW_BACKOFF_EMPTY_MAX_MS;
    out->config_failed = pool->config_failed;
    out->spawn = c->spawn == FW_CONF_SPAWN_TEMPLATE ? "template" : "fresh";
    for (const struct proc *t = pool->templates; t; t = t->next) {
        if (t->state == PROC_STOPPING)
            continue; /* on its way out: nothing forks from it */
        out->templates++;
        if (t->generation == pool->generation) {
            out->template_pid = t->pid;
            out->template_state = t->state == PROC_STARTING ? "starting"
                                  : t->load_failed         ? "import failed"
                                                           : "ready";
            out->template_age_ms = now - t->started_ms;
        }
    }
    out->import_error = "";
    for (const struct proc *p = pool->procs; p; p = p->next)
        if (p->load_failed && (p->state == PROC_RUNNING || p->state == PROC_RETIRING)) {
            out->import_error = p->import_error;
            break;
        }
}

static void current_requests(const struct proc *p, int64_t now, struct fw_pool_worker_info *w)
{
    unsigned threads = p->pool->conf->threads ? p->pool->conf->threads : 1;
    if (threads > FW_SLOT_REQUESTS_MAX)
        threads = FW_SLOT_REQUESTS_MAX;
    for (unsigned i = 0; i < threads; i++) {
        struct fw_scoreboard_request r;
        if (!fw_scoreboard_request(p->slot, i, p->started_ms, now, &r))
            continue;
        unsigned at = w->n_now++;
        while (at > 0 && w->now[at - 1].age_ms < r.age_ms) {
            w->now[at] = w->now[at - 1];
            at--;
        }
        w->now[at] = r;
    }
}

void fw_pool_each_worker(const struct fw_pool *pool,
                         bool (*fn)(const struct fw_pool_worker_info *w, void *data), void *data)
{
    int64_t now = fw_loop_now_ms();
    ((struct fw_pool *)pool)->memory_wanted_ms = now; /* the tick reads it (pool_metrics.c) */
    for (const struct proc *p = pool->procs; p; p = p->next) {
        struct fw_pool_worker_info w = {
            .pid = p->pid,
            .generation = p->generation,
            .state = worker_state(p),
            .busy = proc_busy(p),
            .requests = proc_requests((struct proc *)p),
            .rss_bytes = fw_scoreboard_rss_bytes(p->slot),
            .connections = fw_scoreboard_conns(p->slot),
            .age_ms = now - p->started_ms,
        };
        w.memory = p->memory;
        current_requests(p, now, &w);
        if (!fn(&w, data))
            return;
    }
}
