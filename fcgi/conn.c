/* A FastCGI connection over our record codec (record.h): its life, and the
 * requests on it, one after the other; their streams are stream.c's. The
 * fd is closed in fw_conn_close and nowhere else. */
#include "config.h"

#include "conn.h"

#include "access.h"
#include "page.h"
#include "stream.h"
#include "lib/http.h"
#include "lib/log.h"
#include "pyhost/app.h"
#include "pyhost/callclock.h"
#include "pyhost/gateway.h"

#include <errno.h>
#include <fastcgi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Connections of this process, for its slot: a drained pool is idle once
 * its workers hold none (fcgiwsgi-ctl drain --wait). */
static atomic_uint open_conns;

unsigned fw_conn_open_count(void)
{
    return atomic_load(&open_conns);
}

struct fw_conn *fw_conn_new(int fd, const struct fw_conn_settings *s)
{
    struct fw_conn *c = malloc(sizeof(*c));
    if (!c) {
        close(fd);
        return NULL;
    }
    atomic_fetch_add(&open_conns, 1);
    c->fd = fd;
    c->used = false;
    fw_record_parser_init(&c->p, s->max_params_bytes, s->threads, s->threads);
    return c;
}

void fw_conn_close(struct fw_conn *c)
{
    fw_record_parser_free(&c->p);
    close(c->fd);
    free(c);
    atomic_fetch_sub(&open_conns, 1);
}

/* The web server may hand a kept connection its next request the moment
 * it has read END_REQUEST (HAProxy, and H2O when its pool is empty): if
 * that request is already here it is served, else the end of the stream
 * goes right behind the response, to be read with it. Closing a socket
 * with unread data would also reset it, and the peer lose what it had not
 * read yet. */
bool fw_conn_close_if_idle(struct fw_conn *c)
{
    char b;
    if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &(int){ 0 }, sizeof(int));
        return false;
    }
    /* The FIN joins a corked END_REQUEST (fw_conn_serve) in its segment. */
    shutdown(c->fd, SHUT_WR);
    fw_conn_close(c);
    return true;
}

int fw_conn_fd(const struct fw_conn *c)
{
    return c->fd;
}

bool fw_conn_mid_request(const struct fw_conn *c)
{
    return fw_record_mid_request(&c->p);
}

bool fw_conn_unused(const struct fw_conn *c)
{
    return !c->used;
}

struct fw_conn_thread *fw_conn_thread_new(const struct fw_conn_settings *s, struct fw_pythread *py)
{
    /* Its own zero pages (80 KiB, mostly the I/O buffers), not calloc's:
     * calloc zeroes heap memory by writing it, which in a worker forked
     * from a template copies those pages, and in any worker makes them
     * resident although a small request uses a few. */
    struct fw_conn_thread *t =
        mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED)
        return NULL;
    t->s = *s;
    t->py = py;
    atomic_store(&t->cur_fd, -1);
    return t;
}

void fw_conn_thread_free(struct fw_conn_thread *t)
{
    if (!t)
        return;
    fw_environ_free(&t->env);
    free(t->params);
    munmap(t, sizeof(*t));
}

void fw_conn_thread_publish_to(struct fw_conn_thread *t, struct fw_slot_request *r)
{
    t->slot_request = r;
}

