/* The template process (template.h): import once, then fork ready workers
 * on the master's request. */
#include "config.h"

#include "template.h"

#include "scoreboard.h"
#include "spawn.h"
#include "fcgi/page.h"
#include "fcgi/slot.h"
#include "fcgi/wconf.h"
#include "fcgi/worker.h"
#include "lib/log.h"
#include "pyhost/host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The image's layout (spawn.c): the template's own channel, log, slot. */
#define CHANNEL_FD FW_SPAWN_CHANNEL_FD
#define LOG_FD 4
#define PAGE_FD 7
#define ACCESS_FD 8

/* The longest a forked worker waits to be the master's child: its
 * intermediate parent exits right after the fork. */
#define REPARENT_WAIT_MS 5000

struct template {
    struct fw_wconf *w;
    struct fw_worker_loaded *loaded;
    pid_t master;
    sigset_t initial_mask; /* what the workers get back */
    bool threads_logged;
    int sfd; /* the template's signalfd, closed in its workers */
    char **argv; /* its title, "fcgiwsgi: pool P gen G template", and the argument */
};

/* The OS threads of this process other than the caller, by name; their
 * count. Threads an app started at import do not survive a fork: the
 * workers would lack whatever they do (a connection pool's keepalive, a
 * metrics exporter). */
static unsigned other_threads(char *out, size_t cap)
{
    unsigned n = 0;
    size_t len = 0;
    out[0] = '\0';
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    pid_t self = (pid_t)gettid();
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == self)
            continue;
        n++;
        char path[300], comm[32] = "?";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t r = read(fd, comm, sizeof(comm) - 1);
            comm[r > 0 ? r : 0] = '\0';
            comm[strcspn(comm, "\n")] = '\0';
            close(fd);
        }
        int w = snprintf(out + len, cap - len, "%s%s (tid %s)", len ? ", " : "", comm, e->d_name);
        if (w > 0 && (size_t)w < cap - len)
            len += (size_t)w;
    }
    closedir(d);
    return n;
}

static void check_threads(struct template *t)
{
    char os[512], py[512];
    unsigned n = other_threads(os, sizeof(os));
    if (n == 0 || t->threads_logged)
        return;
    t->threads_logged = true;
    fw_host_thread_names(py, sizeof(py));
    fw_log(FW_LOG_WARN,
           "the template runs %u other thread%s at fork: %s%s%s; a forked worker has none of "
           "them (an app must not start threads, open sockets or database connections at "
           "import with spawn: template: see the README)",
           n, n == 1 ? "" : "s", os, py[0] ? "; Python's threading module knows: " : "", py);
}

static void wait_reparented(pid_t master)
{
    for (int i = 0; i < REPARENT_WAIT_MS && getppid() != master; i++)
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
}

/* What ps shows: a worker's title, written over the template's (which is
 * longer: the argument follows it in the same memory). */
static void retitle(char **argv, const struct fw_worker_config *cfg)
{
    if (!argv || !argv[0] || !argv[1])
        return;
    size_t room = strlen(argv[0]) + 1 + strlen(argv[1]) + 1;
    if (argv[1] != argv[0] + strlen(argv[0]) + 1)
        room = strlen(argv[0]) + 1;
    char title[160];
    snprintf(title, sizeof(title), "fcgiwsgi: pool %s gen %u", cfg->pool ? cfg->pool : "?",
             cfg->generation);
    memset(argv[0], 0, room);
    memcpy(argv[0], title, strlen(title) < room ? strlen(title) : room - 1);
}

/* The worker's layout on 0-8 (spawn.h), over the /dev/null the template
 * parked there; then the template's own fds go. Nothing else is closed:
 * what the app opened at import (a log file, a database file) is above 8
 * and stays the app's, as in the template (fresh workers open it
 * themselves; closing from 9 up left the app's file objects on fds the
 * worker reused, and its log lines went into a response). */
