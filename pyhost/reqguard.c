/* Time a thread spends inside the guard is time waiting on the client, and
 * does not count against request_timeout (a slow upload is not the app's
 * fault). The guard is a Python thread lock, not a pthread mutex: a waiter must
 * let go of the GIL, and PyThread locks are what CPython's own buffered I/O
 * uses for the same dance. The reference count and the ended flag change
 * only with the GIL held. */
#include "config.h"

#include "reqguard.h"

#include "callclock.h"
#include "gateway.h"

#include <pythread.h>

struct fw_reqguard {
    PyThread_type_lock lock;
    struct fw_gw_request *req;
    unsigned long owner; /* thread holding the lock, 0 if none */
    unsigned refs;
    bool ended;
};

struct fw_reqguard *fw_reqguard_new(struct fw_gw_request *req)
{
    struct fw_reqguard *g = PyMem_Malloc(sizeof(*g));
    if (!g) {
        PyErr_NoMemory();
        return NULL;
    }
    g->lock = PyThread_allocate_lock();
    if (!g->lock) {
        PyMem_Free(g);
        PyErr_NoMemory();
        return NULL;
    }
    g->req = req;
    g->owner = 0;
    g->refs = 1;
    g->ended = false;
    return g;
}

void fw_reqguard_ref(struct fw_reqguard *g)
{
    g->refs++;
}

void fw_reqguard_unref(struct fw_reqguard *g)
{
    if (!g || --g->refs > 0)
        return;
    PyThread_free_lock(g->lock);
    PyMem_Free(g);
}

bool fw_reqguard_ended(const struct fw_reqguard *g)
{
    return g->ended;
}

static void take(struct fw_reqguard *g)
{
    if (!PyThread_acquire_lock(g->lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
            PyThread_acquire_lock(g->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
    g->owner = PyThread_get_thread_ident();
    if (g->req && g->req->clock)
        fw_callclock_io_begin(g->req->clock);
}

struct fw_gw_request *fw_reqguard_enter(struct fw_reqguard *g, PyObject *exc, const char *what)
{
    if (g->ended)
        goto ended;
    if (g->owner == PyThread_get_thread_ident()) {
        PyErr_Format(PyExc_RuntimeError, "%s used while this thread is already inside it", what);
        return NULL;
    }
    take(g);
    /* Checked again: the request may have ended while this thread waited. */
    if (g->ended) {
        fw_reqguard_leave(g);
        goto ended;
    }
    return g->req;
ended:
    PyErr_Format(exc, "%s used after its request ended", what);
    return NULL;
}

void fw_reqguard_leave(struct fw_reqguard *g)
{
    if (g->req && g->req->clock)
        fw_callclock_io_end(g->req->clock);
    g->owner = 0;
    PyThread_release_lock(g->lock);
}

void fw_reqguard_end(struct fw_reqguard *g)
{
    if (g->ended)
        return;
    take(g);
    fw_reqguard_leave(g);
    g->ended = true;
    g->req = NULL;
}
