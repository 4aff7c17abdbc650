/* A worker process: Python, request threads, and the accept loop. Threads
 * share one epoll set holding the listening socket and every idle kept
 * connection, each armed one-shot: any free thread takes whichever is ready,
 * so an idle FCGI_KEEP_CONN connection never pins a thread. The process's
 * main thread runs no Python after start-up; it waits for signals. */
#include "config.h"

#include "worker.h"

#include "conn.h"
#include "lib/log.h"
#include "lib/sock.h"
#include "pyhost/app.h"
#include "pyhost/interp.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SCRIPT_APPS 64
#define TAG_LISTEN 1ULL
#define TAG_STOP 2ULL
#define TAG_CONN 3ULL

struct worker {
    const struct fw_worker_config *cfg;
    int epfd;
    int stop_fd; /* eventfd: readable once stopping */
    atomic_bool stopping;
    atomic_int threads_done;

    struct fw_app *app;        /* with a script */
    pthread_mutex_t apps_lock; /* SCRIPT_FILENAME mode */
    struct fw_app *apps[MAX_SCRIPT_APPS];
    size_t n_apps;
};

struct thread {
    struct worker *w;
    pthread_t tid;
    bool started;
};

/* Signal handlers only write to this pipe; the main thread reads it. The
 * handlers use SA_RESTART so a signal landing on a request thread never
 * fails a read inside libfcgi (which treats EINTR as an error). */
static int signal_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    if (write(signal_pipe[1], &c, 1) < 0) {
        /* Pipe full: enough signals are already pending. */
    }
    errno = saved;
}

static int install_signals(void)
{
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa = { 0 };
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (sigaction(sigs[i], &sa, NULL) < 0)
            return -1;
    struct sigaction ign = { 0 };
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    return sigaction(SIGPIPE, &ign, NULL);
}

static struct fw_app *find_app(void *ctx, const char *script_filename, int *status)
{
    struct worker *w = ctx;
    if (w->app)
        return w->app;
    if (!script_filename || !script_filename[0]) {
        fw_log(FW_LOG_WARN,
               "request without SCRIPT_FILENAME and no script configured; answered 404");
        *status = 404;
        return NULL;
    }
    struct fw_app *app = NULL;
    pthread_mutex_lock(&w->apps_lock);
    for (size_t i = 0; i < w->n_apps; i++) {
        if (strcmp(fw_app_script(w->apps[i]), script_filename) == 0) {
            app = w->apps[i];
            break;
        }
    }
    if (!app) {
        struct stat st;
        if (stat(script_filename, &st) < 0 || !S_ISREG(st.st_mode)) {
            fw_log(FW_LOG_WARN, "SCRIPT_FILENAME %s is not a file; answered 404", script_filename);
            *status = 404;
        } else if (w->n_apps == MAX_SCRIPT_APPS) {
            fw_log(FW_LOG_ERR, "SCRIPT_FILENAME %s: already serving %d scripts; answered 500",
                   script_filename, MAX_SCRIPT_APPS);
        } else {
            struct fw_app_config ac = {
                .script = script_filename,
                .callable = w->cfg->callable,
                .group = w->cfg->group,
            };
            app = fw_app_new(&ac);
            if (app)
                w->apps[w->n_apps++] = app;
        }
    }
    pthread_mutex_unlock(&w->apps_lock);
    return app;
}

static int arm(struct worker *w, int fd, uint64_t tag, int op)
{
    struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT,
                              .data.u64 = tag << 32 | (uint32_t)fd };
    if (tag == TAG_CONN)
        ev.events |= EPOLLRDHUP;
    return epoll_ctl(w->epfd, op, fd, &ev);
}

/* Watches a connection that has no request to read yet (a new one, or a
 * kept one between requests). */
static void keep_idle(struct worker *w, int fd)
{
    if (arm(w, fd, TAG_CONN, EPOLL_CTL_MOD) == 0)
        return;
    if (errno == ENOENT && arm(w, fd, TAG_CONN, EPOLL_CTL_ADD) == 0)
        return;
    fw_log_errno(FW_LOG_ERR, "cannot watch kept connection fd %d", fd);
    close(fd);
}

/* Blocks until there is a connection with a request to read; -1 when the
 * worker is stopping. */
