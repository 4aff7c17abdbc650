/* The status server (status_http.h): accept, read one request head,
 * answer, close. Every byte a client sends is checked by lib/httpreq; a
 * client is at most FW_STATUS_HTTP_HEAD_MAX bytes of buffer, its answer,
 * and a place in a list of FW_STATUS_HTTP_CLIENTS. */
#include "config.h"

#include "status_http.h"

#include "lib/buf.h"
#include "lib/dir.h"
#include "lib/http.h"
#include "lib/httpreq.h"
#include "lib/log.h"
#include "lib/sock.h"
#include "loop.h"
#include "metrics.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKEUP 16
#define LINGER_MS 1000 /* after the answer, reading what the client still sends */
#define LINGER_MAX_BYTES 65536

enum client_phase { READING, WRITING, LINGERING };

struct client {
    struct fw_status_http *s;
    int fd;
    enum client_phase phase;
    int64_t deadline_ms;
    char in[FW_STATUS_HTTP_HEAD_MAX];
    size_t in_len, lingered;
    struct fw_buf out;
    size_t out_off;
    struct client *prev, *next;
};

struct fw_status_http {
    struct fw_loop *loop;
    int fd;
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    fw_status_http_source_fn source;
    void *data;
    struct client *clients;
    unsigned n_clients;
    uint64_t refused; /* turned away at the cap, since the last log line */
    int64_t refused_logged_ms;
};

static void client_free(struct client *c)
{
    struct fw_status_http *s = c->s;
    fw_loop_del(s->loop, c->fd);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_clients--;
    fw_buf_free(&c->out);
    free(c);
}

static void on_event(struct fw_loop *loop, int fd, uint32_t events, void *data);

static void set_events(struct client *c, uint32_t events)
{
    fw_loop_del(c->s->loop, c->fd);
    if (fw_loop_add(c->s->loop, c->fd, events, on_event, c) < 0)
        client_free(c);
}

/* After the answer: the client's side is read and dropped for a moment,
 * so that closing with its bytes unread does not reset the connection
 * before it has read ours (a 431 to a client still sending its head). */
static void linger(struct client *c)
{
    shutdown(c->fd, SHUT_WR);
    c->phase = LINGERING;
    c->deadline_ms = fw_loop_now_ms() + LINGER_MS;
    set_events(c, EPOLLIN);
}

/* Sends what the socket takes now; the rest waits for EPOLLOUT. Once all
 * is sent, lingers. c may be freed on return. */
static void flush(struct client *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->phase != WRITING) {
                c->phase = WRITING;
                c->deadline_ms = fw_loop_now_ms() + FW_STATUS_HTTP_WRITE_MS;
                set_events(c, EPOLLOUT);
            }
            return;
        }
        if (n <= 0) {
            client_free(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    linger(c);
}

static const char *reason(int status)
{
    return fw_http_reason(status);
}

static void respond(struct client *c, int status, const char *content_type, const char *extra,
                    const struct fw_buf *body, bool head_only)
{
    fw_buf_printf(&c->out,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                  "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                  status, reason(status), content_type, body->len, extra ? extra : "");
    if (!head_only)
        fw_buf_add(&c->out, fw_buf_str(body), body->len);
    if (fw_buf_failed(&c->out)) {
        client_free(c);
        return;
    }
    flush(c);
}

static void error_page(struct client *c, int status, const char *why)
{
    struct fw_buf body;
    fw_buf_init(&body);
    fw_buf_printf(&body, "%d %s: %s\n", status, reason(status), why);
    respond(c, status, "text/plain; charset=utf-8", NULL, &body, false);
    fw_buf_free(&body);
}

static void answer(struct client *c, const struct fw_httpreq *req)
{
    struct fw_status_http *s = c->s;
    struct fw_status_master m;
    struct fw_pool *const *pools;
    size_t n;
    s->source(s->data, &m, &pools, &n);
    const char *type = NULL, *extra = NULL;
    struct fw_buf body;
    fw_buf_init(&body);
    int status = fw_status_http_page(req, &m, pools, n, &type, &extra, &body);
    if (fw_buf_failed(&body))
        error_page(c, 503, "out of memory");
    else
        respond(c, status, type, extra, &body, strcmp(req->method, "HEAD") == 0);
    fw_buf_free(&body);
}

static void on_readable(struct client *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            client_free(c);
            return;
        }
        c->in_len += (size_t)n;
        struct fw_httpreq req;
        long rc = fw_httpreq_parse(c->in, c->in_len, sizeof(c->in), &req);
        if (rc == 0)
            continue;
        if (rc < 0) {
            int status = (int)-rc;
            error_page(c, status,
                       status == 431   ? "the request head is too large"
                       : status == 414 ? "the request target is too long"
                       : status == 505 ? "only HTTP/1.0 and HTTP/1.1 are spoken here"
                       : status == 501 ? "unknown method"
                                       : "malformed request");
            return;
        }
        answer(c, &req);
        return;
    }
}

static void on_lingering(struct client *c)
{
    char drop[4096];
    for (;;) {
        ssize_t n = recv(c->fd, drop, sizeof(drop), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        c->lingered += n > 0 ? (size_t)n : 0;
        if (n <= 0 || c->lingered > LINGER_MAX_BYTES) {
            client_free(c);
            return;
        }
    }
}

static void on_event(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)fd;
    struct client *c = data;
    if (c->phase == WRITING) {
        if (events & (EPOLLERR | EPOLLHUP))
            client_free(c);
        else
            flush(c);
    } else if (c->phase == LINGERING) {
        on_lingering(c);
    } else {
        on_readable(c);
    }
}

/* At the cap a connection is still accepted (left in the queue, it would
 * wake the loop on every turn) and told 503 in one non-blocking send. */
