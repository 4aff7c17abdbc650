/* Interpreter registry and thread-state switching. Lock order: the registry
 * mutex is only ever taken without the GIL, then the GIL; never the reverse,
 * or a thread holding the GIL would wait for one waiting for the GIL. With
 * own-GIL interpreters there are several GILs, and a thread holds at most
 * one: every enter is paired with a leave before the next enter. */
#include "config.h"

#include "interp.h"

#include "gilkick.h"

#include "lib/log.h"
#include "pyutil.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

struct fw_interp {
    char *group;
    int index;
    PyInterpreterState *state;
    /* A thread state no thread uses, so the interpreter never has none:
     * CPython 3.11 reuses a preallocated "initial" state when a thread state
     * is created in an interpreter with no thread states left, and aborts
     * because it was initialised before. It also ends the interpreter. */
    PyThreadState *anchor;
    bool own_gil; /* its own GIL (3.12+): not the main interpreter's */
};

struct fw_pythread {
    PyGILState_STATE gil_state;
    PyThreadState *states[FW_INTERP_MAX]; /* [0]: main interpreter */
    int current;                          /* the interpreter entered last */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fw_interp *interps[FW_INTERP_MAX];
static atomic_int n_interps;
static fw_interp_init_fn init_hook;
static atomic_bool made_own_gil; /* an own-GIL interpreter was created */
static struct fw_interp main_interp = { .group = (char *)FW_INTERP_GLOBAL, .index = 0 };

void fw_interp_setup(fw_interp_init_fn init)
{
    init_hook = init;
    main_interp.state = PyInterpreterState_Main();
    interps[0] = &main_interp;
    atomic_store(&n_interps, 1);
    fw_gilkick_add(0, main_interp.state);
}

struct fw_pythread *fw_interp_thread_attach(void)
{
    struct fw_pythread *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->gil_state = PyGILState_Ensure();
    t->states[0] = PyThreadState_Get();
    PyEval_SaveThread();
    return t;
}

void fw_interp_wait_attached(const atomic_bool *flag)
{
    for (int i = 0; i < 5000 && !atomic_load(flag); i++)
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
}

void fw_interp_thread_detach(struct fw_pythread *t)
{
    if (!t)
        return;
    for (int i = FW_INTERP_MAX - 1; i > 0; i--) {
        if (!t->states[i])
            continue;
        PyEval_RestoreThread(t->states[i]);
        PyThreadState_Clear(t->states[i]);
        PyThreadState_DeleteCurrent();
    }
    PyEval_RestoreThread(t->states[0]);
    PyGILState_Release(t->gil_state);
    free(t);
}

const char *fw_interp_group(const struct fw_interp *in)
{
    return in->group;
}

size_t fw_interp_count(void)
{
    return (size_t)atomic_load(&n_interps);
}

struct fw_interp *fw_interp_at(size_t i)
{
    return i < fw_interp_count() ? interps[i] : NULL;
}

static struct fw_interp *find(const char *group)
{
    int n = atomic_load(&n_interps);
    for (int i = 0; i < n; i++)
        if (strcmp(interps[i]->group, group) == 0)
            return interps[i];
    return NULL;
}

/* Py_NewInterpreter (one GIL for all), or for own_gil an isolated
 * interpreter: separate obmalloc and GIL, which CPython only allows with
 * extensions checked (check_multi_interp_extensions: a module that does not
 * declare per-interpreter GIL support is refused at import, refusal.h).
 * Fork stays off as in CPython's isolated defaults (a fork from a threaded
 * worker with other interpreters running is not survivable); exec and daemon
 * threads stay on as in the shared-GIL groups, since apps use subprocess
 * and libraries start daemon threads. Called with the main interpreter's
 * GIL held; on success returns with the new state current and, for own_gil,
 * the main GIL released and the new one held. */
static PyThreadState *new_interpreter(bool own_gil, const char *group)
{
    if (!own_gil) {
        PyThreadState *ts = Py_NewInterpreter();
        if (!ts)
            fw_log(FW_LOG_ERR, "Py_NewInterpreter failed for group '%s'", group);
        return ts;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyInterpreterConfig cfg = {
        .use_main_obmalloc = 0,
        .allow_fork = 0,
        .allow_exec = 1,
        .allow_threads = 1,
        .allow_daemon_threads = 1,
        .check_multi_interp_extensions = 1,
        .gil = PyInterpreterConfig_OWN_GIL,
    };
    PyThreadState *ts = NULL;
    PyStatus st = Py_NewInterpreterFromConfig(&ts, &cfg);
    if (PyStatus_Exception(st) || !ts) {
        fw_log(FW_LOG_ERR, "creating the own-GIL interpreter of group '%s' failed: %s%s%s", group,
               st.func ? st.func : "", st.func ? ": " : "", st.err_msg ? st.err_msg : "error");
        return NULL;
    }
    return ts;
#else
    fw_log(FW_LOG_ERR, "application group '%s': own_gil needs CPython 3.12 or later, this is %s",
           group, PY_VERSION);
    return NULL;
#endif
}

#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000
/* CPython 3.12 runs a single-phase module's init in the importing
 * interpreter and only then refuses it there if it checks extensions: in
 * an own-GIL one that leaves the module's C state made of that
 * interpreter's objects, and the next interpreter to import it crashes the
 * process (seen: decimal, which tries _decimal first, then _decimal in a
 * shared-GIL group: "munmap_chunk(): invalid pointer"). A module already
 * loaded elsewhere is refused before its init runs, so the standard
 * library's such modules that apps import through a pure-Python fallback
 * or a common package (decimal, datetime, xml, ctypes, cProfile) are
 * loaded in the main interpreter before the first own-GIL one exists.
 * 3.13 runs such inits in the main interpreter itself (cpython #117953).
 * Main GIL held. */
static void preload_single_phase(void)
{
    static bool done;
    static const char *const names[] = { "_decimal",     "_datetime", "pyexpat",
                                         "_elementtree", "_ctypes",   "_lsprof" };
    if (done)
        return;
    done = true;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        PyObject *m = PyImport_ImportModule(names[i]);
        if (!m)
            PyErr_Clear(); /* not built here: nobody can import it then */
        Py_XDECREF(m);
    }
}

#else
static void preload_single_phase(void)
{
}
#endif

static struct fw_interp *create(struct fw_pythread *t, const char *group, bool own_gil)
{
    int n = atomic_load(&n_interps);
    if (n >= FW_INTERP_MAX) {
        fw_log(FW_LOG_ERR, "cannot create interpreter for group '%s': at most %d interpreters",
               group, FW_INTERP_MAX);
        return NULL;
    }
    struct fw_interp *in = calloc(1, sizeof(*in));
    if (!in || !(in->group = strdup(group))) {
        free(in);
        fw_log(FW_LOG_ERR, "out of memory creating interpreter for group '%s'", group);
        return NULL;
    }
    in->index = n;
    in->own_gil = own_gil;

