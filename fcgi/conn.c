/* A request on a connection, over libfcgi's FCGX_Request. We accept
 * connections ourselves and hand libfcgi the fd: its accept cannot be woken
 * for a graceful stop without signals that break its reads, it IPv4-filters
 * clients, and it drains every close for up to 2 s. */
#include "config.h"

#include "conn.h"

#include "environ.h"
#include "lib/http.h"
#include "lib/log.h"
#include "pyhost/app.h"
#include "pyhost/gateway.h"

#include <errno.h>
#include <fcgiapp.h>
#include <limits.h>
#include <stdatomic.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Unread body up to this much is read and dropped so the connection can be
 * kept; more than that and the connection is closed instead. */
#define DRAIN_MAX_BYTES (1024 * 1024)
#define LINGER_MS 2000
/* No progress on a read or write for this long ends the connection. */
#define IO_TIMEOUT_S 60

struct fw_conn_thread {
    struct fw_conn_settings s;
    struct fw_pythread *py;
    FCGX_Request req;
    struct fw_environ env;
    bool aborted;
    atomic_bool output_started; /* read by the worker's main thread */
    atomic_int fd;              /* the connection of the request in progress, or -1 */
    char uri[256];
};

struct fw_conn_thread *fw_conn_thread_new(const struct fw_conn_settings *s, struct fw_pythread *py)
{
    struct fw_conn_thread *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->s = *s;
    t->py = py;
    atomic_store(&t->fd, -1);
    /* No listen socket: libfcgi must never accept on its own. */
    FCGX_InitRequest(&t->req, -1, 0);
    return t;
}

void fw_conn_thread_free(struct fw_conn_thread *t)
{
    if (!t)
        return;
    fw_environ_free(&t->env);
    free(t);
}

static ssize_t io_read(void *ctx, char *buf, size_t len)
{
    struct fw_conn_thread *t = ctx;
    if (len > INT_MAX / 2)
        len = INT_MAX / 2;
    int n = FCGX_GetStr(buf, (int)len, t->req.in);
    if (n < (int)len && FCGX_GetError(t->req.in) != 0)
        return -1;
    return n;
}

/* Large bodies skip libfcgi's 8 KiB stream buffer: one 8 KiB record and
 * one write() per 8 KiB there; here up to 64 KiB records, many per writev(),
 * written straight from the app's buffer (measured: a 1 MiB response took
 * 129 writes through libfcgi). */
#define DIRECT_MIN 16384
#define RECORD_MAX 65528 /* a multiple of 8: no padding */
#define RECORDS_PER_WRITEV 16

