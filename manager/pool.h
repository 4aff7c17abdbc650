/* A pool at run time: its listening socket, its workers, and keeping their
 * number right. Fixed pools hold `processes` workers; a worker that asks to
 * retire (max_requests, memory_limit) gets its replacement started first and
 * is stopped only once that one is ready; workers that die young (before
 * ready, or within 5 s) count as crashes: the first is replaced at once, then
 * the delay doubles (1 s, 2 s, 4 s ... 60 s), for this pool only. */
#ifndef FW_POOL_H
#define FW_POOL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf/config.h"

struct fw_loop;
struct fw_scoreboard;
struct fw_pool;

struct fw_pool_env {
    struct fw_loop *loop;
    struct fw_scoreboard *scoreboard;
    int log_fd;
    const sigset_t *child_sigmask;
};

/* Opens the listening socket, or adopts inherited_fd (socket activation;
 * -1 if none). NULL on error (logged). */
struct fw_pool *fw_pool_new(const struct fw_conf_pool *conf, const struct fw_pool_env *env,
                            int inherited_fd);
void fw_pool_free(struct fw_pool *pool);

const char *fw_pool_name(const struct fw_pool *pool);

/* Spawns, retires and kills as the pool needs; called on every tick and
 * after any worker event. */
void fw_pool_maintain(struct fw_pool *pool);

/* A child exited: returns true if it was one of this pool's. */
bool fw_pool_reap(struct fw_pool *pool, pid_t pid, int status);

/* Rolling restart: a new generation is started; each old worker keeps
 * serving until enough new ones are ready, then stops gracefully. */
void fw_pool_restart(struct fw_pool *pool, const char *why);

/* Stops every worker gracefully (SIGTERM, then SIGKILL after the pool's
 * graceful_timeout); no more are spawned. */
void fw_pool_stop(struct fw_pool *pool);

/* Number of worker processes still alive. */
unsigned fw_pool_alive(const struct fw_pool *pool);

/* After the log was reopened: new workers inherit log_fd, and running ones
 * are sent a copy of it over their channel (they put it in place of their
 * old one). */
void fw_pool_set_log_fd(struct fw_pool *pool, int log_fd);

#endif
