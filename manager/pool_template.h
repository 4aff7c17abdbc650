/* spawn: template, the master's side (template.h has the protocol and the
 * template's side): a template per generation still needed, started
 * before that generation's first worker and stopped once no worker of its
 * generation is left; the fork requests; and the hello that names a
 * forked worker's pid. Private to the pool module (pool_types.h). */
#ifndef FW_POOL_TEMPLATE_H
#define FW_POOL_TEMPLATE_H

#include "pool_types.h"
#include "spawn.h"

#include <stdbool.h>
#include <sys/types.h>

/* From fw_pool_maintain, before it spawns: starts the current generation's
 * template if there is none (within the back-off), stops the ones no
 * generation needs, kills one past startup_timeout or graceful_timeout,
 * and gives up forked workers that never said hello. */
void fw_pool_template_tick(struct fw_pool *pool);

/* The current generation's template is ready: a worker can be forked. */
bool fw_pool_template_ready(const struct fw_pool *pool);

/* Asks that template for a worker with req's settings and fds: out gets
 * the master's ends of its channel and output, and pid 0 until the hello.
 * 0, or -1 with err filled. */
int fw_pool_template_fork(struct fw_pool *pool, const struct fw_spawn_request *req,
                          struct fw_spawned *out, char *err, size_t errlen);

/* Watches a forked worker's channel for its hello; then it is a worker
 * like any (pool_worker.c). */
void fw_pool_template_watch_hello(struct proc *p);

/* p, forked by a template whose import failed, imported on a retry (the
 * code or what it imports was mended): that template is replaced by one
 * that imports again, so that the next forks need no retry of their own. */
void fw_pool_template_import_healed(const struct proc *p);

/* A template's exit; false if pid is none of this pool's templates. */
bool fw_pool_template_reap(struct fw_pool *pool, pid_t pid, int status);

/* The pool stops: SIGTERM (now: SIGKILL) to its templates. */
void fw_pool_template_stop_all(struct fw_pool *pool, bool now);
unsigned fw_pool_template_count(const struct fw_pool *pool);
void fw_pool_template_free_all(struct fw_pool *pool);

#endif