void fw_conn_thread_log_to(struct fw_conn_thread *t, struct fw_access_thread *a)
{
    t->access = a;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The request's access log line, while its params are still there. */
static void log_access(struct fw_conn_thread *t)
{
    const char *mount = NULL;
    if (t->log_mounted && t->env.mount_index < t->s.n_mounts)
        mount = t->s.mounts[t->env.mount_index][0] ? t->s.mounts[t->env.mount_index] : "/";
    struct fw_access_request r = {
        .params = t->params,
        .n_params = t->c->p.n_params,
        .mount = mount,
        /* last_status and last_app_us are the metrics' (set on every path;
         * the app's time without its waits on the client); log_status
         * overrides them where the line knows better (the watchdog's 504). */
        .status = t->log_status ? t->log_status : t->last_status,
        .body_bytes = t->log_bytes,
        .app_us = (int64_t)t->last_app_us,
        .total_us = t->ended_us - t->began_us,
        .ended_mono_us = t->ended_us,
    };
    fw_access_log(t->access, &r);
}

/* REQUEST_URI's path: "http://user:pw@host/x?q" gives "/x". */
static size_t uri_path(const char *uri, const char **path)
{
    const char *p = uri;
    const char *scheme_end = strstr(p, "://");
    if (scheme_end && scheme_end < p + strcspn(p, "/?#")) {
        p = scheme_end + 3;
        p += strcspn(p, "/?#");
    }
    *path = p;
    return strcspn(p, "?#");
}

static void publish_request(struct fw_conn_thread *t)
{
    struct fw_slot_request *r = t->slot_request;
    if (!r)
        return;
    const char *path = "-";
    size_t path_len = 1;
    if (t->env.request_uri)
        path_len = uri_path(t->env.request_uri, &path);
    if (path_len >= sizeof(r->path))
        path_len = sizeof(r->path) - 1;
    uint32_t seq = atomic_load_explicit(&r->seq, memory_order_relaxed);
    atomic_store_explicit(&r->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    snprintf(r->method, sizeof(r->method), "%s", t->env.method[0] ? t->env.method : "-");
    memcpy(r->path, path, path_len);
    r->path[path_len] = '\0';
    atomic_store_explicit(&r->start_ms, fw_callclock_now_ms(), memory_order_relaxed);
    atomic_store_explicit(&r->seq, seq + 2, memory_order_release);
}

const char *fw_conn_uri(const struct fw_conn_thread *t)
{
    return t->uri;
}

/* ---- requests ---------------------------------------------------------- */

/* Method and URI for log lines. The log escapes control bytes in any line;
 * here the backslash is escaped too, so that a URI reads back from the log
 * unambiguously (a literal "\x0d" sent by a peer is "\x5cx0d"). */
static void set_uri_for_log(struct fw_conn_thread *t)
{
    const char *parts[2] = { t->env.method[0] ? t->env.method : "-",
                             t->env.request_uri ? t->env.request_uri : "-" };
    size_t o = 0, cap = sizeof(t->uri) - 5;
    for (int k = 0; k < 2 && o < cap; k++) {
        if (k)
            t->uri[o++] = ' ';
        for (const unsigned char *s = (const unsigned char *)parts[k]; *s && o < cap; s++) {
            if (*s < 0x20 || *s == 0x7f || *s == '\\')
                o += (size_t)snprintf(t->uri + o, 5, "\\x%02x", *s);
            else
                t->uri[o++] = (char)*s;
        }
    }
    t->uri[o] = '\0';
}

static void respond_error(struct fw_conn_thread *t, int status)
{
    char buf[512];
    size_t n = fw_http_error_response(status, buf, sizeof(buf));
    const char *body = memmem(buf, n, "\r\n\r\n", 4);
    t->log_status = status;
    t->log_bytes = body ? n - (size_t)(body + 4 - buf) : 0;
    fw_stream_write(t, buf, n);
}

/* The params the parser holds whole, as pairs in t->params: all of them
 * once they are complete, those before the cut when they were too large. */
static int collect_params(struct fw_conn_thread *t)
{
    const struct fw_record_parser *p = &t->c->p;
    if (p->n_params > t->cap_params) {
        size_t cap = t->cap_params ? t->cap_params : 64;
        while (cap < p->n_params)
            cap *= 2;
        struct fw_param *np = realloc(t->params, cap * sizeof(*np));
        if (!np)
            return -1;
        t->params = np;
        t->cap_params = cap;
    }
    for (size_t i = 0; i < p->n_params; i++) {
        struct fw_param *q = &t->params[i];
        fw_record_param(p, i, &q->name, &q->name_len, &q->value, &q->value_len);
    }
    return 0;
}

static int build_environ(struct fw_conn_thread *t)
{
    if (collect_params(t) < 0)
        return 503;
    return fw_environ_build(&t->env, t->params, t->c->p.n_params, t->s.mounts, t->s.n_mounts);
}

/* A request refused (431) before its params were complete has a line too,
 * from what had arrived whole: "-" where the method or the URI was cut. */
static void log_refused(struct fw_conn_thread *t)
{
    struct fw_access_request r = {
        .params = t->params,
        .n_params = collect_params(t) < 0 ? 0 : t->c->p.n_params,
        .status = t->log_status,
        .body_bytes = t->log_bytes,
        .total_us = now_us() - t->c->begin_us,
    };
    fw_access_log(t->access, &r);
}

static bool is_path(const struct fw_conn_thread *t, const char *want)
{
    if (!want || !t->env.request_uri)
        return false;
    const char *path;
    size_t n = uri_path(t->env.request_uri, &path);
    return n == strlen(want) && memcmp(path, want, n) == 0;
}

/* ping_path (php-fpm's ping.path): the worker is up and reads requests;
 * no app is asked, so a broken or busy app does not answer for it. */
static bool is_ping(const struct fw_conn_thread *t)
{
    return is_path(t, t->s.ping_path);
}

/* status_path: the page the master published for the pool, copied under
 * its seqlock (fcgi/page.h), its lengths checked against the mapping:
 * the text, or with a query of "json" the JSON. 503 while none is there. */
static int answer_status(struct fw_conn_thread *t)
{
    const struct fw_page *pg = t->s.page;
    const char *q = t->env.request_uri ? strchr(t->env.request_uri, '?') : NULL;
    bool json = q && strcmp(q + 1, "json") == 0;
    char *copy = pg ? malloc(FW_PAGE_DATA_MAX) : NULL;
    size_t len = 0;
    bool got = false;
    for (int tries = 0; copy && !got && tries < 3; tries++) {
        uint32_t before = atomic_load_explicit(&pg->seq, memory_order_acquire);
        if (!before || (before & 1))
            continue;
        size_t tl = atomic_load_explicit(&pg->text_len, memory_order_relaxed),
               jl = atomic_load_explicit(&pg->json_len, memory_order_relaxed);
        if (tl > FW_PAGE_DATA_MAX || jl > FW_PAGE_DATA_MAX - tl)
            continue;
        len = json ? jl : tl;
        memcpy(copy, pg->data + (json ? tl : 0), len);
        atomic_thread_fence(memory_order_acquire);
        got = atomic_load_explicit(&pg->seq, memory_order_relaxed) == before;
    }
    char head[160];
    int status = got ? 200 : 503;
    if (!got) {
        static const char none[] = "the pool's status is not published yet\n";
        len = sizeof(none) - 1;
        if (copy)
            memcpy(copy, none, len);
    }
    int n =
        snprintf(head, sizeof(head),
                 "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Cache-Control: no-store\r\n\r\n",
                 status, got ? "OK" : "Service Unavailable",
                 got && json ? "application/json" : "text/plain; charset=utf-8", copy ? len : 0);
    fw_stream_write(t, head, (size_t)n);
    if (copy && !t->env.is_head)
        fw_stream_write(t, copy, len);
    free(copy);
    return status;
}

/* Returns true if the input is in sync: the connection may be kept. */
static bool handle(struct fw_conn_thread *t)
{
    int status = build_environ(t);
    set_uri_for_log(t);
    if (!status)
        publish_request(t);
    if (status) {
        fw_log(status == 404 ? FW_LOG_INFO : FW_LOG_WARN, "%s: %s: %s; answered %d", t->uri,
               status == 404 ? "not found" : "bad request", t->env.error ? t->env.error : "-",
               status);
        respond_error(t, status);
        t->last_status = status;
        return fw_stream_drain(t);
    }
    if (is_path(t, t->s.status_path)) {
        t->last_status = answer_status(t);
        return fw_stream_drain(t);
    }
    if (is_ping(t)) {
        static const char pong[] = "Status: 200 OK\r\nContent-Type: text/plain\r\n"
                                   "Content-Length: 5\r\nCache-Control: no-store\r\n\r\npong\n";
        fw_stream_write(t, pong, sizeof(pong) - 1 - (t->env.is_head ? 5 : 0));
        t->log_bytes = t->env.is_head ? 0 : 5;
        t->last_status = 200;
        return fw_stream_drain(t);
    }
    if (t->s.max_body_bytes && t->env.content_length >= 0 &&
        (uint64_t)t->env.content_length > t->s.max_body_bytes) {
        fw_log(FW_LOG_WARN, "%s: body of %lld bytes exceeds the limit of %llu; answered 413",
               t->uri, (long long)t->env.content_length, (unsigned long long)t->s.max_body_bytes);
        respond_error(t, 413);
        t->last_status = 413;
        return false;
    }
    int app_status = 500;
    t->log_mounted = true;
    struct fw_app *app =
        t->s.find_app(t->s.app_ctx, t->env.mount_index, t->env.script_filename, &app_status);
    if (!app) {
        respond_error(t, app_status);
        t->last_status = app_status;
        return fw_stream_drain(t);
    }
    struct fw_gw_request gr = {
        .params = t->env.params,
        .n_params = t->env.n_params,
        .content_length = t->env.content_length,
        .max_body_bytes = t->s.max_body_bytes,
        .is_head = t->env.is_head,
        .https = t->env.https,
        .multithread = t->s.threads > 1,
        .multiprocess = t->s.multiprocess,
        .pool = t->s.pool,
        .generation = t->s.generation,
        .uri_for_log = t->uri,
        .clock = &t->clock,
    };
    fw_stream_io(t, &gr.io);
    int64_t began_us = now_us();
    int rc = fw_gateway_call(app, t->py, &gr);
    int64_t app_us = now_us() - began_us - atomic_load(&t->clock.io_ms) * 1000;
    t->last_app_us = app_us > 0 ? (uint64_t)app_us : 0;
    t->last_status = gr.status;
    t->log_bytes = gr.body_bytes_sent;
    if (rc < 0)
        return false;
    return fw_stream_drain(t);
}

/* Every close of a connection this thread holds: what is left in the
 * thread's input buffer was that connection's, and must never be read as
 * the start of the next one. */
static enum fw_conn_state drop(struct fw_conn_thread *t, struct fw_conn *c, bool linger)
{
    t->in_pos = t->in_len = 0;
    atomic_store(&t->cur_fd, -1);
    if (linger)
        fw_stream_linger_close(c);
    else
        fw_conn_close(c);
    return FW_CONN_CLOSED;
}

/* A request ended by the web server's ABORT_REQUEST: it still wants our
 * END_REQUEST, then the connection carries on. */
static enum fw_conn_state end_aborted(struct fw_conn_thread *t)
{
    struct fw_conn *c = t->c;
    unsigned char end[16];
    fw_record_end_request(end, fw_stream_request_id(c), 0, FCGI_REQUEST_COMPLETE);
    bool keep = c->p.keep_conn;
    fw_record_parser_next(&c->p, KEEP_PARAMS_BYTES);
    if (fw_stream_send(t, c, end, sizeof(end)) < 0 || !keep)
        return drop(t, c, false);
    return t->in_pos < t->in_len ? FW_CONN_READY : FW_CONN_WAIT;
}

static void begin_io(struct fw_conn_thread *t, struct fw_conn *c)
{
    t->c = c;
    t->stdin_data = NULL;
    t->stdin_len = 0;
    t->stdin_done = t->peer_aborted = t->in_failed = t->out_failed = t->cut = false;
    t->out_len = 0;
    t->abort_checked_ms = 0;
    atomic_store(&t->io_owner, IO_FREE);
}

enum fw_conn_state fw_conn_pump(struct fw_conn_thread *t, struct fw_conn *c)
{
    begin_io(t, c);
    t->uri[0] = '\0';
    for (;;) {
        if (t->in_pos == t->in_len) {
            ssize_t n = fw_stream_fill(t, c, false);
            if (n == -2)
                return FW_CONN_WAIT;
            if (n <= 0) {
                if (fw_record_mid_request(&c->p))
                    fw_log(FW_LOG_INFO, "connection %s in the middle of a request",
                           n == 0 ? "closed by the web server" : strerror(errno));
                return drop(t, c, false);
            }
        }
        struct fw_record_event ev;
        t->in_pos += fw_record_parse(&c->p, t->in + t->in_pos, t->in_len - t->in_pos, &ev);
        switch (ev.kind) {
        case FW_RECORD_NONE: break;
        case FW_RECORD_BEGIN:
            if (t->access)
                c->begin_us = now_us();
            break;
        case FW_RECORD_PARAMS_DONE: return FW_CONN_READY;
        case FW_RECORD_REPLY:
            if (ev.error)
                fw_log(FW_LOG_WARN, "FastCGI request refused: %s", ev.error);
            if (fw_stream_send(t, c, ev.data, ev.len) < 0 || ev.close_after)
                return drop(t, c, false);
            break;
        case FW_RECORD_ABORT:
            fw_log(FW_LOG_INFO, "a request was aborted by the web server before it began");
            if (end_aborted(t) == FW_CONN_CLOSED)
                return FW_CONN_CLOSED;
            break;
        case FW_RECORD_TOO_LARGE:
            fw_log(FW_LOG_WARN, "params exceed the limit of %llu bytes; answered 431",
                   (unsigned long long)t->s.max_params_bytes);
            respond_error(t, 431);
            fw_stream_flush(t, true);
            if (t->access)
                log_refused(t);
            return drop(t, c, true);
        default:
            fw_stream_protocol_error(t, ev.error ? ev.error : "unexpected record before the params");
            return drop(t, c, false);
        }
    }
}

enum fw_conn_state fw_conn_serve(struct fw_conn_thread *t, struct fw_conn *c)
{
    begin_io(t, c);
    t->abort_checked_ms = fw_callclock_now_ms();
    atomic_store(&t->output_started, false);
    atomic_store(&t->cur_id, fw_stream_request_id(c));
    atomic_store(&t->cur_fd, c->fd);
    t->last_status = 0;
    t->last_app_us = 0;
    t->began_us = now_us();
    if (t->access) {
        t->log_status = 0;
        t->log_bytes = 0;
        t->log_mounted = false;
    }

    bool in_sync = handle(t);
    if (t->slot_request)
        atomic_store(&t->slot_request->start_ms, 0);
    if (atomic_load(&t->io_owner) == IO_TAKEN) {
        /* fw_conn_emergency answered for us, or cut the connection. */
        t->ended_us = now_us();
        if (t->access) {
            t->log_status = 504;
            log_access(t);
        }
        atomic_store(&t->cur_fd, -1);
        return drop(t, c, false);
    }
    /* A request that took a while may have been aborted meanwhile: then the
     * web server wants END_REQUEST alone. */
    if (in_sync && !t->cut && !t->out_failed)
        fw_stream_check_abort(t);
    enum fw_conn_state st;
    /* The response's last bytes go out before its access log line, whose
     * total time then includes them; the chain below acts on the result as
     * it did when the flush was part of it. */
    int flushed = 0;
    /* A stopping worker closes a kept connection behind this END_REQUEST.
     * Sent apart, the FIN could reach the web server after it had put the
     * connection back in its cache and written the next request on it
     * (nginx: "upstream prematurely closed", a 502 for a POST, and the
     * host out of rotation for fail_timeout). Corked, END_REQUEST and the
     * FIN leave in one segment: the server sees them together and never
     * reuses the connection. The web server sends nothing before it has
     * END_REQUEST, so nothing can be in flight. Unix sockets have no cork
     * (the setsockopt fails); their EOF follows the data within a call. */
    bool closes = t->s.stopping && atomic_load(t->s.stopping) && in_sync && c->p.keep_conn &&
                  !t->in_failed && !t->cut && !t->out_failed && !t->peer_aborted &&
                  t->in_pos == t->in_len;
    if (closes)
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &(int){ 1 }, sizeof(int));
    if (!t->cut && !t->out_failed && !t->peer_aborted)
        flushed = fw_stream_flush(t, true);
    t->ended_us = now_us();
    if (t->access)
        log_access(t);
    if (t->cut || t->out_failed) {
        st = drop(t, c, false);
    } else if (t->peer_aborted) {
        t->out_len = 0;
        st = end_aborted(t);
    } else if (flushed < 0 || !in_sync || !c->p.keep_conn || t->in_failed) {
        /* in_failed: what came after the body cannot be read (a protocol
         * error seen while looking for ABORT_REQUEST). */
        st = drop(t, c, !in_sync && !t->out_failed && !t->in_failed);
    } else if (closes || (t->s.stopping && atomic_load(t->s.stopping) && t->in_pos == t->in_len)) {
        fw_record_parser_next(&c->p, KEEP_PARAMS_BYTES);
        st = fw_conn_close_if_idle(c) ? FW_CONN_CLOSED : FW_CONN_READY;
    } else {
        fw_record_parser_next(&c->p, KEEP_PARAMS_BYTES);
        st = t->in_pos < t->in_len ? FW_CONN_READY : FW_CONN_WAIT;
    }
    atomic_store(&t->cur_fd, -1);
    return st;
}

/* Another thread writes on the connection while the request thread is stuck
 * in the app: only safe because nothing was written yet and the process
 * exits right after, before the stuck thread can write anything. */
void fw_conn_emergency(struct fw_conn_thread *t, int status)
{
    int fd = atomic_load(&t->cur_fd);
    if (fd < 0)
        return;
    int expected = IO_FREE;
    bool taken = atomic_compare_exchange_strong(&t->io_owner, &expected, IO_TAKEN);
    if (!taken || atomic_load(&t->output_started)) {
        /* Mid-write, or part of a response is out: only a cut is honest. */
        atomic_store(&t->io_owner, IO_TAKEN);
        shutdown(fd, SHUT_RDWR);
        return;
    }
    unsigned id = atomic_load(&t->cur_id);
    char body[512];
    size_t n = fw_http_error_response(status, body, sizeof(body));
    unsigned char out[8 + 512 + 8 + FW_RECORD_END_LEN];
    unsigned pad = fw_record_header(out, FCGI_STDOUT, id, n);
    memcpy(out + 8, body, n);
    memset(out + 8 + n, 0, pad);
    fw_record_end(out + 8 + n + pad, id, 0);
    if (write(fd, out, 8 + n + pad + FW_RECORD_END_LEN) < 0) {
        /* The web server is gone too: nothing more to do. */
    }
    /* The web server must not send another request on a connection whose
     * thread is stuck; on a kept one, nginx retries a broken cached
     * connection on a new one. */
    shutdown(fd, SHUT_RDWR);
}

void fw_conn_last_request(const struct fw_conn_thread *t, int *status, uint64_t *app_us,
                          int64_t *busy_us)
{
    *status = t->last_status;
    *app_us = t->last_app_us;
    *busy_us = t->ended_us - t->began_us;
}

struct fw_callclock *fw_conn_clock(struct fw_conn_thread *t)
{
    return &t->clock;
}
