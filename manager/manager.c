/* The master process: signals through a signalfd (no code runs in a signal
 * handler), one epoll loop, pools kept at size on every tick. */
#include "config.h"

#include "manager.h"

#include "activation.h"
#include "lib/log.h"
#include "loop.h"
#include "pool.h"
#include "scoreboard.h"
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 100
#define WATCH_DEBOUNCE_MS 300 /* an editor's save, a deploy's several files: one recycle */
#define WATCH_POLL_MS 2000
#define SURGE_SLOTS_PER_POOL 4

struct manager {
    struct fw_config *cfg;
    struct fw_loop *loop;
    struct fw_scoreboard *scoreboard;
    struct fw_watch *watch;
    struct fw_pool **pools;
    size_t n_pools;
    int sigfd;
    int log_fd; /* what workers write to: a copy of the log file, or stderr */
    sigset_t child_sigmask;
    bool stopping;
    int exit_status;
};

/* systemd's notify protocol is one datagram; no libsystemd needed. */
static void sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0])
        return;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    size_t len = strlen(path);
    if (len >= sizeof(sun.sun_path))
        return;
    memcpy(sun.sun_path, path, len);
    if (sun.sun_path[0] == '@')
        sun.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    close(fd);
}

static void reap(struct manager *m)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        bool found = false;
        for (size_t i = 0; i < m->n_pools && !found; i++)
            found = fw_pool_reap(m->pools[i], pid, status);
        if (!found)
            fw_log(FW_LOG_INFO, "reaped unknown child %ld", (long)pid);
    }
}

static unsigned alive(const struct manager *m)
{
    unsigned n = 0;
    for (size_t i = 0; i < m->n_pools; i++)
        n += fw_pool_alive(m->pools[i]);
    return n;
}

static void begin_stop(struct manager *m, const char *why)
{
    if (m->stopping)
        return;
    m->stopping = true;
    fw_log(FW_LOG_NOTICE, "stopping (%s): workers finish their requests", why);
    sd_notify("STOPPING=1");
    for (size_t i = 0; i < m->n_pools; i++)
        fw_pool_stop(m->pools[i]);
    if (alive(m) == 0)
        fw_loop_stop(m->loop);
}

static bool log_is_file(const struct fw_config *cfg)
{
    return cfg->log && strcmp(cfg->log, "stderr") != 0;
}

/* USR1 (logrotate): the master reopens the file, and hands workers the new
 * fd, since they may have dropped the privileges needed to open it. */
static void reopen_logs(struct manager *m)
{
    const char *log = m->cfg->log;
    if (!log_is_file(m->cfg))
        return;
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || fw_log_open(log) < 0) {
        fw_log_errno(FW_LOG_ERR, "reopening log %s", log);
        if (fd >= 0)
            close(fd);
        return;
    }
    for (size_t i = 0; i < m->n_pools; i++)
        fw_pool_set_log_fd(m->pools[i], fd);
    close(m->log_fd);
    m->log_fd = fd;
    fw_log(FW_LOG_NOTICE, "log reopened");
}

static void on_signal(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    struct manager *m = data;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD: reap(m); break;
        case SIGTERM:
        case SIGINT:
        case SIGQUIT: begin_stop(m, strsignal((int)si.ssi_signo)); break;
        case SIGUSR1: reopen_logs(m); break;
        case SIGHUP:
            fw_log(FW_LOG_WARN, "SIGHUP: configuration reload is not implemented yet; ignored");
            break;
        case SIGUSR2:
            for (size_t i = 0; i < m->n_pools; i++)
                fw_pool_restart(m->pools[i], "SIGUSR2");
            break;
        }
    }
    if (m->stopping && alive(m) == 0)
        fw_loop_stop(loop);
}

static void on_tick(struct fw_loop *loop, void *data)
{
    struct manager *m = data;
    for (size_t i = 0; i < m->n_pools; i++)
        fw_pool_maintain(m->pools[i]);
    if (m->stopping && alive(m) == 0)
        fw_loop_stop(loop);
}

static void on_watched_change(void *data)
{
    fw_pool_restart(data, "a watched file changed");
}

/* Every app script and every `watch:` file recycles its pool when it
 * changes (editors that rename over, deploys that repoint a symlink). */
