/* The response side of one WSGI call: the start_response callable and the
 * write() it returns, header validation (a CR or LF never reaches the web
 * server), and the body path with Content-Length and HEAD rules. */
#ifndef FW_RESPONSE_H
#define FW_RESPONSE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>

struct fw_gw_request;
struct fw_modstate;
struct fw_reqguard;

extern PyType_Spec fw_response_spec;

/* Output goes through the request's guard (see reqguard.h): write() from
 * another thread takes its turn, and after the request it raises. */
PyObject *fw_response_new(struct fw_modstate *st, struct fw_gw_request *req,
                          struct fw_reqguard *guard);

/* The gateway ended the response itself (an error page or a cut): later
 * sends raise. Call with the guard held. */
void fw_response_finish(PyObject *resp);

bool fw_response_started(PyObject *resp);           /* start_response was called */
bool fw_response_headers_sent(PyObject *resp);      /* headers went to the web server */
int64_t fw_response_content_length(PyObject *resp); /* -1: none */
uint64_t fw_response_body_sent(PyObject *resp);

/* False for HEAD and for a status without a body (1xx, 204, 304): what the
 * app gives is dropped. Meaningful once start_response was called. */
bool fw_response_has_body(PyObject *resp);

/* Adds Content-Length: n if the app gave none and the status has a body. */
void fw_response_set_length(PyObject *resp, int64_t n);

/* Sends the headers if not yet sent, then data (dropped for HEAD, 204, 304,
 * cut at the app's Content-Length). GIL held; it is released around I/O.
 * Takes the guard. Returns 0, or -1: the client is gone (no exception set),
 * or the request or response is over (exception set). */
int fw_response_send(PyObject *resp, const char *data, size_t len, bool flush);

#endif