static int place_fds(const int src[FW_SPAWN_N_FDS], const int received[FW_TEMPLATE_NFDS],
                     int sfd)
{
    int tmp[FW_SPAWN_N_FDS];
    int rc = 0;
    for (int i = 0; i < FW_SPAWN_N_FDS; i++) {
        tmp[i] = src[i] < 0 ? -1 : fcntl(src[i], F_DUPFD_CLOEXEC, FW_SPAWN_N_FDS);
        if (src[i] >= 0 && tmp[i] < 0)
            rc = -1;
    }
    for (int i = 0; i < FW_SPAWN_N_FDS && rc == 0; i++) {
        if (tmp[i] >= 0 && dup2(tmp[i], i) < 0)
            rc = -1;
        else if (tmp[i] < 0 && i != 1 && i != 2)
            close(i); /* nothing goes there */
    }
    for (int i = 0; i < FW_SPAWN_N_FDS; i++)
        if (tmp[i] >= 0)
            close(tmp[i]);
    for (int i = 0; i < FW_TEMPLATE_NFDS; i++)
        if (received[i] >= FW_SPAWN_N_FDS)
            close(received[i]);
    if (sfd >= 0)
        close(sfd);
    return rc;
}

/* In the forked worker, never returns. */
static void become_worker(struct template *t, const struct fw_template_fork *rq,
                          const int fds[FW_TEMPLATE_NFDS])
{
    /* startup_timeout for the stretch before the hello (the apps' at-fork
     * handlers run in it): the master cannot kill what it has no pid of,
     * so the worker does. SIGKILL, which no handler of the app can take. */
    timer_t limit;
    bool limited = false;
    if (rq->startup_timeout_ms) {
        struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGKILL };
        struct itimerspec at = {
            .it_value = { .tv_sec = rq->startup_timeout_ms / 1000,
                          .tv_nsec = (long)(rq->startup_timeout_ms % 1000) * 1000000L },
        };
        limited = timer_create(CLOCK_MONOTONIC, &sev, &limit) == 0 &&
                  timer_settime(limit, 0, &at, NULL) == 0;
    }
    struct fw_worker_config *cfg = &t->w->cfg;
    const int src[FW_SPAWN_N_FDS] = {
        fds[FW_TEMPLATE_FD_LISTEN], fds[FW_TEMPLATE_FD_OUTPUT],  fds[FW_TEMPLATE_FD_OUTPUT],
        fds[FW_TEMPLATE_FD_CHANNEL], fds[FW_TEMPLATE_FD_LOG],    fds[FW_TEMPLATE_FD_SLOT],
        -1,                          fds[FW_TEMPLATE_FD_PAGE],   fds[FW_TEMPLATE_FD_ACCESS],
    };
    if (place_fds(src, fds, t->sfd) < 0) {
        fw_log_errno(FW_LOG_ERR, "arranging a forked worker's file descriptors");
        _exit(FW_EXIT_INIT);
    }
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "pool %s pid %ld", cfg->pool ? cfg->pool : "?",
             (long)getpid());
    fw_log_set_prefix(prefix);
    /* CPython's after-fork work and the apps' at-fork handlers, in the
     * worker's fd layout: what a handler writes to stderr is the worker's
     * output, and nothing of the template's is left open to it. */
    fw_host_fork_child();
    retitle(t->argv, cfg);
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL);
    sigprocmask(SIG_SETMASK, &t->initial_mask, NULL);
    wait_reparented(t->master);
    /* Only now: set while the intermediate lived, it would have fired when
     * that one exited. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != t->master)
        _exit(FW_EXIT_FAILURE);
    /* After the reparenting, which the master checks. */
    char hello = FW_WORKER_MSG_HELLO;
    if (send(CHANNEL_FD, &hello, 1, MSG_NOSIGNAL) != 1)
        _exit(FW_EXIT_INIT); /* the master gave this spawn up */
    if (limited)
        timer_delete(limit); /* from here the master times its startup */
    /* The template's slot, inherited with its memory: not this worker's. */
    if (cfg->slot)
        munmap(cfg->slot, sizeof(*cfg->slot));
    cfg->slot = fw_scoreboard_map_fd(5);
    if (!cfg->slot) {
        fw_log_errno(FW_LOG_ERR, "mapping the worker's slot");
        _exit(FW_EXIT_INIT);
    }
    if (cfg->page)
        munmap((void *)cfg->page, FW_PAGE_BYTES);
    cfg->page = NULL;
    if (rq->has_page && !(cfg->page = fw_spawn_map_page()))
        fw_log_errno(FW_LOG_WARN, "mapping the pool's status page: status_path answers 503");
    cfg->listen_fd = 0;
    cfg->channel_fd = CHANNEL_FD;
    cfg->log_fd = LOG_FD;
    cfg->access_fd = rq->has_access ? ACCESS_FD : -1;
    cfg->access_log = rq->has_access;
    cfg->max_requests = rq->max_requests;
    cfg->drained = rq->drained;
    int status = fw_worker_serve(cfg, t->loaded);
    if (status == FW_EXIT_OK || status == FW_EXIT_INIT || status == FW_EXIT_CONFIG) {
        fw_worker_unload(t->loaded);
        if (status == FW_EXIT_OK)
            fw_log(FW_LOG_NOTICE, "stopped");
        exit(status);
    }
    _exit(status); /* request threads may still be inside the app */
}

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
}

