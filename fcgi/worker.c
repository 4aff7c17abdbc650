/* A worker process: Python, request threads, and the accept loop. Threads
 * take connections from the worker's waitset (the listening socket and
 * every connection no thread is serving), so an idle FCGI_KEEP_CONN
 * connection or a slow client never pins a thread. The process's main
 * thread runs no Python after start-up: it handles signals, the master's
 * messages and the waitset's deadlines. */
#include "config.h"

#include "worker.h"

#include "access.h"
#include "accept.h"
#include "apps.h"
#include "conn.h"
#include "slot.h"
#include "waitset.h"
#include "watchdog.h"
#include "lib/log.h"
#include "lib/sock.h"
#include "lib/units.h"
#include "pyhost/app.h"
#include "pyhost/interp.h"
#include "pyhost/callclock.h"
#include "pyhost/module.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* The main loop's tick while stopping or with request_timeout or
 * slowlog_timeout (the sweep and the watchdog); the slot's figures are refreshed every 500 ms. */
#define TICK_FAST_MS 50
static const int handled_signals[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 };

struct worker {
    const struct fw_worker_config *cfg;
    struct fw_waitset *ws;
    struct fw_conn_settings conn_settings;
    atomic_bool stopping;
    /* The pool is drained (the master shut the listener): accept nothing,
     * keep serving what is open. */
    atomic_bool draining;
    /* stopping or draining: kept connections close behind their responses */
    atomic_bool closing;
    _Atomic int64_t drain_ms;
    atomic_int in_accept; /* request threads past their check of `stopping` */
    atomic_int threads_done;

    struct fw_worker_apps *apps; /* the loaded struct's */
    atomic_bool retire_sent;
    atomic_bool preload_failed; /* some app did not import at start, and has not since */
    bool accepting;             /* the listening socket is in the waitset (main thread only) */
    bool want_accept;           /* ready to serve: accepting unless stopping or drained */
    _Atomic int64_t stop_ms;
    struct fw_watchdog *wd; /* request_timeout; NULL without one */
    struct fw_accept acc;
    unsigned stuck;           /* request threads stuck in an app for good */
    struct fw_access *access; /* NULL: no access log */
};

struct thread {
    struct worker *w;
    unsigned index;
    pthread_t tid;
    bool started;
    atomic_bool attached;             /* has its Python thread state (pyhost/interp.h) */
    _Atomic int64_t request_start_ms; /* 0 when not in a request */
    struct fw_conn_thread *_Atomic conn;
};

static int64_t now_ms(void)
{
    return fw_callclock_now_ms();
}

static void start_accepting(struct worker *w)
{
    w->want_accept = true;
    if (atomic_load(&w->stopping) || atomic_load(&w->draining) || w->accepting)
        return;
    if (fw_waitset_listen(w->ws) < 0) {
        fw_log_errno(FW_LOG_ERR, "watching the listening socket");
        return;
    }
    w->accepting = true;
}

/* Tells the master something; never blocks (the socket is non-blocking and
 * a lost duplicate is harmless: each message is idempotent). */
