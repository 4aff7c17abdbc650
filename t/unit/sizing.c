/* manager/sizing: the dynamic pool's target and its spawn rate, case by
 * case (what php-fpm's dynamic pm does, plus on demand). */
#include "config.h"

#include "manager/sizing.h"
#include "tap.h"

static unsigned want(unsigned min, unsigned max, unsigned min_spare, unsigned max_spare,
                     struct fw_sizing_now n, bool *stop)
{
    struct fw_sizing_limits l = { min, max, min_spare, max_spare };
    return fw_sizing_want(&l, &n, stop);
}

int main(void)
{
    bool stop;
    /* min 2, max 8, keep 1..3 idle */
    is(want(2, 8, 1, 3, (struct fw_sizing_now){ 0 }, &stop), 2, "nothing yet: min");
    is(want(2, 8, 1, 3, (struct fw_sizing_now){ .running = 2, .idle = 1 }, &stop), 2,
       "one idle of two: enough spare");
    is(want(2, 8, 1, 3, (struct fw_sizing_now){ .running = 2, .idle = 0 }, &stop), 3,
       "all busy: one more for min_spare");
    is(want(2, 8, 2, 3, (struct fw_sizing_now){ .running = 4, .idle = 0 }, &stop), 6,
       "min_spare 2, all busy: two more");
    is(want(2, 8, 2, 3, (struct fw_sizing_now){ .running = 4, .idle = 0, .starting = 2 }, &stop), 6,
       "starting workers count as spare: no overshoot");
    is(want(2, 8, 1, 3, (struct fw_sizing_now){ .running = 8, .idle = 0 }, &stop), 8,
       "never past max");
    is(want(2, 8, 1, 3, (struct fw_sizing_now){ .running = 6, .idle = 5 }, &stop), 6,
       "idle above max_spare, none expired: keep");
    ok(!stop, "... and stop none");
    is(want(2, 8, 1, 3, (struct fw_sizing_now){ .running = 6, .idle = 5, .idle_expired = true },
            &stop),
       5, "idle above max_spare, one expired: one fewer");
    ok(stop, "... and stop it");
    is(want(2, 8, 1, 3, (struct fw_sizing_now){ .running = 6, .idle = 3, .idle_expired = true },
            &stop),
       6, "idle at max_spare: keep even if expired");
    ok(!stop, "... stop none");
    is(want(2, 8, 1, 1, (struct fw_sizing_now){ .running = 2, .idle = 2, .idle_expired = true },
            &stop),
       2, "never below min");
    ok(!stop, "... stop none at min");

    /* on demand: min 0 */
    is(want(0, 4, 0, 0, (struct fw_sizing_now){ 0 }, &stop), 0, "on demand, nothing waiting: 0");
    is(want(0, 4, 0, 0, (struct fw_sizing_now){ .conn_waiting = true }, &stop), 1,
       "on demand, a connection waits: 1");
    is(want(0, 4, 0, 0, (struct fw_sizing_now){ .conn_waiting = true, .starting = 1 }, &stop), 1,
       "... not a second while one starts");
    is(want(0, 4, 0, 0, (struct fw_sizing_now){ .running = 2, .conn_waiting = true }, &stop), 3,
       "... all busy and one waits: one more");
    is(want(0, 4, 0, 0, (struct fw_sizing_now){ .running = 1, .idle = 1, .idle_expired = true },
            &stop),
       0, "on demand, idle past idle_timeout: back to 0");
    ok(stop, "... stopping it");

    /* spawn rate: 1, 2, 4 ... 32 per second while short */
    struct fw_sizing_rate r = { 0 };
    int64_t t = 10000;
    unsigned allowed[8];
    for (int s = 0; s < 8; s++, t += 1000) {
        allowed[s] = 0;
        while (allowed[s] < 100 && fw_sizing_rate_allows(&r, t))
            allowed[s]++;
    }
    is(allowed[0], 1, "first second: 1");
    is(allowed[1], 2, "then 2");
    is(allowed[2], 4, "then 4");
    is(allowed[5], 32, "up to 32");
    is(allowed[7], 32, "and no more");
    ok(fw_sizing_rate_allows(&r, t + 5000), "a later window that is not used up (one spawn)...");
    ok(fw_sizing_rate_allows(&r, t + 6000) && !fw_sizing_rate_allows(&r, t + 6001),
       "... and the next one starts over at 1 a second");
    return done_testing();
}