static void watch_pools(struct manager *m)
{
    m->watch = fw_watch_new(m->loop, WATCH_DEBOUNCE_MS, WATCH_POLL_MS, false);
    if (!m->watch) {
        fw_log(FW_LOG_ERR, "cannot watch files: pools will not recycle on changes");
        return;
    }
    for (size_t i = 0; i < m->n_pools; i++) {
        const struct fw_conf_pool *c = &m->cfg->pools[i];
        for (size_t a = 0; a < c->n_apps; a++)
            if (fw_watch_add(m->watch, c->apps[a].script, on_watched_change, m->pools[i]) < 0)
                fw_log(FW_LOG_WARN, "[pool %s] cannot watch %s", c->name, c->apps[a].script);
        for (size_t f = 0; f < c->n_watch; f++)
            if (fw_watch_add(m->watch, c->watch[f], on_watched_change, m->pools[i]) < 0)
                fw_log(FW_LOG_WARN, "[pool %s] cannot watch %s", c->name, c->watch[f]);
    }
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

static int setup(struct manager *m)
{
    struct fw_config *cfg = m->cfg;
    int level = cfg->log_level ? fw_log_level_parse(cfg->log_level) : -1;
    if (level >= 0)
        fw_log_set_level((enum fw_log_level)level);
    m->log_fd = 2;
    if (log_is_file(cfg)) {
        m->log_fd = open(cfg->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (m->log_fd < 0 || fw_log_open(cfg->log) < 0) {
            fw_log_errno(FW_LOG_ERR, "cannot open log %s", cfg->log);
            return -1;
        }
    }
    if (cfg->pid_file && write_pid_file(cfg->pid_file) < 0) {
        fw_log_errno(FW_LOG_ERR, "cannot write pid file %s", cfg->pid_file);
        return -1;
    }

    sigset_t mask;
    sigemptyset(&mask);
    int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&mask, sigs[i]);
    if (sigprocmask(SIG_BLOCK, &mask, &m->child_sigmask) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    m->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (m->sigfd < 0) {
        fw_log_errno(FW_LOG_ERR, "signalfd");
        return -1;
    }
    m->loop = fw_loop_new(TICK_MS, on_tick, m);
    if (!m->loop || fw_loop_add(m->loop, m->sigfd, EPOLLIN, on_signal, m) < 0) {
        fw_log_errno(FW_LOG_ERR, "event loop");
        return -1;
    }
    size_t slots = 0;
    for (size_t i = 0; i < cfg->n_pools; i++)
        slots += cfg->pools[i].processes + SURGE_SLOTS_PER_POOL;
    m->scoreboard = fw_scoreboard_new(slots);
    if (!m->scoreboard) {
        fw_log_errno(FW_LOG_ERR, "scoreboard (%zu slots)", slots);
        return -1;
    }
    m->pools = calloc(cfg->n_pools, sizeof(*m->pools));
    if (!m->pools)
        return -1;
    return 0;
}

int fw_manager_run(struct fw_config *cfg)
{
    struct manager m = { .cfg = cfg, .sigfd = -1, .log_fd = -1, .exit_status = 0 };
    fw_log_set_prefix("");
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    int status = 1;
    if (setup(&m) < 0)
        goto out;
    struct fw_pool_env env = {
        .loop = m.loop,
        .scoreboard = m.scoreboard,
        .log_fd = m.log_fd,
        .child_sigmask = &m.child_sigmask,
    };
    struct fw_activation *activation = fw_activation_collect();
    for (size_t i = 0; i < cfg->n_pools; i++) {
        int fd = activation ? fw_activation_take(activation, cfg->pools[i].name,
                                                 &cfg->pools[i].listen_addr)
                            : -1;
        m.pools[i] = fw_pool_new(&cfg->pools[i], &env, fd);
        if (!m.pools[i]) {
            fw_activation_finish(activation);
            goto out;
        }
        m.n_pools++;
    }
    fw_activation_finish(activation);
    for (size_t i = 0; i < m.n_pools; i++)
        fw_pool_maintain(m.pools[i]);
    watch_pools(&m);
    fw_log(FW_LOG_NOTICE, "fcgiwsgi %s started: %zu pools", PACKAGE_VERSION, m.n_pools);
    sd_notify("READY=1\nSTATUS=running");
    if (fw_loop_run(m.loop) == 0)
        status = 0;
    fw_log(FW_LOG_NOTICE, "stopped");
out:
    fw_watch_free(m.watch);
    for (size_t i = 0; i < m.n_pools; i++)
        fw_pool_free(m.pools[i]);
    free(m.pools);
    fw_scoreboard_free(m.scoreboard);
    fw_loop_free(m.loop);
    if (m.sigfd >= 0)
        close(m.sigfd);
    if (m.log_fd > 2)
        close(m.log_fd);
    if (cfg->pid_file)
        unlink(cfg->pid_file);
    fw_conf_free(cfg);
    return status;
}
