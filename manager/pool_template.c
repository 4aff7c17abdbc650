/* A pool's templates and the workers they fork, on the master's side
 * (pool_template.h). */
#include "config.h"

#include "pool_template.h"

#include "backoff.h"
#include "fcgi/worker.h"
#include "lib/log.h"
#include "loop.h"
#include "pool_drain.h"
#include "pool_page.h"
#include "pool_recycle.h"
#include "pool_worker.h"
#include "scoreboard.h"
#include "template.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* A template answers a fork request as soon as its fork returned: this
 * long with requests and no answer, it is stuck (stopped, or an app thread
 * holds what the fork needs) and is killed. The worker's hello comes
 * later, after the apps' at-fork handlers: startup_timeout times that. */
#define FORK_ANSWER_MS 10000
/* A stopping template has nothing to finish. */
#define TEMPLATE_STOP_MS 5000
/* Children reaped before their hello was read (UNCLAIMED), kept this long. */
#define UNCLAIMED 64
#define UNCLAIMED_MS 30000

static struct {
    pid_t pid;
    int status;
    int64_t at_ms;
} unclaimed[UNCLAIMED];
static size_t unclaimed_next;

void fw_pool_unclaimed_child(pid_t pid, int status)
{
    unclaimed[unclaimed_next].pid = pid;
    unclaimed[unclaimed_next].status = status;
    unclaimed[unclaimed_next].at_ms = fw_loop_now_ms();
    unclaimed_next = (unclaimed_next + 1) % UNCLAIMED;
}

static bool take_unclaimed(pid_t pid, int *status)
{
    int64_t now = fw_loop_now_ms();
    for (size_t i = 0; i < UNCLAIMED; i++)
        if (unclaimed[i].pid == pid && now - unclaimed[i].at_ms <= UNCLAIMED_MS) {
            *status = unclaimed[i].status;
            unclaimed[i].pid = 0;
            return true;
        }
    return false;
}

static struct proc *current(const struct fw_pool *pool)
{
    for (struct proc *t = pool->templates; t; t = t->next)
        if (t->generation == pool->generation && t->state != PROC_STOPPING)
            return t;
    return NULL;
}

bool fw_pool_template_ready(const struct fw_pool *pool)
{
    const struct proc *t = current(pool);
    return t && t->state == PROC_RUNNING && t->channel_fd >= 0;
}

unsigned fw_pool_template_count(const struct fw_pool *pool)
{
    unsigned n = 0;
    for (const struct proc *t = pool->templates; t; t = t->next)
        n++;
    return n;
}

static void set_state(struct proc *t, enum proc_state state, const char *why)
{
    static const char *const names[] = { "starting", "ready", "ready", "stopping" };
    fw_log_to(t->pool->log, FW_LOG_INFO, "[pool %s template pid %ld] %s -> %s (%s)",
              t->pool->conf->name, (long)t->pid, names[t->state], names[state], why);
    t->state = state;
}

static void stop_template(struct proc *t, const char *why, int sig)
{
    if (t->state != PROC_STOPPING)
        set_state(t, PROC_STOPPING, why);
    t->kill_at_ms = fw_loop_now_ms() + TEMPLATE_STOP_MS;
    kill(t->pid, sig);
}

/* The template's channel: READY or LOAD_FAILED once; anything else is
 * junk (the apps' import ran in it, and may write to fd 3). */
