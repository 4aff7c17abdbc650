/* A FastCGI connection over our record codec (record.h). The fd is closed
 * in fw_conn_close and nowhere else. Sockets are non-blocking: every wait
 * is a poll() with client_timeout, so a signal never fails a request and a
 * stalled peer holds a thread for a bounded time. */
#include "config.h"

#include "conn.h"

#include "environ.h"
#include "record.h"
#include "lib/http.h"
#include "lib/log.h"
#include "pyhost/app.h"
#include "pyhost/callclock.h"
#include "pyhost/gateway.h"

#include <errno.h>
#include <fastcgi.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define IN_CAP (64 * 1024)
#define OUT_CAP 16384
/* Buffered STDOUT content: the rest of OUT_CAP holds its header, its
 * padding and the records that end the response. */
#define OUT_DATA_MAX (OUT_CAP - FW_RECORD_HEADER_LEN - 8 - FW_RECORD_END_LEN)
/* Writes this large go straight from the app's buffer, many records per
 * writev(). */
#define DIRECT_MIN 16384
#define RECORDS_PER_WRITEV 16
/* Unread body up to this much is read and dropped so the connection can be
 * kept; more than that and the connection is closed instead. */
#define DRAIN_MAX_BYTES (1024 * 1024)
#define LINGER_MS 2000
/* What an idle kept connection may keep of a request's params buffer. */
#define KEEP_PARAMS_BYTES 16384
/* A streaming response looks for the web server's ABORT_REQUEST at most
 * this often. */
#define ABORT_CHECK_MS 50

struct fw_conn {
    int fd;
    bool used; /* a byte has arrived */
    struct fw_record_parser p;
};

/* The app's I/O and fw_conn_emergency exclude each other through io_owner:
 * once the emergency answer took the connection, the app's thread (still
 * stuck, perhaps about to wake) can never write on it again. */
enum { IO_FREE, IO_BUSY, IO_TAKEN };

struct fw_conn_thread {
    struct fw_conn_settings s;
    struct fw_pythread *py;
    struct fw_environ env;
    struct fw_param *params;
    size_t cap_params;

    struct fw_conn *c; /* the connection being served */
    atomic_int cur_fd; /* for fw_conn_emergency, from another thread */
    atomic_uint cur_id;
    atomic_bool output_started;
    atomic_int io_owner; /* IO_* below: who may touch the connection now */
    struct fw_callclock clock;

    /* this request's input */
    const unsigned char *stdin_data; /* STDIN bytes not yet given to the app */
    size_t stdin_len;
    bool stdin_done;
    bool peer_aborted; /* ABORT_REQUEST: the web server wants no more */
    bool in_failed;    /* the connection cannot be read any more */
    bool out_failed;   /* a write failed: never append END_REQUEST */
    bool cut;          /* we cut the response short (abort_out) */
    int64_t abort_checked_ms;

    unsigned char in[IN_CAP];
    size_t in_pos, in_len;
    unsigned char out[OUT_CAP]; /* a STDOUT header, then out_len bytes of content */
    size_t out_len;
    char uri[256];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct fw_conn *fw_conn_new(int fd, const struct fw_conn_settings *s)
{
    struct fw_conn *c = malloc(sizeof(*c));
    if (!c) {
        close(fd);
        return NULL;
    }
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
    if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
        return false;
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
    struct fw_conn_thread *t = calloc(1, sizeof(*t));
    if (!t)
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
    free(t);
}

const char *fw_conn_uri(const struct fw_conn_thread *t)
{
    return t->uri;
}

/* ---- waiting and raw I/O ------------------------------------------------ */

/* Waits for events on fd, up to client_timeout; false on timeout. */
static bool wait_fd(const struct fw_conn_thread *t, int fd, short events)
{
    int64_t timeout = (int64_t)t->s.client_timeout_ms;
    int64_t deadline = now_ms() + timeout;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        /* client_timeout 0: wait for ever */
        int ms = t->s.client_timeout_ms == 0 ? -1 : timeout > INT32_MAX ? INT32_MAX : (int)timeout;
        int rc = poll(&p, 1, ms);
        if (rc > 0)
            return true;
        if (rc < 0 && errno != EINTR)
            return false;
        timeout = deadline - now_ms();
        if (t->s.client_timeout_ms && timeout <= 0) {
            errno = ETIMEDOUT;
            return false;
        }
    }
}

