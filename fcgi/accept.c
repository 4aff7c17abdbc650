/* Linux hands out the lowest free fd, so a new connection's fd number is
 * a lower bound on how many are open: past the limit minus a reserve kept
 * for the app (its files, its database sockets), the oldest waiting
 * connections make room. */
#include "config.h"

#include "accept.h"

#include "conn.h"
#include "waitset.h"
#include "lib/fd.h"
#include "lib/log.h"
#include "lib/sock.h"
#include "pyhost/callclock.h"

#include <errno.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define NOFILE_DEFAULT_MAX 65536
#define SHED_BATCH 16

size_t fw_accept_raise_nofile(uint64_t wanted)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    rlim_t want = wanted ? (rlim_t)wanted : rl.rlim_max;
    if (!wanted && want > NOFILE_DEFAULT_MAX)
        want = NOFILE_DEFAULT_MAX;
    if (want > rl.rlim_max && wanted) {
        struct rlimit both = { want, want };
        if (setrlimit(RLIMIT_NOFILE, &both) == 0)
            return (size_t)want;
        fw_log_errno(FW_LOG_WARN, "raising RLIMIT_NOFILE to %llu (hard limit %llu)",
                     (unsigned long long)want, (unsigned long long)rl.rlim_max);
        want = rl.rlim_max;
    }
    if (want > rl.rlim_cur || wanted) {
        struct rlimit soft = { want, rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &soft) == 0)
            return (size_t)want;
        fw_log_errno(FW_LOG_WARN, "setting RLIMIT_NOFILE to %llu", (unsigned long long)want);
    }
    return (size_t)rl.rlim_cur;
}

void fw_accept_init(struct fw_accept *a, int listen_fd, struct fw_waitset *ws,
                    const struct fw_conn_settings *cs, const char *const *allowed, size_t n_allowed)
{
    struct rlimit rl;
    a->listen_fd = listen_fd;
    a->ws = ws;
    a->conn_settings = cs;
    a->allowed_clients = allowed;
    a->n_allowed_clients = n_allowed;
    a->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                      ? (size_t)rl.rlim_cur
                      : NOFILE_DEFAULT_MAX;
    a->counted_ms = 0;
    atomic_store(&a->paused_until_ms, 0);
    atomic_store(&a->starved, false);
    atomic_store(&a->logged_ms, 0);
    atomic_store(&a->shed, 0);
    atomic_store(&a->failed, 0);
}

static size_t reserve(const struct fw_accept *a)
{
    size_t r = a->fd_limit / 16;
    return r < 16 ? 16 : r > 256 ? 256 : r;
}

/* One line per FW_ACCEPT_LOG_MS, whichever thread gets there. */
static void log_shortage(struct fw_accept *a, int64_t now)
{
    int64_t last = atomic_load(&a->logged_ms);
    if (last && now - last < FW_ACCEPT_LOG_MS)
        return;
    if (!atomic_compare_exchange_strong(&a->logged_ms, &last, now))
        return;
    unsigned long shed = atomic_exchange(&a->shed, 0);
    unsigned long failed = atomic_exchange(&a->failed, 0);
    fw_log(FW_LOG_WARN,
           "short of file descriptors (limit %zu): %lu waiting connections closed to make "
           "room; %lu times nothing to close%s",
           a->fd_limit, shed, failed, failed ? " (the app holds the fds)" : "");
}

/* Waiting connections are what fills the fds only if there are many: a
 * few are requests that just arrived, and closing them for an app that
 * holds the fds would fail each in turn (the soak saw it: each accept shed
 * the one before). */
static size_t sheddable(struct fw_accept *a, size_t n)
{
    return fw_waitset_waiting(a->ws) >= reserve(a) ? fw_waitset_shed(a->ws, n) : 0;
}

/* Near the limit: close some waiting connections; with none to close, the
 * fds are the app's (or its requests'), and only a new worker helps. */
