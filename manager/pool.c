/* Pools and their workers. All state changes of a worker go through
 * set_state(), which logs "old -> new (why)". */
#include "config.h"

#include "pool.h"

#include "backoff.h"
#include "fcgi/slot.h"
#include "fcgi/worker.h"
#include "lib/log.h"
#include "lib/sock.h"
#include "listener.h"
#include "loop.h"
#include "output.h"
#include "scoreboard.h"
#include "sizing.h"
#include "spawn.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQUEST_TIMEOUT_GRACE_MS 10000

enum proc_state {
    PROC_STARTING, /* forked, not ready */
    PROC_RUNNING,  /* ready, serving */
    PROC_RETIRING, /* asked for a replacement; serving until it is ready */
    PROC_STOPPING, /* SIGTERM sent; finishing its requests */
};

static const char *const proc_state_names[] = { "starting", "running", "retiring", "stopping" };

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
    bool asked_to_retire;    /* it asks once (max_requests, memory_limit, out of fds) */
    int64_t kill_at_ms;      /* stopping: SIGKILL past this */
    int64_t idle_since_ms;   /* running with no request in progress since then; 0 if busy */
    uint64_t seen_requests;  /* requests counter when last looked at */
    uint64_t requests;       /* the most its slot has claimed (a counter only goes up) */
    struct fw_output output; /* its stdout and stderr */
    bool output_paused;      /* its pipe is out of the loop until the pool's next second */
    struct proc *next;
};

/* What a worker's slot says, as far as the master believes it. */
static uint64_t proc_requests(struct proc *p)
{
    return fw_scoreboard_requests(p->slot, &p->requests);
}

struct fw_pool {
    const struct fw_conf_pool *conf;
    struct fw_pool_env env;
    struct fw_log_sink *log; /* its `log:`, or NULL: the main log */
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
    int64_t recycle_started_ms;
    unsigned recycle_old;               /* workers of the old generation when it began */
    char last_recycle[2560];            /* how the last recycle ended, for status */
    char load_error[FW_SLOT_ERROR_MAX]; /* a new worker's import error, for the report */

    struct fw_sizing_rate rate;             /* dynamic: spawns per second, doubling while short */
    bool watching_listen;                   /* on demand: master waits for the first connection */
    struct fw_backoff backoff;              /* start-up crashes in a row */
    char crash_why[FW_SLOT_ERROR_MAX + 96]; /* the last one, for status */
    struct fw_output_rate output_rate; /* of all its workers' stdout and stderr */
};

static uint32_t proc_busy(const struct proc *p)
{
    unsigned threads = p->pool->conf->threads ? p->pool->conf->threads : 1;
    return fw_scoreboard_busy(p->slot, threads);
}

const char *fw_pool_name(const struct fw_pool *pool)
{
    return pool->conf->name;
}

static void set_state(struct proc *p, enum proc_state state, const char *why)
{
    fw_log_to(p->pool->log, FW_LOG_INFO, "[pool %s pid %ld] %s -> %s (%s)", p->pool->conf->name,
              (long)p->pid, proc_state_names[p->state], proc_state_names[state], why);
    p->state = state;
}

/* A unix socket's mode and owner: listen_mode/owner/group, else 0660 and
 * the pool's user/group ((uid_t)-1/(gid_t)-1 where neither says). */
struct listen_perms {
    int mode;
    uid_t uid;
    gid_t gid;
};

static struct listen_perms listen_perms(const struct fw_conf_pool *c)
{
    return (struct listen_perms){
        .mode = c->listen_mode >= 0 ? c->listen_mode : 0660,
        .uid = c->listen_uid != (uid_t)-1 ? c->listen_uid : c->uid,
        .gid = c->listen_gid != (gid_t)-1 ? c->listen_gid : c->gid,
    };
}

/* A socket another pool holds for the same address (reload renamed the pool,
 * or gave its address to another): opening it again would find it in use.
 * Mode and owner are applied to the file the holder bound, and only to it. */
static int share_listener(struct fw_log_sink *log, struct fw_listeners *ls,
                          const struct fw_conf_pool *c, char *path, size_t path_size,
                          struct fw_sock_file *file)
{
    char from[128];
    bool path_ours;
    int fd = fw_listeners_share(ls, c->listen_addr.text, c->name, from, sizeof(from), file,
                                &path_ours);
    if (fd < 0)
        return -1;
    if (c->listen_addr.family == AF_UNIX && path_ours) {
        const char *p = ((const struct sockaddr_un *)&c->listen_addr.ss)->sun_path;
        struct listen_perms lp = listen_perms(c);
        char err[512];
        snprintf(path, path_size, "%s", p);
        if (fw_sock_set_perms(p, file, lp.mode, lp.uid, lp.gid, err, sizeof(err)) < 0)
            fw_log_to(log, FW_LOG_WARN, "[pool %s] %s", c->name, err);
    }
    fw_log_to(log, FW_LOG_NOTICE,
              "[pool %s] listening on %s, the socket pool %s held (handed over)", c->name,
              c->listen_addr.text, from);
    return fd;
}

