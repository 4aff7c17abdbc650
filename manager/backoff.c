/* Crash-loop back-off: the policy of backoff.h, as plain arithmetic. */
#include "config.h"

#include "backoff.h"

#include <stddef.h>

enum fw_backoff_death fw_backoff_classify(bool ready, uint64_t requests, unsigned in_flight,
                                          int64_t age_ms)
{
    if (!ready)
        return FW_BACKOFF_NOT_READY;
    /* In flight first: a worker killed in its first request has finished
     * none, and is the case an attacker repeats. */
    if (in_flight > 0)
        return FW_BACKOFF_SERVING;
    if (requests > 0)
        return FW_BACKOFF_SERVED;
    return age_ms < FW_BACKOFF_YOUNG_MS ? FW_BACKOFF_IDLE_YOUNG : FW_BACKOFF_IDLE_OLD;
}

bool fw_backoff_is_crash(enum fw_backoff_death death)
{
    return death == FW_BACKOFF_NOT_READY || death == FW_BACKOFF_IDLE_YOUNG;
}

int64_t fw_backoff_delay_ms(unsigned crashes)
{
    if (crashes <= 1)
        return 0;
    int64_t delay = 1000;
    for (unsigned i = 2; i < crashes && delay < FW_BACKOFF_MAX_MS; i++)
        delay *= 2;
    return delay < FW_BACKOFF_MAX_MS ? delay : FW_BACKOFF_MAX_MS;
}

void fw_backoff_crash(struct fw_backoff *b, int64_t now_ms)
{
    if (b->crashes < UINT32_MAX)
        b->crashes++;
    b->last_crash_ms = now_ms;
    b->delay_ms = fw_backoff_delay_ms(b->crashes);
}

void fw_backoff_reset(struct fw_backoff *b)
{
    *b = (struct fw_backoff){ 0 };
}

int64_t fw_backoff_wait_ms(const struct fw_backoff *b, bool serving, bool *capped)
{
    bool cut = !serving && b->delay_ms > FW_BACKOFF_EMPTY_MAX_MS;
    if (capped)
        *capped = cut;
    return cut ? FW_BACKOFF_EMPTY_MAX_MS : b->delay_ms;
}

int64_t fw_backoff_next_spawn_ms(const struct fw_backoff *b, bool serving)
{
    if (!b->crashes)
        return 0;
    return b->last_crash_ms + fw_backoff_wait_ms(b, serving, NULL);
}
