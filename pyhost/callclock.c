/* PyThreadState_SetAsyncExc only reaches thread states of the calling
 * thread's interpreter, so the interrupter enters the call's interpreter
 * first, and checks under the GIL that the same call still runs there: the
 * GIL is what keeps a request thread from ending its call meanwhile. */
#include "config.h"

#include "callclock.h"

#include "interp.h"
#include "lib/log.h"
#include "module.h"
#include "pyutil.h"
#include "stacks.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <time.h>

int64_t fw_callclock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fw_callclock_begin(struct fw_callclock *c, struct fw_interp *in)
{
    c->ident = PyThread_get_thread_ident();
    c->interrupted = false;
    atomic_store(&c->interp, in);
    atomic_store(&c->io_ms, 0);
    atomic_store(&c->io_since_ms, 0);
    atomic_fetch_add(&c->number, 1);
    atomic_store(&c->start_ms, fw_callclock_now_ms());
}

bool fw_callclock_end(struct fw_callclock *c)
{
    atomic_store(&c->start_ms, 0);
    atomic_store(&c->interp, NULL);
    if (c->interrupted)
        PyThreadState_SetAsyncExc(c->ident, NULL);
    return c->interrupted;
}

void fw_callclock_io_begin(struct fw_callclock *c)
{
    atomic_store(&c->io_since_ms, fw_callclock_now_ms());
}

void fw_callclock_io_end(struct fw_callclock *c)
{
    int64_t since = atomic_exchange(&c->io_since_ms, 0);
    if (since)
        atomic_fetch_add(&c->io_ms, fw_callclock_now_ms() - since);
}

int64_t fw_callclock_app_ms(struct fw_callclock *c, int64_t now, uint64_t *number)
{
    uint64_t n = atomic_load(&c->number);
    int64_t start = atomic_load(&c->start_ms);
    if (!start)
        return -1;
    int64_t waited = atomic_load(&c->io_ms);
    int64_t since = atomic_load(&c->io_since_ms);
    if (since && since < now)
        waited += now - since;
    if (number)
        *number = n;
    int64_t ms = now - start - waited;
    return ms > 0 ? ms : 0;
}

static bool same_call(struct fw_callclock *c, uint64_t number, struct fw_interp *in)
{
    return atomic_load(&c->number) == number && atomic_load(&c->start_ms) &&
           atomic_load(&c->interp) == in;
}

static int raise_timeout(struct fw_callclock *c, uint64_t number, struct fw_interp *in,
                         const char *what)
{
    PyObject *mod = PyImport_ImportModule("fcgiwsgi");
    if (!mod) {
        fw_pyutil_log_exception(FW_LOG_ERR, what, "interrupting the request");
        return -1;
    }
    PyObject *exc = fw_module_state(mod)->request_timeout;
    /* The stack dump (traceback.format_stack) and the import run Python,
     * and the eval loop hands the GIL to other threads: the request thread
     * may have ended its call meanwhile, and an exception raised now would
     * fire in its next request (t/soak: a POST answered 504 after 10 ms).
     * Nothing between this check and the raise can release the GIL. */
    if (!same_call(c, number, in)) {
        Py_DECREF(mod);
        return 0;
    }
    int n = exc ? PyThreadState_SetAsyncExc(c->ident, exc) : 0;
    Py_DECREF(mod);
    if (n != 1) {
        if (n > 1)
            PyThreadState_SetAsyncExc(c->ident, NULL);
        fw_log(FW_LOG_ERR, "%s: could not raise RequestTimeout in its thread", what);
        return -1;
    }
    c->interrupted = true;
    return 1;
}

int fw_callclock_interrupt(struct fw_pythread *self, struct fw_callclock *c, uint64_t number,
                           const char *what)
{
    struct fw_interp *in = atomic_load(&c->interp);
    if (!in)
        return 0;
    fw_interp_enter(self, in);
    int rc = 0;
    if (same_call(c, number, in)) {
        fw_stacks_log_thread(c->ident, FW_LOG_ERR, what);
        rc = raise_timeout(c, number, in, what);
    }
    fw_interp_leave(self);
    return rc;
}

int fw_callclock_log_stack(struct fw_pythread *self, struct fw_callclock *c, uint64_t number,
                           const char *what)
{
    struct fw_interp *in = atomic_load(&c->interp);
    if (!in)
        return 0;
    fw_interp_enter(self, in);
    int rc = 0;
    if (same_call(c, number, in)) {
        fw_stacks_log_thread(c->ident, FW_LOG_WARN, what);
        rc = 1;
    }
    fw_interp_leave(self);
    return rc;
}
