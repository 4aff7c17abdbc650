/* wsgi.input: a file-like object streaming the request body from the web
 * server. It never reads past CONTENT_LENGTH; without one it reads to the
 * end of the stream, enforcing the body limit as it goes. */
#ifndef FW_INPUT_H
#define FW_INPUT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

struct fw_gw_request;
struct fw_modstate;
struct fw_reqguard;

extern PyType_Spec fw_input_spec;

/* Every read goes through the request's guard (see reqguard.h): once the
 * request is over, reads raise ValueError. */
PyObject *fw_input_new(struct fw_modstate *st, struct fw_gw_request *req,
                       struct fw_reqguard *guard);

/* True if a read hit max_body_bytes (the answer is then 413, not 500). */
bool fw_input_too_large(PyObject *input);

#endif