/* path receives the unix socket's path (to unlink at the end), or "", and
 * file the identity of the socket file, which a later chmod/chown needs. */
static int open_listener(struct fw_log_sink *log, struct fw_listeners *ls,
                         const struct fw_conf_pool *c, char *path, size_t path_size,
                         struct fw_sock_file *file)
{
    char err[512];
    struct listen_perms lp = listen_perms(c);
    path[0] = '\0';
    if (ls) {
        int fd = share_listener(log, ls, c, path, path_size, file);
        if (fd >= 0 || errno != ENOENT) {
            if (fd < 0)
                fw_log_errno_to(log, FW_LOG_ERR, "[pool %s] sharing the socket on %s", c->name,
                                c->listen_addr.text);
            return fd;
        }
    }
    int fd = fw_sock_listen(&c->listen_addr, c->listen_backlog, lp.mode, file, err, sizeof(err));
    if (fd < 0) {
        fw_log_to(log, FW_LOG_ERR, "[pool %s] %s", c->name, err);
        return -1;
    }
    const char *p = c->listen_addr.family == AF_UNIX
                        ? ((const struct sockaddr_un *)&c->listen_addr.ss)->sun_path
                        : NULL;
    if (p && fw_sock_set_perms(p, file, -1, lp.uid, lp.gid, err, sizeof(err)) < 0) {
        fw_log_to(log, FW_LOG_ERR, "[pool %s] %s", c->name, err);
        goto fail;
    }
    if (ls && fw_listeners_add(ls, c->listen_addr.text, fd, c->name, file, true) < 0) {
        fw_log_errno_to(log, FW_LOG_ERR, "[pool %s] recording its socket", c->name);
        goto fail;
    }
    if (p)
        snprintf(path, path_size, "%s", p);
    fw_log_to(log, FW_LOG_NOTICE, "[pool %s] listening on %s", c->name, c->listen_addr.text);
    return fd;
fail:
    close(fd);
    if (p)
        unlink(p);
    return -1;
}

/* The path goes with the socket's last holder: a pool that handed its
 * socket over leaves it to the taker. */
static void close_listener(struct fw_pool *pool, int *fd, char *path)
{
    bool last = true;
    if (*fd >= 0) {
        last = fw_listeners_drop(pool->env.listeners, *fd);
        close(*fd);
    }
    *fd = -1;
    if (path[0] && last)
        unlink(path);
    path[0] = '\0';
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
    pool->processes = conf->processes;
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
    } else if ((pool->listen_fd = open_listener(log, env->listeners, conf, pool->unix_path,
                                                sizeof(pool->unix_path), &pool->unix_file)) < 0) {
        free(pool);
        return NULL;
    }
    return pool;
}

static void close_old_listener(struct fw_pool *pool)
{
    close_listener(pool, &pool->old_listen_fd, pool->old_unix_path);
}

static void close_proc_fds(struct proc *p)
{
    if (p->channel_fd >= 0) {
        fw_loop_del(p->pool->env.loop, p->channel_fd);
        close(p->channel_fd);
        p->channel_fd = -1;
    }
    if (p->output_fd >= 0) {
        fw_loop_del(p->pool->env.loop, p->output_fd);
        close(p->output_fd);
        p->output_fd = -1;
    }
}

/* Worker stdout/stderr (C extensions, subprocesses): logged line by line,
 * one budget per wakeup (output.h), so a worker that never stops writing
 * cannot keep the loop from the other fds, signals and ticks. */
static void on_output(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    (void)events;
    struct proc *p = data;
    int64_t now = fw_loop_now_ms();
    if (fw_output_read(&p->output, fd, FW_OUTPUT_BUDGET_BYTES, now) < 0) {
        fw_loop_del(loop, fd);
        close(fd);
        p->output_fd = -1;
    } else if (fw_output_rate_readable(&p->pool->output_rate, now) == 0) {
        /* Level-triggered, a full pipe would wake us on every turn. */
        fw_loop_del(loop, fd);
        p->output_paused = true;
    }
}

static void resume_output(struct fw_pool *pool)
{
    if (fw_output_rate_readable(&pool->output_rate, fw_loop_now_ms()) == 0)
        return;
    for (struct proc *p = pool->procs; p; p = p->next)
        if (p->output_paused && p->output_fd >= 0 &&
            fw_loop_add(pool->env.loop, p->output_fd, EPOLLIN, on_output, p) == 0)
            p->output_paused = false;
}