static void tell_master(struct worker *w, enum fw_worker_msg msg)
{
    if (w->cfg->channel_fd < 0)
        return;
    char c = (char)msg;
    if (send(w->cfg->channel_fd, &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
        fw_log_errno(FW_LOG_WARN, "telling the master '%c'", c);
}

/* fcgiwsgi.request_restart() has no context argument: the one channel of
 * this process is enough. */
static int restart_channel_fd = -1;

static int request_pool_restart(void)
{
    char c = FW_WORKER_MSG_RESTART;
    if (send(restart_channel_fd, &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
        return -1;
    fw_log(FW_LOG_NOTICE, "the app asked for a restart of the pool");
    return 0;
}

static void retire(struct worker *w, enum fw_slot_retire cause, const char *why)
{
    if (atomic_exchange(&w->retire_sent, true))
        return;
    if (w->cfg->slot)
        atomic_store(&w->cfg->slot->retire, cause);
    fw_log(FW_LOG_INFO, "%s: asking the master for a replacement", why);
    tell_master(w, FW_WORKER_MSG_RETIRE);
}

/* Signal handlers only write to this pipe; the main thread reads it. They
 * use SA_RESTART, and every wait of ours retries EINTR (poll() with
 * deadlines, no SO_RCVTIMEO), so a signal that lands on a request thread
 * fails nothing. Request threads do not block the signals: a process the
 * app starts with subprocess would inherit that mask (its vfork and
 * posix_spawn paths keep the calling thread's mask and run no atfork
 * handler) and could then never be stopped with SIGTERM. */
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
    for (size_t i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++)
        if (sigaction(handled_signals[i], &sa, NULL) < 0)
            return -1;
    struct sigaction ign = { 0 };
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    return sigaction(SIGPIPE, &ign, NULL);
}

/* One request thread: the listening socket stays armed, level-triggered,
 * so there is no re-arm call after each accept. Several threads share the
 * set, so there it is one-shot: one thread per connection, re-armed after
 * each accept. Not EPOLLEXCLUSIVE: its one wake-up per connection can go
 * to a process that is busy, or stopping and never accepts again, while an
 * idle one sleeps on (measured: a request waited 30 s in t/manager.t with
 * max_requests 1). */
static bool listen_level_triggered(const struct worker *w)
{
    return w->cfg->threads <= 1;
}

/* An import that failed at start succeeded on a request's retry: the
 * master counts this worker as one with a good import again (it lets such
 * workers serve while replacements that cannot import are stopped). */
static void check_healed(struct worker *w)
{
    if (!fw_apps_all_ready(w->apps))
        return;
    if (atomic_exchange(&w->preload_failed, false)) {
        fw_log(FW_LOG_NOTICE, "every app is imported now");
        tell_master(w, FW_WORKER_MSG_READY);
    }
}

/* A finished request in the slot's metrics: its status class, its app
 * time in the histogram (bounds the master wrote), its busy time. Counted
 * before `requests`, so a master that reads requests sees these too. */
static void count_request(struct fw_slot *slot, const struct fw_conn_thread *ct)
{
    int status;
    uint64_t app_us;
    int64_t busy_us;
    fw_conn_last_request(ct, &status, &app_us, &busy_us);
    unsigned cls = status >= 100 && status <= 599 ? (unsigned)(status / 100 - 1) : 5;
    atomic_fetch_add(&slot->by_class[cls], 1);
    atomic_fetch_add(&slot->app_us, app_us);
    atomic_fetch_add(&slot->busy_us, busy_us > 0 ? (uint64_t)busy_us : 0);
    unsigned n = slot->n_buckets < FW_SLOT_BUCKETS_MAX ? slot->n_buckets : FW_SLOT_BUCKETS_MAX,
             b = 0;
    while (b < n && app_us > slot->bucket_le_us[b])
        b++;
    atomic_fetch_add(&slot->bucket[b], 1);
}

/* Serves what c has, for as long as requests on it are complete, then lets
 * it wait (or closes it, when the worker stops and it is idle). */
static void serve_conn(struct thread *th, struct fw_conn_thread *ct, struct fw_conn *c)
{
    struct worker *w = th->w;
    const struct fw_worker_config *cfg = w->cfg;
    struct fw_slot *slot = cfg->slot;
    enum fw_conn_state st = fw_conn_pump(ct, c);
again:
    while (st == FW_CONN_READY) {
        atomic_store(&th->request_start_ms, now_ms());
        if (slot && atomic_fetch_add(&slot->busy, 1) == 0)
            atomic_store(&slot->state, FW_SLOT_BUSY);
        st = fw_conn_serve(ct, c);
        atomic_store(&th->request_start_ms, 0);
        if (slot) {
            count_request(slot, ct);
            uint64_t served = atomic_fetch_add(&slot->requests, 1) + 1;
            if (atomic_fetch_sub(&slot->busy, 1) == 1 && !atomic_load(&w->stopping))
                atomic_store(&slot->state, FW_SLOT_IDLE);
            if (atomic_load(&w->preload_failed))
                check_healed(w);
            if (cfg->max_requests && served == cfg->max_requests)
                retire(w, FW_SLOT_RETIRE_MAX_REQUESTS, "max_requests reached");
        }
        if (st == FW_CONN_READY)
            st = fw_conn_pump(ct, c);
    }
    if (st != FW_CONN_WAIT)
        return;
    bool partial = fw_conn_mid_request(c) || fw_conn_unused(c);
    if (!atomic_load(&w->closing) || partial) {
        fw_waitset_park(w->ws, c, partial);
    } else if (!fw_conn_close_if_idle(c)) {
        st = fw_conn_pump(ct, c);
        goto again;
    }
}

static void *request_thread(void *arg)
{
    struct thread *th = arg;
    struct worker *w = th->w;
    struct fw_pythread *py = fw_interp_thread_attach();
    atomic_store(&th->attached, true);
    struct fw_conn_thread *ct = py ? fw_conn_thread_new(&w->conn_settings, py) : NULL;
    atomic_store(&th->conn, ct);
    if (ct && w->cfg->slot && th->index < FW_SLOT_REQUESTS_MAX)
        fw_conn_thread_publish_to(ct, &w->cfg->slot->now[th->index]);
    if (ct)
        fw_conn_thread_log_to(ct, fw_access_thread(w->access, th->index));
    fw_watchdog_watch(w->wd, th->index, ct);
    if (!ct) {
        fw_log(FW_LOG_ERR, "out of memory starting a request thread");
        goto done;
    }
    for (;;) {
        struct fw_conn *c = NULL;
        enum fw_waitset_event what = fw_waitset_next(w->ws, &c);
        if (what == FW_WAITSET_STOP) {
            /* Stopping: serve what was accepted, then go (the stop event
             * stays readable, so this comes round again). */
            if (fw_waitset_waiting(w->ws) == 0)
                break;
            poll(NULL, 0, 5);
            continue;
        }
        if (what == FW_WAITSET_LISTEN) {
            /* Paired with begin_stop (both seq_cst): either this thread
             * sees `stopping`, or begin_stop sees it here and waits. */
            atomic_fetch_add(&w->in_accept, 1);
            if (!atomic_load(&w->stopping))
                c = fw_accept_one(&w->acc, false);
            atomic_fetch_sub(&w->in_accept, 1);
        }
        if (c)
            serve_conn(th, ct, c);
    }
done:
    fw_watchdog_watch(w->wd, th->index, NULL);
    atomic_store(&th->conn, NULL);
    fw_conn_thread_free(ct);
    fw_interp_thread_detach(py);
    atomic_fetch_add(&w->threads_done, 1);
    return NULL;
}

static void begin_stop(struct worker *w, const char *why)
{
    if (atomic_exchange(&w->stopping, true))
        return;
    atomic_store(&w->closing, true);
    atomic_store(&w->stop_ms, now_ms());
    if (w->cfg->slot)
        atomic_store(&w->cfg->slot->state, FW_SLOT_STOPPING);
    fw_log(FW_LOG_NOTICE, "stopping (%s): no new requests; finishing those in progress", why);
    /* Connections queued on the socket stay there for other workers (the
     * manager keeps the socket open); idle kept ones are closed now, so the
     * web server's next request comes through the socket too. */
    fw_waitset_unlisten(w->ws);
    /* The master ends a recycle once every old worker has said this, so
     * that a request made after `restart` returned reaches the new code: a
     * thread inside accept4() is let out first (microseconds; bounded). */
    for (int i = 0; i < 2000 && atomic_load(&w->in_accept) > 0; i++)
        nanosleep(&(struct timespec){ .tv_nsec = 500000 }, NULL);
    tell_master(w, FW_WORKER_MSG_UNLISTENED);
    fw_waitset_stop(w->ws);
    fw_waitset_sweep(w->ws, now_ms(), true, now_ms());
}

/* The master shut the listener (it refuses connections: the balancer
 * goes to another host) and says so after: a thread that tries accept()
 * in between gets EINVAL (fw_accept_one). The worker stays up, so undrain
 * is immediate; kept connections are let go as when stopping (serve_conn,
 * and the sweep on the fast tick), so none keeps this host in the
 * balancer's rotation. */
static void drain(struct worker *w)
{
    if (atomic_exchange(&w->draining, true))
        return;
    atomic_store(&w->drain_ms, now_ms());
    atomic_store(&w->closing, true);
    if (w->accepting) {
        fw_waitset_unlisten(w->ws);
        w->accepting = false;
    }
    fw_log(FW_LOG_INFO, "drained: accepting nothing; kept connections close after their request");
}

static void undrain(struct worker *w)
{
    if (!atomic_exchange(&w->draining, false))
        return;
    if (!atomic_load(&w->stopping))
        atomic_store(&w->closing, false);
    fw_log(FW_LOG_INFO, "undrained: %s",
           atomic_load(&w->stopping) ? "stopping, so accepting nothing" : "accepting again");
    if (w->want_accept)
        start_accepting(w);
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    unsigned long size = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* What the master cannot see from outside, for its slot: the oldest app
 * call (by the same clock as request_timeout: app time, not time spent
 * waiting on the client) and the memory limit. Twice a second. */
static void slot_tick(struct worker *w, struct thread *threads, unsigned nthreads, int64_t now)
{
    struct fw_slot *slot = w->cfg->slot;
    int64_t longest = -1;
    for (unsigned i = 0; i < nthreads; i++) {
        struct fw_conn_thread *ct = atomic_load(&threads[i].conn);
        int64_t ms = ct ? fw_callclock_app_ms(fw_conn_clock(ct), now, NULL) : -1;
        if (ms > longest)
            longest = ms;
    }
    atomic_store(&slot->oldest_start_ms, longest >= 0 ? now - longest : 0);
    uint64_t rss = rss_bytes();
    atomic_store(&slot->rss_bytes, rss);
    uint64_t limit = w->cfg->memory_limit_bytes;
    if (limit && rss > limit && !atomic_load(&w->stopping)) {
        char why[96];
        snprintf(why, sizeof(why), "memory_limit reached (RSS %llu MiB)",
                 (unsigned long long)(rss >> 20));
        retire(w, FW_SLOT_RETIRE_MEMORY_LIMIT, why);
    }
}

/* request_timeout: a call stuck for good makes the worker stop accepting
 * at once and ask for its replacement; its other requests get the rest of
 * graceful_timeout. */
static void timeout_tick(struct worker *w, int64_t now)
{
    unsigned stuck = fw_watchdog_check(w->wd, now);
    if (stuck > w->stuck) {
        begin_stop(w, "a request is stuck past request_timeout");
        retire(w, FW_SLOT_RETIRE_REQUEST_TIMEOUT, "a request is stuck past request_timeout");
    }
    fw_watchdog_answer(w->wd);
    w->stuck = stuck;
}

/* Ends the process without running anything of Python's or the app's:
 * request threads may be inside the app still. The access log's batches
 * go out first (a thread adding a line just now keeps its own). */
static void exit_now(struct worker *w, int status)
{
    fw_access_flush(w->access, false);
    _exit(status);
}

/* A stopping worker waits for its requests; not for ever. */
static void check_stop_deadline(struct worker *w, struct thread *threads, unsigned nthreads,
                                int64_t now)
{
    if ((unsigned)atomic_load(&w->threads_done) + w->stuck >= nthreads && w->stuck) {
        fw_log(FW_LOG_ERR, "exiting: %u request%s stuck past request_timeout", w->stuck,
               w->stuck == 1 ? "" : "s");
        exit_now(w, FW_EXIT_TIMEOUT);
    }
    uint64_t grace = w->cfg->graceful_timeout_ms;
    if (!grace || now - atomic_load(&w->stop_ms) <= (int64_t)grace)
        return;
    for (unsigned i = 0; i < nthreads; i++) {
        int64_t start = atomic_load(&threads[i].request_start_ms);
        struct fw_conn_thread *ct = atomic_load(&threads[i].conn);
        if (start && ct)
            fw_log(FW_LOG_WARN, "%.200s: cut after %lld ms: graceful_timeout (%llu ms) is over",
                   fw_conn_uri(ct), (long long)(now - start), (unsigned long long)grace);
    }
    fw_log(FW_LOG_ERR, "exiting: requests still running after graceful_timeout");
    /* 1, not 4, even with a stuck call: requests other than that one were
     * cut, and the master must say so when it stops. */
    exit_now(w, FW_EXIT_FAILURE);
}

/* The master's messages: a new log fd after it reopened the log (USR1). It
 * replaces our log fd in place with dup2, so a thread writing a line at
 * that moment finishes it on the old file and no fd number is ever reused
 * under it. A closed channel means the master is gone: stop. */
static void from_master(struct worker *w)
{
    char byte;
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)
    };
    ssize_t n = recvmsg(w->cfg->channel_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n == 0) {
        begin_stop(w, "the master is gone");
        return;
    }
    if (n < 0)
        return;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (byte >= FW_WORKER_MSG_LOG_LEVEL && byte <= FW_WORKER_MSG_LOG_LEVEL + FW_LOG_DEBUG) {
        fw_log_set_level((enum fw_log_level)(byte - FW_WORKER_MSG_LOG_LEVEL));
        return;
    }
    if (byte == FW_WORKER_MSG_SERVE) {
        start_accepting(w);
        return;
    }
    if (byte == FW_WORKER_MSG_DRAIN) {
        drain(w);
        return;
    }
    if (byte == FW_WORKER_MSG_UNDRAIN) {
        undrain(w);
        return;
    }
    if (byte == FW_WORKER_MSG_ACCESS_FD && c && c->cmsg_level == SOL_SOCKET &&
        c->cmsg_type == SCM_RIGHTS) {
        int fd;
        memcpy(&fd, CMSG_DATA(c), sizeof(fd));
        if (w->access && fw_access_reopen(w->access, fd) < 0)
            fw_log_errno(FW_LOG_ERR, "switching to the reopened access log");
        close(fd);
        return;
    }
    if (byte == FW_WORKER_MSG_LOG_FD && c && c->cmsg_level == SOL_SOCKET &&
        c->cmsg_type == SCM_RIGHTS) {
        int fd;
        memcpy(&fd, CMSG_DATA(c), sizeof(fd));
        /* A syslog socket is never sent (pool.h); a file is no place for
         * syslog lines. */
        if (fw_log_sink_syslog_path(NULL)) {
            close(fd);
            return;
        }
        if (w->cfg->log_fd >= 0 && dup2(fd, w->cfg->log_fd) < 0)
            fw_log_errno(FW_LOG_ERR, "switching to the reopened log");
        close(fd);
        fw_log(FW_LOG_INFO, "log reopened");
    }
}

/* Returns the exit status: OK after a graceful stop, FAILURE if a second
 * stop signal cut it short. */
static int wait_for_stop(struct worker *w, struct thread *threads, unsigned nthreads)
{
    int status = FW_EXIT_OK;
    int64_t next_tick = 0, next_slot_tick = 0;
    for (;;) {
        if (atomic_load(&w->stopping) && (unsigned)atomic_load(&w->threads_done) == nthreads)
            return status;
        int64_t now = now_ms();
        if (now >= next_tick) {
            bool stopping = atomic_load(&w->stopping);
            bool draining = atomic_load(&w->draining);
            if (w->cfg->slot)
                atomic_store(&w->cfg->slot->conns, fw_conn_open_count());
            if (w->cfg->slot && now >= next_slot_tick) {
                slot_tick(w, threads, nthreads, now);
                next_slot_tick = now + 500;
            }
            if (w->wd)
                timeout_tick(w, now);
            /* Drained, a pause must not put the listener back. */
            if (fw_accept_tick(&w->acc, now, atomic_load(&w->stopping) || draining))
                retire(w, FW_SLOT_RETIRE_FDS, "out of file descriptors (the app holds them)");
            stopping = atomic_load(&w->stopping);
            if (stopping)
                check_stop_deadline(w, threads, nthreads, now);
            fw_waitset_sweep(w->ws, now, stopping || draining,
                             atomic_load(stopping ? &w->stop_ms : &w->drain_ms));
            /* An access log line waits for this tick at most. */
            fw_access_flush(w->access, false);
            next_tick = now + (stopping || draining || w->wd || w->access ? TICK_FAST_MS : 500);
        }
        int timeout = (int)(next_tick - now);
        if (atomic_load(&w->stopping) && timeout > 50)
            timeout = 50; /* a stop began during the last wait */
        struct pollfd p[2] = { { .fd = signal_pipe[0], .events = POLLIN },
                               { .fd = w->cfg->channel_fd, .events = POLLIN } };
        int rc = poll(p, w->cfg->channel_fd >= 0 ? 2 : 1, timeout);
        if (rc <= 0)
            continue;
        unsigned char sig;
        while (read(signal_pipe[0], &sig, 1) == 1) {
            switch (sig) {
            case SIGTERM:
            case SIGINT:
            case SIGQUIT:
                /* Under the manager the same stop may come twice (from the
                 * master, and to the whole process group from systemd or a
                 * terminal): the master escalates, after graceful_timeout. */
                if (atomic_load(&w->stopping) && w->cfg->channel_fd >= 0) {
                    fw_log(FW_LOG_INFO, "already stopping; %s changes nothing", strsignal(sig));
                    break;
                }
                if (atomic_load(&w->stopping)) {
                    fw_log(FW_LOG_WARN, "second stop signal (%s): exiting now", strsignal(sig));
                    fw_access_flush(w->access, false);
                    return FW_EXIT_FAILURE;
                }
                begin_stop(w, strsignal(sig));
                break;
            case SIGHUP:
            case SIGUSR1:
            case SIGUSR2: fw_log(FW_LOG_INFO, "ignoring %s", strsignal(sig)); break;
            }
        }
        /* After the signals: a stop that came with the master's word to
         * serve wins, and nothing is accepted. */
        if (w->cfg->channel_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP)))
            from_master(w);
    }
}

