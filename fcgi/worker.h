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
    FW_EXIT_FAILURE = 1, /* stopped by a second signal, or unexpected error */
    FW_EXIT_CONFIG = 2,  /* bad usage or configuration: do not respawn until fixed */
    FW_EXIT_INIT = 3,    /* initialisation failed (Python did not start): back off */
};

struct fw_worker_config {
    int listen_fd;
    unsigned threads;
    const char *script;        /* NULL: each request's SCRIPT_FILENAME names its script */
    const char *callable;      /* NULL: "application" */
    const char *group;         /* NULL: one interpreter per script */
    const char *mount;         /* NULL: "/" with a script; the server's own with SCRIPT_FILENAME */
    uint64_t max_body_bytes;   /* 0: unlimited */
    uint64_t max_params_bytes; /* 0: default */
    bool multiprocess;
    bool preload;
    struct fw_host_config host;
};

#define FW_WORKER_DEFAULT_MAX_PARAMS (1024 * 1024)

/* Runs until stopped; returns an enum fw_exit value. */
int fw_worker_run(const struct fw_worker_config *cfg);

#endif
