/* The worker entry point shared by the manager's workers and by
 * fcgiwsgi-responder: start Python, run request threads on an inherited
 * listening socket, stop gracefully on SIGTERM/SIGINT/SIGQUIT. There is one
 * request path, and this is its top. */
#ifndef FW_WORKER_H
#define FW_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pyhost/host.h"

/* Exit statuses, read by the manager. */
enum fw_exit {
    FW_EXIT_OK = 0,      /* stopped as asked */
    FW_EXIT_FAILURE = 1, /* stopped by a second signal: request threads may still be in
                          * the app, so the caller must _exit() (see fw_worker_run) */
    FW_EXIT_CONFIG = 2,  /* bad usage or configuration: do not respawn until fixed */
    FW_EXIT_INIT = 3,    /* initialisation failed (Python did not start): back off */
    FW_EXIT_TIMEOUT = 4, /* left after a request stuck past request_timeout (stack logged) */
};

struct fw_slot;
struct fw_page;

struct fw_worker_app {
    const char *script;
    const char *callable; /* NULL: "application" */
    /* NULL: one interpreter for this app, named "POOL|MOUNT" under the
     * manager ("www|/", "www|/sub"), the script path without a pool. */
    const char *group;
    const char *mount; /* URL prefix; NULL or "/" is the root */
    bool own_gil;      /* its group's interpreter has its own GIL (3.12+) */
};

/* Messages a worker sends on its channel to the master, one byte each. */
enum fw_worker_msg {
    FW_WORKER_MSG_READY = 'R',       /* apps preloaded (or not needed): send traffic */
    FW_WORKER_MSG_LOAD_FAILED = 'F', /* serving, but some app failed to import (traceback logged) */
    FW_WORKER_MSG_RETIRE = 'X',      /* max_requests or memory_limit reached: replace me */
    FW_WORKER_MSG_RESTART = 'P',     /* the app called fcgiwsgi.request_restart() */
    FW_WORKER_MSG_LOG_FD = 'L',      /* master to worker, with an fd (SCM_RIGHTS): the new log */
    FW_WORKER_MSG_ACCESS_FD = 'W',   /* the same for the access log */
    FW_WORKER_MSG_SERVE = 'S',       /* master to worker after LOAD_FAILED: accept anyway */
    FW_WORKER_MSG_LOG_LEVEL = '0',   /* master to worker, '0' + enum fw_log_level: log_level
                                        changed by a reload */
    FW_WORKER_MSG_UNLISTENED = 'U',  /* stopping: it accepts no more connections */
    /* Master to worker: its pool is drained, the listener shut (it refuses
     * connections): accept nothing, close kept connections behind their
     * responses, as a stopping worker does, but stay up. */
    FW_WORKER_MSG_DRAIN = 'D',
    FW_WORKER_MSG_UNDRAIN = 'A', /* master to worker: the listener listens again: accept */
    /* The first message of a worker a template forked (manager/template.h):
     * the master learns its pid from the credentials it carries. */
    FW_WORKER_MSG_HELLO = 'H',
};

struct fw_worker_config {
    int listen_fd;
    unsigned threads;
    /* The apps, chosen by the longest mount containing the request path.
     * None: each request's SCRIPT_FILENAME names its script (callable and
     * group below apply to all), and mount, if set, is where they all live
     * (else SCRIPT_NAME and PATH_INFO are the web server's). */
    const struct fw_worker_app *apps;
    size_t n_apps;
    const char *callable;
    const char *group;
    const char *mount;
    uint64_t max_body_bytes;   /* 0: unlimited */
    uint64_t max_params_bytes; /* 0: default */
    uint64_t keepalive_timeout_ms; /* an idle kept connection is closed after this; 0: never */
    uint64_t client_timeout_ms;    /* a peer that makes no progress for this long is dropped */
    uint64_t rlimit_nofile;        /* RLIMIT_NOFILE to set; 0: raise to the hard limit */
    bool multiprocess;
    bool preload;
    struct fw_host_config host;

    /* Under the manager; NULL, -1 and 0 for a lone responder. */
    struct fw_slot *slot;
    int channel_fd;
    int log_fd;            /* the fd the logger writes to, replaced in place on reopen */
    uint64_t max_requests; /* already jittered by the master */
    const char *const *allowed_clients; /* TCP: numeric IPs allowed to connect; none: all */
    size_t n_allowed_clients;
    uint64_t memory_limit_bytes;
    uint64_t request_timeout_ms; /* app time (waits on the client excluded); 0: none */
    uint64_t graceful_timeout_ms; /* a stopping worker exits after this, cutting what runs; 0: never */
    uint64_t slowlog_timeout_ms;  /* an app call running this long has its stack logged; 0: never */
    const char *pool;            /* its name: fcgiwsgi.pool, and default groups "POOL|MOUNT" */
    unsigned generation;
    bool drained; /* its pool is drained: accept nothing until FW_WORKER_MSG_UNDRAIN */
    /* ping_path: answered "pong" before any app; NULL: none */
    const char *ping_path;
    /* status_path: answered from page, the master's page of the pool
     * (read-only; fcgi/page.h); NULL: none */
    const char *status_path;
    const struct fw_page *page;
    bool access_log;           /* access_fd is the access log (fcgi/access.h) */
    int access_fd;             /* replaced in place on reopen */
    const char *access_format; /* NULL: the default */
};

#define FW_WORKER_DEFAULT_MAX_PARAMS (1024 * 1024)
/* A thread stack each: the conf loader and --threads stop here too. */
#define FW_WORKER_MAX_THREADS 1024
#define FW_WORKER_DEFAULT_KEEPALIVE_TIMEOUT_MS (60 * 1000)
#define FW_WORKER_DEFAULT_CLIENT_TIMEOUT_MS (60 * 1000)
#define FW_WORKER_DEFAULT_GRACEFUL_TIMEOUT_MS (30 * 1000)

/* Runs until stopped; returns an enum fw_exit value. After FW_EXIT_FAILURE
 * the caller may only do what is safe beside threads still inside Python
 * (unlink a socket) and must then _exit(): exit() would run atexit handlers
 * and library destructors (a C extension's, OpenSSL's, the sanitizers') under
 * them. Every log line is already written: the log has no buffer. */
int fw_worker_run(const struct fw_worker_config *cfg);

/* fw_worker_run() in two halves, for a template (manager/template.c) that
 * imports the apps once and forks workers that serve them. */
struct fw_worker_loaded;
/* Starts Python and imports the apps (preload): NULL with *status an enum
 * fw_exit value if Python did not start. A failed import is not a
 * failure: the workers serve 500s and retry, and say so to the master. */
struct fw_worker_loaded *fw_worker_load(const struct fw_worker_config *cfg, int *status);
bool fw_worker_load_failed(const struct fw_worker_loaded *l);
/* The end of the failed import's traceback ("" if none). */
const char *fw_worker_load_error(const struct fw_worker_loaded *l);
/* Serves with what l holds, until stopped; returns an enum fw_exit value,
 * as fw_worker_run() (which calls fw_worker_unload() after it). */
int fw_worker_serve(const struct fw_worker_config *cfg, struct fw_worker_loaded *l);
/* Drops the apps and finalizes Python. NULL is fine. */
void fw_worker_unload(struct fw_worker_loaded *l);

#endif
