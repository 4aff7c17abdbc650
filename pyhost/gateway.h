/* The WSGI gateway: calls one application for one request (PEP 3333) and
 * streams its response through the caller's I/O callbacks. It knows nothing
 * of FastCGI: fcgi/ supplies the params already normalised and the stream
 * callbacks. */
#ifndef FW_GATEWAY_H
#define FW_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fw_app;
struct fw_callclock;
struct fw_pythread;

struct fw_param {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Blocking I/O on the request's streams; the gateway calls them without the
 * GIL. read returns bytes read, 0 at end of body, -1 on error. write returns
 * 0 or -1 (the client is gone). abort makes the web server see an incomplete
 * response (used when an error happens after headers went out);
 * length_declared says whether the response carries a Content-Length that
 * it now falls short of. */
struct fw_gw_io {
    void *ctx;
    ssize_t (*read)(void *ctx, char *buf, size_t len);
    int (*write)(void *ctx, const char *buf, size_t len);
    /* Optional: copies buf into an output buffer if it fits without any
     * I/O and returns 0, else returns 1 and copies nothing. Called with the
     * GIL held, which a small write then keeps (no hand-off). */
    int (*write_buffered)(void *ctx, const char *buf, size_t len);
    int (*flush)(void *ctx);
    void (*abort)(void *ctx, bool length_declared);
};

struct fw_gw_request {
    const struct fw_param *params;
    size_t n_params;
    struct fw_gw_io io;
    int64_t content_length;  /* -1: none given, read to end of stream */
    uint64_t max_body_bytes; /* 0: no limit */
    bool is_head;
    bool https;
    bool multithread;
    bool multiprocess;
    const char *uri_for_log; /* method and URI, for log lines */
    const char *pool;        /* under the manager: environ fcgiwsgi.pool; else NULL */
    unsigned generation;     /* environ fcgiwsgi.generation (with pool) */
    struct fw_callclock *clock; /* the thread's; runs while the app does */

    /* Filled by the gateway. */
    int status;
    uint64_t body_bytes_sent;
    bool client_gone;
};

/* Runs the app. Returns 0 when a response (possibly an error page) was
 * produced, -1 when the connection must be dropped. Never raises. */
int fw_gateway_call(struct fw_app *app, struct fw_pythread *thread, struct fw_gw_request *req);

#endif
