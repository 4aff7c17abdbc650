/* The waiting room of a worker's connections (waitset.h). Epoll events
 * carry the fd and a generation; a connection is taken only if its table
 * entry still has that generation and is waiting, under one lock. So a
 * connection the sweep closed, whose event another thread had already
 * dequeued, is never touched again (the fd may by then be someone else's). */
#include "config.h"

#include "waitset.h"

#include "conn.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A stopping worker closes a kept connection once it has been idle this
 * long. One the web server used a moment ago is likely to carry its next
 * request any moment (HAProxy and H2O reuse a connection the instant its
 * response is in): closed then, that request would be lost. It is served
 * instead, and the connection closed right behind its END_REQUEST, which
 * cannot race the web server. Closing an idle one can: nginx's keepalive
 * cache is last-in first-out, so a connection idle 100 ms under load is
 * one a burst reaches now and then, and a burst in the instant of the
 * close cost a request that nginx logged and, with max_fails=1, put the
 * host out of rotation for fail_timeout (seen in CI in
 * t/recycle-keepconn-upstreams.t). Given a second, bursts use most of them
 * up and nginx evicts the rest from its full cache itself. */
#define STOP_QUIET_MS 1000
/* How long a stopping worker still waits for a request on a connection
 * that has sent nothing yet (it is the worker's to answer: the web server
 * cannot know it was never served), and for the rest of one that has begun
 * (whatever client_timeout says, even 0: never). */
#define STOP_UNUSED_MS 2000
#define STOP_PARTIAL_MS 10000

#define GEN_LISTEN 0xFFFFFFFFu
#define GEN_STOP 0xFFFFFFFEu
#define GEN_MAX 0xFFFFFFFDu

enum { FREE, HELD, WAITING };

struct entry {
    struct fw_conn *conn;
    uint32_t gen;
    unsigned char state;
    bool in_epoll;
    bool partial;
    int64_t deadline_ms;
    int64_t since_ms; /* waiting since */
    int prev, next;   /* the waiting list, by fd */
};