static void on_template_channel(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    (void)events;
    struct proc *t = data;
    struct fw_pool *pool = t->pool;
    unsigned char msgs[64];
    ssize_t n = recv(fd, msgs, sizeof(msgs), MSG_DONTWAIT);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            fw_loop_del(loop, fd);
            close(fd);
            t->channel_fd = -1;
            /* Alive without a channel it can fork nothing: an app thread
             * closed fd 3. Its reap is a crash, and a new one starts. */
            if (t->state != PROC_STOPPING) {
                fw_log_to(pool->log, FW_LOG_ERR,
                          "[pool %s template pid %ld] closed its channel; killing it",
                          pool->conf->name, (long)t->pid);
                kill(t->pid, SIGKILL);
            }
        }
        return;
    }
    uint64_t junk = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (msgs[i] == FW_TEMPLATE_MSG_FORKED && t->forks_pending) {
            t->forks_pending--;
            t->fork_progress_ms = fw_loop_now_ms();
            continue;
        }
        bool said = msgs[i] == FW_WORKER_MSG_READY || msgs[i] == FW_WORKER_MSG_LOAD_FAILED;
        if (!said || t->state != PROC_STARTING) {
            junk++;
            continue;
        }
        t->load_failed = msgs[i] == FW_WORKER_MSG_LOAD_FAILED;
        if (t->load_failed && fw_pool_recycle_running(pool) && t->generation == pool->generation) {
            fw_scoreboard_error(t->slot, pool->load_error, sizeof(pool->load_error));
            set_state(t, PROC_RUNNING, "its app failed to import");
            fw_pool_recycle_abort(pool, "an app of the new generation failed to import in its "
                                        "template");
            continue;
        }
        fw_log_to(pool->log, FW_LOG_NOTICE,
                  "[pool %s template pid %ld] ready in %lld ms (generation %u)%s",
                  pool->conf->name, (long)t->pid, (long long)(fw_loop_now_ms() - t->started_ms),
                  t->generation,
                  t->load_failed ? ": an app failed to import, its workers answer 500" : "");
        set_state(t, PROC_RUNNING, t->load_failed ? "ready, an import failed" : "ready");
    }
    if (junk)
        fw_pool_worker_note_junk(t, junk, msgs[n - 1]);
    fw_pool_maintain(pool);
}

static void start_template(struct fw_pool *pool)
{
    struct fw_slot *slot = fw_scoreboard_claim(pool->env.scoreboard);
    struct proc *t = slot ? calloc(1, sizeof(*t)) : NULL;
    if (!t) {
        fw_log_to(pool->log, FW_LOG_ERR, "[pool %s] %s; not starting its template",
                  pool->conf->name, slot ? "out of memory" : "scoreboard full");
        if (slot)
            fw_scoreboard_release(pool->env.scoreboard, slot);
        return;
    }
    struct fw_spawn_request req = {
        .pool = pool->conf,
        .listen_fd = pool->listen_fd,
        .log_fd = fw_log_sink_fd(pool->log),
        .log_syslog = fw_log_sink_syslog_path(pool->log),
        .access_fd = -1,
        .scoreboard = pool->env.scoreboard,
        .slot = slot,
        .child_sigmask = pool->env.child_sigmask,
        .generation = pool->generation,
        .page_fd = -1,
        .template = true,
    };
    struct fw_spawned sp;
    char err[256];
    if (fw_spawn_worker(&req, &sp, err, sizeof(err)) < 0) {
        fw_log_to(pool->log, FW_LOG_ERR, "[pool %s] cannot spawn its template: %s",
                  pool->conf->name, err);
        fw_scoreboard_release(pool->env.scoreboard, slot);
        free(t);
        return;
    }
    t->pool = pool;
    t->pid = sp.pid;
    t->state = PROC_STARTING;
    t->slot = slot;
    t->generation = pool->generation;
    t->uid = pool->conf->uid;
    t->channel_fd = sp.channel_fd;
    t->output_fd = sp.output_fd;
    t->started_ms = fw_loop_now_ms();
    fw_output_init(&t->output, &pool->output_rate, pool->conf->name, sp.pid);
    t->output.log = pool->log;
    t->next = pool->templates;
    pool->templates = t;
    fw_loop_add(pool->env.loop, t->channel_fd, EPOLLIN, on_template_channel, t);
    fw_pool_worker_watch_output(t);
    fw_log_to(pool->log, FW_LOG_NOTICE, "[pool %s template pid %ld] spawned (generation %u)",
              pool->conf->name, (long)t->pid, pool->generation);
}

/* Some worker of t's generation is not stopping: it may need a
 * replacement from t. */
static bool needed(const struct fw_pool *pool, const struct proc *t)
{
    if (t->generation == pool->generation)
        return true;
    for (const struct proc *p = pool->procs; p; p = p->next)
        if (p->generation == t->generation && p->state != PROC_STOPPING)
            return true;
    return false;
}

