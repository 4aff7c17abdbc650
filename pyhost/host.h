/* Starting and stopping embedded CPython in a worker process. Start runs in
 * the process's main thread before any request thread; stop runs there after
 * all request threads have detached. */
#ifndef FW_HOST_H
#define FW_HOST_H

#include <stddef.h>

struct fw_host_config {
    const char *python_home;        /* a virtualenv or prefix; NULL: default */
    const char *const *python_path; /* prepended to sys.path in every interpreter */
    size_t n_python_path;
};

/* Py_InitializeFromConfig without Python's signal handlers (the worker's C
 * code owns signals); sets up the main interpreter. Returns with the GIL
 * released. 0 or -1 (logged). */
int fw_host_start(const struct fw_host_config *cfg);

struct fw_pythread;

/* The Python state of the thread that called fw_host_start, for its own use
 * (preloading, unloading) until fw_host_stop. */
struct fw_pythread *fw_host_main_thread(void);

/* Ends every sub-interpreter, then finalizes Python if that is safe. Same
 * thread as fw_host_start; every other thread has detached. */
void fw_host_stop(void);

/* Around a fork() of a process whose Python runs in the main interpreter
 * only (a pool's template): before takes the GIL and runs CPython's fork
 * hooks (os.register_at_fork's before=), parent and child run the matching
 * after_in_parent= and after_in_child= and release the GIL again. Only the
 * thread that called fw_host_start. */
void fw_host_fork_before(void);
void fw_host_fork_parent(void);
void fw_host_fork_child(void);

/* gc.collect() then gc.freeze(): what the import left moves to the
 * collector's permanent generation, so a forked process's collections do
 * not write to (and so copy) every page of it. Before a template forks. */
void fw_host_freeze(void);

/* The names of the threads Python's threading module knows, other than the
 * caller, comma separated ("" if none or the module was never imported).
 * Same thread as fw_host_start, without the GIL. */
void fw_host_thread_names(char *out, size_t cap);

/* The embedded CPython's version ("3.11.2"), without starting it: for
 * --version. */
void fw_host_python_version(char *out, size_t cap);

#endif