static void report_dropped_output(struct fw_pool *pool, bool now)
{
    uint64_t n = fw_output_rate_due(&pool->output_rate, fw_loop_now_ms(), now);
    if (n)
        fw_log_to(pool->log, FW_LOG_WARN,
                  "[pool %s] %llu line%s of worker output dropped (rate limit)", pool->conf->name,
                  (unsigned long long)n, n == 1 ? "" : "s");
}

void fw_pool_free(struct fw_pool *pool)
{
    if (!pool)
        return;
    struct proc *p = pool->procs;
    while (p) {
        struct proc *next = p->next;
        close_proc_fds(p);
        fw_output_free(&p->output);
        free(p);
        p = next;
    }
    report_dropped_output(pool, true);
    close_listener(pool, &pool->listen_fd, pool->unix_path);
    close_old_listener(pool);
    close_listener(pool, &pool->pending_fd, pool->pending_unix_path);
    free(pool);
}

static void stop_proc(struct proc *p, const char *why)
{
    if (p->state == PROC_STOPPING)
        return;
    set_state(p, PROC_STOPPING, why);
    atomic_store(&p->slot->state, FW_SLOT_STOPPING);
    p->kill_at_ms = fw_loop_now_ms() + (int64_t)p->pool->conf->graceful_timeout_ms;
    kill(p->pid, SIGTERM);
}

/* A recycle is in progress while workers of an older generation remain. */
static bool recycling(const struct fw_pool *pool)
{
    for (const struct proc *p = pool->procs; p; p = p->next)
        if (p->generation < pool->generation && p->state != PROC_STOPPING)
            return true;
    return false;
}

static void start_recycle(struct fw_pool *pool, const char *why);

/* The end of a recycle, either way: report it, and run the one queued
 * meanwhile, if any. */
static void finish_recycle(struct fw_pool *pool, bool ok)
{
    pool->recycle_active = false;
    pool->recycle_done_seq = pool->recycle_seq;
    pool->last_recycle_ok = ok;
    if (ok && pool->recycle_seq >= pool->old_listen_seq)
        close_old_listener(pool);
    if (pool->env.on_recycled)
        pool->env.on_recycled(pool, pool->recycle_seq, ok, pool->last_recycle, pool->env.data);
    if (pool->recycle_queued && !pool->stopping) {
        pool->recycle_queued = false;
        char why[sizeof(pool->queued_why)];
        memcpy(why, pool->queued_why, sizeof(why));
        start_recycle(pool, why);
    }
}

/* Old workers are all stopping or gone: the new generation serves. */
static void check_recycle_done(struct fw_pool *pool)
{
    if (!pool->recycle_active || recycling(pool))
        return;
    snprintf(pool->last_recycle, sizeof(pool->last_recycle),
             "generation %u ready: %u worker%s replaced in %lld ms", pool->generation,
             pool->recycle_old, pool->recycle_old == 1 ? "" : "s",
             (long long)(fw_loop_now_ms() - pool->recycle_started_ms));
    fw_log_to(pool->log, FW_LOG_NOTICE, "[pool %s] recycle done: %s", pool->conf->name,
              pool->last_recycle);
    finish_recycle(pool, true);
}

/* The new generation cannot get ready (import error, crash, startup
 * timeout): keep the old one serving, drop the new one, say why, and do
 * not retry on our own; the next trigger tries again. */
static void abort_recycle(struct fw_pool *pool, const char *why)
{
    uint32_t failed = pool->generation, old = 0;
    for (struct proc *p = pool->procs; p; p = p->next)
        if (p->generation < failed && p->state != PROC_STOPPING && p->generation >= old)
            old = p->generation;
    pool->generation = old;
    pool->failed_generation = failed; /* the next recycle numbers past it */
    for (struct proc *p = pool->procs; p; p = p->next) {
        if (p->generation > old)
            stop_proc(p, "its generation was abandoned");
        else if (p->state == PROC_RETIRING && !p->asked_to_retire)
            set_state(p, PROC_RUNNING, "the recycle was abandoned");
    }
    snprintf(pool->last_recycle, sizeof(pool->last_recycle),
             "generation %u failed after %lld ms: %s; generation %u kept serving%s%s", failed,
             (long long)(fw_loop_now_ms() - pool->recycle_started_ms), why, old,
             pool->load_error[0] ? "\n" : "", pool->load_error);
    fw_log_to(pool->log, FW_LOG_ERR,
              "[pool %s] recycle to generation %u failed: %s; generation %u keeps serving",
              pool->conf->name, failed, why, old);
    finish_recycle(pool, false);
}

/* A worker that answers requests (its app imported or not): while one
 * does, the pool is up and a crash loop of new workers may wait long. */
static bool serving(const struct fw_pool *pool)
{
    for (const struct proc *q = pool->procs; q; q = q->next)
        if (q->state == PROC_RUNNING || q->state == PROC_RETIRING)
            return true;
    return false;
}

/* A start-up crash (backoff.h decides what is one): the first is retried at
 * once, then the delay doubles, 1 s, 2 s, 4 s ... 60 s, or at most 5 s
 * while no worker serves. Never a tight fork loop. */
