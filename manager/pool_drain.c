/* Drain and undrain (pool_drain.h). A TCP listener is shut with
 * shutdown(SHUT_RD): Linux then stops listening on the socket itself, for
 * every process holding it (the workers' copies too), so a connect is
 * refused (RST, ECONNREFUSED), which nginx's fastcgi_next_upstream error
 * retries at once for every method; listen() on the same socket makes it
 * listen again on the same bound address. But shutting it resets what is
 * in its accept queue, connections whose request the web server may have
 * sent already (a POST is then not retried): first a socket filter drops
 * new SYNs (their clients retry after ~1 s and then find the port
 * refused), the workers take what is queued, and only then is it shut. */
#include "config.h"

#include "pool_drain.h"

#include "fcgi/worker.h"
#include "lib/log.h"
#include "loop.h"
#include "pool_worker.h"
#include "scoreboard.h"

#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* Handshakes under way when the filter went on complete within a round
 * trip: those connections join the queue after it, and are taken too. */
#define SETTLE_MIN_MS 5
/* Queued connections still not taken by then (every thread busy with a
 * long request) are reset rather than hold new SYNs off any longer. */
#define SETTLE_MAX_MS 1000

static bool tcp(const struct fw_pool *pool)
{
    int f = pool->conf->listen_addr.family;
    return f == AF_INET || f == AF_INET6;
}

/* Classic BPF sees the TCP header at offset 0 on a TCP socket: byte 13
 * holds the flags, 0x02 is SYN. Only SYNs go: the final ACK of a
 * handshake already under way still completes it. */
static int hold_off_syns(int fd)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x02, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
    };
    struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

static void let_syns_in(int fd)
{
    int dummy = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof(dummy)) < 0 && errno != ENOENT)
        fw_log_errno(FW_LOG_WARN, "removing the drain's socket filter");
}

/* Connections in the accept queue (tcpi_unacked of a listener). */
static unsigned queued(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
        return 0;
    return ti.tcpi_unacked;
}

