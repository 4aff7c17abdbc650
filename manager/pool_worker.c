/* One worker's life: spawned, ready, serving, asked to retire, stopping,
 * reaped; what it says on its channel, what it writes to stdout and
 * stderr, and the back-off when it dies before serving. All state changes
 * of a worker go through fw_pool_worker_set_state(), which logs
 * "old -> new (why)". */
#include "config.h"

#include "pool_worker.h"

#include "backoff.h"
#include "fcgi/slot.h"
#include "fcgi/worker.h"
#include "lib/log.h"
#include "loop.h"
#include "output.h"
#include "pool_drain.h"
#include "pool_metrics.h"
#include "pool_page.h"
#include "pool_recycle.h"
#include "pool_template.h"
#include "scoreboard.h"
#include "spawn.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const proc_state_names[] = { "starting", "running", "retiring", "stopping" };

void fw_pool_worker_set_state(struct proc *p, enum proc_state state, const char *why)
{
    fw_log_to(p->pool->log, FW_LOG_INFO, "[pool %s pid %ld] %s -> %s (%s)", p->pool->conf->name,
              (long)p->pid, proc_state_names[p->state], proc_state_names[state], why);
    p->state = state;
}

void fw_pool_worker_close_fds(struct proc *p)
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

void fw_pool_worker_resume_output(struct fw_pool *pool)
{
    if (fw_output_rate_readable(&pool->output_rate, fw_loop_now_ms()) == 0)
        return;
    for (struct proc *p = pool->procs; p; p = p->next)
        if (p->output_paused && p->output_fd >= 0 &&
            fw_loop_add(pool->env.loop, p->output_fd, EPOLLIN, on_output, p) == 0)
            p->output_paused = false;
}

void fw_pool_worker_report_dropped(struct fw_pool *pool, bool now)
{
    uint64_t n = fw_output_rate_due(&pool->output_rate, fw_loop_now_ms(), now);
    if (n)
        fw_log_to(pool->log, FW_LOG_WARN,
                  "[pool %s] %llu line%s of worker output dropped (rate limit)", pool->conf->name,
                  (unsigned long long)n, n == 1 ? "" : "s");
}

void fw_pool_worker_stop(struct proc *p, const char *why)
{
    if (p->state == PROC_STOPPING)
        return;
    fw_pool_worker_set_state(p, PROC_STOPPING, why);
    atomic_store(&p->slot->state, FW_SLOT_STOPPING);
    p->kill_at_ms = fw_loop_now_ms() + (int64_t)p->pool->conf->graceful_timeout_ms;
    fw_pool_worker_signal(p, SIGTERM);
}

void fw_pool_worker_signal(struct proc *p, int sig)
{
    if (p->pid > 0)
        kill(p->pid, sig);
    else if (sig == SIGKILL || !p->pending_signal)
        p->pending_signal = sig;
}

/* A worker that answers requests (its app imported or not): while one
 * does, the pool is up and a crash loop of new workers may wait long. */
bool fw_pool_worker_serving(const struct fw_pool *pool)
{
    for (const struct proc *q = pool->procs; q; q = q->next)
        if (q->state == PROC_RUNNING || q->state == PROC_RETIRING)
            return true;
    return false;
}

/* A start-up crash (backoff.h decides what is one): the first is retried at
 * once, then the delay doubles, 1 s, 2 s, 4 s ... 60 s, or at most 5 s
 * while no worker serves. Never a tight fork loop. what starts the log
 * line, why is the reason status shows, and last_error (may be "") the
 * dead worker's last error line, which ends the log line. */