static void back_off(struct fw_pool *pool, const char *what, const char *detail)
{
    bool capped;
    char note[80] = "";
    snprintf(pool->crash_why, sizeof(pool->crash_why), "%s%s%s", what, detail[0] ? "\n" : "",
             detail);
    fw_backoff_crash(&pool->backoff, fw_loop_now_ms());
    int64_t wait = fw_backoff_wait_ms(&pool->backoff, serving(pool), &capped);
    if (capped)
        snprintf(note, sizeof(note), " (no worker serves: at most %d s instead of %lld s)",
                 FW_BACKOFF_EMPTY_MAX_MS / 1000, (long long)(pool->backoff.delay_ms / 1000));
    fw_log_to(pool->log, FW_LOG_WARN, "[pool %s] %s (%u in a row): next spawn in %lld ms%s",
              pool->conf->name, what, pool->backoff.crashes, (long long)wait, note);
}

/* A worker whose app imported, serving: not p itself. */
static bool has_healthy_worker(const struct fw_pool *pool, const struct proc *p)
{
    for (const struct proc *q = pool->procs; q; q = q->next)
        if (q != p && (q->state == PROC_RUNNING || q->state == PROC_RETIRING) && !q->load_failed)
            return true;
    return false;
}

static void on_channel(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    struct proc *p = data;
    char msgs[64];
    ssize_t n = recv(fd, msgs, sizeof(msgs), MSG_DONTWAIT);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            fw_loop_del(loop, fd);
            close(fd);
            p->channel_fd = -1;
        }
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        switch (msgs[i]) {
        case FW_WORKER_MSG_LOAD_FAILED:
            if (recycling(p->pool) && p->generation == p->pool->generation) {
                /* Written into the slot before the message was sent. */
                fw_scoreboard_error(p->slot, p->pool->load_error, sizeof(p->pool->load_error));
                abort_recycle(p->pool, "an app of the new generation failed to import");
                break;
            }
            /* An abandoned generation's other workers report after the
             * abort that stopped them: told to serve now, they would answer
             * 500s in the moment before they read their SIGTERM. */
            if (p->state == PROC_STOPPING)
                break;
            /* A replacement (max_requests, a crash, a dynamic spawn) that
             * cannot import what is on disk now, say after an abandoned
             * deploy, while workers with a good import serve: they go on,
             * a retiring one past its max_requests, rather than let this
             * one answer 500s. */
            if (has_healthy_worker(p->pool, p)) {
                fw_log_to(p->pool->log, FW_LOG_ERR,
                          "[pool %s pid %ld] a new worker's app failed to import; the "
                          "workers that have it loaded keep serving",
                          p->pool->conf->name, (long)p->pid);
                stop_proc(p, "its app failed to import");
                char err[FW_SLOT_ERROR_MAX];
                fw_scoreboard_error(p->slot, err, sizeof(err));
                back_off(p->pool, "a new worker's app failed to import", err);
                break;
            }
            p->load_failed = true;
            fw_log_to(p->pool->log, FW_LOG_WARN,
                      "[pool %s pid %ld] serving although an app failed to import: it answers "
                      "500 and retries the import",
                      p->pool->conf->name, (long)p->pid);
            {
                char serve = FW_WORKER_MSG_SERVE;
                if (send(p->channel_fd, &serve, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                    fw_log_errno_to(p->pool->log, FW_LOG_WARN,
                                    "[pool %s pid %ld] telling it to serve", p->pool->conf->name,
                                    (long)p->pid);
            }
            /* fall through */
        case FW_WORKER_MSG_READY:
            if (msgs[i] == FW_WORKER_MSG_READY)
                p->load_failed = false; /* also: a failed import healed since */
            if (p->state == PROC_STARTING)
                set_state(p, p->generation == p->pool->generation ? PROC_RUNNING : PROC_RETIRING,
                          "ready");
            break;
        case FW_WORKER_MSG_RETIRE:
            /* Also while the recycle retires it: if that recycle is
             * abandoned, this one still stands. */
            p->asked_to_retire = true;
            if (p->state == PROC_RUNNING)
                set_state(p, PROC_RETIRING, "it asked to be replaced");
            break;
        case FW_WORKER_MSG_RESTART:
            fw_pool_restart(p->pool, "the app called fcgiwsgi.request_restart()");
            break;
        default:
            fw_log_to(p->pool->log, FW_LOG_WARN, "[pool %s pid %ld] unknown message byte 0x%02x",
                      p->pool->conf->name, (long)p->pid, (unsigned char)msgs[i]);
        }
    }
    fw_pool_maintain(p->pool);
}

