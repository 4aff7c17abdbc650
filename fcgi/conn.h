/* One accepted FastCGI connection, and the requests on it: its fd (closed
 * here and only here, once), its record parser, reads and writes by poll()
 * with deadlines, management records answered, the request handed to the
 * app, and whether the connection may carry another (FCGI_KEEP_CONN). It
 * does not know where connections wait between requests (waitset.h). */
#ifndef FW_CONN_H
#define FW_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fw_app;
struct fw_callclock;
struct fw_pythread;
struct fw_page;

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
    uint64_t client_timeout_ms; /* no progress reading or writing for this long: give up */
    unsigned threads;           /* FCGI_MAX_REQS, FCGI_MAX_CONNS */
    /* Set when the worker stops or its pool is drained: a kept connection
     * is then closed right behind its response's END_REQUEST. */
    const atomic_bool *stopping;
    bool multiprocess;
    const char *pool; /* see struct fw_gw_request */
    unsigned generation;
    const char *ping_path; /* REQUEST_URI's path answered "pong" before any app; NULL: none */
    /* REQUEST_URI's path answered with the pool's status from page (text,
     * or JSON for ?json) before any app; NULL: none. */
    const char *status_path;
    const struct fw_page *page;
};

struct fw_conn;
struct fw_conn_thread;

/* Per request thread (it holds the thread's I/O buffers); py is the
 * thread's Python state. */
struct fw_conn_thread *fw_conn_thread_new(const struct fw_conn_settings *s, struct fw_pythread *py);
void fw_conn_thread_free(struct fw_conn_thread *t);
struct fw_slot_request;
/* The thread's entry in its worker's scoreboard slot (fcgi/slot.h): each
 * request's method and path go there while it runs. */
void fw_conn_thread_publish_to(struct fw_conn_thread *t, struct fw_slot_request *r);
struct fw_access_thread;
/* Where the thread's requests are logged (fcgi/access.h); NULL: nowhere. */
void fw_conn_thread_log_to(struct fw_conn_thread *t, struct fw_access_thread *a);

/* Takes ownership of fd, an accepted non-blocking socket. NULL (fd closed)
 * when out of memory. */
struct fw_conn *fw_conn_new(int fd, const struct fw_conn_settings *s);
/* Closes the fd and frees the connection. */
void fw_conn_close(struct fw_conn *c);
/* Connections open in this process (made by fw_conn_new, not yet closed). */
unsigned fw_conn_open_count(void);
/* For a stopping worker, between requests: closes c and returns true,
 * unless the web server already sent its next request (then serve it). */
bool fw_conn_close_if_idle(struct fw_conn *c);
int fw_conn_fd(const struct fw_conn *c);

enum fw_conn_state {
    FW_CONN_READY,  /* a request's params are complete: fw_conn_serve it */
    FW_CONN_WAIT,   /* nothing more to read now: let it wait, do not block a thread */
    FW_CONN_CLOSED, /* closed and freed (peer closed, protocol error, refused) */
};

/* Reads what has arrived without blocking, answers management records and
 * refusals, and says whether a request can be served. A connection in
 * READY belongs to this thread's buffers until fw_conn_serve. */
enum fw_conn_state fw_conn_pump(struct fw_conn_thread *t, struct fw_conn *c);

/* Serves the request (blocking, with deadlines). Returns WAIT when the
 * connection is kept and idle, READY when bytes of another request are
 * already buffered (serve again), CLOSED when it was closed. */
enum fw_conn_state fw_conn_serve(struct fw_conn_thread *t, struct fw_conn *c);

/* True when part of a request has arrived but not all of its params: such a
 * connection is served, not dropped, when the worker stops. */
bool fw_conn_mid_request(const struct fw_conn *c);
/* True when no byte has ever arrived on it. */
bool fw_conn_unused(const struct fw_conn *c);

/* Method and URI of the current (or last) request, for logs. */
const char *fw_conn_uri(const struct fw_conn_thread *t);

/* From another thread, for a request whose app is stuck: answers status on
 * its connection if no output went out yet, else cuts the connection; from
 * then on the request thread's own I/O on it fails. */
void fw_conn_emergency(struct fw_conn_thread *t, int status);

/* The last request fw_conn_serve served on this thread: the HTTP status
 * it answered (0 if none went out), the app's own time in microseconds (0
 * if no app ran), and its busy time (from the params to the response's
 * end). */
void fw_conn_last_request(const struct fw_conn_thread *t, int *status, uint64_t *app_us,
                          int64_t *busy_us);

/* The thread's app-call clock (request_timeout). */
struct fw_callclock *fw_conn_clock(struct fw_conn_thread *t);

#endif
