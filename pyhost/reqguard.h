/* One request's streams as Python code reaches them. wsgi.input, write()
 * and the gateway's own output may be used from different threads (an
 * app's thread pool reading the upload, a thread streaming the body), and
 * the objects can outlive their request. A guard serialises every use of
 * the request's I/O, and once the request is over makes each later use
 * raise instead of touching the request the worker has moved on from. */
#ifndef FW_REQGUARD_H
#define FW_REQGUARD_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

struct fw_gw_request;
struct fw_reqguard;

/* GIL held. One reference, for the caller. NULL with an exception set. */
struct fw_reqguard *fw_reqguard_new(struct fw_gw_request *req);
void fw_reqguard_ref(struct fw_reqguard *g);
void fw_reqguard_unref(struct fw_reqguard *g); /* GIL held */

/* Takes the guard, waiting with the GIL released while another thread
 * holds it. Returns the request, or NULL with `exc` raised ("WHAT used after
 * its request ended") once the request is over, or a RuntimeError if this
 * thread already holds it (a finaliser that reads wsgi.input, say). */
struct fw_gw_request *fw_reqguard_enter(struct fw_reqguard *g, PyObject *exc, const char *what);
void fw_reqguard_leave(struct fw_reqguard *g);

/* True once the request is over (GIL held; no waiting). */
bool fw_reqguard_ended(const struct fw_reqguard *g);

/* The request is over: waits until no thread is inside its I/O, then every
 * later enter fails. GIL held (released while waiting). */
void fw_reqguard_end(struct fw_reqguard *g);

#endif
