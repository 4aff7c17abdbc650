/* What `fcgiwsgi-ctl status` prints: a block of text per pool for people,
 * or one JSON document for machines. Reads pools through pool.h only. */
#ifndef FW_STATUS_H
#define FW_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/buf.h"

struct fw_pool;

struct fw_status_master {
    pid_t pid;
    int64_t uptime_ms;
    const char *config; /* path */
    const char *version;
};

void fw_status_text(struct fw_buf *out, const struct fw_status_master *m,
                    struct fw_pool *const *pools, size_t n);
void fw_status_json(struct fw_buf *out, const struct fw_status_master *m,
                    struct fw_pool *const *pools, size_t n);

/* status --check: what monitoring must hear about, a line per pool that has
 * it ("check: pool P: why"; out may be NULL); true if any pool has. A pool
 * stopped on purpose (`fcgiwsgi-ctl stop`) has nothing to say. */
bool fw_status_check(struct fw_buf *out, struct fw_pool *const *pools, size_t n);

/* /ping: true (and a line per pool, "pool P: why", in out) when a pool
 * that is not stopped on purpose has no ready worker, or is drained: a
 * balancer that health-checks should leave this host out. */
bool fw_status_ping(struct fw_buf *out, struct fw_pool *const *pools, size_t n);

#endif