static void fork_worker(struct template *t, const struct fw_template_fork *rq,
                        int fds[FW_TEMPLATE_NFDS])
{
    check_threads(t);
    fflush(NULL); /* else C stdio's buffers are written once by each worker too */
    fw_host_fork_before();
    pid_t mid = fork();
    if (mid == 0) {
        pid_t pid = fork();
        if (pid == 0)
            become_worker(t, rq, fds);
        _exit(pid < 0 ? errno : 0);
    }
    int err = errno;
    fw_host_fork_parent();
    close_fds(fds, FW_TEMPLATE_NFDS); /* the master sees the channel close if no worker came */
    if (mid < 0) {
        errno = err;
        fw_log_errno(FW_LOG_ERR, "fork");
        return;
    }
    int st = 0;
    while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
        fw_log(FW_LOG_ERR, "fork: %s", strerror(WEXITSTATUS(st)));
}

/* One record from the master: a fork request with its fds, a new log, a
 * log level. Anything else is dropped (with its fds). */
static void from_master(struct template *t, const unsigned char *buf, size_t n, int *fds,
                        size_t nfds)
{
    if (n == 1 && buf[0] == FW_WORKER_MSG_LOG_FD && nfds == 1) {
        if (dup3(fds[0], LOG_FD, O_CLOEXEC) >= 0)
            fcntl(LOG_FD, F_SETFD, 0);
        close_fds(fds, nfds);
        return;
    }
    if (n == 1 && buf[0] >= FW_WORKER_MSG_LOG_LEVEL && buf[0] <= FW_WORKER_MSG_LOG_LEVEL + 7) {
        fw_log_set_level((enum fw_log_level)(buf[0] - FW_WORKER_MSG_LOG_LEVEL));
        close_fds(fds, nfds);
        return;
    }
    struct fw_template_fork rq;
    if (n != sizeof(rq) || buf[0] != FW_TEMPLATE_MSG_FORK) {
        close_fds(fds, nfds);
        return;
    }
    memcpy(&rq, buf, sizeof(rq));
    size_t want = FW_TEMPLATE_FD_SLOT + 1 + (rq.has_page != 0) + (rq.has_access != 0);
    if (nfds != want) {
        fw_log(FW_LOG_ERR, "a fork request with %zu fds, not %zu: ignored", nfds, want);
        close_fds(fds, nfds);
    } else {
        int all[FW_TEMPLATE_NFDS];
        size_t k = 0;
        for (int i = 0; i <= FW_TEMPLATE_FD_SLOT; i++)
            all[i] = fds[k++];
        all[FW_TEMPLATE_FD_PAGE] = rq.has_page ? fds[k++] : -1;
        all[FW_TEMPLATE_FD_ACCESS] = rq.has_access ? fds[k++] : -1;
        fork_worker(t, &rq, all);
    }
    char done = FW_TEMPLATE_MSG_FORKED;
    (void)send(CHANNEL_FD, &done, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Reads one record; false when the master is gone. */
static bool read_master(struct template *t)
{
    unsigned char buf[64];
    char cbuf[CMSG_SPACE(FW_TEMPLATE_NFDS * sizeof(int))];
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)
    };
    ssize_t n = recvmsg(CHANNEL_FD, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    int fds[FW_TEMPLATE_NFDS];
    size_t nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (nfds < FW_TEMPLATE_NFDS)
                fds[nfds++] = fd;
            else
                close(fd);
        }
    }
    if (n == 0 && nfds == 0)
        return false;
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        fw_log(FW_LOG_ERR, "a truncated message from the master: ignored");
        close_fds(fds, nfds);
        return true;
    }
    from_master(t, buf, (size_t)n, fds, nfds);
    return true;
}