static uint64_t jittered_max_requests(const struct fw_conf_pool *c)
{
    if (!c->max_requests)
        return 0;
    /* Drawn again for every worker, so a pool never retires all at once.
     * The loader bounds both to a billion; clamped again here because a
     * jitter of UINT64_MAX made "% (jitter + 1)" a division by zero. */
    uint64_t span = c->max_requests_jitter < (uint64_t)RAND_MAX ? c->max_requests_jitter
                                                                : (uint64_t)RAND_MAX - 1;
    uint64_t jitter = span ? (uint64_t)random() % (span + 1) : 0;
    return c->max_requests > UINT64_MAX - jitter ? UINT64_MAX : c->max_requests + jitter;
}

static int spawn_one(struct fw_pool *pool)
{
    struct fw_slot *slot = fw_scoreboard_claim(pool->env.scoreboard);
    if (!slot) {
        fw_log_to(pool->log, FW_LOG_ERR, "[pool %s] scoreboard full; not spawning",
                  pool->conf->name);
        return -1;
    }
    struct proc *p = calloc(1, sizeof(*p));
    if (!p) {
        fw_scoreboard_release(pool->env.scoreboard, slot);
        return -1;
    }
    struct fw_spawn_request req = {
        .pool = pool->conf,
        .listen_fd = pool->listen_fd,
        .log_fd = fw_log_sink_fd(pool->log),
        .log_syslog = fw_log_sink_syslog_path(pool->log),
        .scoreboard = pool->env.scoreboard,
        .slot = slot,
        .max_requests = jittered_max_requests(pool->conf),
        .child_sigmask = pool->env.child_sigmask,
        .generation = pool->generation,
    };
    struct fw_spawned sp;
    char err[256];
    if (fw_spawn_worker(&req, &sp, err, sizeof(err)) < 0) {
        fw_log_to(pool->log, FW_LOG_ERR, "[pool %s] cannot spawn a worker: %s", pool->conf->name,
                  err);
        fw_scoreboard_release(pool->env.scoreboard, slot);
        free(p);
        return -1;
    }
    p->pool = pool;
    p->pid = sp.pid;
    p->state = PROC_STARTING;
    p->slot = slot;
    p->generation = pool->generation;
    p->channel_fd = sp.channel_fd;
    p->output_fd = sp.output_fd;
    fw_output_init(&p->output, &pool->output_rate, pool->conf->name, sp.pid);
    p->output.log = pool->log;
    p->started_ms = fw_loop_now_ms();
    p->next = pool->procs;
    pool->procs = p;
    fw_loop_add(pool->env.loop, p->channel_fd, EPOLLIN, on_channel, p);
    fw_loop_add(pool->env.loop, p->output_fd, EPOLLIN, on_output, p);
    fw_log_to(pool->log, FW_LOG_NOTICE, "[pool %s pid %ld] spawned (generation %u)",
              pool->conf->name, (long)p->pid, pool->generation);
    return 0;
}

/* The number of workers a dynamic pool wants now (sizing.h decides); the
 * longest-idle worker past idle_timeout is stopped, one per tick. */
static unsigned dynamic_target(struct fw_pool *pool, int64_t now, unsigned running)
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
    if (c->min == 0 && n.idle == 0 && n.starting == 0) {
        struct pollfd pfd = { .fd = pool->listen_fd, .events = POLLIN };
        n.conn_waiting = poll(&pfd, 1, 0) == 1;
    }
    struct fw_sizing_limits l = { c->min, c->max, c->min_spare, c->max_spare };
    bool stop_idle;
    unsigned want = fw_sizing_want(&l, &n, &stop_idle);
    if (stop_idle)
        stop_proc(oldest, "idle above max_spare past idle_timeout");
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
        spawn_one(pool);
}

/* On-demand pools (min 0) with no worker: the master watches the socket and
 * spawns when a connection waits. With workers, they and min_spare do it. */
static void watch_for_demand(struct fw_pool *pool, unsigned workers)
{
    if (workers == 0 && !pool->watching_listen && !pool->stopping) {
        if (fw_loop_add(pool->env.loop, pool->listen_fd, EPOLLIN, on_demand, pool) == 0)
            pool->watching_listen = true;
    } else if (workers > 0 && pool->watching_listen) {
        fw_loop_del(pool->env.loop, pool->listen_fd);
        pool->watching_listen = false;
    }
}

unsigned fw_pool_alive(const struct fw_pool *pool)
{
    unsigned n = 0;
    for (const struct proc *p = pool->procs; p; p = p->next)
        n++;
    return n;
}

static void maintain(struct fw_pool *pool);

void fw_pool_maintain(struct fw_pool *pool)
{
    report_dropped_output(pool, false);
    resume_output(pool);
    maintain(pool);
    check_recycle_done(pool);
}