static void tell_workers(struct fw_pool *pool, char msg)
{
    for (struct proc *p = pool->procs; p; p = p->next)
        if (p->channel_fd >= 0 && send(p->channel_fd, &msg, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            fw_log_errno_to(pool->log, FW_LOG_WARN, "[pool %s pid %ld] telling it '%c'",
                            pool->conf->name, (long)p->pid, msg);
}

static void stop_timer(struct fw_pool *pool)
{
    if (pool->drain_timer_fd < 0)
        return;
    fw_loop_del(pool->env.loop, pool->drain_timer_fd);
    close(pool->drain_timer_fd);
    pool->drain_timer_fd = -1;
}

void fw_pool_drain_apply(struct fw_pool *pool, int fd)
{
    if (fd >= 0 && shutdown(fd, SHUT_RD) < 0 && errno != ENOTCONN)
        fw_log_errno_to(pool->log, FW_LOG_ERR, "[pool %s] shutting its listener", pool->conf->name);
}

static void shut(struct fw_pool *pool)
{
    pool->drain_reset = queued(pool->listen_fd);
    fw_pool_drain_apply(pool, pool->listen_fd);
    fw_pool_drain_apply(pool, pool->old_listen_fd);
    let_syns_in(pool->listen_fd);
    stop_timer(pool);
    pool->drain_state = FW_POOL_DRAIN_SHUT;
    tell_workers(pool, FW_WORKER_MSG_DRAIN);
    if (pool->drain_reset)
        fw_log_to(pool->log, FW_LOG_WARN,
                  "[pool %s] drained after %lld ms: %u queued connection%s no worker took "
                  "were reset",
                  pool->conf->name, (long long)(fw_loop_now_ms() - pool->drain_started_ms),
                  pool->drain_reset, pool->drain_reset == 1 ? "" : "s");
    else
        fw_log_to(pool->log, FW_LOG_NOTICE,
                  "[pool %s] drained in %lld ms: %s refuses connections; requests in flight "
                  "and kept connections finish",
                  pool->conf->name, (long long)(fw_loop_now_ms() - pool->drain_started_ms),
                  pool->conf->listen_addr.text);
}

static void on_settle_tick(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)events;
    struct fw_pool *pool = data;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        fw_log_errno_to(pool->log, FW_LOG_WARN, "[pool %s] reading the drain's timer",
                        pool->conf->name);
    int64_t waited = fw_loop_now_ms() - pool->drain_started_ms;
    if ((waited >= SETTLE_MIN_MS && queued(pool->listen_fd) == 0) || waited >= SETTLE_MAX_MS)
        shut(pool);
}

static int start_timer(struct fw_pool *pool)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct itimerspec every_ms = { .it_interval = { 0, 1000000 }, .it_value = { 0, 1000000 } };
    if (fd < 0 || timerfd_settime(fd, 0, &every_ms, NULL) < 0 ||
        fw_loop_add(pool->env.loop, fd, EPOLLIN, on_settle_tick, pool) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    pool->drain_timer_fd = fd;
    return 0;
}

int fw_pool_drain(struct fw_pool *pool, char *err, size_t cap)
{
    if (pool->drained)
        return 0;
    if (!tcp(pool)) {
        snprintf(err, cap,
                 "pool %s listens on %s: drain needs a TCP listener (a balancer's hosts "
                 "are reached over TCP)",
                 pool->conf->name, pool->conf->listen_addr.text);
        return -1;
    }
    pool->drained = true;
    pool->drain_started_ms = fw_loop_now_ms();
    pool->drain_reset = 0;
    if (pool->watching_listen) {
        fw_loop_del(pool->env.loop, pool->listen_fd);
        pool->watching_listen = false;
    }
    if (hold_off_syns(pool->listen_fd) < 0 || start_timer(pool) < 0) {
        fw_log_errno_to(pool->log, FW_LOG_WARN,
                        "[pool %s] holding new connections off while the queue is taken; "
                        "shutting the listener at once",
                        pool->conf->name);
        let_syns_in(pool->listen_fd);
        shut(pool);
        return 0;
    }
    pool->drain_state = FW_POOL_DRAIN_SETTLING;
    return 0;
}

static int relisten(struct fw_pool *pool, int fd, char *err, size_t cap)
{
    if (fd < 0 || listen(fd, pool->conf->listen_backlog) == 0)
        return 0;
    snprintf(err, cap, "pool %s: listening again on %s: %s", pool->conf->name,
             pool->conf->listen_addr.text, strerror(errno));
    return -1;
}

int fw_pool_undrain(struct fw_pool *pool, char *err, size_t cap)
{
    if (!pool->drained)
        return 0;
    if (pool->drain_state == FW_POOL_DRAIN_SETTLING) {
        let_syns_in(pool->listen_fd);
        stop_timer(pool);
    } else if (pool->drain_state == FW_POOL_DRAIN_SHUT &&
               (relisten(pool, pool->listen_fd, err, cap) < 0 ||
                relisten(pool, pool->old_listen_fd, err, cap) < 0)) {
        fw_log_to(pool->log, FW_LOG_ERR, "[pool %s] undrain failed: %s", pool->conf->name, err);
        return -1;
    }
    pool->drained = false;
    pool->drain_state = FW_POOL_DRAIN_NONE;
    tell_workers(pool, FW_WORKER_MSG_UNDRAIN);
    fw_log_to(pool->log, FW_LOG_NOTICE, "[pool %s] undrained: listening on %s again",
              pool->conf->name, pool->conf->listen_addr.text);
    fw_pool_maintain(pool);
    return 0;
}

bool fw_pool_drained(const struct fw_pool *pool)
{
    return pool->drained;
}

bool fw_pool_drain_idle(const struct fw_pool *pool)
{
    if (!pool->drained || pool->drain_state != FW_POOL_DRAIN_SHUT)
        return false;
    for (const struct proc *p = pool->procs; p; p = p->next)
        if (proc_busy(p) || fw_scoreboard_conns(p->slot))
            return false;
    return true;
}

bool fw_pool_drain_spawn_drained(const struct fw_pool *pool)
{
    return pool->drained && pool->drain_state == FW_POOL_DRAIN_SHUT;
}

void fw_pool_drain_free(struct fw_pool *pool)
{
    stop_timer(pool);
}
