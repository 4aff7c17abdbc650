/* Getting the GIL across interpreters on CPython 3.11 and 3.12. A thread
 * waiting for the GIL sets the drop request in its own interpreter only, so
 * a thread holding it while it runs Python in another interpreter never
 * sees it: measured, a request to one app of a worker waited 2.7 s for a
 * 3 s CPU-bound request of another app (its own sub-interpreter) to end,
 * and 10 ms on 3.13, where the request goes to the holder's thread.
 * For each interpreter a thread here waits, only while some thread waits
 * for the GIL and that interpreter runs a call, by taking and releasing
 * the GIL with a thread state of that interpreter: whichever one holds it
 * is then asked too. On 3.13 and later all of it compiles to nothing.
 * Threads an app started itself are not counted as running a call. */
#ifndef FW_GILKICK_H
#define FW_GILKICK_H

#include <stdbool.h>

/* Registers interpreter `index` (its PyInterpreterState *, as void * so
 * this header needs no Python.h). From the second one on, each gets its
 * waiting thread (the first gets one too then). Registry lock held. */
void fw_gilkick_add(int index, void *interp_state);

/* Around a thread's time in interpreter `index`: before it takes the GIL
 * there (true if it asked the others to give it up: pass that to
 * fw_gilkick_taken), once it has, and before it gives it back for good. */
bool fw_gilkick_want(int index);
void fw_gilkick_taken(int index, bool asked);
void fw_gilkick_left(int index);

/* Stops and joins the waiting threads (they delete their thread states).
 * GIL not held; before the interpreters end. */
void fw_gilkick_stop(void);

#endif