static void unlink_proc(struct proc **list, struct proc *p)
{
    for (struct proc **pp = list; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

/* A forked worker that never said hello (or said something else): it has
 * no pid the master could wait for, so it is let go here; if it lives,
 * its channel's end closing stops it. */
static void give_up(struct proc *p, const char *why)
{
    struct fw_pool *pool = p->pool;
    fw_log_to(pool->log, pool->stopping ? FW_LOG_NOTICE : FW_LOG_ERR,
              "[pool %s] a worker forked by the template %s: given up", pool->conf->name, why);
    unlink_proc(&pool->procs, p);
    fw_pool_worker_close_fds(p);
    fw_output_flush(&p->output, fw_loop_now_ms());
    fw_output_free(&p->output);
    fw_scoreboard_release(pool->env.scoreboard, p->slot);
    if (!pool->stopping) {
        char what[200];
        snprintf(what, sizeof(what), "a worker forked by the template %s", why);
        fw_pool_worker_back_off(pool, what, what, "");
    }
    free(p);
}

void fw_pool_template_tick(struct fw_pool *pool)
{
    int64_t now = fw_loop_now_ms();
    const struct fw_conf_pool *c = pool->conf;
    for (struct proc *t = pool->templates; t; t = t->next) {
        if (t->state == PROC_STOPPING) {
            if (t->kill_at_ms && now >= t->kill_at_ms) {
                kill(t->pid, SIGKILL);
                t->kill_at_ms = 0;
            }
        } else if (pool->stopping || !needed(pool, t)) {
            stop_template(t, pool->stopping ? "pool stopping" : "its generation is gone",
                          SIGTERM);
        } else if (t->import_healed && !t->forks_pending) {
            /* Stopped with a request queued, it would leave that worker
             * unforked, given up as a crash. */
            stop_template(t, "a worker it forked imports its app now: a new one imports it again",
                          SIGTERM);
        } else if (t->state == PROC_STARTING && c->startup_timeout_ms && !t->startup_timed_out &&
                   now - t->started_ms > (int64_t)c->startup_timeout_ms) {
            fw_log_to(pool->log, FW_LOG_ERR,
                      "[pool %s template pid %ld] not ready after startup_timeout; killing it",
                      c->name, (long)t->pid);
            kill(t->pid, SIGKILL);
            t->startup_timed_out = true;
        }
    }
    for (struct proc *t = pool->templates; t; t = t->next)
        if (t->state == PROC_RUNNING && t->forks_pending && !t->stuck_killed &&
            now - t->fork_progress_ms > FORK_ANSWER_MS) {
            fw_log_to(pool->log, FW_LOG_ERR,
                      "[pool %s template pid %ld] answered no fork request for %d s; killing it",
                      c->name, (long)t->pid, FORK_ANSWER_MS / 1000);
            kill(t->pid, SIGKILL);
            t->stuck_killed = true;
        }
    /* The worker kills itself at startup_timeout without its hello; this
     * is for one that cannot. */
    for (struct proc *p = pool->procs, *next; p; p = next) {
        next = p->next;
        if (p->pid == 0 && c->startup_timeout_ms &&
            now - p->started_ms > (int64_t)c->startup_timeout_ms)
            give_up(p, "did not say hello within startup_timeout");
    }
    if (c->spawn != FW_CONF_SPAWN_TEMPLATE || pool->stopping || pool->config_failed ||
        current(pool) ||
        now < fw_backoff_next_spawn_ms(&pool->backoff, fw_pool_worker_serving(pool)))
        return;
    start_template(pool);
}

/* One record: the request and its fds. */
static int send_request(int sock, const struct fw_template_fork *rq, const int *fds, size_t n)
{
    char cbuf[CMSG_SPACE(FW_TEMPLATE_NFDS * sizeof(int))];
    memset(cbuf, 0, sizeof(cbuf));
    struct iovec iov = { .iov_base = (void *)rq, .iov_len = sizeof(*rq) };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
        .msg_controllen = CMSG_SPACE(n * sizeof(int)),
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(n * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
    return sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(*rq) ? 0 : -1;
}

int fw_pool_template_fork(struct fw_pool *pool, const struct fw_spawn_request *req,
                          struct fw_spawned *out, char *err, size_t errlen)
{
    struct proc *t = current(pool);
    int slot_fd = fw_scoreboard_fd(req->scoreboard, req->slot);
    if (!t || t->channel_fd < 0) {
        snprintf(err, errlen, "its template is gone");
        return -1;
    }
    if (slot_fd < 0) {
        snprintf(err, errlen, "its slot has no fd");
        return -1;
    }
    /* SO_PASSCRED before the worker can write: its hello then carries the
     * kernel's word for its pid. */
    struct fw_spawn_pair sp;
    if (fw_spawn_pair_open(&sp, SOCK_STREAM, true, err, errlen) < 0)
        return -1;
    struct fw_template_fork rq = {
        .kind = FW_TEMPLATE_MSG_FORK,
        .drained = req->drained,
        .has_page = req->page_fd >= 0,
        .has_access = req->access_fd >= 0,
        .max_requests = req->max_requests,
        .startup_timeout_ms = pool->conf->startup_timeout_ms > UINT32_MAX
                                  ? UINT32_MAX
                                  : (uint32_t)pool->conf->startup_timeout_ms,
    };
    int fds[FW_TEMPLATE_NFDS];
    size_t n = 0;
    fds[n++] = req->listen_fd;
    fds[n++] = sp.pipe[1];
    fds[n++] = sp.chan[1];
    fds[n++] = req->log_fd;
    fds[n++] = slot_fd;
    if (rq.has_page)
        fds[n++] = req->page_fd;
    if (rq.has_access)
        fds[n++] = req->access_fd;
    if (send_request(t->channel_fd, &rq, fds, n) < 0) {
        snprintf(err, errlen, "asking its template (pid %ld) for a worker: %s", (long)t->pid,
                 strerror(errno));
        fw_spawn_pair_close(&sp);
        return -1;
    }
    if (!t->forks_pending++)
        t->fork_progress_ms = fw_loop_now_ms();
    fw_spawn_pair_handover(&sp, req, 0, out);
    return 0;
}

/* The pid in a hello is a child of ours (reparented: the worker says hello
 * only after it is), of the pool's user, and no other worker's: NULL, or
 * what is wrong. */
static const char *implausible(const struct proc *p, const struct ucred *cr, bool reaped)
{
    const struct fw_pool *pool = p->pool;
    if (cr->pid <= 1 || cr->pid == getpid())
        return "names no worker's pid";
    /* The template's user: after a failed recycle that changed user:, the
     * kept old generation's template still forks as the old one. */
    uid_t uid = pool->conf->uid;
    for (const struct proc *t = pool->templates; t; t = t->next)
        if (t->generation == p->generation)
            uid = t->uid;
    if (uid != (uid_t)-1 && cr->uid != uid)
        return "comes from another user";
    for (const struct proc *q = pool->procs; q; q = q->next)
        if (q->pid == cr->pid)
            return "names another worker's pid";
    for (const struct proc *q = pool->templates; q; q = q->next)
        if (q->pid == cr->pid)
            return "comes from the template itself";
    if (reaped)
        return NULL; /* our child: reaped before its hello was read */
    char path[64], stat[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)cr->pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return "comes from a process that is gone";
    size_t len = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[len] = '\0';
    /* "pid (comm) state ppid ...": comm may hold anything, so from the last ')' */
    const char *end = strrchr(stat, ')');
    char state;
    long ppid;
    if (!end || sscanf(end + 1, " %c %ld", &state, &ppid) != 2 || ppid != (long)getpid()) {
        return "comes from a process that is not the master's child";
    }
    /* And it holds this channel's other end where a worker has it: a
     * template of a pool without user: runs as root, whose credentials
     * may name any pid, another pool's waiting worker too. */
    char link[64], want[40];
    snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)cr->pid, FW_SPAWN_CHANNEL_FD);
    ssize_t len_link = readlink(path, link, sizeof(link) - 1);
    snprintf(want, sizeof(want), "socket:[%" PRIu64 "]", p->hello_ino);
    if (len_link < 0 || (link[len_link] = '\0', strcmp(link, want) != 0))
        return "comes from a process that does not hold its channel";
    return NULL;
}

static void on_hello(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    (void)events;
    struct proc *p = data;
    char byte = 0;
    char cbuf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(16 * sizeof(int))];
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)
    };
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    struct ucred cr = { 0 };
    bool have = false;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(cr))) {
            memcpy(&cr, CMSG_DATA(c), sizeof(cr));
            have = true;
        } else if (c->cmsg_type == SCM_RIGHTS) {
            for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                int stray;
                memcpy(&stray, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                close(stray);
            }
        }
    }
    if (n <= 0) {
        give_up(p, n == 0 ? "exited before its hello (or the fork failed: see the log)"
                          : "has a broken channel");
        return;
    }
    int status = 0;
    bool reaped = have && cr.pid > 0 && take_unclaimed(cr.pid, &status);
    const char *wrong = byte != FW_WORKER_MSG_HELLO ? "said something else first"
                        : !have                     ? "said hello without credentials"
                                                    : implausible(p, &cr, reaped);
    if (wrong) {
        char why[160];
        snprintf(why, sizeof(why), "(pid %ld) %s", (long)cr.pid, wrong);
        give_up(p, why);
        return;
    }
    int zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &zero, sizeof(zero));
    fw_loop_del(loop, fd);
    p->pid = cr.pid;
    int64_t asked_ms = p->started_ms;
    p->started_ms = fw_loop_now_ms(); /* its age (back-off, status) counts from here */
    snprintf(p->output.tag, sizeof(p->output.tag), "[pool %s pid %ld] output",
             p->pool->conf->name, (long)p->pid);
    fw_pool_worker_watch_channel(p);
    fw_log_to(p->pool->log, FW_LOG_NOTICE,
              "[pool %s pid %ld] spawned (generation %u): forked by the template in %lld ms",
              p->pool->conf->name, (long)p->pid, p->generation,
              (long long)(p->started_ms - asked_ms));
    if (reaped)
        fw_pool_reap(p->pool, p->pid, status);
    else if (p->pending_signal)
        kill(p->pid, p->pending_signal);
}