    bool asked = fw_gilkick_want(0);
    PyEval_RestoreThread(t->states[0]);
    fw_gilkick_taken(0, asked);
    if (own_gil)
        preload_single_phase();
    /* The new interpreter's state is current on return; we keep it as this
     * thread's state there. */
    PyThreadState *ts = new_interpreter(own_gil, group);
    if (!ts) {
        fw_gilkick_left(0);
        PyEval_SaveThread();
        free(in->group);
        free(in);
        return NULL;
    }
    if (own_gil)
        fw_gilkick_left(0); /* the main GIL was let go */
    in->state = PyThreadState_GetInterpreter(ts);
    t->states[in->index] = ts;
    in->anchor = PyThreadState_New(in->state);
    if (init_hook && init_hook(group) < 0)
        fw_pyutil_log_exception(FW_LOG_ERR, group, "setting up the interpreter failed");
    if (!own_gil)
        fw_gilkick_left(0);
    PyEval_SaveThread();

    interps[n] = in;
    atomic_store(&n_interps, n + 1);
    /* An own GIL is asked for by its own interpreter's waiters only. */
    if (!own_gil)
        fw_gilkick_add(n, in->state);
    if (own_gil)
        atomic_store(&made_own_gil, true);
    fw_log(FW_LOG_INFO, "created interpreter for application group '%s'%s", group,
           own_gil ? " with its own GIL" : "");
    return in;
}

struct fw_interp *fw_interp_get(struct fw_pythread *t, const char *group, bool own_gil)
{
    pthread_mutex_lock(&registry_lock);
    struct fw_interp *in = find(group);
    if (in && in->own_gil != own_gil) {
        fw_log(FW_LOG_ERR, "application group '%s' exists %s its own GIL; an app asks for it %s",
               group, in->own_gil ? "with" : "without", own_gil ? "with" : "without");
        in = NULL;
    } else if (!in) {
        in = create(t, group, own_gil);
    }
    pthread_mutex_unlock(&registry_lock);
    return in;
}

bool fw_interp_own_gil(const struct fw_interp *in)
{
    return in->own_gil;
}

void fw_interp_enter(struct fw_pythread *t, struct fw_interp *in)
{
    PyThreadState *ts = t->states[in->index];
    if (!ts) {
        /* Needs no GIL; 3.12+ binds it to this thread's PyGILState slot only if
         * the slot is empty, and attach already filled it with the main one. */
        ts = PyThreadState_New(in->state);
        t->states[in->index] = ts;
    }
    t->current = in->index;
    if (in->own_gil) {
        PyEval_RestoreThread(ts);
        return;
    }
    bool asked = fw_gilkick_want(in->index);
    PyEval_RestoreThread(ts);
    fw_gilkick_taken(in->index, asked);
}

void fw_interp_leave(struct fw_pythread *t)
{
    if (!interps[t->current]->own_gil)
        fw_gilkick_left(t->current);
    PyEval_SaveThread();
}

static PyObject *noop(PyObject *self, PyObject *unused)
{
    Py_RETURN_NONE;
}

static PyMethodDef noop_def = { "_shutdown", noop, METH_NOARGS, NULL };

/* Threads an app started and left running would make Py_EndInterpreter abort
 * the process ("not the last thread"). Join the non-daemon ones as
 * Py_EndInterpreter would, then check that none is left. Py_EndInterpreter
 * calls threading._shutdown() again, which 3.12 does not allow (it asserts):
 * the joining is done, so the second call becomes a no-op. */
static int only_thread_left(PyThreadState *ts)
{
    PyObject *threading = PyImport_ImportModule("threading");
    if (threading) {
        PyObject *r = PyObject_CallMethod(threading, "_shutdown", NULL);
        Py_XDECREF(r);
        PyObject *fn = PyCFunction_New(&noop_def, NULL);
        if (fn) {
            PyObject_SetAttrString(threading, "_shutdown", fn);
            Py_DECREF(fn);
        }
        Py_DECREF(threading);
    }
    if (PyErr_Occurred())
        PyErr_Clear();
    PyInterpreterState *is = PyThreadState_GetInterpreter(ts);
    return PyInterpreterState_ThreadHead(is) == ts && PyThreadState_Next(ts) == NULL;
}

int fw_interp_end_all(struct fw_pythread *t)
{
    int rc = 0;
    PyThreadState *main_ts = PyThreadState_Get();
    int n = atomic_load(&n_interps);
    for (int i = n - 1; i > 0; i--) {
        struct fw_interp *in = interps[i];
        PyThreadState *ts = t->states[i];
        t->states[i] = NULL;
        PyThreadState *anchor = in->anchor;
        in->anchor = NULL;
        if (!ts)
            ts = anchor;
        if (!ts) {
            rc = -1;
            continue;
        }
        /* Swap lets go of the main GIL and takes the interpreter's own,
         * under which its anchor is cleared. */
        PyThreadState_Swap(ts);
        if (anchor && anchor != ts) {
            PyThreadState_Clear(anchor);
            PyThreadState_Delete(anchor);
        }
        if (only_thread_left(ts)) {
            Py_EndInterpreter(ts);
        } else {
            fw_log(FW_LOG_WARN,
                   "application group '%s' still has threads running; not ending its interpreter",
                   in->group);
            rc = -1;
        }
        PyThreadState_Swap(main_ts);
    }
    return rc;
}

bool fw_interp_finalize_safe(void)
{
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000
    return !atomic_load(&made_own_gil);
#else
    return true;
#endif
}