/* Reads more into t->in once what is there is consumed. Returns the count,
 * 0 at EOF, -1 on error or timeout, -2 when it would block (!block). */
static ssize_t fill(struct fw_conn_thread *t, struct fw_conn *c, bool block)
{
    if (t->in_pos == t->in_len) {
        t->in_pos = t->in_len = 0;
    } else if (t->in_len == IN_CAP) {
        memmove(t->in, t->in + t->in_pos, t->in_len - t->in_pos);
        t->in_len -= t->in_pos;
        t->in_pos = 0;
    }
    for (;;) {
        ssize_t n = read(c->fd, t->in + t->in_len, IN_CAP - t->in_len);
        if (n > 0) {
            t->in_len += (size_t)n;
            c->used = true;
            return n;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (!block)
            return -2;
        if (!wait_fd(t, c->fd, POLLIN))
            return -1;
    }
}

static int writev_all(struct fw_conn_thread *t, struct fw_conn *c, struct iovec *v, int n)
{
    while (n > 0) {
        ssize_t w = writev(c->fd, v, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(t, c->fd, POLLOUT))
                continue;
            /* Part of a record may be out: nothing may follow it. */
            t->out_failed = true;
            return -1;
        }
        while (n > 0 && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (char *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int send_all(struct fw_conn_thread *t, struct fw_conn *c, const void *buf, size_t len)
{
    struct iovec v = { .iov_base = (void *)buf, .iov_len = len };
    return writev_all(t, c, &v, 1);
}

/* Closing with unread data makes the kernel send RST, and the web server may
 * then lose the response it has not read yet: half-close and read until it
 * closes too, within a bound (what nginx calls lingering close). */
static void linger_close(struct fw_conn *c)
{
    shutdown(c->fd, SHUT_WR);
    int64_t deadline = now_ms() + LINGER_MS;
    char buf[4096];
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        ssize_t got = read(c->fd, buf, sizeof(buf));
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0)
            break;
    }
    fw_conn_close(c);
}

/* ---- output ----------------------------------------------------------- */

static unsigned request_id(const struct fw_conn *c)
{
    return c->p.request_id;
}

/* The buffered content as one STDOUT record (header in front, zero
 * padding behind), then with_end the records that end the response. */
static int flush_out(struct fw_conn_thread *t, bool with_end)
{
    struct fw_conn *c = t->c;
    size_t total = 0;
    if (t->out_len) {
        unsigned pad = fw_record_header(t->out, FCGI_STDOUT, request_id(c), t->out_len);
        memset(t->out + FW_RECORD_HEADER_LEN + t->out_len, 0, pad);
        total = FW_RECORD_HEADER_LEN + t->out_len + pad;
        t->out_len = 0;
    }
    if (with_end) {
        fw_record_end(t->out + total, request_id(c), 0);
        total += FW_RECORD_END_LEN;
    }
    return total ? send_all(t, c, t->out, total) : 0;
}

/* Large bodies skip the buffer: 64 KiB records written from the app's
 * buffer, many per writev() (a 1 MiB response in one or two calls). */
static int write_direct(struct fw_conn_thread *t, const char *buf, size_t len)
{
    static const unsigned char zeros[8];
    unsigned char heads[RECORDS_PER_WRITEV][FW_RECORD_HEADER_LEN];
    struct iovec iov[3 * RECORDS_PER_WRITEV + 1];
    while (len > 0) {
        int n = 0;
        if (t->out_len) {
            unsigned pad = fw_record_header(t->out, FCGI_STDOUT, request_id(t->c), t->out_len);
            memset(t->out + FW_RECORD_HEADER_LEN + t->out_len, 0, pad);
            iov[n++] = (struct iovec){ t->out, FW_RECORD_HEADER_LEN + t->out_len + pad };
            t->out_len = 0;
        }
        for (int r = 0; r < RECORDS_PER_WRITEV && len > 0; r++) {
            size_t clen = len < FW_RECORD_STDOUT_MAX ? len : FW_RECORD_STDOUT_MAX;
            unsigned pad = fw_record_header(heads[r], FCGI_STDOUT, request_id(t->c), clen);
            iov[n++] = (struct iovec){ heads[r], FW_RECORD_HEADER_LEN };
            iov[n++] = (struct iovec){ (void *)buf, clen };
            if (pad)
                iov[n++] = (struct iovec){ (void *)zeros, pad };
            buf += clen;
            len -= clen;
        }
        if (writev_all(t, t->c, iov, n) < 0)
            return -1;
    }
    return 0;
}

static bool output_dead(const struct fw_conn_thread *t)
{
    return t->out_failed || t->cut || t->peer_aborted;
}

static int write_out(void *ctx, const char *buf, size_t len)
{
    struct fw_conn_thread *t = ctx;
    if (output_dead(t))
        return -1;
    atomic_store(&t->output_started, true);
    if (len >= DIRECT_MIN)
        return write_direct(t, buf, len);
    while (len > 0) {
        size_t room = OUT_DATA_MAX - t->out_len;
        if (room == 0) {
            if (flush_out(t, false) < 0)
                return -1;
            room = OUT_DATA_MAX;
        }
        size_t take = len < room ? len : room;
        memcpy(t->out + FW_RECORD_HEADER_LEN + t->out_len, buf, take);
        t->out_len += take;
        buf += take;
        len -= take;
    }
    return 0;
}

static int write_buffered(void *ctx, const char *buf, size_t len)
{
    struct fw_conn_thread *t = ctx;
    if (output_dead(t) || len > OUT_DATA_MAX - t->out_len)
        return 1;
    atomic_store(&t->output_started, true);
    memcpy(t->out + FW_RECORD_HEADER_LEN + t->out_len, buf, len);
    t->out_len += len;
    return 0;
}

/* ---- input ------------------------------------------------------------- */

static void log_protocol_error(const struct fw_conn_thread *t, const char *what)
{
    fw_log(FW_LOG_WARN, "%s: FastCGI protocol error: %s; connection closed",
           t->uri[0] ? t->uri : "-", what);
}

/* Parses the next buffered bytes of a request under way and applies what
 * they say to its input state: body bytes pending for the app, the end of
 * the body, ABORT_REQUEST, a management answer sent; anything else makes
 * the input unusable (what names the place, for the log). */
static enum fw_record_event_kind request_event(struct fw_conn_thread *t, const char *what)
{
    struct fw_conn *c = t->c;
    struct fw_record_event ev;
    t->in_pos += fw_record_parse(&c->p, t->in + t->in_pos, t->in_len - t->in_pos, &ev);
    switch (ev.kind) {
    case FW_RECORD_NONE: break;
    case FW_RECORD_STDIN:
        t->stdin_data = ev.data;
        t->stdin_len = ev.len;
        break;
    case FW_RECORD_STDIN_END: t->stdin_done = true; break;
    case FW_RECORD_REPLY:
        if (ev.error)
            fw_log(FW_LOG_WARN, "%s: FastCGI request refused: %s", t->uri, ev.error);
        if (send_all(t, c, ev.data, ev.len) < 0)
            t->in_failed = true;
        break;
    case FW_RECORD_ABORT:
        fw_log(FW_LOG_INFO, "%s: the web server aborted the request", t->uri);
        t->peer_aborted = true;
        break;
    default:
        log_protocol_error(t, ev.error ? ev.error : what);
        t->in_failed = true;
        break;
    }
    return ev.kind;
}

/* The next body bytes into buf (NULL: dropped), up to len; 0 at the end of
 * the body, -1 when it cannot be read (error, timeout, ABORT_REQUEST). */
static ssize_t read_stdin(struct fw_conn_thread *t, char *buf, size_t len)
{
    struct fw_conn *c = t->c;
    for (;;) {
        if (t->stdin_len > 0) {
            size_t n = len < t->stdin_len ? len : t->stdin_len;
            if (buf)
                memcpy(buf, t->stdin_data, n);
            t->stdin_data += n;
            t->stdin_len -= n;
            return (ssize_t)n;
        }
        if (t->stdin_done)
            return 0;
        if (t->peer_aborted || t->in_failed)
            return -1;
        if (t->in_pos == t->in_len) {
            ssize_t n = fill(t, c, true);
            if (n <= 0) {
                fw_log(FW_LOG_INFO, "%s: reading the request body: %s", t->uri,
                       n == 0 ? "the web server closed the connection" : strerror(errno));
                t->in_failed = true;
                return -1;
            }
        }
        request_event(t, "unexpected record in the body");
    }
}

static ssize_t read_body(void *ctx, char *buf, size_t len)
{
    struct fw_conn_thread *t = ctx;
    /* wsgi.input takes a short count for the end of the body. */
    size_t got = 0;
    while (got < len) {
        ssize_t n = read_stdin(t, buf + got, len - got);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* While the app runs, the web server may send ABORT_REQUEST (its client
 * went away): look without blocking, at most every ABORT_CHECK_MS (a fast
 * request never looks). What stands before it in the stream is read too,
 * unless it is body the app has not read: that stays for the app. */
static void check_abort(struct fw_conn_thread *t)
{
    if (t->peer_aborted || t->in_failed || t->stdin_len > 0)
        return;
    int64_t now = now_ms();
    if (now - t->abort_checked_ms < ABORT_CHECK_MS)
        return;
    t->abort_checked_ms = now;
    /* One read per look: a peer that keeps sending (GET_VALUES after
     * GET_VALUES) cannot hold the response up. */
    bool filled = false;
    for (;;) {
        if (t->in_pos == t->in_len) {
            if (filled || fill(t, t->c, false) <= 0)
                return; /* nothing there; a closed peer shows in the next write */
            filled = true;
        }
        /* A web server that pipelines sends its next request before ours
         * ended: it waits, unread, for its turn. */
        if (t->stdin_done && fw_record_at_boundary(&t->c->p) &&
            (t->in_len - t->in_pos < 2 || t->in[t->in_pos + 1] == FCGI_BEGIN_REQUEST))
            return;
        if (request_event(t, "a record during the response") == FW_RECORD_STDIN ||
            t->peer_aborted || t->in_failed)
            return;
    }
}

static int flush_body(void *ctx)
{
    struct fw_conn_thread *t = ctx;
    check_abort(t);
    if (output_dead(t))
        return -1;
    return flush_out(t, false);
}

/* An error after the headers went out: the web server must see a broken
 * response, not a whole one, and FastCGI has no record that says so.
 * A server that keeps connections expects END_REQUEST, so closing before it
 * is an error there (nginx: "upstream prematurely closed"). One that does
 * not (nginx 1.22 without fastcgi_keep_conn) takes a bare EOF for the end
 * of a whole response: a short body then leaves its client waiting for the
 * missing bytes, a chunked one looks complete. For it, a response that
 * falls short of its Content-Length is ended properly (the server sees it
 * short), and any other is ended with a record of no FastCGI version, which
 * every server treats as an upstream error and cuts its client. */
static void abort_out(void *ctx, bool length_declared)
{
    struct fw_conn_thread *t = ctx;
    if (t->cut)
        return;
    t->cut = true;
    bool can_write = !t->out_failed && !t->peer_aborted;
    if (can_write && !t->c->p.keep_conn) {
        if (length_declared) {
            flush_out(t, true);
        } else if (flush_out(t, false) == 0) {
            static const unsigned char broken[FW_RECORD_HEADER_LEN] = { 0 };
            send_all(t, t->c, broken, sizeof(broken));
        }
    }
    t->out_len = 0;
    shutdown(t->c->fd, SHUT_RDWR);
}

/* ---- the app's side: struct fw_gw_io ---------------------------------- */

static bool claim(struct fw_conn_thread *t)
{
    int expected = IO_FREE;
    return atomic_compare_exchange_strong(&t->io_owner, &expected, IO_BUSY);
}

static void release(struct fw_conn_thread *t)
{
    int expected = IO_BUSY;
    atomic_compare_exchange_strong(&t->io_owner, &expected, IO_FREE);
}

static ssize_t io_read(void *ctx, char *buf, size_t len)
{
    if (!claim(ctx))
        return -1;
    ssize_t n = read_body(ctx, buf, len);
    release(ctx);
    return n;
}

static int io_write(void *ctx, const char *buf, size_t len)
{
    if (!claim(ctx))
        return -1;
    int rc = write_out(ctx, buf, len);
    release(ctx);
    return rc;
}

static int io_write_buffered(void *ctx, const char *buf, size_t len)
{
    if (!claim(ctx))
        return 1;
    int rc = write_buffered(ctx, buf, len);
    release(ctx);
    return rc;
}

static int io_flush(void *ctx)
{
    if (!claim(ctx))
        return -1;
    int rc = flush_body(ctx);
    release(ctx);
    return rc;
}

static void io_abort(void *ctx, bool length_declared)
{
    if (!claim(ctx))
        return;
    abort_out(ctx, length_declared);
    release(ctx);
}

/* Reads the rest of the body the app did not want. True if the stream is at
 * its end (the connection is in sync for another request). */
static bool drain_body(struct fw_conn_thread *t)
{
    size_t drained = 0;
    t->stdin_len = 0;
    while (!t->stdin_done) {
        if (drained >= DRAIN_MAX_BYTES)
            return false;
        ssize_t n = read_stdin(t, NULL, 65536);
        if (n < 0)
            return false;
        drained += (size_t)n;
    }
    return true;
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
    write_out(t, buf, n);
}

static int build_environ(struct fw_conn_thread *t)
{
    const struct fw_record_parser *p = &t->c->p;
    if (p->n_params > t->cap_params) {
        size_t cap = t->cap_params ? t->cap_params : 64;
        while (cap < p->n_params)
            cap *= 2;
        struct fw_param *np = realloc(t->params, cap * sizeof(*np));
        if (!np)
            return 503;
        t->params = np;
        t->cap_params = cap;
    }
    for (size_t i = 0; i < p->n_params; i++) {
        struct fw_param *q = &t->params[i];
        fw_record_param(p, i, &q->name, &q->name_len, &q->value, &q->value_len);
    }
    return fw_environ_build(&t->env, t->params, p->n_params, t->s.mounts, t->s.n_mounts);
}

/* Returns true if the input is in sync: the connection may be kept. */
static bool handle(struct fw_conn_thread *t)
{
    int status = build_environ(t);
    set_uri_for_log(t);
    if (status) {
        fw_log(status == 404 ? FW_LOG_INFO : FW_LOG_WARN, "%s: %s: %s; answered %d", t->uri,
               status == 404 ? "not found" : "bad request", t->env.error ? t->env.error : "-",
               status);
        respond_error(t, status);
        return drain_body(t);
    }
    if (t->s.max_body_bytes && t->env.content_length >= 0 &&
        (uint64_t)t->env.content_length > t->s.max_body_bytes) {
        fw_log(FW_LOG_WARN, "%s: body of %lld bytes exceeds the limit of %llu; answered 413",
               t->uri, (long long)t->env.content_length, (unsigned long long)t->s.max_body_bytes);
        respond_error(t, 413);
        return false;
    }
    int app_status = 500;
    struct fw_app *app =
        t->s.find_app(t->s.app_ctx, t->env.mount_index, t->env.script_filename, &app_status);
    if (!app) {
        respond_error(t, app_status);
        return drain_body(t);
    }
    struct fw_gw_request gr = {
        .params = t->env.params,
        .n_params = t->env.n_params,
        .io = { .ctx = t,
                .read = io_read,
                .write = io_write,
                .write_buffered = io_write_buffered,
                .flush = io_flush,
                .abort = io_abort },
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
    if (fw_gateway_call(app, t->py, &gr) < 0)
        return false;
    return drain_body(t);
}

/* Every close of a connection this thread holds: what is left in the
 * thread's input buffer was that connection's, and must never be read as
 * the start of the next one. */
static enum fw_conn_state drop(struct fw_conn_thread *t, struct fw_conn *c, bool linger)
{
    t->in_pos = t->in_len = 0;
    atomic_store(&t->cur_fd, -1);
    if (linger)
        linger_close(c);
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
    fw_record_end_request(end, request_id(c), 0, FCGI_REQUEST_COMPLETE);
    bool keep = c->p.keep_conn;
    fw_record_parser_next(&c->p, KEEP_PARAMS_BYTES);
    if (send_all(t, c, end, sizeof(end)) < 0 || !keep)
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
            ssize_t n = fill(t, c, false);
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
        case FW_RECORD_NONE:
        case FW_RECORD_BEGIN: break;
        case FW_RECORD_PARAMS_DONE: return FW_CONN_READY;
        case FW_RECORD_REPLY:
            if (ev.error)
                fw_log(FW_LOG_WARN, "FastCGI request refused: %s", ev.error);
            if (send_all(t, c, ev.data, ev.len) < 0 || ev.close_after)
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
            flush_out(t, true);
            return drop(t, c, true);
        default:
            log_protocol_error(t, ev.error ? ev.error : "unexpected record before the params");
            return drop(t, c, false);
        }
    }
}

enum fw_conn_state fw_conn_serve(struct fw_conn_thread *t, struct fw_conn *c)
{
    begin_io(t, c);
    t->abort_checked_ms = now_ms();
    atomic_store(&t->output_started, false);
    atomic_store(&t->cur_id, request_id(c));
    atomic_store(&t->cur_fd, c->fd);

    bool in_sync = handle(t);
    if (atomic_load(&t->io_owner) == IO_TAKEN) {
        /* fw_conn_emergency answered for us, or cut the connection. */
        atomic_store(&t->cur_fd, -1);
        return drop(t, c, false);
    }
    /* A request that took a while may have been aborted meanwhile: then the
     * web server wants END_REQUEST alone. */
    if (in_sync && !t->cut && !t->out_failed)
        check_abort(t);
    enum fw_conn_state st;
    if (t->cut || t->out_failed) {
        st = drop(t, c, false);
    } else if (t->peer_aborted) {
        t->out_len = 0;
        st = end_aborted(t);
    } else if (flush_out(t, true) < 0 || !in_sync || !c->p.keep_conn || t->in_failed) {
        /* in_failed: what came after the body cannot be read (a protocol
         * error seen while looking for ABORT_REQUEST). */
        st = drop(t, c, !in_sync && !t->out_failed && !t->in_failed);
    } else if (t->s.stopping && atomic_load(t->s.stopping) && t->in_pos == t->in_len) {
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

struct fw_callclock *fw_conn_clock(struct fw_conn_thread *t)
{
    return &t->clock;
}
