/* A pool's workers, one by one: spawning, the messages on their channel,
 * their output, stopping, and reaping (with the crash back-off). All state
 * changes of a worker go through fw_pool_worker_set_state(), which logs
 * "old -> new (why)". Private to the pool module (pool_types.h). */
#ifndef FW_POOL_WORKER_H
#define FW_POOL_WORKER_H

#include "pool_types.h"

void fw_pool_worker_set_state(struct proc *p, enum proc_state state, const char *why);
/* Forks one worker of the pool's current generation; -1 on error (logged). */
int fw_pool_worker_spawn(struct fw_pool *pool);
/* SIGTERM, and SIGKILL past graceful_timeout (fw_pool_maintain does that). */
void fw_pool_worker_stop(struct proc *p, const char *why);
void fw_pool_worker_close_fds(struct proc *p);
/* Workers' output paused by the pool's rate limit goes back into the loop. */
void fw_pool_worker_resume_output(struct fw_pool *pool);
/* Logs how many output lines the rate limit dropped (now: whatever is due). */
void fw_pool_worker_report_dropped(struct fw_pool *pool, bool now);
/* A worker answers requests (its app imported or not). */
bool fw_pool_worker_serving(const struct fw_pool *pool);

/* kill(), or, for a worker whose pid is not known yet (forked by a
 * template, before its hello: pid 0), the signal it gets once it is. */
void fw_pool_worker_signal(struct proc *p, int sig);
/* Its channel and output in the master's loop (a template's hello handler
 * hands the channel over once it knows the pid). */
void fw_pool_worker_watch_channel(struct proc *p);
void fw_pool_worker_watch_output(struct proc *p);
/* Channel bytes that were no message, logged at most once a second. */
void fw_pool_worker_note_junk(struct proc *p, uint64_t n, unsigned char last);
/* A start-up crash: the back-off grows (what starts the log line, why is
 * for status, last_error may be ""). */
void fw_pool_worker_back_off(struct fw_pool *pool, const char *what, const char *why,
                             const char *last_error);
/* One byte with an fd (SCM_RIGHTS): a reopened log. */
void fw_pool_worker_send_fd(struct proc *p, int fd, char byte);
/* What a proc that died starting left in its slot, one line. */
void fw_pool_worker_dead_error(const struct proc *p, char *out, size_t cap);

/* A reaped worker's or template's exit (its state still as it was): logs
 * it, fills how ("exit status N", "killed by signal N (name)") and, if it
 * was starting, error with its last error. what: "pid" or "template pid". */
void fw_pool_worker_log_exit(const struct proc *p, const char *what, int status, bool expected,
                             char *how, size_t how_cap, char *error, size_t error_cap);
/* An unexpected death that settles more than a back-off: one of a
 * recycle's new generation before it was ready abandons the recycle, a
 * configuration error stops respawning. noun: "worker" or "template".
 * false: neither, the caller backs off or replaces it. */
bool fw_pool_worker_death_settles(struct fw_pool *pool, const struct proc *p, int status,
                                  const char *noun, const char *how, const char *error);

#endif