static int next_connection(struct worker *w)
{
    for (;;) {
        if (atomic_load(&w->stopping))
            return -1;
        struct epoll_event ev;
        int n = epoll_wait(w->epfd, &ev, 1, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fw_log_errno(FW_LOG_ERR, "epoll_wait");
            return -1;
        }
        if (n == 0)
            continue;
        uint64_t tag = ev.data.u64 >> 32;
        int fd = (int)(uint32_t)ev.data.u64;
        if (tag == TAG_STOP)
            return -1;
        if (tag == TAG_CONN)
            return fd;
        int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        int saved = errno;
        /* Re-arm at once so another thread can take the next connection
         * while this one is served. */
        if (!atomic_load(&w->stopping) && arm(w, fd, TAG_LISTEN, EPOLL_CTL_MOD) < 0)
            fw_log_errno(FW_LOG_ERR, "re-arming the listening socket");
        if (conn >= 0) {
            fw_conn_setup(conn);
            return conn;
        }
        errno = saved;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED ||
            errno == EPROTO)
            continue;
        fw_log_errno(FW_LOG_ERR, "accept");
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Out of descriptors or memory: give the other threads time to
             * free some instead of spinning. */
            poll(NULL, 0, 100);
        }
    }
}

static void *request_thread(void *arg)
{
    struct thread *th = arg;
    struct worker *w = th->w;
    const struct fw_worker_config *cfg = w->cfg;
    struct fw_pythread *py = fw_interp_thread_attach();
    const char *mount = cfg->mount ? cfg->mount : (cfg->script ? "/" : NULL);
    struct fw_conn_settings s = {
        .find_app = find_app,
        .app_ctx = w,
        .mount = mount,
        .max_body_bytes = cfg->max_body_bytes,
        .max_params_bytes =
            cfg->max_params_bytes ? cfg->max_params_bytes : FW_WORKER_DEFAULT_MAX_PARAMS,
        .multithread = cfg->threads > 1,
        .multiprocess = cfg->multiprocess,
    };
    struct fw_conn_thread *ct = py ? fw_conn_thread_new(&s, py) : NULL;
    if (!ct) {
        fw_log(FW_LOG_ERR, "out of memory starting a request thread");
        goto done;
    }
    int fd;
    while ((fd = next_connection(w)) >= 0) {
        switch (fw_conn_check(fd)) {
        case FW_CONN_READY:
            if (fw_conn_serve(ct, fd))
                keep_idle(w, fd);
            break;
        case FW_CONN_WAIT:
            /* Connected but silent: wait in epoll, not in a thread. */
            keep_idle(w, fd);
            break;
        case FW_CONN_CLOSED: close(fd); break;
        case FW_CONN_BAD: break;
        }
    }
done:
    fw_conn_thread_free(ct);
    fw_interp_thread_detach(py);
    atomic_fetch_add(&w->threads_done, 1);
    return NULL;
}

static void begin_stop(struct worker *w, const char *why)
{
    if (atomic_exchange(&w->stopping, true))
        return;
    fw_log(FW_LOG_NOTICE, "stopping (%s): no new requests; finishing those in progress", why);
    /* Connections queued on the socket stay there for other workers (the
     * manager keeps the socket open). */
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->cfg->listen_fd, NULL);
    uint64_t one = 1;
    if (write(w->stop_fd, &one, sizeof(one)) < 0)
        fw_log_errno(FW_LOG_ERR, "waking request threads");
}

/* Returns the exit status: OK after a graceful stop, FAILURE if a second
 * stop signal cut it short. */
static int wait_for_stop(struct worker *w, unsigned nthreads)
{
    int status = FW_EXIT_OK;
    for (;;) {
        if (atomic_load(&w->stopping) && (unsigned)atomic_load(&w->threads_done) == nthreads)
            return status;
        struct pollfd p = { .fd = signal_pipe[0], .events = POLLIN };
        int rc = poll(&p, 1, atomic_load(&w->stopping) ? 50 : -1);
        if (rc <= 0)
            continue;
        unsigned char sig;
        while (read(signal_pipe[0], &sig, 1) == 1) {
            switch (sig) {
            case SIGTERM:
            case SIGINT:
            case SIGQUIT:
                if (atomic_load(&w->stopping)) {
                    fw_log(FW_LOG_WARN, "second stop signal (%s): exiting now", strsignal(sig));
                    return FW_EXIT_FAILURE;
                }
                begin_stop(w, strsignal(sig));
                break;
            case SIGHUP:
            case SIGUSR1:
            case SIGUSR2: fw_log(FW_LOG_INFO, "ignoring %s", strsignal(sig)); break;
            }
        }
    }
}