void fw_pool_template_import_healed(const struct proc *p)
{
    struct fw_pool *pool = p->pool;
    if (pool->conf->spawn != FW_CONF_SPAWN_TEMPLATE || p->generation != pool->generation)
        return;
    struct proc *t = current(pool);
    if (t && t->state == PROC_RUNNING && t->load_failed)
        t->import_healed = true; /* the tick stops it once no fork request waits on it */
}

void fw_pool_template_watch_hello(struct proc *p)
{
    fw_loop_add(p->pool->env.loop, p->channel_fd, EPOLLIN, on_hello, p);
}

bool fw_pool_template_reap(struct fw_pool *pool, pid_t pid, int status)
{
    struct proc *t = pool->templates;
    while (t && t->pid != pid)
        t = t->next;
    if (!t)
        return false;
    unlink_proc(&pool->templates, t);
    bool expected = t->state == PROC_STOPPING;
    char how[64], error[FW_SLOT_ERROR_MAX];
    fw_pool_worker_log_exit(t, "template pid", status, expected, how, sizeof(how), error,
                            sizeof(error));
    fw_output_flush(&t->output, fw_loop_now_ms());
    fw_pool_worker_close_fds(t);
    fw_scoreboard_release(pool->env.scoreboard, t->slot);
    if (!expected && !fw_pool_worker_death_settles(pool, t, status, "template", how, error)) {
        char why[sizeof(pool->crash_why)];
        const char *what = t->state == PROC_STARTING ? "the template died before it was ready"
                                                     : "the template died";
        snprintf(why, sizeof(why), "%s (%s)%s%s", what, how, error[0] ? "; its last error: " : "",
                 error);
        fw_pool_worker_back_off(pool, what, why, error);
    }
    fw_output_free(&t->output);
    free(t);
    fw_pool_maintain(pool);
    return true;
}

void fw_pool_template_stop_all(struct fw_pool *pool, bool now)
{
    for (struct proc *t = pool->templates; t; t = t->next)
        if (now || t->state != PROC_STOPPING)
            stop_template(t, "pool stopping", now ? SIGKILL : SIGTERM);
}

void fw_pool_template_free_all(struct fw_pool *pool)
{
    while (pool->templates) {
        struct proc *t = pool->templates;
        pool->templates = t->next;
        fw_pool_worker_close_fds(t);
        fw_output_free(&t->output);
        free(t);
    }
}