static void refuse(struct fw_status_http *s, int fd)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 26\r\nConnection: close\r\n\r\n"
                               "too many status requests\r\n";
    ssize_t n = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    close(fd);
    s->refused++;
    int64_t now = fw_loop_now_ms();
    if (now - s->refused_logged_ms >= 10000) {
        fw_log(FW_LOG_WARN,
               "status_listen: %u connections open, the most allowed: %llu more turned away "
               "with 503",
               FW_STATUS_HTTP_CLIENTS, (unsigned long long)s->refused);
        s->refused_logged_ms = now;
        s->refused = 0;
    }
}

static void on_accept(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    (void)events;
    struct fw_status_http *s = data;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                fw_log_errno(FW_LOG_WARN, "status_listen: accept");
            return;
        }
        struct client *c = s->n_clients < FW_STATUS_HTTP_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            refuse(s, cfd);
            continue;
        }
        c->s = s;
        c->fd = cfd;
        c->phase = READING;
        c->deadline_ms = fw_loop_now_ms() + FW_STATUS_HTTP_READ_MS;
        fw_buf_init(&c->out);
        c->next = s->clients;
        if (s->clients)
            s->clients->prev = c;
        s->clients = c;
        s->n_clients++;
        if (fw_loop_add(loop, cfd, EPOLLIN, on_event, c) < 0)
            client_free(c);
    }
}

struct fw_status_http *fw_status_http_new(struct fw_loop *loop, const struct fw_config *cfg,
                                          fw_status_http_source_fn source, void *data)
{
    const struct fw_sock_addr *addr = &cfg->status_addr;
    const char *path =
        addr->family == AF_UNIX ? ((const struct sockaddr_un *)&addr->ss)->sun_path : NULL;
    char err[512];
    int made = path ? fw_dir_make_for(path) : 0;
    if (made < 0) {
        fw_log_errno(FW_LOG_ERR, "status_listen %s: creating its directory", path);
        return NULL;
    }
    struct fw_sock_file bound;
    int fd =
        fw_sock_listen(addr, 64, path ? cfg->status_listen_mode : -1, &bound, err, sizeof(err));
    if (fd < 0) {
        fw_log(FW_LOG_ERR, "status_listen: %s", err);
        return NULL;
    }
    /* As for a pool's socket: on the file bind() made, never on what a
     * rename may have put at the path since. */
    if (path && fw_sock_set_perms(path, &bound, -1, cfg->status_uid, cfg->status_gid, err,
                                  sizeof(err)) < 0) {
        fw_log(FW_LOG_ERR, "status_listen: %s", err);
        goto fail;
    }
    struct fw_status_http *s = calloc(1, sizeof(*s));
    if (!s || fw_loop_add(loop, fd, EPOLLIN, on_accept, s) < 0) {
        fw_log_errno(FW_LOG_ERR, "status_listen %s", addr->text);
        free(s);
        goto fail;
    }
    s->loop = loop;
    s->fd = fd;
    s->source = source;
    s->data = data;
    if (path)
        snprintf(s->unix_path, sizeof(s->unix_path), "%s", path);
    fw_log(FW_LOG_NOTICE, "status server listening on %s (/status, /metrics, /ping)", addr->text);
    return s;
fail:
    close(fd);
    if (path)
        unlink(path);
    return NULL;
}

void fw_status_http_tick(struct fw_status_http *s)
{
    if (!s)
        return;
    int64_t now = fw_loop_now_ms();
    struct client *c = s->clients;
    while (c) {
        struct client *next = c->next;
        if (now > c->deadline_ms) {
            if (c->phase == READING)
                fw_log(FW_LOG_DEBUG, "status_listen: a client sent no complete request in %d ms",
                       FW_STATUS_HTTP_READ_MS);
            client_free(c);
        }
        c = next;
    }
}

void fw_status_http_free(struct fw_status_http *s)
{
    if (!s)
        return;
    while (s->clients)
        client_free(s->clients);
    fw_loop_del(s->loop, s->fd);
    close(s->fd);
    if (s->unix_path[0])
        unlink(s->unix_path);
    free(s);
}

/* ---- the pages -------------------------------------------------------- */

int fw_status_http_page(const struct fw_httpreq *req, const struct fw_status_master *m,
                        struct fw_pool *const *pools, size_t n, const char **content_type,
                        const char **extra_headers, struct fw_buf *body)
{
    static const char text[] = "text/plain; charset=utf-8";
    bool status = strcmp(req->path, "/status") == 0, metrics = strcmp(req->path, "/metrics") == 0,
         ping = strcmp(req->path, "/ping") == 0;
    *content_type = text;
    *extra_headers = NULL;
    if (!status && !metrics && !ping) {
        fw_buf_puts(body, "404 Not Found: this server has /status, /status?json, /metrics and "
                          "/ping\n");
        return 404;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        *extra_headers = "Allow: GET, HEAD\r\n";
        fw_buf_printf(body, "405 Method Not Allowed: %s takes GET and HEAD\n", req->path);
        return 405;
    }
    if (ping) {
        if (fw_status_ping(body, pools, n))
            return 503;
        fw_buf_puts(body, "pong\n");
        return 200;
    }
    if (metrics) {
        bool om = req->accept_openmetrics || !req->accept_text_plain;
        *content_type = om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                           : "text/plain; version=0.0.4; charset=utf-8";
        fw_metrics_render(body, m, pools, n, om);
        return 200;
    }
    if (strcmp(req->query, "json") == 0) {
        *content_type = "application/json";
        fw_status_json(body, m, pools, n);
    } else if (!req->query[0]) {
        fw_status_text(body, m, pools, n);
    } else {
        fw_buf_puts(body, "404 Not Found: /status takes no query, or ?json\n");
        return 404;
    }
    return 200;
}
