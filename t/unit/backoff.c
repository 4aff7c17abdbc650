/* manager/backoff: which deaths are start-up crashes, and the waits. */
#include "config.h"

#include "manager/backoff.h"
#include "tap.h"

int main(void)
{
    /* Which deaths count. */
    is(fw_backoff_classify(false, 0, 0, 100), FW_BACKOFF_NOT_READY, "never ready: a crash");
    is(fw_backoff_classify(false, 0, 0, 60000), FW_BACKOFF_NOT_READY,
       "never ready, however long it tried: a crash");
    is(fw_backoff_classify(true, 0, 0, 100), FW_BACKOFF_IDLE_YOUNG,
       "ready, no request, dead at once: a crash");
    is(fw_backoff_classify(true, 0, 1, 100), FW_BACKOFF_SERVING,
       "killed in its first request: not a crash (the attacker's case)");
    is(fw_backoff_classify(true, 3, 2, 100), FW_BACKOFF_SERVING, "killed mid-request: not a crash");
    is(fw_backoff_classify(true, 1, 0, 100), FW_BACKOFF_SERVED, "had served: not a crash");
    is(fw_backoff_classify(true, 0, 0, FW_BACKOFF_YOUNG_MS), FW_BACKOFF_IDLE_OLD,
       "idle but lived past the young period: not a crash");
    ok(fw_backoff_is_crash(FW_BACKOFF_NOT_READY) && fw_backoff_is_crash(FW_BACKOFF_IDLE_YOUNG) &&
           !fw_backoff_is_crash(FW_BACKOFF_SERVING) && !fw_backoff_is_crash(FW_BACKOFF_SERVED) &&
           !fw_backoff_is_crash(FW_BACKOFF_IDLE_OLD),
       "only deaths before serving are start-up crashes");

    /* The doubling. */
    is(fw_backoff_delay_ms(0), 0, "no crash: no wait");
    is(fw_backoff_delay_ms(1), 0, "the first is retried at once");
    is(fw_backoff_delay_ms(2), 1000, "then 1 s");
    is(fw_backoff_delay_ms(3), 2000, "2 s");
    is(fw_backoff_delay_ms(4), 4000, "4 s");
    is(fw_backoff_delay_ms(8), 60000, "64 s is cut to 60 s");
    is(fw_backoff_delay_ms(UINT32_MAX), 60000, "and stays there, without overflow");

    /* With and without a worker serving. */
    struct fw_backoff b = { 0 };
    is(fw_backoff_next_spawn_ms(&b, false), 0, "not backing off: spawn any time");
    for (int i = 0; i < 6; i++)
        fw_backoff_crash(&b, 100000);
    bool capped = false;
    is(b.crashes, 6, "six crashes counted");
    is(fw_backoff_wait_ms(&b, true, &capped), 16000, "with a worker serving: the full 16 s");
    ok(!capped, "not capped");
    is(fw_backoff_wait_ms(&b, false, &capped), FW_BACKOFF_EMPTY_MAX_MS,
       "with no worker serving: at most 5 s");
    ok(capped, "capped, and it says so");
    is(fw_backoff_next_spawn_ms(&b, false), 105000, "next spawn 5 s after the last crash");
    is(fw_backoff_next_spawn_ms(&b, true), 116000,
       "16 s when workers serve (and 5 s again as soon as the last one goes)");
    fw_backoff_reset(&b);
    fw_backoff_crash(&b, 200000);
    fw_backoff_crash(&b, 200000);
    is(fw_backoff_wait_ms(&b, false, &capped), 1000, "after a reset the doubling starts again");
    ok(!capped, "a delay under the cap is not capped");
    return done_testing();
}
