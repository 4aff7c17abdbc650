/* The interpreter registry: one interpreter per application group, and for
 * every request thread one PyThreadState per interpreter it has run in, kept
 * for the thread's life (threading.local survives between requests). This is
 * the only file that switches thread states. */
#ifndef FW_INTERP_H
#define FW_INTERP_H

#define FW_INTERP_GLOBAL "%{GLOBAL}"
#define FW_INTERP_MAX 256

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct fw_interp;
struct fw_pythread;

/* Called with the new interpreter's thread state current, to set it up
 * (sys.path, the fcgiwsgi module). Returns 0 or -1 (exception set). */
typedef int (*fw_interp_init_fn)(const char *group);

/* Registers the main interpreter (group %{GLOBAL}) and the init hook. Called
 * once by the host right after Python started, with the GIL held. */
void fw_interp_setup(fw_interp_init_fn init);

/* Per OS thread, GIL not held. attach creates the thread's main-interpreter
 * state through PyGILState so C extensions using PyGILState_Ensure from this
 * thread in %{GLOBAL} find it. detach deletes all of the thread's states. */
struct fw_pythread *fw_interp_thread_attach(void);
/* Waits (at most 5 s) until *flag is set by a thread that has attached.
 * A thread attaches through the main interpreter's thread state, and on
 * CPython 3.11 and 3.12 a thread waiting for the GIL asks only its own
 * interpreter's threads to let go of it: one that attaches while a request
 * spins in an app's sub-interpreter waits until that call blocks or ends
 * (the watchdog, attaching late on a loaded machine, could then neither
 * log a slow stack nor interrupt the call: t/slowlog.t, seen in CI). So
 * every thread of a worker attaches before the worker accepts. */
void fw_interp_wait_attached(const atomic_bool *flag);
void fw_interp_thread_detach(struct fw_pythread *t);

/* The interpreter of `group`, created on first use, with its own GIL if
 * own_gil (CPython 3.12+; conf/ refuses it on 3.11 and for %{GLOBAL}). GIL
 * not held; NULL on failure, or if the group exists with the other own_gil
 * (logged). */
struct fw_interp *fw_interp_get(struct fw_pythread *t, const char *group, bool own_gil);
bool fw_interp_own_gil(const struct fw_interp *in);

/* Take the GIL of `in` (the shared one, or its own) with the thread's state
 * there current / give it back. A thread holds one GIL at a time: leave
 * before entering another interpreter. */
void fw_interp_enter(struct fw_pythread *t, struct fw_interp *in);
void fw_interp_leave(struct fw_pythread *t);

const char *fw_interp_group(const struct fw_interp *in);

/* The interpreters created so far, main first (they are never removed
 * before exit). */
size_t fw_interp_count(void);
struct fw_interp *fw_interp_at(size_t i);

/* At exit, from the thread that started Python (t is its state), GIL held in
 * the main interpreter, after every request thread detached: ends each
 * sub-interpreter, with t's own thread state there if it has one (it may be
 * the interpreter's threading "main thread", which must stay alive for
 * threading._shutdown to join non-daemon threads). Returns 0, or -1 if one
 * could not be ended cleanly (then Py_FinalizeEx must not run). */
int fw_interp_end_all(struct fw_pythread *t);

/* Whether Py_FinalizeEx may run once the interpreters ended: not on
 * CPython 3.12 after an own-GIL interpreter existed (its finalization then
 * frees memory that interpreter allocated: "free(): invalid pointer" after
 * an asyncio event loop there, 3.12.1). Then the main interpreter's atexit
 * handlers are run and the exit that follows releases the rest. */
bool fw_interp_finalize_safe(void);

#endif
