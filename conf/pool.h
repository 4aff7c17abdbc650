/* One pool's settings: its schema, reading and freeing. Apps are in app.c,
 * checks that look at more than one setting in validate.c. */
#ifndef FW_CONF_POOL_H
#define FW_CONF_POOL_H

#include "conf/config.h"
#include "conf/reader.h"
#include "conf/schema.h"

/* The order of fw_conf_pool_schema's keys. */
enum fw_conf_pool_key {
    FW_CONF_POOL_LISTEN,
    FW_CONF_POOL_LISTEN_MODE,
    FW_CONF_POOL_LISTEN_OWNER,
    FW_CONF_POOL_LISTEN_GROUP,
    FW_CONF_POOL_LISTEN_BACKLOG,
    FW_CONF_POOL_ALLOWED_CLIENTS,
    FW_CONF_POOL_USER,
    FW_CONF_POOL_GROUP,
    FW_CONF_POOL_ALLOW_ROOT,
    FW_CONF_POOL_PROCESSES,
    FW_CONF_POOL_THREADS,
    FW_CONF_POOL_MULTIPROCESS,
    FW_CONF_POOL_PRELOAD,
    FW_CONF_POOL_MAX_REQUESTS,
    FW_CONF_POOL_MAX_REQUESTS_JITTER,
    FW_CONF_POOL_MEMORY_LIMIT,
    FW_CONF_POOL_REQUEST_TIMEOUT,
    FW_CONF_POOL_SLOWLOG_TIMEOUT,
    FW_CONF_POOL_GRACEFUL_TIMEOUT,
    FW_CONF_POOL_STARTUP_TIMEOUT,
    FW_CONF_POOL_IDLE_TIMEOUT,
    FW_CONF_POOL_MAX_BODY,
    FW_CONF_POOL_MAX_PARAMS,
    FW_CONF_POOL_KEEPALIVE_TIMEOUT,
    FW_CONF_POOL_CLIENT_TIMEOUT,
    FW_CONF_POOL_RLIMIT_NOFILE,
    FW_CONF_POOL_RLIMIT_CORE,
    FW_CONF_POOL_CLEAR_ENV,
    FW_CONF_POOL_CHDIR,
    FW_CONF_POOL_UMASK,
    FW_CONF_POOL_LOG,
    FW_CONF_POOL_ACCESS_LOG,
    FW_CONF_POOL_ACCESS_FORMAT,
    FW_CONF_POOL_PYTHON_HOME,
    FW_CONF_POOL_PYTHON_PATH,
    FW_CONF_POOL_ENV,
    FW_CONF_POOL_WATCH,
    FW_CONF_POOL_WATCH_SCRIPTS,
    FW_CONF_POOL_APPS,
    FW_CONF_POOL_METRICS_BUCKETS,
    FW_CONF_POOL_PING_PATH,
    FW_CONF_POOL_STATUS_PATH,
    FW_CONF_POOL_SPAWN,
    FW_CONF_POOL_NKEYS
};

/* Where each setting of a pool was written (line 0: not written), for the
 * checks that run after the pool was read; and idle_timeout as written in
 * `processes:`, until fw_conf_pool_finish() merges it. */
struct fw_conf_pool_marks {
    struct fw_conf_mark v[FW_CONF_POOL_NKEYS];
    struct fw_conf_mark dynamic_idle;
    uint64_t dynamic_idle_ms;
};

/* Limits that are not the user's to raise: a scoreboard slot per process,
 * a thread stack per thread. */
#define FW_CONF_MAX_PROCESSES 4096
#define FW_CONF_MAX_THREADS 1024
/* max_requests and its jitter: a billion each, far past any useful recycle
 * (0 is "never"), so their sum cannot wrap and the jitter's range fits
 * random()'s 31 bits. */
#define FW_CONF_MAX_REQUESTS 1000000000ULL

extern const struct fw_conf_schema fw_conf_pool_schema;
/* A dynamic pool's `processes: {min, max, min_spare, max_spare, idle_timeout}`. */
extern const struct fw_conf_schema fw_conf_pool_processes_schema;

/* Fills in the defaults that config.h documents. */
void fw_conf_pool_init(struct fw_conf_pool *pool);

/* r->ev starts the pool's mapping; pool->name and mark are set. Reads the pool's
 * settings. 0 when the pool was read (errors may have been reported), -1 if
 * the reader broke. */
int fw_conf_pool_read(struct fw_conf_reader *r, struct fw_conf_pool *pool,
                      struct fw_conf_pool_marks *marks);

/* Once the pool's file was read without a YAML error: required settings,
 * users and groups, the listen address (relative to dir). Not run after a
 * YAML error, where a pool may look incomplete only because the error cut
 * the file short. */
void fw_conf_pool_finish(struct fw_conf_pool *pool, struct fw_conf_pool_marks *marks,
                         const char *dir, struct fw_conf_errors *errs);

/* Frees what pool holds, not pool itself. */
void fw_conf_pool_free(struct fw_conf_pool *pool);

#endif
