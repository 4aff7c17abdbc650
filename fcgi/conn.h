/* One FastCGI request on an accepted connection: libfcgi reads the begin
 * record and params, we check limits, pick the app, call the gateway, drain
 * what the app left of the body, and say whether the connection may carry
 * another request (FCGI_KEEP_CONN). */
#ifndef FW_CONN_H
#define FW_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fw_app;
struct fw_pythread;

/* Finds the app for a request: the mount it matched (an index into mounts),
 * or with no mounts its SCRIPT_FILENAME (NULL when absent). Returns NULL
 * with *status set (404, 500) when there is none. */
typedef struct fw_app *(*fw_conn_app_fn)(void *ctx, size_t mount_index, const char *script_filename,
                                         int *status);

struct fw_conn_settings {
    fw_conn_app_fn find_app;
    void *app_ctx;
    const char *const *mounts; /* canonical; see fw_environ_build */
    size_t n_mounts;
    uint64_t max_body_bytes;
    uint64_t max_params_bytes;
    bool multithread;
    bool multiprocess;
    const char *pool; /* see struct fw_gw_request */
    unsigned generation;
};

struct fw_conn_thread;

/* Per request thread; py is the thread's Python state. */
struct fw_conn_thread *fw_conn_thread_new(const struct fw_conn_settings *s, struct fw_pythread *py);
void fw_conn_thread_free(struct fw_conn_thread *t);

enum fw_conn_state {
    FW_CONN_READY,  /* a request has started arriving: serve it */
    FW_CONN_WAIT,   /* nothing to read yet: watch it, do not block a thread */
    FW_CONN_CLOSED, /* the web server closed it (normal for kept connections) */
    FW_CONN_BAD,    /* not FastCGI: logged, and fd is already closed */
};

/* Looks at what is waiting on fd without consuming or blocking. */
enum fw_conn_state fw_conn_check(int fd);

/* Socket options for a newly accepted connection: read and write timeouts,
 * so a stalled peer cannot hold a thread forever. */
void fw_conn_setup(int fd);

/* Serves the next request on fd (blocking; call after FW_CONN_READY).
 * Returns true if fd is still open and idle, ready for another request;
 * false if it was closed. */
bool fw_conn_serve(struct fw_conn_thread *t, int fd);

/* Method and URI of the current (or last) request, for logs. */
const char *fw_conn_uri(const struct fw_conn_thread *t);

/* From another thread, for a request past request_timeout: answers status
 * on its connection if no output went out yet, else cuts the connection.
 * The request thread may still be in the app: the caller must _exit() right
 * after. */
void fw_conn_emergency(struct fw_conn_thread *t, int status);

#endif