struct fw_waitset {
    int epfd, listen_fd, stop_fd;
    bool listen_level;
    uint64_t keepalive_ms, client_ms;
    pthread_mutex_t lock;
    struct entry *table;
    size_t cap;
    int head, tail;
    size_t waiting;
    uint32_t next_gen;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t key(uint32_t gen, int fd)
{
    return (uint64_t)gen << 32 | (uint32_t)fd;
}

struct fw_waitset *fw_waitset_new(int listen_fd, bool listen_level, uint64_t keepalive_timeout_ms,
                                  uint64_t client_timeout_ms)
{
    struct fw_waitset *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return NULL;
    struct rlimit rl;
    ws->cap = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                      rl.rlim_cur < (1u << 24)
                  ? (size_t)rl.rlim_cur
                  : (1u << 24);
    /* Untouched pages of a large zeroed allocation cost nothing. */
    ws->table = calloc(ws->cap, sizeof(*ws->table));
    ws->epfd = epoll_create1(EPOLL_CLOEXEC);
    ws->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ws->listen_fd = listen_fd;
    ws->listen_level = listen_level;
    ws->keepalive_ms = keepalive_timeout_ms;
    ws->client_ms = client_timeout_ms;
    ws->head = ws->tail = -1;
    ws->next_gen = 1;
    pthread_mutex_init(&ws->lock, NULL);
    struct epoll_event sev = { .events = EPOLLIN, .data.u64 = key(GEN_STOP, ws->stop_fd) };
    if (!ws->table || ws->epfd < 0 || ws->stop_fd < 0 ||
        epoll_ctl(ws->epfd, EPOLL_CTL_ADD, ws->stop_fd, &sev) < 0) {
        fw_waitset_free(ws);
        return NULL;
    }
    return ws;
}

static void unlink_entry(struct fw_waitset *ws, int fd)
{
    struct entry *e = &ws->table[fd];
    if (e->prev >= 0)
        ws->table[e->prev].next = e->next;
    else
        ws->head = e->next;
    if (e->next >= 0)
        ws->table[e->next].prev = e->prev;
    else
        ws->tail = e->prev;
    ws->waiting--;
}

static void close_entry(struct fw_waitset *ws, int fd)
{
    struct entry *e = &ws->table[fd];
    unlink_entry(ws, fd);
    struct fw_conn *c = e->conn;
    e->conn = NULL;
    e->state = FREE;
    e->in_epoll = false;
    fw_conn_close(c);
}

void fw_waitset_free(struct fw_waitset *ws)
{
    if (!ws)
        return;
    while (ws->table && ws->head >= 0)
        close_entry(ws, ws->head);
    if (ws->epfd >= 0)
        close(ws->epfd);
    if (ws->stop_fd >= 0)
        close(ws->stop_fd);
    pthread_mutex_destroy(&ws->lock);
    free(ws->table);
    free(ws);
}

static int arm_listener(struct fw_waitset *ws, int op)
{
    struct epoll_event ev = { .events = ws->listen_level ? EPOLLIN : EPOLLIN | EPOLLONESHOT,
                              .data.u64 = key(GEN_LISTEN, ws->listen_fd) };
    return epoll_ctl(ws->epfd, op, ws->listen_fd, &ev);
}

int fw_waitset_listen(struct fw_waitset *ws)
{
    return arm_listener(ws, EPOLL_CTL_ADD);
}

void fw_waitset_unlisten(struct fw_waitset *ws)
{
    epoll_ctl(ws->epfd, EPOLL_CTL_DEL, ws->listen_fd, NULL);
}

void fw_waitset_rearm_listen(struct fw_waitset *ws)
{
    /* ENOENT: the listener was removed by a stop meanwhile. */
    if (!ws->listen_level && arm_listener(ws, EPOLL_CTL_MOD) < 0 && errno != ENOENT)
        fw_log_errno(FW_LOG_ERR, "re-arming the listening socket");
}

void fw_waitset_stop(struct fw_waitset *ws)
{
    uint64_t one = 1;
    if (write(ws->stop_fd, &one, sizeof(one)) < 0)
        fw_log_errno(FW_LOG_ERR, "waking the request threads");
}

enum fw_waitset_event fw_waitset_next(struct fw_waitset *ws, struct fw_conn **conn)
{
    for (;;) {
        struct epoll_event ev;
        int n = epoll_wait(ws->epfd, &ev, 1, -1);
        if (n < 0 && errno != EINTR) {
            fw_log_errno(FW_LOG_ERR, "waiting for connections (epoll_wait)");
            return FW_WAITSET_STOP;
        }
        if (n <= 0)
            continue;
        uint32_t gen = (uint32_t)(ev.data.u64 >> 32);
        int fd = (int)(uint32_t)ev.data.u64;
        if (gen == GEN_LISTEN)
            return FW_WAITSET_LISTEN;
        if (gen == GEN_STOP)
            return FW_WAITSET_STOP;
        pthread_mutex_lock(&ws->lock);
        struct entry *e = (size_t)fd < ws->cap ? &ws->table[fd] : NULL;
        if (e && e->gen == gen && e->state == WAITING) {
            unlink_entry(ws, fd);
            e->state = HELD;
            *conn = e->conn;
            pthread_mutex_unlock(&ws->lock);
            return FW_WAITSET_CONN;
        }
        pthread_mutex_unlock(&ws->lock);
    }
}

int fw_waitset_adopt(struct fw_waitset *ws, struct fw_conn *c)
{
    int fd = fw_conn_fd(c);
    if (fd < 0 || (size_t)fd >= ws->cap)
        return -1;
    pthread_mutex_lock(&ws->lock);
    struct entry *e = &ws->table[fd];
    e->conn = c;
    e->gen = ws->next_gen;
    ws->next_gen = ws->next_gen == GEN_MAX ? 1 : ws->next_gen + 1;
    e->state = HELD;
    e->in_epoll = false;
    e->partial = true;
    e->deadline_ms = ws->client_ms ? now_ms() + (int64_t)ws->client_ms : 0;
    pthread_mutex_unlock(&ws->lock);
    return 0;
}

void fw_waitset_park(struct fw_waitset *ws, struct fw_conn *c, bool partial)
{
    int fd = fw_conn_fd(c);
    pthread_mutex_lock(&ws->lock);
    struct entry *e = &ws->table[fd];
    if (!partial)
        e->deadline_ms = ws->keepalive_ms ? now_ms() + (int64_t)ws->keepalive_ms : 0;
    else if (!e->partial)
        e->deadline_ms = ws->client_ms ? now_ms() + (int64_t)ws->client_ms : 0;
    e->partial = partial;
    e->since_ms = now_ms();
    e->state = WAITING;
    e->next = -1;
    e->prev = ws->tail;
    if (ws->tail >= 0)
        ws->table[ws->tail].next = fd;
    else
        ws->head = fd;
    ws->tail = fd;
    ws->waiting++;
    /* Armed under the lock: a thread woken by it waits for the entry to
     * say WAITING. */
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
                              .data.u64 = key(e->gen, fd) };
    int rc = epoll_ctl(ws->epfd, e->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    if (rc < 0 && (errno == ENOENT || errno == EEXIST))
        rc = epoll_ctl(ws->epfd, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
    if (rc < 0) {
        fw_log_errno(FW_LOG_ERR, "cannot watch connection fd %d; closing it", fd);
        close_entry(ws, fd);
    } else {
        e->in_epoll = true;
    }
    pthread_mutex_unlock(&ws->lock);
}

/* Something to read (or the peer's EOF) is there: leave it to a thread. */
static bool readable(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0;
}

size_t fw_waitset_sweep(struct fw_waitset *ws, int64_t now, bool stopping, int64_t stop_ms)
{
    size_t timed_out = 0, idle = 0;
    pthread_mutex_lock(&ws->lock);
    for (int fd = ws->head; fd >= 0;) {
        struct entry *e = &ws->table[fd];
        int next = e->next;
        if (stopping && e->partial) {
            int64_t cap = stop_ms + (fw_conn_unused(e->conn) ? STOP_UNUSED_MS : STOP_PARTIAL_MS);
            if (!e->deadline_ms || e->deadline_ms > cap)
                e->deadline_ms = cap;
        }
        if (e->deadline_ms && now >= e->deadline_ms) {
            timed_out += e->partial;
            close_entry(ws, fd);
        } else if (stopping && !e->partial && now - e->since_ms >= STOP_QUIET_MS && !readable(fd)) {
            /* Closed now, the web server's next request goes to a new
             * connection, which a worker that accepts will take. */
            idle++;
            close_entry(ws, fd);
        }
        fd = next;
    }
    size_t left = ws->waiting;
    pthread_mutex_unlock(&ws->lock);
    if (timed_out)
        fw_log(FW_LOG_INFO,
               "closed %zu connection%s that sent no whole request within "
               "client_timeout (%llu ms)",
               timed_out, timed_out == 1 ? "" : "s", (unsigned long long)ws->client_ms);
    if (idle)
        fw_log(FW_LOG_DEBUG, "stopping: closed %zu idle kept connection%s", idle,
               idle == 1 ? "" : "s");
    return left;
}

size_t fw_waitset_shed(struct fw_waitset *ws, size_t n)
{
    size_t closed = 0;
    pthread_mutex_lock(&ws->lock);
    /* Oldest first, requests that have not come whole before idle kept
     * connections: those are what a flood or a slowloris leaves, and an
     * idle one closed is the web server's to reopen. */
    for (int pass = 0; pass < 2 && closed < n; pass++) {
        for (int fd = ws->head; fd >= 0 && closed < n;) {
            int next = ws->table[fd].next;
            if (ws->table[fd].partial == (pass == 0)) {
                close_entry(ws, fd);
                closed++;
            }
            fd = next;
        }
    }
    pthread_mutex_unlock(&ws->lock);
    return closed;
}

size_t fw_waitset_waiting(struct fw_waitset *ws)
{
    pthread_mutex_lock(&ws->lock);
    size_t n = ws->waiting;
    pthread_mutex_unlock(&ws->lock);
    return n;
}