static void maintain(struct fw_pool *pool)
{
    const struct fw_conf_pool *c = pool->conf;
    int64_t now = fw_loop_now_ms();
    unsigned starting = 0, running = 0, retiring = 0;
    for (struct proc *p = pool->procs; p; p = p->next) {
        switch (p->state) {
        case PROC_STARTING:
            starting++;
            if (c->startup_timeout_ms && now - p->started_ms > (int64_t)c->startup_timeout_ms &&
                !p->startup_timed_out) {
                fw_log_to(pool->log, FW_LOG_ERR,
                          "[pool %s pid %ld] not ready after startup_timeout; killing it", c->name,
                          (long)p->pid);
                kill(p->pid, SIGKILL);
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
                kill(p->pid, SIGKILL);
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
                kill(p->pid, SIGKILL);
                set_state(p, PROC_STOPPING, "request_timeout");
                p->kill_at_ms = 0;
            }
        }
    }
    if (pool->stopping)
        return;
    unsigned wanted =
        c->pm == FW_CONF_PM_FIXED ? pool->processes : dynamic_target(pool, now, running);
    /* Retiring workers are replaced first and stopped once enough new ones
     * are ready, so even a one-process pool never stops serving. */
    if (retiring && running >= wanted) {
        for (struct proc *p = pool->procs; p; p = p->next)
            if (p->state == PROC_RETIRING)
                stop_proc(p, "replaced");
    }
    if (pool->config_failed ||
        now < fw_backoff_next_spawn_ms(&pool->backoff, running + retiring > 0))
        return;
    while (starting + running < wanted) {
        if (c->pm == FW_CONF_PM_DYNAMIC && !fw_sizing_rate_allows(&pool->rate, now))
            break;
        if (spawn_one(pool) < 0)
            break;
        starting++;
        if (pool->backoff.crashes)
            break; /* backing off: one at a time */
    }
    if (c->pm == FW_CONF_PM_DYNAMIC && c->min == 0)
        watch_for_demand(pool, starting + running + retiring);
}

/* Only a death before serving backs off (backoff.h says why); any other
 * is replaced at once and ends a back-off, since the app demonstrably
 * starts. */
static void died_unexpectedly(struct fw_pool *pool, const struct proc *p, uint64_t served,
                              unsigned in_flight, int64_t age)
{
    enum fw_backoff_death death =
        fw_backoff_classify(p->state != PROC_STARTING, served, in_flight, age);
    switch (death) {
    case FW_BACKOFF_NOT_READY: back_off(pool, "worker died before it was ready", ""); return;
    case FW_BACKOFF_IDLE_YOUNG:
        back_off(pool, "worker died young, before its first request", "");
        return;
    case FW_BACKOFF_SERVING:
        fw_log_to(pool->log, FW_LOG_WARN,
                  "[pool %s] pid %ld died with %u request%s in flight: not a start-up crash, "
                  "replaced at once",
                  pool->conf->name, (long)p->pid, in_flight, in_flight == 1 ? "" : "s");
        break;
    case FW_BACKOFF_SERVED:
    case FW_BACKOFF_IDLE_OLD: break;
    }
    fw_backoff_reset(&pool->backoff);
}

bool fw_pool_reap(struct fw_pool *pool, pid_t pid, int status)
{
    struct proc **pp = &pool->procs, *p;
    while ((p = *pp) && p->pid != pid)
        pp = &p->next;
    if (!p)
        return false;
    *pp = p->next;
    int64_t now = fw_loop_now_ms();
    int64_t age = now - p->started_ms;
    bool expected =
        p->state == PROC_STOPPING || (WIFEXITED(status) && WEXITSTATUS(status) == FW_EXIT_TIMEOUT);
    char how[64];
    if (WIFEXITED(status))
        snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
    else
        snprintf(how, sizeof(how), "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    fw_log_to(pool->log, expected ? FW_LOG_NOTICE : FW_LOG_WARN,
              "[pool %s pid %ld] exited (%s) after %lld ms%s", pool->conf->name, (long)pid, how,
              (long long)age, expected ? "" : ", unexpectedly");
    /* A worker that left its requests cut at its own graceful_timeout (it
     * exits 1 then: see fcgi/worker.c) during the pool's stop. One that
     * exits 4 left only a request stuck past request_timeout, which had its
     * 504. */
    if (pool->stopping && p->kill_at_ms && WIFEXITED(status) &&
        WEXITSTATUS(status) == FW_EXIT_FAILURE)
        pool->cut++;
    /* What is left in the pipe, within one budget: a subprocess the worker
     * started may hold the pipe open and keep writing. Closing our end
     * then gives that writer EPIPE. */
    if (p->output_fd >= 0)
        on_output(pool->env.loop, p->output_fd, EPOLLIN, p);
    fw_output_flush(&p->output, now);
    close_proc_fds(p);
    uint64_t served = proc_requests(p);
    unsigned in_flight = proc_busy(p);
    pool->requests_done += served;
    fw_scoreboard_release(pool->env.scoreboard, p->slot);
    if (!expected && p->state == PROC_STARTING && p->generation == pool->generation &&
        recycling(pool)) {
        char why[160];
        if (p->startup_timed_out)
            snprintf(why, sizeof(why),
                     "a new worker was not ready within startup_timeout (%llu ms)",
                     (unsigned long long)pool->conf->startup_timeout_ms);
        else
            snprintf(why, sizeof(why), "a new worker exited before it was ready (%s)", how);
        abort_recycle(pool, why);
    } else if (!expected && WIFEXITED(status) && WEXITSTATUS(status) == FW_EXIT_CONFIG) {
        fw_log_to(pool->log, FW_LOG_ERR,
                  "[pool %s] configuration error in the worker: not respawning until "
                  "the configuration is reloaded",
                  pool->conf->name);
        pool->config_failed = true;
    } else if (!expected) {
        died_unexpectedly(pool, p, served, in_flight, age);
    }
    fw_output_free(&p->output);
    free(p);
    fw_pool_maintain(pool);
    return true;
}

