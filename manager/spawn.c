/* fork() and the child's set-up up to fw_worker_run(). */
#include "config.h"

#include "spawn.h"

#include "fcgi/slot.h"
#include "scoreboard.h"
#include "fcgi/worker.h"
#include "lib/log.h"
#include "lib/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHILD_LISTEN_FD 0
#define CHILD_CHANNEL_FD 3
#define CHILD_LOG_FD 4

static int drop_privileges(const struct fw_conf_pool *pool)
{
    if (!pool->user && !pool->group)
        return 0;
    if (pool->gid != (gid_t)-1) {
        if (pool->user) {
            if (initgroups(pool->user, pool->gid) < 0) {
                fw_log_errno(FW_LOG_ERR, "[pool %s] initgroups(%s)", pool->name, pool->user);
                return -1;
            }
        } else if (setgroups(0, NULL) < 0 && errno != EPERM) {
            fw_log_errno(FW_LOG_ERR, "[pool %s] setgroups", pool->name);
            return -1;
        }
        if (setgid(pool->gid) < 0) {
            fw_log_errno(FW_LOG_ERR, "[pool %s] setgid(%u)", pool->name, (unsigned)pool->gid);
            return -1;
        }
    }
    if (pool->uid != (uid_t)-1 && setuid(pool->uid) < 0) {
        fw_log_errno(FW_LOG_ERR, "[pool %s] setuid(%u)", pool->name, (unsigned)pool->uid);
        return -1;
    }
    return 0;
}

/* Moves each source fd to its target without one clobbering another: first
 * everything above the layout, then into place. */
static int arrange_fds(int listen_fd, int out_fd, int channel_fd, int log_fd)
{
    int tmp[4];
    int src[4] = { listen_fd, out_fd, channel_fd, log_fd };
    for (int i = 0; i < 4; i++) {
        tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10);
        if (tmp[i] < 0)
            return -1;
    }
    /* dup2 clears close-on-exec on the target: these are inherited on purpose. */
    if (dup2(tmp[0], CHILD_LISTEN_FD) < 0 || dup2(tmp[1], 1) < 0 || dup2(tmp[1], 2) < 0 ||
        dup2(tmp[2], CHILD_CHANNEL_FD) < 0 || dup2(tmp[3], CHILD_LOG_FD) < 0)
        return -1;
    close_range(CHILD_LOG_FD + 1, ~0U, 0);
    return 0;
}

static void child(const struct fw_spawn_request *req, int out_fd, int channel_fd, pid_t master)
{
    const struct fw_conf_pool *pool = req->pool;
    /* First: the app must never see any other worker's slot. */
    struct fw_slot *slot = fw_scoreboard_isolate(req->scoreboard, req->slot);
    if (!slot)
        _exit(FW_EXIT_INIT);
    /* The master going away must not leave orphans serving an old config. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        _exit(FW_EXIT_FAILURE);
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "pool %s pid %ld", pool->name, (long)getpid());
    fw_log_set_prefix(prefix);
    if (arrange_fds(req->listen_fd, out_fd, channel_fd, req->log_fd) < 0) {
        fw_log_errno(FW_LOG_ERR, "arranging file descriptors");
        _exit(FW_EXIT_INIT);
    }
    fw_log_set_fd(CHILD_LOG_FD);
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL);
    sigprocmask(SIG_SETMASK, req->child_sigmask, NULL);
    if (drop_privileges(pool) < 0)
        _exit(FW_EXIT_CONFIG);
    for (size_t i = 0; i < pool->n_env; i++)
        setenv(pool->env[i].name, pool->env[i].value, 1);

    struct fw_worker_app *apps = calloc(pool->n_apps, sizeof(*apps));
    if (!apps)
        _exit(FW_EXIT_INIT);
    for (size_t i = 0; i < pool->n_apps; i++) {
        apps[i].script = pool->apps[i].script;
        apps[i].callable = pool->apps[i].callable;
        apps[i].group = pool->apps[i].application_group;
        apps[i].mount = pool->apps[i].mount;
    }
    struct fw_worker_config wc = {
        .listen_fd = CHILD_LISTEN_FD,
        .threads = pool->threads,
        .apps = apps,
        .n_apps = pool->n_apps,
        .max_body_bytes = pool->max_body_bytes,
        .max_params_bytes = pool->max_params_bytes,
        .keepalive_timeout_ms = pool->keepalive_timeout_ms,
        .client_timeout_ms = pool->client_timeout_ms,
        .multiprocess = fw_conf_pool_multiprocess(pool),
        .preload = pool->preload,
        .host = { .python_home = pool->python_home,
                  .python_path = (const char *const *)pool->python_path,
                  .n_python_path = pool->n_python_path },
        .slot = slot,
        .channel_fd = CHILD_CHANNEL_FD,
        .log_fd = CHILD_LOG_FD,
        .max_requests = req->max_requests,
        .allowed_clients = (const char *const *)pool->allowed_clients,
        .n_allowed_clients = pool->n_allowed_clients,
        .memory_limit_bytes = pool->memory_limit_bytes,
        .request_timeout_ms = pool->request_timeout_ms,
        .graceful_timeout_ms = pool->graceful_timeout_ms,
        .pool = pool->name,
        .generation = req->generation,
    };
    int status = fw_worker_run(&wc);
    _exit(status);
}

int fw_spawn_worker(const struct fw_spawn_request *req, struct fw_spawned *out, char *err,
                    size_t errlen)
{
    int chan[2] = { -1, -1 }, pipefd[2] = { -1, -1 };
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) < 0 ||
        pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "socketpair/pipe: %s", strerror(errno));
        goto fail;
    }
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        close(chan[0]);
        close(pipefd[0]);
        child(req, pipefd[1], chan[1], master);
    }
    close(chan[1]);
    close(pipefd[1]);
    fw_sock_set_nonblock(chan[0], 1);
    fw_sock_set_nonblock(pipefd[0], 1);
    out->pid = pid;
    out->channel_fd = chan[0];
    out->output_fd = pipefd[0];
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (chan[i] >= 0)
            close(chan[i]);
        if (pipefd[i] >= 0)
            close(pipefd[i]);
    }
    return -1;
}