void fw_pool_worker_back_off(struct fw_pool *pool, const char *what, const char *why,
                             const char *last_error)
{
    bool capped;
    char note[80] = "";
    snprintf(pool->crash_why, sizeof(pool->crash_why), "%s", why);
    fw_backoff_crash(&pool->backoff, fw_loop_now_ms());
    int64_t wait = fw_backoff_wait_ms(&pool->backoff, fw_pool_worker_serving(pool), &capped);
    if (capped)
        snprintf(note, sizeof(note), " (no worker serves: at most %d s instead of %lld s)",
                 FW_BACKOFF_EMPTY_MAX_MS / 1000, (long long)(pool->backoff.delay_ms / 1000));
    fw_log_to(pool->log, FW_LOG_WARN, "[pool %s] %s (%u in a row): next spawn in %lld ms%s%s%s",
              pool->conf->name, what, pool->backoff.crashes, (long long)wait, note,
              last_error[0] ? "; its last error: " : "", last_error);
}

/* What a worker that died starting last logged at err (or warn), from its
 * slot (the log copies it there until the worker is ready: lib/log.h):
 * one line of it, however the worker wrote the slot, since it goes into
 * status text and log lines. */
void fw_pool_worker_dead_error(const struct proc *p, char *out, size_t cap)
{
    fw_scoreboard_error(p->slot, out, cap);
    out[strcspn(out, "\n")] = '\0';
}

/* A worker serving although its import failed: the last line of what it
 * wrote in its slot (the exception, or the fix when a module refused a
 * sub-interpreter: pyhost/app.h), for status. */
