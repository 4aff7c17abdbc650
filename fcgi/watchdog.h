/* request_timeout and slowlog_timeout for one worker. The main thread judges, on its tick,
 * which app call ran too long (its own time: waits on the client do not
 * count); a thread of the watchdog's own delivers the interrupt, because
 * that needs the GIL and the main thread must never wait for it (a worker
 * whose main thread hangs on a stuck app ignores SIGTERM and outlives its
 * master). A call that does not unwind is declared stuck: its client gets
 * a 504 and the worker must stop. */
#ifndef FW_WATCHDOG_H
#define FW_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

struct fw_conn_thread;
struct fw_watchdog;

/* The interrupt must have been raised within DELIVER_MS of the decision
 * (else C code holds the GIL), and the call must have ended within
 * UNWIND_MS of it being raised (else it is blocked in C: time.sleep, a
 * socket, a database driver). */
#define FW_WATCHDOG_DELIVER_MS 1000
#define FW_WATCHDOG_UNWIND_MS 5000

/* For `n_threads` request threads, either limit 0 for none; starts the
 * interrupting thread (which takes a Python thread state). NULL on failure
 * (logged). */
struct fw_watchdog *fw_watchdog_new(uint64_t request_timeout_ms, uint64_t slowlog_timeout_ms,
                                    unsigned n_threads);

/* Stops and joins the interrupting thread (it must not be waiting for the
 * GIL: call only once no request runs). */
void fw_watchdog_free(struct fw_watchdog *wd);

/* Request thread i's connection state, or NULL when it has none. */
void fw_watchdog_watch(struct fw_watchdog *wd, unsigned i, struct fw_conn_thread *ct);

/* Main thread, on each tick. Logs each call that just ran past
 * slowlog_timeout (its stack follows from the interrupter). Returns how
 * many calls are stuck now; one that just became stuck is logged, and
 * answered by fw_watchdog_answer. */
unsigned fw_watchdog_check(struct fw_watchdog *wd, int64_t now_ms);

/* Writes the 504 of each call that just became stuck. Called after the
 * worker stopped accepting: a client that gets its 504 and reconnects at
 * once must reach another worker, not this one. */
void fw_watchdog_answer(struct fw_watchdog *wd);

#endif
