/* A pool at run time: its listening socket, its workers, and keeping their
 * number right. Fixed pools hold `processes` workers; a worker that asks to
 * retire (max_requests, memory_limit) gets its replacement started first and
 * is stopped only once that one is ready; workers that die before serving
 * (before ready, or ready and dead within 5 s without a request) count as
 * start-up crashes: the first is replaced at once, then the delay doubles
 * (1 s, 2 s, 4 s ... 60 s, at most 5 s while no worker serves), for this
 * pool only (backoff.h). A worker that dies serving is replaced at once. */
#ifndef FW_POOL_H
#define FW_POOL_H

#include "lib/log.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf/config.h"
#include "pool_info.h"

struct fw_loop;
struct fw_scoreboard;
struct fw_listeners;
struct fw_pool;

/* How a recycle ended: seq numbers recycles per pool (1, 2, ...); ok is
 * false when the new generation could not get ready (or the pool stopped
 * first); text says what happened, with the import error's traceback when
 * there is one. */
typedef void (*fw_pool_recycled_fn)(struct fw_pool *pool, uint64_t seq, bool ok, const char *text,
                                    void *data);

/* What started a recycle (status shows it as cause). */
enum fw_pool_cause {
    FW_POOL_CAUSE_RESTART, /* fcgiwsgi-ctl restart */
    FW_POOL_CAUSE_WATCH,   /* a watched file changed */
    FW_POOL_CAUSE_RELOAD,  /* reload changed the pool, or retries a configuration error */
    FW_POOL_CAUSE_SIGNAL,  /* SIGUSR2 */
    FW_POOL_CAUSE_APP,     /* fcgiwsgi.request_restart() */
    /* One worker replaced within its generation, at its own request: */
    FW_POOL_CAUSE_MAX_REQUESTS, /* it served max_requests */
    FW_POOL_CAUSE_MEMORY_LIMIT, /* it grew past memory_limit */
    FW_POOL_NCAUSES
};
/* "restart", "watch", "reload", "signal", "app", "max_requests", "memory_limit". */
const char *fw_pool_cause_name(enum fw_pool_cause cause);

struct fw_pool_env {
    struct fw_loop *loop;
    struct fw_scoreboard *scoreboard;
    struct fw_listeners *listeners; /* shared by all pools; may be NULL */
    const sigset_t *child_sigmask;
    fw_pool_recycled_fn on_recycled; /* may be NULL */
    /* A restart this soon after a watcher's recycle started that has ended
     * already is answered by it (see fw_pool_restart); the watcher's
     * debounce. */
    unsigned restart_join_ms;
    void *data;
};

/* Opens the listening socket, or adopts inherited_fd (socket activation;
 * -1 if none). A socket another pool holds for the same address (one that
 * reload removes or moves away) is shared instead (listener.h). NULL on
 * error (logged). log is where its workers and the master's lines about it
 * go (the pool's `log:`; NULL: the main log); the pool does not own it. */
struct fw_pool *fw_pool_new(const struct fw_conf_pool *conf, const struct fw_pool_env *env,
                            int inherited_fd, struct fw_log_sink *log);
void fw_pool_free(struct fw_pool *pool);

const char *fw_pool_name(const struct fw_pool *pool);

/* Spawns, retires and kills as the pool needs; called on every tick and
 * after any worker event. */
void fw_pool_maintain(struct fw_pool *pool);

/* On the master's tick: the listen queue's depth and peak, and whether
 * the pool is at its most processes with connections waiting (counted,
 * and logged at most every 10 s). */
void fw_pool_sample(struct fw_pool *pool);

/* status_path: the pool's workers answer it from a page the manager
 * writes here (its status text and JSON), on its tick. has_page: the
 * pool has one, since a worker was started with it. */
bool fw_pool_has_page(const struct fw_pool *pool);
void fw_pool_publish_page(struct fw_pool *pool, const char *text, size_t text_len, const char *json,
                          size_t json_len);

/* A child exited: returns true if it was one of this pool's. */
bool fw_pool_reap(struct fw_pool *pool, pid_t pid, int status);
/* A child no pool claimed: it may be a worker a template forked whose
 * hello is still unread (pool_template.c keeps it for that hello). */
void fw_pool_unclaimed_child(pid_t pid, int status);

