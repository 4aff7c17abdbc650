/* A worker's settings on the wire: what a manager's child, forked with the
 * whole configuration in memory, hands to the fresh image it execs (in a
 * memfd), so the worker's address space holds its own pool's settings and
 * nothing else. The decoder treats the bytes as untrusted: every length
 * and count is checked before it is used or allocated. */
#ifndef FW_WCONF_H
#define FW_WCONF_H

#include <stddef.h>
#include <stdint.h>

#include "worker.h"

#define FW_WCONF_MAX_BYTES (4u << 20)
#define FW_WCONF_MAX_APPS 4096
#define FW_WCONF_MAX_LIST 4096 /* python_path, allowed_clients */

/* What travels besides struct fw_worker_config (whose fds and slot are the
 * exec'd image's own business). */
struct fw_wconf_extra {
    int log_level;
    const char *log_prefix;
    const char *log_syslog; /* the log fd is a syslog socket for this path; NULL: a file */
    int log_facility;       /* for syslog */
};

/* Encodes cfg into a malloc'd buffer. NULL on out of memory. */
unsigned char *fw_wconf_encode(const struct fw_worker_config *cfg,
                               const struct fw_wconf_extra *extra, size_t *len);

/* A decoded configuration; everything it points to lives in it. */
struct fw_wconf {
    struct fw_worker_config cfg;
    struct fw_wconf_extra extra;
    struct fw_worker_app *apps;
    const char **python_path;
    const char **allowed_clients;
    char *strings; /* every string, NUL-terminated */
};

/* 0, or -1 with a reason in err (the input is malformed or too large). */
int fw_wconf_decode(const unsigned char *buf, size_t len, struct fw_wconf *out, char *err,
                    size_t errlen);
void fw_wconf_free(struct fw_wconf *w);

#endif
