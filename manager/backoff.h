/* Crash-loop back-off for one pool, apart from processes and clocks so it
 * can be unit-tested: which worker deaths are start-up crashes, and how
 * long the pool waits before its next spawn. Only a worker that dies before
 * it served anything counts: one killed while serving (an operator's kill,
 * the OOM killer, a request that crashes it) is replaced at once, so no
 * request pattern can drive a working pool into minutes of back-off. */
#ifndef FW_BACKOFF_H
#define FW_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

/* A ready worker that lives this long, or takes a request, started well. */
#define FW_BACKOFF_YOUNG_MS 5000
/* The longest wait between spawns while other workers serve. */
#define FW_BACKOFF_MAX_MS 60000
/* The longest wait when no worker serves: the pool is down meanwhile, so
 * it retries often (one fork every few seconds costs nothing). */
#define FW_BACKOFF_EMPTY_MAX_MS 5000

enum fw_backoff_death {
    FW_BACKOFF_NOT_READY,  /* died before it was ready: a start-up crash */
    FW_BACKOFF_IDLE_YOUNG, /* ready, never took a request, died young: a start-up crash */
    FW_BACKOFF_SERVING,    /* died with a request in flight: not a start-up crash */
    FW_BACKOFF_SERVED,     /* had finished requests: not a start-up crash */
    FW_BACKOFF_IDLE_OLD,   /* ready, no request, but lived past YOUNG_MS: not one */
};

/* What the master knows of a worker that exited unexpectedly. requests and
 * in_flight come from the worker's scoreboard slot. */
enum fw_backoff_death fw_backoff_classify(bool ready, uint64_t requests, unsigned in_flight,
                                          int64_t age_ms);
bool fw_backoff_is_crash(enum fw_backoff_death death);

struct fw_backoff {
    unsigned crashes;      /* start-up crashes in a row */
    int64_t last_crash_ms; /* of the last one; 0 if none */
    int64_t delay_ms;      /* the doubling delay the last one set */
};

/* The doubling delay after n crashes in a row: 0 for the first (a one-off
 * is retried at once), then 1 s, 2 s, 4 s ... FW_BACKOFF_MAX_MS. */
int64_t fw_backoff_delay_ms(unsigned crashes);

/* Counts a start-up crash at now. */
void fw_backoff_crash(struct fw_backoff *b, int64_t now_ms);
/* The pool started well, or an operator said "try now". */
void fw_backoff_reset(struct fw_backoff *b);

/* How long after the last crash the next spawn may come: the doubling
 * delay, but at most FW_BACKOFF_EMPTY_MAX_MS when no worker serves
 * (*capped tells whether that cut it short; may be NULL). */
int64_t fw_backoff_wait_ms(const struct fw_backoff *b, bool serving, bool *capped);
/* The first time a spawn is allowed (0 when not backing off). */
int64_t fw_backoff_next_spawn_ms(const struct fw_backoff *b, bool serving);

#endif