int fw_template_run(struct fw_wconf *w, char **argv)
{
    struct template t = { .w = w, .master = getppid(), .argv = argv, .sfd = -1 };
    /* What the workers get: each fork brings the pool's current socket,
     * page and access log. The template holding the listening socket of
     * an old address would keep it accepting connections nobody takes. */
    close(PAGE_FD);
    close(ACCESS_FD);
    /* /dev/null on 0 and on every free place of the workers' layout, so
     * that what the apps open at import lands above it (place_fds). */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; null >= 0 && fd < FW_SPAWN_N_FDS; fd++)
        if (fd == 0 || fcntl(fd, F_GETFD) < 0)
            dup2(null, fd);
    if (null >= FW_SPAWN_N_FDS)
        close(null);
    w->cfg.listen_fd = -1;
    w->cfg.access_fd = -1;
    int status;
    t.loaded = fw_worker_load(&w->cfg, &status);
    if (!t.loaded)
        return status;
    bool failed = fw_worker_load_failed(t.loaded);
    fw_host_freeze();
    if (failed && w->cfg.slot)
        snprintf(w->cfg.slot->error, sizeof(w->cfg.slot->error), "%s",
                 fw_worker_load_error(t.loaded));
    sigset_t stop;
    sigemptyset(&stop);
    int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&stop, sigs[i]);
    sigprocmask(SIG_BLOCK, NULL, &t.initial_mask);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    int sfd = t.sfd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        fw_log_errno(FW_LOG_ERR, "signalfd");
        fw_worker_unload(t.loaded);
        return FW_EXIT_INIT;
    }
    fw_log(FW_LOG_NOTICE, "template ready: %zu app%s imported%s", w->cfg.n_apps,
           w->cfg.n_apps == 1 ? "" : "s", failed ? " (one failed: its workers answer 500)" : "");
    char said = failed ? FW_WORKER_MSG_LOAD_FAILED : FW_WORKER_MSG_READY;
    bool running = send(CHANNEL_FD, &said, 1, MSG_NOSIGNAL) == 1;
    while (running) {
        struct pollfd p[2] = { { .fd = CHANNEL_FD, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGQUIT)
                    running = false;
        }
        if (p[0].revents & POLLNVAL)
            running = false; /* an app thread closed our channel: nothing to wait for */
        else if (running && (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            running = read_master(&t);
    }
    close(sfd);
    fw_worker_unload(t.loaded);
    fw_log(FW_LOG_NOTICE, "template stopped");
    return FW_EXIT_OK;
}
