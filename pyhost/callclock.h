/* request_timeout in Python's terms. Each request thread has a clock that
 * counts its app call's own time, not the time spent waiting on the client
 * (a slow upload, a slow reader of the response); and a call that ran too
 * long can be interrupted by raising fcgiwsgi.RequestTimeout inside it, the
 * way a signal would raise KeyboardInterrupt. */
#ifndef FW_CALLCLOCK_H
#define FW_CALLCLOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct fw_interp;
struct fw_pythread;

/* One per request thread, zeroed before first use. The atomics are read
 * without the GIL by the worker's main thread; `ident` and `interrupted`
 * change only with the GIL held. */
struct fw_callclock {
    _Atomic uint64_t number;     /* calls begun on this thread */
    _Atomic int64_t start_ms;    /* CLOCK_MONOTONIC; 0: no call running */
    _Atomic int64_t io_since_ms; /* 0: not waiting on the client now */
    _Atomic int64_t io_ms;       /* waited on the client during this call */
    struct fw_interp *_Atomic interp;
    unsigned long ident; /* the thread's Python ident */
    bool interrupted;    /* RequestTimeout was raised in this call */
};

int64_t fw_callclock_now_ms(void);

/* The app is about to be called on this thread, in interpreter `in`. GIL held. */
void fw_callclock_begin(struct fw_callclock *c, struct fw_interp *in);

/* The call is over (close() included). An interrupt that was raised but
 * never fired is withdrawn, so it cannot land in a later request. GIL held,
 * in the call's interpreter. Returns whether the call was interrupted. */
bool fw_callclock_end(struct fw_callclock *c);

/* Around waits on the client; any thread, no GIL needed. Not nested. */
void fw_callclock_io_begin(struct fw_callclock *c);
void fw_callclock_io_end(struct fw_callclock *c);

/* The running call's own time at `now`, and its number; -1 if no call runs. */
int64_t fw_callclock_app_ms(struct fw_callclock *c, int64_t now, uint64_t *number);

/* From another thread with its own Python state `self`, GIL not held (this
 * waits for it, possibly for ever if C code holds it): if call `number` is
 * still running, logs its Python stack and raises fcgiwsgi.RequestTimeout
 * in it. Returns 1 if raised, 0 if that call is over, -1 on failure (logged). */
int fw_callclock_interrupt(struct fw_pythread *self, struct fw_callclock *c, uint64_t number,
                           const char *what);

/* The same without the exception (slowlog_timeout): if call `number` is
 * still running, logs its Python stack at warn. Returns 1 if logged, 0 if
 * that call is over. */
int fw_callclock_log_stack(struct fw_pythread *self, struct fw_callclock *c, uint64_t number,
                           const char *what);

#endif
