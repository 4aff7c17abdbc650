/* The request's streams (stream.h). Sockets are non-blocking: every wait is
 * a poll() with client_timeout, so a signal never fails a request and a
 * stalled peer holds a thread for a bounded time. */
#include "config.h"

#include "stream.h"

#include "lib/log.h"
#include "pyhost/gateway.h"

#include <errno.h>
#include <fastcgi.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- waiting and raw I/O ------------------------------------------------ */

/* Waits for events on fd, up to client_timeout; false on timeout. */
static bool wait_fd(const struct fw_conn_thread *t, int fd, short events)
{
    int64_t timeout = (int64_t)t->s.client_timeout_ms;
    int64_t deadline = fw_callclock_now_ms() + timeout;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        /* client_timeout 0: wait for ever */
        int ms = t->s.client_timeout_ms == 0 ? -1 : timeout > INT32_MAX ? INT32_MAX : (int)timeout;
        int rc = poll(&p, 1, ms);
        if (rc > 0)
            return true;
        if (rc < 0 && errno != EINTR)
            return false;
        timeout = deadline - fw_callclock_now_ms();
        if (t->s.client_timeout_ms && timeout <= 0) {
            errno = ETIMEDOUT;
            return false;
        }
    }
}

/* Reads more into t->in once what is there is consumed. Returns the count,
 * 0 at EOF, -1 on error or timeout, -2 when it would block (!block). */
ssize_t fw_stream_fill(struct fw_conn_thread *t, struct fw_conn *c, bool block)
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

int fw_stream_send(struct fw_conn_thread *t, struct fw_conn *c, const void *buf, size_t len)
{
    struct iovec v = { .iov_base = (void *)buf, .iov_len = len };
    return writev_all(t, c, &v, 1);
}

/* Closing with unread data makes the kernel send RST, and the web server may
 * then lose the response it has not read yet: half-close and read until it
 * closes too, within a bound (what nginx calls lingering close). */
void fw_stream_linger_close(struct fw_conn *c)
{
    shutdown(c->fd, SHUT_WR);
    int64_t deadline = fw_callclock_now_ms() + LINGER_MS;
    char buf[4096];
    for (;;) {
        int64_t left = deadline - fw_callclock_now_ms();
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

unsigned fw_stream_request_id(const struct fw_conn *c)
{
    return c->p.request_id;
}

/* The buffered content as one STDOUT record (header in front, zero
 * padding behind), then with_end the records that end the response. */
int fw_stream_flush(struct fw_conn_thread *t, bool with_end)
{
    struct fw_conn *c = t->c;
    size_t total = 0;
    if (t->out_len) {
        unsigned pad = fw_record_header(t->out, FCGI_STDOUT, fw_stream_request_id(c), t->out_len);
        memset(t->out + FW_RECORD_HEADER_LEN + t->out_len, 0, pad);
        total = FW_RECORD_HEADER_LEN + t->out_len + pad;
        t->out_len = 0;
    }
    if (with_end) {
        fw_record_end(t->out + total, fw_stream_request_id(c), 0);
        total += FW_RECORD_END_LEN;
    }
    return total ? fw_stream_send(t, c, t->out, total) : 0;
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
            unsigned pad = fw_record_header(t->out, FCGI_STDOUT, fw_stream_request_id(t->c), t->out_len);
            memset(t->out + FW_RECORD_HEADER_LEN + t->out_len, 0, pad);
            iov[n++] = (struct iovec){ t->out, FW_RECORD_HEADER_LEN + t->out_len + pad };
            t->out_len = 0;
        }
        for (int r = 0; r < RECORDS_PER_WRITEV && len > 0; r++) {
            size_t clen = len < FW_RECORD_STDOUT_MAX ? len : FW_RECORD_STDOUT_MAX;
            unsigned pad = fw_record_header(heads[r], FCGI_STDOUT, fw_stream_request_id(t->c), clen);
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

int fw_stream_write(void *ctx, const char *buf, size_t len)
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
            if (fw_stream_flush(t, false) < 0)
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

void fw_stream_protocol_error(const struct fw_conn_thread *t, const char *what)
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
        if (fw_stream_send(t, c, ev.data, ev.len) < 0)
            t->in_failed = true;
        break;
    case FW_RECORD_ABORT:
        fw_log(FW_LOG_INFO, "%s: the web server aborted the request", t->uri);
        t->peer_aborted = true;
        break;
    default:
        fw_stream_protocol_error(t, ev.error ? ev.error : what);
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
            ssize_t n = fw_stream_fill(t, c, true);
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
void fw_stream_check_abort(struct fw_conn_thread *t)
{
    if (t->peer_aborted || t->in_failed || t->stdin_len > 0)
        return;
    int64_t now = fw_callclock_now_ms();
    if (now - t->abort_checked_ms < ABORT_CHECK_MS)
        return;
    t->abort_checked_ms = now;
    /* One read per look: a peer that keeps sending (GET_VALUES after
     * GET_VALUES) cannot hold the response up. */
    bool filled = false;
    for (;;) {
        if (t->in_pos == t->in_len) {
            if (filled || fw_stream_fill(t, t->c, false) <= 0)
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
    fw_stream_check_abort(t);
    if (output_dead(t))
        return -1;
    return fw_stream_flush(t, false);
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
            fw_stream_flush(t, true);
        } else if (fw_stream_flush(t, false) == 0) {
            static const unsigned char broken[FW_RECORD_HEADER_LEN] = { 0 };
            fw_stream_send(t, t->c, broken, sizeof(broken));
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
    int rc = fw_stream_write(ctx, buf, len);
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
bool fw_stream_drain(struct fw_conn_thread *t)
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

void fw_stream_io(struct fw_conn_thread *t, struct fw_gw_io *io)
{
    *io = (struct fw_gw_io){ .ctx = t,
                             .read = io_read,
                             .write = io_write,
                             .write_buffered = io_write_buffered,
                             .flush = io_flush,
                             .abort = io_abort };
}