/* A new generation (numbered past any abandoned one), started now: an
 * operator's restart or start, or a deploy, says "try now", so no back-off
 * wait and no leftover configuration error. */
static void new_generation(struct fw_pool *pool)
{
    if (pool->generation < pool->failed_generation)
        pool->generation = pool->failed_generation;
    pool->generation++;
    fw_backoff_reset(&pool->backoff);
    pool->config_failed = false;
}

static void start_recycle(struct fw_pool *pool, const char *why)
{
    new_generation(pool);
    pool->recycle_seq++;
    pool->recycle_active = true;
    pool->recycle_started_ms = fw_loop_now_ms();
    pool->recycle_old = 0;
    pool->load_error[0] = '\0';
    fw_log_to(pool->log, FW_LOG_NOTICE, "[pool %s] rolling restart to generation %u (%s)",
              pool->conf->name, pool->generation, why);
    for (struct proc *p = pool->procs; p; p = p->next) {
        if (p->state == PROC_STOPPING)
            continue;
        pool->recycle_old++;
        if (p->state == PROC_RUNNING)
            set_state(p, PROC_RETIRING, "restart");
    }
    fw_pool_maintain(pool);
}

uint64_t fw_pool_restart(struct fw_pool *pool, const char *why)
{
    if (pool->stopping)
        return 0;
    if (pool->recycle_active) {
        if (!pool->recycle_queued)
            fw_log_to(pool->log, FW_LOG_NOTICE,
                      "[pool %s] %s while recycling to generation %u: one more recycle follows",
                      pool->conf->name, why, pool->generation);
        pool->recycle_queued = true;
        snprintf(pool->queued_why, sizeof(pool->queued_why), "%s", why);
        return pool->recycle_seq + 1;
    }
    start_recycle(pool, why);
    return pool->recycle_seq;
}

void fw_pool_stop(struct fw_pool *pool, bool now)
{
    pool->stopping = true;
    pool->recycle_queued = false;
    for (struct proc *p = pool->procs; p; p = p->next) {
        stop_proc(p, "pool stopping");
        if (now) {
            kill(p->pid, SIGKILL);
            p->kill_at_ms = 0;
        }
    }
    if (pool->watching_listen) {
        fw_loop_del(pool->env.loop, pool->listen_fd);
        pool->watching_listen = false;
    }
    if (pool->recycle_active) {
        snprintf(pool->last_recycle, sizeof(pool->last_recycle),
                 "generation %u abandoned: the pool was stopped", pool->generation);
        finish_recycle(pool, false);
    }
}

void fw_pool_start(struct fw_pool *pool)
{
    if (!pool->stopping)
        return;
    pool->stopping = false;
    new_generation(pool); /* workers still finishing belong to the old run */
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
            stop_proc(p, "scaled down");
            have--;
        }
    fw_pool_maintain(pool);
    return 0;
}

const struct fw_conf_pool *fw_pool_conf(const struct fw_pool *pool)
{
    return pool->conf;
}

int fw_pool_prepare_listen(struct fw_pool *pool, const struct fw_conf_pool *conf)
{
    close_listener(pool, &pool->pending_fd, pool->pending_unix_path);
    if (strcmp(pool->conf->listen_addr.text, conf->listen_addr.text) == 0)
        return 0;
    pool->pending_fd = open_listener(pool->log, pool->env.listeners, conf, pool->pending_unix_path,
                                     sizeof(pool->pending_unix_path), &pool->pending_file);
    return pool->pending_fd < 0 ? -1 : 0;
}

void fw_pool_cancel_listen(struct fw_pool *pool)
{
    close_listener(pool, &pool->pending_fd, pool->pending_unix_path);
}