/* Rolling restart: a new generation is started; each old worker keeps
 * serving until enough new ones are ready, then stops gracefully. A trigger
 * while a recycle runs is queued, and queued ones coalesce: one more
 * recycle runs right after the current one. An operator's restart
 * (FW_POOL_CAUSE_RESTART) while a recycle the file watcher started runs,
 * or within restart_join_ms of its start when it has ended already, is
 * that recycle's: the change it was started for is what a deploy's
 * restart asks for too, and one recycle is enough. Returns the seq of the
 * recycle that covers this trigger (see on_recycled), or 0 if the pool is
 * stopped. It also ends a crash back-off: the operator says "try now". */
uint64_t fw_pool_restart(struct fw_pool *pool, enum fw_pool_cause cause, const char *why);

/* The file watcher's trigger: changed_ms is when it saw the change last
 * (watch.h). Workers forked after that have it already, so when the
 * pool's latest recycle started after it (a restart that came first, say
 * right after a deploy repointed a symlink), nothing more is done and that
 * recycle's seq is returned. Otherwise as fw_pool_restart. */
uint64_t fw_pool_restart_changed(struct fw_pool *pool, int64_t changed_ms, const char *why);

/* Stops every worker gracefully (SIGTERM, then SIGKILL after the pool's
 * graceful_timeout, or at once if now); no more are spawned until
 * fw_pool_start. A recycle in progress ends (not ok). */
void fw_pool_stop(struct fw_pool *pool, bool now);
void fw_pool_start(struct fw_pool *pool);
bool fw_pool_stopped(const struct fw_pool *pool);

/* Fixed pools: a new number of workers (the configured one until reload).
 * Returns -1 for a dynamic pool. */
int fw_pool_scale(struct fw_pool *pool, unsigned processes);

/* reload, step 1: when conf listens on another address, its socket is
 * opened now, beside the old one (or shared, as in fw_pool_new). -1 if it
 * cannot be (logged); undo with fw_pool_cancel_listen. */
int fw_pool_prepare_listen(struct fw_pool *pool, const struct fw_conf_pool *conf);
void fw_pool_cancel_listen(struct fw_pool *pool);
/* Step 2: conf (same name; kept alive by the caller as long as the pool)
 * becomes the pool's. New workers get the socket opened in step 1; the old
 * one is closed once the next recycle to start (the caller's to start; one
 * queued behind a running recycle counts, not the running one, whose
 * workers are on the old socket) has ended well. The configured process
 * count replaces a `scale` only if it changed. */
void fw_pool_reconfigure(struct fw_pool *pool, const struct fw_conf_pool *conf);
const struct fw_conf_pool *fw_pool_conf(const struct fw_pool *pool);

/* Number of worker processes still alive. */
unsigned fw_pool_alive(const struct fw_pool *pool);

/* The pool's log from now on (a reload): new workers inherit it; running
 * ones keep theirs until they are replaced. */
void fw_pool_set_log(struct fw_pool *pool, struct fw_log_sink *log);
struct fw_log_sink *fw_pool_log(const struct fw_pool *pool);
/* Its access log (a file sink of manager/logs.c), NULL when off; set the
 * same way. */
void fw_pool_set_access(struct fw_pool *pool, struct fw_log_sink *access);
struct fw_log_sink *fw_pool_access(const struct fw_pool *pool);
/* After its log was reopened (USR1): running workers are sent a copy of
 * the new fd over their channel and put it in place of their old one. A
 * syslog socket is not sent: it is the same socket, and each process
 * reconnects it when the daemon went away. The access log's fd goes the
 * same way. */
void fw_pool_log_reopened(struct fw_pool *pool);

/* Workers that had to be killed, or cut their requests, at graceful_timeout
 * while the pool stopped: the manager then exits non-zero. */
unsigned fw_pool_cut(const struct fw_pool *pool);

/* Drain (a host leaving a load balancer's rotation): the pool's TCP
 * listener refuses connections once the ones queued are taken (at most
 * about 1 s), requests in flight and kept connections finish (a kept one
 * is closed behind its next response, or when idle); workers stay up.
 * Kept across restarts, reloads, stop and start. Undrain listens again
 * on the same socket. -1 with err: a unix socket (drain), listen()
 * failed (undrain). Both are no-ops when already so. */
int fw_pool_drain(struct fw_pool *pool, char *err, size_t cap);
int fw_pool_undrain(struct fw_pool *pool, char *err, size_t cap);
bool fw_pool_drained(const struct fw_pool *pool);
/* Drained, the listener shut, and no worker has a request running or a
 * connection open (as their slots say): what `drain --wait` waits for. */
bool fw_pool_drain_idle(const struct fw_pool *pool);

/* A reload changed log_level: running workers take it at once. */
void fw_pool_set_log_level(struct fw_pool *pool, enum fw_log_level level);

#endif
