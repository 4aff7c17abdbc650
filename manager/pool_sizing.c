/* Dynamic and on-demand pools' sizing glue (pool_sizing.h). */
#include "config.h"

#include "pool_sizing.h"

#include "backoff.h"
#include "lib/log.h"
#include "loop.h"
#include "pool_worker.h"
#include "scoreboard.h"
#include "sizing.h"

#include <poll.h>
#include <sys/epoll.h>

/* The number of workers a dynamic pool wants now (sizing.h decides); the
 * longest-idle worker past idle_timeout is stopped, one per tick. */
unsigned fw_pool_sizing_target(struct fw_pool *pool, int64_t now, unsigned running)
{
    const struct fw_conf_pool *c = pool->conf;
    struct fw_sizing_now n = { .running = running };
    struct proc *oldest = NULL;
    for (struct proc *p = pool->procs; p; p = p->next) {
        if (p->state == PROC_STARTING)
            n.starting++;
        if (p->state != PROC_RUNNING)
            continue;
        uint64_t reqs = proc_requests(p);
        bool is_idle = proc_busy(p) == 0;
        if (!is_idle || reqs != p->seen_requests)
            p->idle_since_ms = 0;
        else if (!p->idle_since_ms)
            p->idle_since_ms = now;
        p->seen_requests = reqs;
        n.idle += is_idle;
        if (p->idle_since_ms && now - p->idle_since_ms >= (int64_t)c->idle_timeout_ms &&
            (!oldest || p->idle_since_ms < oldest->idle_since_ms))
            oldest = p;
    }
    n.idle_expired = oldest != NULL;
    /* A drained listener polls as hung up: nothing waits on it. */
    if (c->min == 0 && n.idle == 0 && n.starting == 0 && !pool->drained) {
        struct pollfd pfd = { .fd = pool->listen_fd, .events = POLLIN };
        n.conn_waiting = poll(&pfd, 1, 0) == 1;
    }
    struct fw_sizing_limits l = { c->min, c->max, c->min_spare, c->max_spare };
    bool stop_idle;
    unsigned want = fw_sizing_want(&l, &n, &stop_idle);
    if (stop_idle)
        fw_pool_worker_stop(oldest, "idle above max_spare past idle_timeout");
    return want;
}

static void on_demand(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    struct fw_pool *pool = data;
    fw_loop_del(loop, fd);
    pool->watching_listen = false;
    fw_log_to(pool->log, FW_LOG_INFO,
              "[pool %s] connection waiting and no worker: spawning on demand", pool->conf->name);
    if (!pool->stopping && !pool->config_failed &&
        fw_loop_now_ms() >= fw_backoff_next_spawn_ms(&pool->backoff, false))
        fw_pool_worker_spawn(pool);
}

/* On-demand pools (min 0) with no worker: the master watches the socket and
 * spawns when a connection waits. With workers, they and min_spare do it. */
void fw_pool_sizing_watch_demand(struct fw_pool *pool, unsigned workers)
{
    if (workers == 0 && !pool->watching_listen && !pool->stopping && !pool->drained) {
        if (fw_loop_add(pool->env.loop, pool->listen_fd, EPOLLIN, on_demand, pool) == 0)
            pool->watching_listen = true;
    } else if (workers > 0 && pool->watching_listen) {
        fw_loop_del(pool->env.loop, pool->listen_fd);
        pool->watching_listen = false;
    }
}