void fw_pool_reconfigure(struct fw_pool *pool, const struct fw_conf_pool *conf)
{
    if (pool->pending_fd >= 0) {
        if (pool->watching_listen) {
            fw_loop_del(pool->env.loop, pool->listen_fd);
            pool->watching_listen = false;
        }
        close_old_listener(pool); /* from an earlier reload whose recycle failed */
        pool->old_listen_fd = pool->listen_fd;
        memcpy(pool->old_unix_path, pool->unix_path, sizeof(pool->unix_path));
        pool->listen_fd = pool->pending_fd;
        memcpy(pool->unix_path, pool->pending_unix_path, sizeof(pool->unix_path));
        pool->unix_file = pool->pending_file;
        pool->pending_fd = -1;
        pool->pending_unix_path[0] = '\0';
        /* A recycle running now started its workers on the old socket: if
         * it ends well and the one queued behind it fails, they still
         * serve there. */
        pool->old_listen_seq = pool->recycle_seq + 1;
    } else if (pool->unix_path[0] &&
               (conf->listen_mode != pool->conf->listen_mode ||
                conf->listen_uid != pool->conf->listen_uid ||
                conf->listen_gid != pool->conf->listen_gid || conf->uid != pool->conf->uid ||
                conf->gid != pool->conf->gid)) {
        struct listen_perms lp = listen_perms(conf);
        char err[512];
        if (fw_sock_set_perms(pool->unix_path, &pool->unix_file, lp.mode, lp.uid, lp.gid, err,
                              sizeof(err)) < 0)
            fw_log_to(pool->log, FW_LOG_ERR, "[pool %s] listen_mode/owner not applied: %s",
                      conf->name, err);
    }
    if (conf->processes != pool->conf->processes || conf->pm != pool->conf->pm)
        pool->processes = conf->processes;
    pool->conf = conf;
}

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
    }
    out->stopped = pool->stopping;
    out->recycling = pool->recycle_active;
    out->recycle_queued = pool->recycle_queued;
    out->recycles = pool->recycle_seq;
    out->recycles_done = pool->recycle_done_seq;
    out->last_recycle_ok = pool->last_recycle_ok;
    out->last_recycle = pool->last_recycle;
    out->crashes = pool->backoff.crashes;
    out->backoff_reason = pool->backoff.crashes ? pool->crash_why : "";
    int64_t now = fw_loop_now_ms(), next = fw_backoff_next_spawn_ms(&pool->backoff, serving(pool));
    out->backoff_ms = next > now ? next - now : 0;
    fw_backoff_wait_ms(&pool->backoff, serving(pool), &out->backoff_capped);
    out->backoff_capped_ms = FW_BACKOFF_EMPTY_MAX_MS;
    out->config_failed = pool->config_failed;
}

void fw_pool_each_worker(const struct fw_pool *pool,
                         bool (*fn)(const struct fw_pool_worker_info *w, void *data), void *data)
{
    int64_t now = fw_loop_now_ms();
    for (const struct proc *p = pool->procs; p; p = p->next) {
        struct fw_pool_worker_info w = {
            .pid = p->pid,
            .generation = p->generation,
            .state = worker_state(p),
            .busy = proc_busy(p),
            .requests = proc_requests((struct proc *)p),
            .rss_bytes = fw_scoreboard_rss_bytes(p->slot),
            .age_ms = now - p->started_ms,
        };
        if (!fn(&w, data))
            return;
    }
}

static void send_fd(struct proc *p, int fd)
{
    char byte = FW_WORKER_MSG_LOG_FD;
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof(cbuf));
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)
    };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (sendmsg(p->channel_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        fw_log_errno_to(p->pool->log, FW_LOG_WARN, "[pool %s pid %ld] sending the reopened log",
                        p->pool->conf->name, (long)p->pid);
}

void fw_pool_set_log(struct fw_pool *pool, struct fw_log_sink *log)
{
    pool->log = log;
    for (struct proc *p = pool->procs; p; p = p->next)
        p->output.log = log;
}

struct fw_log_sink *fw_pool_log(const struct fw_pool *pool)
{
    return pool->log;
}

void fw_pool_log_reopened(struct fw_pool *pool)
{
    int fd = fw_log_sink_fd(pool->log);
    if (fw_log_sink_syslog_path(pool->log) || fd < 0)
        return;
    for (struct proc *p = pool->procs; p; p = p->next)
        if (p->channel_fd >= 0)
            send_fd(p, fd);
}

unsigned fw_pool_cut(const struct fw_pool *pool)
{
    return pool->cut;
}

void fw_pool_set_log_level(struct fw_pool *pool, enum fw_log_level level)
{
    char byte = (char)(FW_WORKER_MSG_LOG_LEVEL + (int)level);
    for (struct proc *p = pool->procs; p; p = p->next)
        if (p->channel_fd >= 0 && send(p->channel_fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            fw_log_errno_to(pool->log, FW_LOG_WARN, "[pool %s pid %ld] telling the new log_level",
                            pool->conf->name, (long)p->pid);
}