static void unload_apps(struct worker *w)
{
    struct fw_pythread *py = fw_host_main_thread();
    if (w->app)
        fw_app_unload(w->app, py);
    for (size_t i = 0; i < w->n_apps; i++)
        fw_app_unload(w->apps[i], py);
}

int fw_worker_run(const struct fw_worker_config *cfg)
{
    struct worker w = { .cfg = cfg, .epfd = -1, .stop_fd = -1 };
    pthread_mutex_init(&w.apps_lock, NULL);
    struct thread *threads = NULL;
    unsigned started = 0;
    int status = FW_EXIT_INIT;
    bool python = false;

    /* Before threads and Python: it installs handlers we then replace. */
    if (FCGX_Init() != 0) {
        fw_log(FW_LOG_ERR, "libfcgi failed to initialise");
        return FW_EXIT_INIT;
    }
    if (install_signals() < 0) {
        fw_log_errno(FW_LOG_ERR, "installing signal handlers");
        return FW_EXIT_INIT;
    }
    if (fw_sock_is_listener(cfg->listen_fd) != 1) {
        fw_log(FW_LOG_ERR, "fd %d is not a listening socket", cfg->listen_fd);
        return FW_EXIT_CONFIG;
    }
    /* Several threads (and processes) wait on it: whoever loses the race for
     * a connection must get EAGAIN, not block. */
    if (fw_sock_set_nonblock(cfg->listen_fd, 1) < 0) {
        fw_log_errno(FW_LOG_ERR, "making the listening socket non-blocking");
        return FW_EXIT_INIT;
    }
    w.epfd = epoll_create1(EPOLL_CLOEXEC);
    w.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w.epfd < 0 || w.stop_fd < 0) {
        fw_log_errno(FW_LOG_ERR, "epoll/eventfd");
        goto out;
    }
    struct epoll_event sev = { .events = EPOLLIN, .data.u64 = TAG_STOP << 32 };
    if (epoll_ctl(w.epfd, EPOLL_CTL_ADD, w.stop_fd, &sev) < 0 ||
        arm(&w, cfg->listen_fd, TAG_LISTEN, EPOLL_CTL_ADD) < 0) {
        fw_log_errno(FW_LOG_ERR, "epoll_ctl");
        goto out;
    }

    if (fw_host_start(&cfg->host) < 0)
        goto out;
    python = true;
    if (cfg->script) {
        struct fw_app_config ac = { .script = cfg->script,
                                    .callable = cfg->callable,
                                    .group = cfg->group };
        w.app = fw_app_new(&ac);
        if (!w.app) {
            fw_log(FW_LOG_ERR, "out of memory");
            goto out;
        }
        /* A failure is logged; requests answer 500 and retry the load. */
        if (cfg->preload)
            fw_app_load(w.app, fw_host_main_thread());
    }

    unsigned nthreads = cfg->threads ? cfg->threads : 1;
    threads = calloc(nthreads, sizeof(*threads));
    if (!threads)
        goto out;
    for (unsigned i = 0; i < nthreads; i++) {
        threads[i].w = &w;
        int rc = pthread_create(&threads[i].tid, NULL, request_thread, &threads[i]);
        if (rc != 0) {
            errno = rc;
            fw_log_errno(FW_LOG_ERR, "pthread_create");
            break;
        }
        threads[i].started = true;
        started++;
    }
    if (started == 0)
        goto out;
    fw_log(FW_LOG_NOTICE, "ready: %u request threads%s%s", started, cfg->script ? " serving " : "",
           cfg->script ? cfg->script : " serving each request's SCRIPT_FILENAME");
    status = wait_for_stop(&w, started);
    if (status != FW_EXIT_OK) {
        /* Request threads may still be inside the app: do not touch Python. */
        return status;
    }
out:
    if (started && status == FW_EXIT_INIT)
        begin_stop(&w, "start-up failed");
    for (unsigned i = 0; threads && i < started; i++)
        pthread_join(threads[i].tid, NULL);
    free(threads);
    if (python) {
        unload_apps(&w);
        fw_host_stop();
    }
    fw_app_free(w.app);
    for (size_t i = 0; i < w.n_apps; i++)
        fw_app_free(w.apps[i]);
    if (w.epfd >= 0)
        close(w.epfd);
    if (w.stop_fd >= 0)
        close(w.stop_fd);
    if (status == FW_EXIT_OK)
        fw_log(FW_LOG_NOTICE, "stopped");
    return status;
}