/* Whoever fills cfg (the conf loader, the responder's options) bounds it
 * already; a value past these would go negative as int64_t milliseconds
 * (every request timed out) or wrap a sum, so it is refused here too. */
static bool config_in_range(const struct fw_worker_config *cfg)
{
    const uint64_t durations[] = { cfg->keepalive_timeout_ms, cfg->client_timeout_ms,
                                   cfg->request_timeout_ms, cfg->graceful_timeout_ms };
    const uint64_t sizes[] = { cfg->max_body_bytes, cfg->max_params_bytes,
                               cfg->memory_limit_bytes };
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++)
        if (durations[i] > FW_UNITS_DURATION_MAX_MS)
            return false;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (sizes[i] > FW_UNITS_SIZE_MAX_BYTES)
            return false;
    return cfg->threads <= FW_WORKER_MAX_THREADS;
}

/* What the apps' import left: for the worker itself, or kept by a
 * template for every worker it forks. */
struct fw_worker_loaded {
    struct fw_worker_apps apps;
    bool python;
    bool load_failed;
    char error[FW_SLOT_ERROR_MAX];
};

struct fw_worker_loaded *fw_worker_load(const struct fw_worker_config *cfg, int *status)
{
    *status = FW_EXIT_INIT;
    if (!config_in_range(cfg)) {
        fw_log(FW_LOG_ERR,
               "a duration, size or count is out of range (at most %llu ms, %llu "
               "bytes, %u threads)",
               (unsigned long long)FW_UNITS_DURATION_MAX_MS,
               (unsigned long long)FW_UNITS_SIZE_MAX_BYTES, FW_WORKER_MAX_THREADS);
        *status = FW_EXIT_CONFIG;
        return NULL;
    }
    struct fw_worker_loaded *l = calloc(1, sizeof(*l));
    if (!l) {
        fw_log(FW_LOG_ERR, "out of memory");
        return NULL;
    }
    if (cfg->channel_fd >= 0) {
        restart_channel_fd = cfg->channel_fd;
        fw_module_set_restart_hook(request_pool_restart);
    }
    if (fw_host_start(&cfg->host) < 0)
        goto fail;
    l->python = true;
    if (fw_apps_init(&l->apps, cfg) < 0)
        goto fail;
    l->load_failed = cfg->preload && !fw_apps_preload(&l->apps, l->error, sizeof(l->error));
    /* Past the start-up: the log stops copying its errors into the slot
     * (manager/spawn.c), which holds a failed import's from here on, for
     * the master's report of a failed recycle (fcgiwsgi-ctl). */
    fw_log_keep_errors(NULL, 0);
    *status = FW_EXIT_OK;
    return l;
fail:
    fw_worker_unload(l);
    return NULL;
}

