/* The dynamic process model's arithmetic, apart from processes and time
 * sources so it can be unit-tested: how many workers a dynamic pool wants
 * now, and how fast it may spawn them (as php-fpm's dynamic pm: 1, 2, 4 ...
 * 32 a second while short of idle workers, back to 1 after). */
#ifndef FW_SIZING_H
#define FW_SIZING_H

#include <stdbool.h>
#include <stdint.h>

struct fw_sizing_limits {
    unsigned min, max, min_spare, max_spare; /* min 0: on demand */
};

struct fw_sizing_now {
    unsigned running;  /* ready workers */
    unsigned idle;     /* of those, with no request in progress */
    unsigned starting; /* forked, not ready yet */
    bool conn_waiting; /* a connection waits on the socket (on demand) */
    bool idle_expired; /* some idle worker has been idle past idle_timeout */
};

/* The number of workers wanted, within [min, max]. *stop_idle is set when
 * the longest-idle expired worker should be stopped (one per call), which
 * the returned number already accounts for. */
unsigned fw_sizing_want(const struct fw_sizing_limits *l, const struct fw_sizing_now *n,
                        bool *stop_idle);

struct fw_sizing_rate {
    unsigned rate;     /* spawns allowed in the current window; 0 before the first */
    unsigned spawned;  /* in the current window */
    int64_t window_ms; /* start of the current one-second window */
};

/* May one more worker be spawned at now_ms? Counts it if so. */
bool fw_sizing_rate_allows(struct fw_sizing_rate *r, int64_t now_ms);

#endif