static void import_error_line(struct proc *p)
{
    char err[FW_SLOT_ERROR_MAX];
    fw_scoreboard_error(p->slot, err, sizeof(err));
    size_t n = strlen(err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
    const char *last = strrchr(err, '\n');
    snprintf(p->import_error, sizeof(p->import_error), "%s", last ? last + 1 : err);
    for (char *c = p->import_error; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

/* A worker whose app imported, serving: not p itself. */
static bool has_healthy_worker(const struct fw_pool *pool, const struct proc *p)
{
    for (const struct proc *q = pool->procs; q; q = q->next)
        if (q != p && (q->state == PROC_RUNNING || q->state == PROC_RETIRING) && !q->load_failed)
            return true;
    return false;
}

/* Bytes on the channel that are no message: the app can write to the
 * worker's fd 3 too, and a line per byte was 2 million lines (156 MB) in
 * 3 s. The first is logged at once, then a count at most once a second. */
void fw_pool_worker_note_junk(struct proc *p, uint64_t n, unsigned char last)
{
    int64_t now = fw_loop_now_ms();
    p->junk_unlogged += n;
    if (p->junk_logged_ms && now - p->junk_logged_ms < 1000)
        return;
    fw_log_to(p->pool->log, FW_LOG_WARN,
              "[pool %s pid %ld] %" PRIu64 " byte%s on its channel that %s no message (the last "
              "0x%02x): ignored",
              p->pool->conf->name, (long)p->pid, p->junk_unlogged, p->junk_unlogged == 1 ? "" : "s",
              p->junk_unlogged == 1 ? "is" : "are", last);
    p->junk_unlogged = 0;
    p->junk_logged_ms = now;
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
            p->unlistened = true; /* it is exiting: its socket goes with it */
            fw_pool_maintain(p->pool);
        }
        return;
    }
    uint64_t junk = 0;
    unsigned char last_junk = 0;
    for (ssize_t i = 0; i < n; i++) {
        switch (msgs[i]) {
        case FW_WORKER_MSG_LOAD_FAILED:
            if (fw_pool_recycle_running(p->pool) && p->generation == p->pool->generation) {
                /* Written into the slot before the message was sent. */
                fw_scoreboard_error(p->slot, p->pool->load_error, sizeof(p->pool->load_error));
                fw_pool_recycle_abort(p->pool, "an app of the new generation failed to import");
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
                fw_pool_worker_stop(p, "its app failed to import");
                char err[FW_SLOT_ERROR_MAX], why[sizeof(p->pool->crash_why)];
                fw_scoreboard_error(p->slot, err, sizeof(err));
                snprintf(why, sizeof(why), "a new worker's app failed to import%s%s",
                         err[0] ? "\n" : "", err);
                fw_pool_worker_back_off(p->pool, "a new worker's app failed to import", why, "");
                break;
            }
            p->load_failed = true;
            import_error_line(p);
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
            if (msgs[i] == FW_WORKER_MSG_READY && p->load_failed) {
                p->load_failed = false; /* a failed import healed since */
                fw_pool_template_import_healed(p);
            }
            if (msgs[i] == FW_WORKER_MSG_READY)
                p->import_error[0] = '\0';
            p->served = true;
            if (p->state == PROC_STARTING)
                fw_pool_worker_set_state(
                    p, p->generation == p->pool->generation ? PROC_RUNNING : PROC_RETIRING,
                    "ready");
            break;
        case FW_WORKER_MSG_RETIRE:
            /* Also while the recycle retires it: if that recycle is
             * abandoned, this one still stands. */
            p->asked_to_retire = true;
            if (p->state == PROC_RUNNING) {
                fw_pool_worker_set_state(p, PROC_RETIRING, "it asked to be replaced");
                fw_pool_metrics_replacement_began(p);
            }
            break;
        case FW_WORKER_MSG_UNLISTENED: p->unlistened = true; break;
        case FW_WORKER_MSG_RESTART:
            fw_pool_restart(p->pool, FW_POOL_CAUSE_APP,
                            "the app called fcgiwsgi.request_restart()");
            break;
        default: junk++; last_junk = (unsigned char)msgs[i];
        }
    }
    if (junk)
        fw_pool_worker_note_junk(p, junk, last_junk);
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

/* The scoreboard has 4 slots per configured process of every pool. A pool
 * whose app restarts it without pause (fcgiwsgi.request_restart() in a
 * loop) while its stopping workers sit out graceful_timeout in long
 * requests would otherwise take every slot, and other pools could not
 * replace a worker: it waits for its own to exit instead. */
static bool over_share(struct fw_pool *pool)
{
    unsigned procs = 0, share = 4 * (pool->conf->processes ? pool->conf->processes : 1);
    if (pool->processes > pool->conf->processes)
        share = 4 * pool->processes; /* scaled up by the operator */
    for (const struct proc *q = pool->procs; q; q = q->next)
        procs++;
    if (procs < share)
        return false;
    int64_t now = fw_loop_now_ms();
    if (!pool->share_logged_ms || now - pool->share_logged_ms >= 1000) {
        fw_log_to(pool->log, FW_LOG_ERR,
                  "[pool %s] %u workers, its share of the scoreboard: not spawning until one "
                  "exits",
                  pool->conf->name, procs);
        pool->share_logged_ms = now;
    }
    return true;
}

void fw_pool_worker_watch_channel(struct proc *p)
{
    fw_loop_add(p->pool->env.loop, p->channel_fd, EPOLLIN, on_channel, p);
}

void fw_pool_worker_watch_output(struct proc *p)
{
    fw_loop_add(p->pool->env.loop, p->output_fd, EPOLLIN, on_output, p);
}

int fw_pool_worker_spawn(struct fw_pool *pool)
{
    bool forked = pool->conf->spawn == FW_CONF_SPAWN_TEMPLATE;
    if (forked && !fw_pool_template_ready(pool))
        return -1; /* it forks them once it is (fw_pool_template_tick) */
    if (over_share(pool))
        return -1;
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
    fw_scoreboard_set_buckets(slot, pool->conf->metrics_buckets_us, pool->conf->n_metrics_buckets);
    struct fw_spawn_request req = {
        .pool = pool->conf,
        .listen_fd = pool->listen_fd,
        .log_fd = fw_log_sink_fd(pool->log),
        .log_syslog = fw_log_sink_syslog_path(pool->log),
        .access_fd = pool->access ? fw_log_sink_fd(pool->access) : -1,
        .scoreboard = pool->env.scoreboard,
        .slot = slot,
        .max_requests = jittered_max_requests(pool->conf),
        .child_sigmask = pool->env.child_sigmask,
        .generation = pool->generation,
        .drained = fw_pool_drain_spawn_drained(pool),
        .page_fd = fw_pool_page_fd_for_worker(pool),
    };
    struct fw_spawned sp;
    char err[256];
    int spawned = forked ? fw_pool_template_fork(pool, &req, &sp, err, sizeof(err))
                         : fw_spawn_worker(&req, &sp, err, sizeof(err));
    if (req.page_fd >= 0)
        close(req.page_fd);
    if (spawned < 0) {
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
    p->hello_ino = sp.child_ino;
    fw_output_init(&p->output, &pool->output_rate, pool->conf->name, sp.pid);
    p->output.log = pool->log;
    p->started_ms = fw_loop_now_ms();
    pool->spawns++;
    p->next = pool->procs;
    pool->procs = p;
    fw_pool_worker_watch_output(p);
    if (forked) {
        /* Its pid comes with its hello, which logs it. */
        fw_pool_template_watch_hello(p);
        return 0;
    }
    fw_pool_worker_watch_channel(p);
    fw_log_to(pool->log, FW_LOG_NOTICE, "[pool %s pid %ld] spawned (generation %u)",
              pool->conf->name, (long)p->pid, pool->generation);
    return 0;
}

/* Only a death before serving backs off (backoff.h says why); any other
 * is replaced at once and ends a back-off, since the app demonstrably
 * starts. */
static void died_unexpectedly(struct fw_pool *pool, const struct proc *p, uint64_t served,
                              unsigned in_flight, int64_t age, const char *how, const char *error)
{
    enum fw_backoff_death death =
        fw_backoff_classify(p->state != PROC_STARTING, served, in_flight, age);
    char why[sizeof(pool->crash_why)];
    switch (death) {
    case FW_BACKOFF_NOT_READY:
        snprintf(why, sizeof(why), "worker died before it was ready (%s)%s%s", how,
                 error[0] ? "; its last error: " : "", error);
        fw_pool_worker_back_off(pool, "worker died before it was ready", why, error);
        return;
    case FW_BACKOFF_IDLE_YOUNG:
        snprintf(why, sizeof(why), "worker died young, before its first request (%s)", how);
        fw_pool_worker_back_off(pool, "worker died young, before its first request", why, "");
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

void fw_pool_worker_log_exit(const struct proc *p, const char *what, int status, bool expected,
                             char *how, size_t how_cap, char *error, size_t error_cap)
{
    const struct fw_pool *pool = p->pool;
    if (WIFEXITED(status))
        snprintf(how, how_cap, "exit status %d", WEXITSTATUS(status));
    else
        snprintf(how, how_cap, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    fw_log_to(pool->log, expected ? FW_LOG_NOTICE : FW_LOG_WARN,
              "[pool %s %s %ld] exited (%s) after %lld ms%s", pool->conf->name, what,
              (long)p->pid, how, (long long)(fw_loop_now_ms() - p->started_ms),
              expected ? "" : ", unexpectedly");
    error[0] = '\0';
    if (p->state == PROC_STARTING)
        fw_pool_worker_dead_error(p, error, error_cap);
}

bool fw_pool_worker_death_settles(struct fw_pool *pool, const struct proc *p, int status,
                                  const char *noun, const char *how, const char *error)
{
    if (p->state == PROC_STARTING && p->generation == pool->generation &&
        fw_pool_recycle_running(pool)) {
        char why[160];
        if (p->startup_timed_out)
            snprintf(why, sizeof(why), "the new generation's %s was not ready within "
                     "startup_timeout (%llu ms)", noun,
                     (unsigned long long)pool->conf->startup_timeout_ms);
        else
            snprintf(why, sizeof(why), "the new generation's %s exited before it was ready (%s)",
                     noun, how);
        snprintf(pool->load_error, sizeof(pool->load_error), "%s", error);
        fw_pool_recycle_abort(pool, why);
        return true;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == FW_EXIT_CONFIG) {
        fw_log_to(pool->log, FW_LOG_ERR,
                  "[pool %s] configuration error in the %s: not respawning until the "
                  "configuration is reloaded%s%s",
                  pool->conf->name, noun, error[0] ? "; its last error: " : "", error);
        pool->config_failed = true;
        return true;
    }
    return false;
}

bool fw_pool_reap(struct fw_pool *pool, pid_t pid, int status)
{
    struct proc **pp = &pool->procs, *p;
    while ((p = *pp) && p->pid != pid)
        pp = &p->next;
    if (!p)
        return fw_pool_template_reap(pool, pid, status);
    *pp = p->next;
    int64_t now = fw_loop_now_ms();
    int64_t age = now - p->started_ms;
    bool expected =
        p->state == PROC_STOPPING || (WIFEXITED(status) && WEXITSTATUS(status) == FW_EXIT_TIMEOUT);
    char how[64], error[FW_SLOT_ERROR_MAX];
    fw_pool_worker_log_exit(p, "pid", status, expected, how, sizeof(how), error, sizeof(error));
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
    fw_pool_worker_close_fds(p);
    uint64_t served = proc_requests(p);
    unsigned in_flight = proc_busy(p);
    pool->requests_done += served;
    fw_pool_metrics_reaped(pool, p, status, expected);
    fw_scoreboard_release(pool->env.scoreboard, p->slot);
    if (!expected && !fw_pool_worker_death_settles(pool, p, status, "worker", how, error))
        died_unexpectedly(pool, p, served, in_flight, age, how, error);
    fw_output_free(&p->output);
    free(p);
    fw_pool_maintain(pool);
    return true;
}

void fw_pool_worker_send_fd(struct proc *p, int fd, char byte)
{
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

void fw_pool_set_access(struct fw_pool *pool, struct fw_log_sink *access)
{
    pool->access = access;
}

struct fw_log_sink *fw_pool_access(const struct fw_pool *pool)
{
    return pool->access;
}

void fw_pool_log_reopened(struct fw_pool *pool)
{
    int fd = fw_log_sink_fd(pool->log);
    int access_fd = pool->access ? fw_log_sink_fd(pool->access) : -1;
    bool send_log = !fw_log_sink_syslog_path(pool->log) && fd >= 0;
    for (struct proc *p = pool->procs; p; p = p->next) {
        if (p->channel_fd < 0)
            continue;
        if (send_log)
            fw_pool_worker_send_fd(p, fd, FW_WORKER_MSG_LOG_FD);
        /* A worker without an access log (spawned before a reload turned
         * it on) has no place for it, and closes it. */
        if (access_fd >= 0)
            fw_pool_worker_send_fd(p, access_fd, FW_WORKER_MSG_ACCESS_FD);
    }
    for (struct proc *t = pool->templates; t && send_log; t = t->next)
        if (t->channel_fd >= 0)
            fw_pool_worker_send_fd(t, fd, FW_WORKER_MSG_LOG_FD);
}

void fw_pool_set_log_level(struct fw_pool *pool, enum fw_log_level level)
{
    char byte = (char)(FW_WORKER_MSG_LOG_LEVEL + (int)level);
    struct proc *lists[] = { pool->procs, pool->templates };
    for (size_t i = 0; i < 2; i++)
        for (struct proc *p = lists[i]; p; p = p->next)
            if (p->channel_fd >= 0 &&
                send(p->channel_fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                fw_log_errno_to(pool->log, FW_LOG_WARN,
                                "[pool %s pid %ld] telling the new log_level", pool->conf->name,
                                (long)p->pid);
}