static void make_room(struct fw_accept *a, size_t n)
{
    size_t closed = sheddable(a, n);
    atomic_fetch_add(&a->shed, closed);
    if (!closed) {
        atomic_fetch_add(&a->failed, 1);
        atomic_store(&a->starved, true);
    }
    log_shortage(a, fw_callclock_now_ms());
}

static void out_of_fds(struct fw_accept *a)
{
    size_t closed = sheddable(a, SHED_BATCH);
    if (closed > 0) {
        atomic_fetch_add(&a->shed, closed);
    } else {
        /* Nothing of ours to close: retrying would spin. */
        atomic_fetch_add(&a->failed, 1);
        atomic_store(&a->starved, true);
        int64_t expected = 0;
        if (atomic_compare_exchange_strong(&a->paused_until_ms, &expected,
                                           fw_callclock_now_ms() + FW_ACCEPT_PAUSE_MS))
            fw_waitset_unlisten(a->ws);
    }
    log_shortage(a, fw_callclock_now_ms());
}

struct fw_conn *fw_accept_one(struct fw_accept *a, bool stopping)
{
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    int fd = accept4(a->listen_fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);
    int saved = errno;
    /* Re-armed at once so another thread can take the next connection
     * while this one is served; not while accepting is paused. */
    if (!stopping && !atomic_load(&a->paused_until_ms))
        fw_waitset_rearm_listen(a->ws);
    if (fd < 0) {
        errno = saved;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED ||
            errno == EPROTO)
            return NULL;
        if (errno == EMFILE || errno == ENFILE) {
            out_of_fds(a);
            return NULL;
        }
        /* The socket does not listen: the master shut it to drain the
         * pool, and its message (the main thread takes the listener out)
         * is on its way; a short wait instead of a spin until then. */
        if (errno == EINVAL) {
            poll(NULL, 0, 1);
            return NULL;
        }
        fw_log_errno(FW_LOG_ERR, "accepting a connection");
        if (errno == ENOBUFS || errno == ENOMEM)
            poll(NULL, 0, 100); /* out of memory: give the others time to free some */
        return NULL;
    }
    if ((size_t)fd + reserve(a) >= a->fd_limit)
        make_room(a, 4);
    if (a->n_allowed_clients &&
        !fw_sock_peer_allowed((struct sockaddr *)&peer, a->allowed_clients,
                              a->n_allowed_clients)) {
        char who[80];
        fw_sock_peer_text((struct sockaddr *)&peer, who, sizeof(who));
        fw_log(FW_LOG_WARN, "refused a connection from %s: not in allowed_clients", who);
        close(fd);
        return NULL;
    }
    struct fw_conn *c = fw_conn_new(fd, a->conn_settings);
    if (!c) {
        fw_log(FW_LOG_ERR, "out of memory for a new connection; closed it");
        return NULL;
    }
    if (fw_waitset_adopt(a->ws, c) < 0) {
        fw_log(FW_LOG_ERR, "connection fd %d is past the worker's table; closed it", fd);
        fw_conn_close(c);
        return NULL;
    }
    return c;
}

bool fw_accept_tick(struct fw_accept *a, int64_t now, bool stopping)
{
    if (!stopping && now - a->counted_ms >= 500) {
        a->counted_ms = now;
        /* An fd's number only says where the lowest hole is, and an app
         * that leaks leaves its holes low: count them. */
        long open_fds = fw_fd_count();
        if (open_fds >= 0 && (size_t)open_fds + reserve(a) >= a->fd_limit)
            make_room(a, SHED_BATCH);
    }
    int64_t until = atomic_load(&a->paused_until_ms);
    if (until && now >= until && !stopping) {
        atomic_store(&a->paused_until_ms, 0);
        if (fw_waitset_listen(a->ws) < 0 && errno != EEXIST)
            fw_log_errno(FW_LOG_ERR, "watching the listening socket again");
    }
    if (atomic_load(&a->shed) || atomic_load(&a->failed))
        log_shortage(a, now);
    return atomic_exchange(&a->starved, false);
}
