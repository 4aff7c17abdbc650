/* See sizing.h. Starting workers count as spare already: they will be idle
 * in a moment, and counting them stops a burst from overshooting. */
#include "config.h"

#include "sizing.h"

#define RATE_MAX 32

unsigned fw_sizing_want(const struct fw_sizing_limits *l, const struct fw_sizing_now *n,
                        bool *stop_idle)
{
    unsigned want = n->running + n->starting;
    unsigned keep_idle = l->min == 0 ? 0 : l->max_spare;
    *stop_idle = false;
    if (l->min == 0) {
        /* On demand: a connection waiting with no worker free to take it. */
        if (n->idle == 0 && n->starting == 0 && n->conn_waiting)
            want++;
    } else if (n->idle + n->starting < l->min_spare) {
        want += l->min_spare - n->idle - n->starting;
    }
    if (n->idle > keep_idle && n->running > l->min && n->idle_expired) {
        *stop_idle = true;
        want--;
    }
    if (want > l->max)
        want = l->max;
    if (want < l->min)
        want = l->min;
    return want;
}

bool fw_sizing_rate_allows(struct fw_sizing_rate *r, int64_t now_ms)
{
    if (now_ms - r->window_ms >= 1000) {
        bool was_short = r->rate && r->spawned >= r->rate;
        r->rate = was_short ? (r->rate < RATE_MAX ? r->rate * 2 : RATE_MAX) : 1;
        r->window_ms = now_ms;
        r->spawned = 0;
    }
    if (r->spawned >= r->rate)
        return false;
    r->spawned++;
    return true;
}