bool fw_worker_load_failed(const struct fw_worker_loaded *l)
{
    return l->load_failed;
}

const char *fw_worker_load_error(const struct fw_worker_loaded *l)
{
    return l->load_failed ? l->error : "";
}

void fw_worker_unload(struct fw_worker_loaded *l)
{
    if (!l)
        return;
    if (l->python) {
        fw_apps_unload(&l->apps);
        fw_host_stop();
    }
    fw_apps_free(&l->apps);
    free(l);
}

int fw_worker_run(const struct fw_worker_config *cfg)
{
    int status;
    struct fw_worker_loaded *l = fw_worker_load(cfg, &status);
    if (!l)
        return status;
    status = fw_worker_serve(cfg, l);
    /* After the others, request threads may still be inside the app. */
    if (status != FW_EXIT_OK && status != FW_EXIT_INIT && status != FW_EXIT_CONFIG)
        return status;
    fw_worker_unload(l);
    if (status == FW_EXIT_OK)
        fw_log(FW_LOG_NOTICE, "stopped");
    return status;
}

int fw_worker_serve(const struct fw_worker_config *cfg, struct fw_worker_loaded *l)
{
    struct worker w = { .cfg = cfg, .apps = &l->apps };
    struct thread *threads = NULL;
    unsigned started = 0;
    int status = FW_EXIT_INIT;

    if (install_signals() < 0) {
        fw_log_errno(FW_LOG_ERR, "installing signal handlers");
        return FW_EXIT_INIT;
    }
    bool drained = cfg->drained;
    int listening = fw_sock_is_listener(cfg->listen_fd);
    /* Under the manager, a TCP socket that does not listen is a drained
     * pool's (shut down: see manager/pool_drain.c), also when the drain
     * came between our spawn and now: its message follows. */
    if (listening == 0 && cfg->channel_fd >= 0 && fw_sock_is_stream(cfg->listen_fd))
        drained = true;
    else if (listening != 1) {
        fw_log(FW_LOG_ERR, "fd %d is not a listening socket", cfg->listen_fd);
        return FW_EXIT_CONFIG;
    }
    w.draining = drained;
    w.closing = drained;
    /* Several threads (and processes) wait on it: whoever loses the race for
     * a connection must get EAGAIN, not block. */
    if (fw_sock_set_nonblock(cfg->listen_fd, 1) < 0) {
        fw_log_errno(FW_LOG_ERR, "making the listening socket non-blocking");
        return FW_EXIT_INIT;
    }
    /* Before the waitset: its table is sized by the limit. */
    fw_accept_raise_nofile(cfg->rlimit_nofile);
    w.ws = fw_waitset_new(cfg->listen_fd, listen_level_triggered(&w), cfg->keepalive_timeout_ms,
                          cfg->client_timeout_ms);
    if (!w.ws) {
        fw_log_errno(FW_LOG_ERR, "creating the worker's epoll set");
        goto out;
    }
    fw_accept_init(&w.acc, cfg->listen_fd, w.ws, &w.conn_settings, cfg->allowed_clients,
                   cfg->n_allowed_clients);
    if (cfg->channel_fd >= 0) {
        restart_channel_fd = cfg->channel_fd;
        fw_module_set_restart_hook(request_pool_restart);
    }
    if (l->load_failed && cfg->slot)
        memcpy(cfg->slot->error, l->error, sizeof(l->error));
    if (l->load_failed)
        w.preload_failed = true;

    unsigned nthreads = cfg->threads ? cfg->threads : 1;
    w.conn_settings = (struct fw_conn_settings){
        .find_app = fw_apps_find,
        .app_ctx = w.apps,
        .mounts = w.apps->mounts,
        .n_mounts = w.apps->n_mounts,
        .max_body_bytes = cfg->max_body_bytes,
        .max_params_bytes =
            cfg->max_params_bytes ? cfg->max_params_bytes : FW_WORKER_DEFAULT_MAX_PARAMS,
        .client_timeout_ms = cfg->client_timeout_ms,
        .threads = nthreads,
        .stopping = &w.closing,
        .multiprocess = cfg->multiprocess,
        .pool = cfg->pool,
        .generation = cfg->generation,
        .ping_path = cfg->ping_path,
        .status_path = cfg->status_path,
        .page = cfg->page,
    };
    if (cfg->access_log) {
        char aerr[200];
        w.access = fw_access_new(cfg->access_fd, cfg->access_format, cfg->pool, cfg->generation,
                                 nthreads, aerr, sizeof(aerr));
        if (!w.access) {
            fw_log(FW_LOG_ERR, "access log: %s", aerr);
            goto out;
        }
    }
    if ((cfg->request_timeout_ms || cfg->slowlog_timeout_ms) &&
        !(w.wd = fw_watchdog_new(cfg->request_timeout_ms, cfg->slowlog_timeout_ms, nthreads)))
        goto out;
    threads = calloc(nthreads, sizeof(*threads));
    if (!threads)
        goto out;
    for (unsigned i = 0; i < nthreads; i++) {
        threads[i].w = &w;
        threads[i].index = i;
        int rc = pthread_create(&threads[i].tid, NULL, request_thread, &threads[i]);
        if (rc != 0) {
            errno = rc;
            fw_log_errno(FW_LOG_ERR, "starting a request thread");
            break;
        }
        threads[i].started = true;
        started++;
    }
    if (started == 0)
        goto out;
    for (unsigned i = 0; i < started; i++)
        fw_interp_wait_attached(&threads[i].attached);
    if (cfg->n_apps == 1)
        fw_log(FW_LOG_NOTICE, "ready: %u request threads serving %s", started, cfg->apps[0].script);
    else if (cfg->n_apps)
        fw_log(FW_LOG_NOTICE, "ready: %u request threads serving %zu apps", started, cfg->n_apps);
    else
        fw_log(FW_LOG_NOTICE, "ready: %u request threads serving each request's SCRIPT_FILENAME",
               started);
    /* A worker whose app did not import still serves (500s, and retries the
     * import), but the master must know: it must not replace a good
     * generation with it. */
    tell_master(&w, w.preload_failed ? FW_WORKER_MSG_LOAD_FAILED : FW_WORKER_MSG_READY);
    /* Accept only now that the apps are imported. If one failed under the
     * manager, wait for its word: during a recycle it must not answer 500s
     * in place of a working generation. */
    if (!(w.preload_failed && cfg->channel_fd >= 0))
        start_accepting(&w);
    status = wait_for_stop(&w, threads, started);
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
    /* Every request thread is done: their last lines go out. */
    fw_access_free(w.access);
    /* Before the interpreters end: it has thread states in them. */
    fw_watchdog_free(w.wd);
    fw_waitset_free(w.ws);
    return status;
}