static int write_records(struct fw_conn_thread *t, const char *buf, size_t len)
{
    if (FCGX_FFlush(t->req.out) < 0)
        return -1;
    unsigned char heads[RECORDS_PER_WRITEV][8];
    struct iovec iov[RECORDS_PER_WRITEV * 2];
    int rid = t->req.requestId;
    while (len > 0) {
        int n = 0;
        for (int r = 0; r < RECORDS_PER_WRITEV && len > 0; r++) {
            size_t clen = len < RECORD_MAX ? len : RECORD_MAX;
            unsigned char *h = heads[r];
            h[0] = 1; /* FCGI_VERSION_1 */
            h[1] = 6; /* FCGI_STDOUT */
            h[2] = (unsigned char)(rid >> 8);
            h[3] = (unsigned char)rid;
            h[4] = (unsigned char)(clen >> 8);
            h[5] = (unsigned char)clen;
            h[6] = 0; /* padding */
            h[7] = 0;
            iov[n++] = (struct iovec){ .iov_base = h, .iov_len = 8 };
            iov[n++] = (struct iovec){ .iov_base = (void *)buf, .iov_len = clen };
            buf += clen;
            len -= clen;
        }
        struct iovec *v = iov;
        while (n > 0) {
            ssize_t w = writev(t->req.ipcFd, v, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -1; /* includes the SO_SNDTIMEO timeout */
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
    }
    return 0;
}

static int io_write(void *ctx, const char *buf, size_t len)
{
    struct fw_conn_thread *t = ctx;
    atomic_store(&t->output_started, true);
    if (len >= DIRECT_MIN)
        return write_records(t, buf, len);
    while (len > 0) {
        int chunk = len > (size_t)INT_MAX / 2 ? INT_MAX / 2 : (int)len;
        if (FCGX_PutStr(buf, chunk, t->req.out) != chunk)
            return -1;
        buf += chunk;
        len -= (size_t)chunk;
    }
    return 0;
}

static int io_write_buffered(void *ctx, const char *buf, size_t len)
{
    struct fw_conn_thread *t = ctx;
    FCGX_Stream *out = t->req.out;
    /* libfcgi's writer keeps room for the record header it adds at flush;
     * stop - wrNext is what is free without an I/O. */
    if (len >= DIRECT_MIN || out->isClosed || out->FCGI_errno ||
        (size_t)(out->stop - out->wrNext) < len)
        return 1;
    atomic_store(&t->output_started, true);
    memcpy(out->wrNext, buf, len);
    out->wrNext += len;
    return 0;
}

static int io_flush(void *ctx)
{
    struct fw_conn_thread *t = ctx;
    return FCGX_FFlush(t->req.out) < 0 ? -1 : 0;
}

/* The web server must not mistake a cut response for a whole one: close the
 * connection without FCGI_END_REQUEST. */
static void io_abort(void *ctx)
{
    struct fw_conn_thread *t = ctx;
    t->aborted = true;
    shutdown(t->req.ipcFd, SHUT_RDWR);
}

static void respond_error(struct fw_conn_thread *t, int status)
{
    char buf[512];
    size_t n = fw_http_error_response(status, buf, sizeof(buf));
    io_write(t, buf, n);
}

/* Closing with unread data makes the kernel send RST, and the web server may
 * then lose the response it has not read yet: half-close and read until it
 * closes too, within a bound (what nginx calls lingering close). */
static void linger_close(int fd)
{
    shutdown(fd, SHUT_WR);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char buf[16384];
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (spent >= LINGER_MS)
            break;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int rc = poll(&p, 1, (int)(LINGER_MS - spent));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        ssize_t got = read(fd, buf, sizeof(buf));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
    }
    close(fd);
}

/* Reads the rest of the body the app did not want. True if the stream is at
 * its end (the connection is in sync for another request). */
static bool drain_body(struct fw_conn_thread *t)
{
    char buf[16384];
    size_t drained = 0;
    while (!FCGX_HasSeenEOF(t->req.in)) {
        if (drained >= DRAIN_MAX_BYTES || FCGX_GetError(t->req.in))
            return false;
        int n = FCGX_GetStr(buf, sizeof(buf), t->req.in);
        if (n <= 0)
            break;
        drained += (size_t)n;
    }
    return FCGX_GetError(t->req.in) == 0;
}

static void set_uri_for_log(struct fw_conn_thread *t)
{
    const char *uri = t->env.request_uri;
    snprintf(t->uri, sizeof(t->uri), "%s %s", t->env.method[0] ? t->env.method : "-",
             uri ? uri : "-");
}

/* Returns true if the connection may be kept. */
static bool handle(struct fw_conn_thread *t)
{
    int status = fw_environ_build(&t->env, t->req.envp, t->s.mounts, t->s.n_mounts);
    set_uri_for_log(t);
    if (status) {
        fw_log(status == 404 ? FW_LOG_INFO : FW_LOG_WARN, "%s: %s: %s; answered %d", t->uri,
               status == 404 ? "not found" : "bad request", t->env.error, status);
        respond_error(t, status);
        return false;
    }
    uint64_t max_params = t->s.max_params_bytes;
    if (max_params && t->env.params_bytes > max_params) {
        fw_log(FW_LOG_WARN, "%s: params of %zu bytes exceed the limit of %llu; answered 431",
               t->uri, t->env.params_bytes, (unsigned long long)max_params);
        respond_error(t, 431);
        return false;
    }
    const char *role = FCGX_GetParam("FCGI_ROLE", t->req.envp);
    if (!role || strcmp(role, "RESPONDER") != 0) {
        fw_log(FW_LOG_WARN, "%s: FastCGI role %s is not supported; answered 501", t->uri,
               role ? role : "(none)");
        respond_error(t, 501);
        return false;
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
        .multithread = t->s.multithread,
        .multiprocess = t->s.multiprocess,
        .pool = t->s.pool,
        .generation = t->s.generation,
        .uri_for_log = t->uri,
    };
    if (fw_gateway_call(app, t->py, &gr) < 0 || t->aborted)
        return false;
    return drain_body(t);
}

void fw_conn_setup(int fd)
{
    struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

enum fw_conn_state fw_conn_check(int fd)
{
    unsigned char head[8];
    ssize_t n;
    do
        n = recv(fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? FW_CONN_WAIT : FW_CONN_CLOSED;
    if (n == 0)
        return FW_CONN_CLOSED;
    /* A connection starts with a version-1 BEGIN_REQUEST, or a management
     * record such as GET_VALUES; anything else is not a FastCGI client. */
    if (head[0] != 1 || (n > 1 && head[1] != 1 && head[1] != 9)) {
        fw_log(FW_LOG_WARN, "not a FastCGI request (first bytes %02x %02x); connection closed",
               head[0], n > 1 ? head[1] : 0);
        linger_close(fd);
        return FW_CONN_BAD;
    }
    return FW_CONN_READY;
}

static bool serve(struct fw_conn_thread *t, int fd)
{
    t->req.ipcFd = fd;
    atomic_store(&t->output_started, false);
    atomic_store(&t->fd, fd);
    /* Keeps FCGX_Accept_r's implicit finish of the previous request from
     * closing the fd we just handed it. */
    t->req.keepConnection = 1;
    t->aborted = false;
    if (FCGX_Accept_r(&t->req) < 0) {
        /* Data had arrived (fw_conn_check), so this is a malformed record,
         * a truncated request or a read timeout; libfcgi closed the fd. */
        fw_log(FW_LOG_WARN, "malformed or truncated FastCGI request; connection closed");
        t->req.ipcFd = -1;
        return false;
    }
    bool server_keeps = t->req.keepConnection;
    bool in_sync = handle(t);
    if (t->aborted) {
        /* Libfcgi would try to send END_REQUEST on the shut-down socket. */
        t->req.keepConnection = 1;
        FCGX_Finish_r(&t->req);
        close(fd);
        t->req.ipcFd = -1;
        return false;
    }
    t->req.keepConnection = 1; /* we close, not libfcgi (no 2 s drain) */
    bool write_failed = FCGX_GetError(t->req.out) != 0;
    FCGX_Finish_r(&t->req);
    if (t->req.ipcFd < 0) /* libfcgi closed it after a write error */
        return false;
    t->req.ipcFd = -1;
    if (write_failed) {
        close(fd);
        return false;
    }
    if (!in_sync) {
        linger_close(fd);
        return false;
    }
    if (!server_keeps) {
        close(fd);
        return false;
    }
    return true;
}

bool fw_conn_serve(struct fw_conn_thread *t, int fd)
{
    bool keep = serve(t, fd);
    atomic_store(&t->fd, -1);
    return keep;
}

const char *fw_conn_uri(const struct fw_conn_thread *t)
{
    return t->uri;
}

/* Another thread writes on the connection while the request thread is stuck
 * in the app: only safe because nothing was written yet (libfcgi's buffer
 * is empty) and the process exits right after, before the stuck thread can
 * write anything. Raw records, no libfcgi: its stream belongs to that
 * thread. */
void fw_conn_emergency(struct fw_conn_thread *t, int status)
{
    int fd = atomic_load(&t->fd);
    if (fd < 0)
        return;
    if (atomic_load(&t->output_started)) {
        shutdown(fd, SHUT_RDWR);
        return;
    }
    unsigned id = (unsigned)t->req.requestId;
    char body[512];
    size_t n = fw_http_error_response(status, body, sizeof(body));
    unsigned char out[600];
    size_t o = 0;
    unsigned char hdr[8] = { 1,
                             6,
                             (unsigned char)(id >> 8),
                             (unsigned char)id,
                             (unsigned char)(n >> 8),
                             (unsigned char)n,
                             0,
                             0 };
    memcpy(out + o, hdr, 8);
    o += 8;
    memcpy(out + o, body, n);
    o += n;
    unsigned char end_stdout[8] = { 1, 6, (unsigned char)(id >> 8), (unsigned char)id, 0, 0, 0, 0 };
    memcpy(out + o, end_stdout, 8);
    o += 8;
    unsigned char end_req[16] = {
        1, 3, (unsigned char)(id >> 8), (unsigned char)id, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    };
    memcpy(out + o, end_req, 16);
    o += 16;
    if (write(fd, out, o) < 0) {
        /* The web server is gone too: nothing more to do. */
    }
}
