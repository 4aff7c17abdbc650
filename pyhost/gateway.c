/* One WSGI call: environ, the call, iterating the result, close(), and the
 * error outcomes (500 before headers, a cut connection after them). */
#include "config.h"

#include "gateway.h"

#include "app.h"
#include "callclock.h"
#include "filewrapper.h"
#include "input.h"
#include "lib/http.h"
#include "lib/log.h"
#include "logstream.h"
#include "module.h"
#include "pyutil.h"
#include "reqguard.h"
#include "response.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_BLOCK (256 * 1024)

/* Sends a canned error response; GIL not held. */
static void send_error(struct fw_gw_request *req, int status)
{
    char buf[512];
    size_t n = fw_http_error_response(status, buf, sizeof(buf));
    const char *body = memmem(buf, n, "\r\n\r\n", 4);
    req->status = status;
    /* The page's own bytes, for the access log. */
    req->body_bytes_sent = body ? n - (size_t)(body + 4 - buf) : 0;
    if (req->io.write(req->io.ctx, buf, n) < 0)
        req->client_gone = true;
}

static PyObject *latin1(const char *s, size_t n)
{
    return PyUnicode_DecodeLatin1(s, (Py_ssize_t)n, NULL);
}

static int set_item(PyObject *d, PyObject *key, PyObject *value)
{
    return value ? PyDict_SetItem(d, key, value) : -1;
}

static PyObject *build_environ(struct fw_app *app, struct fw_gw_request *req, PyObject *input)
{
    struct fw_modstate *st = fw_app_modstate(app);
    /* Sized for every key at once: no rehash while it fills (3.11 to 3.13
     * export it under this name). */
    PyObject *env = _PyDict_NewPresized((Py_ssize_t)req->n_params + FW_KEY__COUNT);
    if (!env)
        return NULL;
    for (size_t i = 0; i < req->n_params; i++) {
        const struct fw_param *p = &req->params[i];
        PyObject *k = fw_module_param_name(st, p->name, p->name_len);
        PyObject *v = k ? latin1(p->value, p->value_len) : NULL;
        int rc = v ? PyDict_SetItem(env, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (rc < 0)
            goto fail;
    }
    PyObject **key = st->keys;
    if (set_item(env, key[FW_KEY_WSGI_VERSION], st->wsgi_version) < 0 ||
        set_item(env, key[FW_KEY_WSGI_URL_SCHEME], req->https ? st->str_https : st->str_http) < 0 ||
        set_item(env, key[FW_KEY_WSGI_INPUT], input) < 0 ||
        set_item(env, key[FW_KEY_WSGI_ERRORS], fw_app_errors(app)) < 0 ||
        set_item(env, key[FW_KEY_WSGI_MULTITHREAD], req->multithread ? Py_True : Py_False) < 0 ||
        set_item(env, key[FW_KEY_WSGI_MULTIPROCESS], req->multiprocess ? Py_True : Py_False) < 0 ||
        set_item(env, key[FW_KEY_WSGI_RUN_ONCE], Py_False) < 0 ||
        set_item(env, key[FW_KEY_WSGI_INPUT_TERMINATED], Py_True) < 0 ||
        set_item(env, key[FW_KEY_WSGI_FILE_WRAPPER], (PyObject *)st->filewrapper_type) < 0 ||
        set_item(env, key[FW_KEY_FCGIWSGI_APPLICATION_GROUP], fw_app_group_object(app)) < 0 ||
        set_item(env, key[FW_KEY_FCGIWSGI_SCRIPT], fw_app_script_object(app)) < 0)
        goto fail;
    if (req->pool) {
        if (!st->pool && !(st->pool = PyUnicode_FromString(req->pool)))
            goto fail;
        if (!st->generation && !(st->generation = PyLong_FromUnsignedLong(req->generation)))
            goto fail;
        if (set_item(env, key[FW_KEY_FCGIWSGI_POOL], st->pool) < 0 ||
            set_item(env, key[FW_KEY_FCGIWSGI_GENERATION], st->generation) < 0)
            goto fail;
    }
    return env;
fail:
    Py_DECREF(env);
    return NULL;
}

struct call {
    struct fw_app *app;
    struct fw_gw_request *req;
    struct fw_reqguard *guard;
    PyObject *input;
    PyObject *response;
    bool failed; /* an error was logged and answered */
};

/* Ends the response after an error: the error page if nothing went out yet,
 * else a cut the web server sees as an incomplete response. Under the guard,
 * so an app thread's write() cannot slip in between, and after it the
 * response takes no more output. */
static void end_with_error(struct call *c, int status)
{
    if (!fw_reqguard_enter(c->guard, PyExc_RuntimeError, "the response")) {
        PyErr_Clear();
        return;
    }
    bool sent = fw_response_headers_sent(c->response);
    bool declared = fw_response_content_length(c->response) >= 0;
    fw_response_finish(c->response);
    Py_BEGIN_ALLOW_THREADS
        if (sent) {
            /* What was written goes out first, as a generator's blocks do. */
            c->req->io.flush(c->req->io.ctx);
            c->req->io.abort(c->req->io.ctx, declared);
        } else {
            send_error(c->req, status);
        }
    Py_END_ALLOW_THREADS
    fw_reqguard_leave(c->guard);
}

/* The pending exception becomes a log entry and, if nothing was sent yet, a
 * 500 (or 413 when the body was over the limit); after the headers, the
 * connection is cut so the web server sees an incomplete response. */
static void app_error(struct call *c, const char *what)
{
    char msg[600];
    bool timed_out = PyErr_ExceptionMatches(fw_app_modstate(c->app)->request_timeout);
    if (timed_out)
        what = "interrupted past request_timeout";
    snprintf(msg, sizeof(msg), "%s: %s", c->req->uri_for_log, what);
    bool too_large = fw_input_too_large(c->input);
    if (c->req->client_gone) {
        PyErr_Clear();
        fw_log(FW_LOG_INFO, "%s: %s: client went away", fw_app_tag(c->app), c->req->uri_for_log);
    } else {
        fw_pyutil_log_exception(too_large ? FW_LOG_WARN : FW_LOG_ERR, fw_app_tag(c->app), msg);
    }
    if (c->failed)
        return;
    c->failed = true;
    if (c->req->client_gone)
        return;
    end_with_error(c, timed_out ? 504 : too_large ? 413 : 500);
}

/* wsgi.file_wrapper around a real file: pread() it in large blocks with the
 * GIL released, from the file's current position (PEP 3333). Returns 1 if
 * sent, 0 if the object is not a plain file (iterate it instead), -1 on
 * error (handled). */
static int send_file(struct call *c, PyObject *filelike)
{
    PyObject *r = PyObject_CallMethod(filelike, "fileno", NULL);
    if (!r) {
        PyErr_Clear();
        return 0;
    }
    long fd = PyLong_AsLong(r);
    Py_DECREF(r);
    struct stat sb;
    if (fd < 0 || PyErr_Occurred() || fstat((int)fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        PyErr_Clear();
        return 0;
    }
    /* tell() and not lseek(): a buffered file's OS offset runs ahead. */
    r = PyObject_CallMethod(filelike, "tell", NULL);
    long long offset = r ? PyLong_AsLongLong(r) : -1;
    Py_XDECREF(r);
    if (offset < 0 || PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (!fw_response_started(c->response)) {
        PyErr_SetString(PyExc_RuntimeError, "app returned a file without calling start_response()");
        app_error(c, "bad response");
        return -1;
    }
    int64_t size = sb.st_size > offset ? (int64_t)(sb.st_size - offset) : 0;
    if (fw_response_content_length(c->response) < 0)
        fw_response_set_length(c->response, size);
    if (fw_response_send(c->response, NULL, 0, false) < 0)
        return -1;
    /* HEAD, 204 and 304 get the headers alone, as any other body. */
    if (!fw_response_has_body(c->response))
        return 1;
    /* What the headers promise, and no more: a file that ends before a
     * declared length (or shrinks under us) makes the response short. */
    int64_t clen = fw_response_content_length(c->response);
    int64_t left = clen >= 0 ? clen : size;
    char *buf = malloc(FILE_BLOCK);
    if (!buf) {
        PyErr_NoMemory();
        app_error(c, "sending a file");
        return -1;
    }
    int rc = 1;
    int saved_errno = 0;
    /* Held for the whole file, GIL released: an app thread's write() waits. */
    if (!fw_reqguard_enter(c->guard, PyExc_RuntimeError, "the response")) {
        free(buf);
        app_error(c, "sending a file");
        return -1;
    }
    Py_BEGIN_ALLOW_THREADS
        while (left > 0) {
            size_t want = left < FILE_BLOCK ? (size_t)left : FILE_BLOCK;
            ssize_t got = pread((int)fd, buf, want, (off_t)offset);
            if (got <= 0) {
                saved_errno = got < 0 ? errno : 0;
                rc = -2;
                break;
            }
            if (c->req->io.write(c->req->io.ctx, buf, (size_t)got) < 0) {
                c->req->client_gone = true;
                rc = -1;
                break;
            }
            offset += got;
            left -= got;
            c->req->body_bytes_sent += (uint64_t)got;
        }
    Py_END_ALLOW_THREADS
    fw_reqguard_leave(c->guard);
    free(buf);
    if (rc == -2) {
        /* The same outcome as a generator that stops short: the web server
         * must see the response cut, not whole. */
        if (saved_errno)
            fw_log(FW_LOG_ERR, "%s: %s: reading the wrapped file failed after %llu bytes: %s",
                   fw_app_tag(c->app), c->req->uri_for_log,
                   (unsigned long long)c->req->body_bytes_sent, strerror(saved_errno));
        else
            fw_log(FW_LOG_WARN,
                   "%s: %s: sent %llu of the %lld bytes of its Content-Length: the wrapped "
                   "file ended",
                   fw_app_tag(c->app), c->req->uri_for_log,
                   (unsigned long long)c->req->body_bytes_sent, (long long)clen);
        c->failed = true;
        end_with_error(c, 0);
        return -1;
    }
    return rc;
}

/* Sums the lengths of a list/tuple of bytes so the response carries a
 * Content-Length (lets the web server keep the client connection alive
 * without chunking). -1 if some item is not bytes. */
static int64_t sequence_length(PyObject *seq)
{
    int64_t total = 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_Check(items[i]))
            return -1;
        total += PyBytes_GET_SIZE(items[i]);
    }
    return total;
}

static int send_item(struct call *c, PyObject *item, bool flush)
{
    if (!PyBytes_Check(item)) {
        PyErr_Format(PyExc_TypeError, "WSGI app yielded %.100s; it must yield bytes",
                     Py_TYPE(item)->tp_name);
        app_error(c, "bad response body");
        return -1;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(item);
    if (n == 0)
        return 0;
    if (!fw_response_started(c->response)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "WSGI app yielded data before calling start_response()");
        app_error(c, "bad response");
        return -1;
    }
    if (fw_response_send(c->response, PyBytes_AS_STRING(item), (size_t)n, flush) < 0)
        return -1;
    return 0;
}

static void iterate(struct call *c, PyObject *result)
{
    struct fw_modstate *st = fw_app_modstate(c->app);
    PyObject *filelike = fw_filewrapper_filelike(st, result);
    if (filelike) {
        int rc = send_file(c, filelike);
        if (rc != 0)
            return;
    }
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
        if (fw_response_started(c->response) && fw_response_content_length(c->response) < 0) {
            int64_t len = sequence_length(result);
            if (len >= 0)
                fw_response_set_length(c->response, len);
        }
        /* Everything is already in memory: one flush at the end. */
        Py_ssize_t n = PySequence_Fast_GET_SIZE(result);
        for (Py_ssize_t i = 0; i < n; i++)
            if (send_item(c, PySequence_Fast_ITEMS(result)[i], false) < 0)
                return;
    } else {
        PyObject *it = PyObject_GetIter(result);
        if (!it) {
            app_error(c, "the WSGI app returned a non-iterable");
            return;
        }
        PyObject *item;
        /* PEP 3333: each block is sent before the next is asked for. */
        while ((item = PyIter_Next(it))) {
            int rc = send_item(c, item, true);
            Py_DECREF(item);
            if (rc < 0) {
                Py_DECREF(it);
                return;
            }
        }
        Py_DECREF(it);
        if (PyErr_Occurred()) {
            app_error(c, "exception while iterating the response");
            return;
        }
    }
    if (!fw_response_started(c->response)) {
        PyErr_SetString(PyExc_RuntimeError, "WSGI app returned without calling start_response()");
        app_error(c, "bad response");
        return;
    }
    if (!fw_response_headers_sent(c->response)) {
        fw_response_set_length(c->response, 0);
        if (fw_response_send(c->response, NULL, 0, false) < 0)
            return;
    }
    int64_t clen = fw_response_content_length(c->response);
    if (clen >= 0 && !c->req->is_head && c->req->status != 204 && c->req->status != 304 &&
        fw_response_body_sent(c->response) < (uint64_t)clen) {
        fw_log(FW_LOG_WARN, "%s: %s: app sent %llu bytes but declared Content-Length %lld",
               fw_app_tag(c->app), c->req->uri_for_log,
               (unsigned long long)fw_response_body_sent(c->response), (long long)clen);
        c->failed = true;
        end_with_error(c, 0);
    }
}

/* PEP 3333: close() is called once, whatever happened, if it exists. An
 * exception in it after a complete response is only logged: the response
 * the client got is whole. */
static void close_result(struct call *c, PyObject *result)
{
    /* A list, tuple or bytes has no close(): asking would build and drop
     * an AttributeError (a formatted message) on every request. */
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result) || PyBytes_CheckExact(result))
        return;
    PyObject *close = NULL;
    int has = fw_pyutil_optional_attr(result, "close", &close);
    PyObject *r = NULL;
    if (has > 0) {
        r = PyObject_CallNoArgs(close);
        Py_DECREF(close);
    }
    if (has >= 0 && (has == 0 || r)) {
        Py_XDECREF(r);
        return;
    }
    const char *what = has < 0 ? "looking up close() on the response failed"
                               : "exception in close() of the response";
    if (c->failed || fw_response_headers_sent(c->response)) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s: %s", c->req->uri_for_log, what);
        fw_pyutil_log_exception(FW_LOG_ERR, fw_app_tag(c->app), msg);
        return;
    }
    app_error(c, what);
}

int fw_gateway_call(struct fw_app *app, struct fw_pythread *thread, struct fw_gw_request *req)
{
    PyObject *callable = fw_app_enter(app, thread);
    if (!callable) {
        fw_log(FW_LOG_INFO, "%s: %s: answered 500, the app is not loaded", fw_app_tag(app),
               req->uri_for_log);
        send_error(req, 500);
        return req->client_gone ? -1 : 0;
    }
    struct fw_modstate *st = fw_app_modstate(app);
    struct call c = { .app = app, .req = req };
    PyObject *environ = NULL, *start_response = NULL, *result = NULL;
    c.guard = fw_reqguard_new(req);
    c.input = c.guard ? fw_input_new(st, req, c.guard) : NULL;
    c.response = c.input ? fw_response_new(st, req, c.guard) : NULL;
    if (!c.response) {
        fw_pyutil_log_exception(FW_LOG_ERR, fw_app_tag(app), "cannot set up the request");
        Py_XDECREF(c.input);
        fw_reqguard_unref(c.guard);
        fw_app_leave(app, thread);
        send_error(req, 500);
        return req->client_gone ? -1 : 0;
    }
    if (req->clock)
        fw_callclock_begin(req->clock, fw_app_interp(app));
    environ = build_environ(app, req, c.input);
    start_response = environ ? PyObject_GetAttrString(c.response, "start_response") : NULL;
    if (!start_response) {
        app_error(&c, "cannot build the WSGI environ");
        goto done;
    }
    result = PyObject_CallFunctionObjArgs(callable, environ, start_response, NULL);
    if (!result) {
        app_error(&c, "exception in the WSGI app");
        goto done;
    }
    iterate(&c, result);
    close_result(&c, result);
done:
    if (req->clock && fw_callclock_end(req->clock) && !c.failed)
        fw_log(FW_LOG_WARN, "%s: %s: the app caught RequestTimeout and answered anyway",
               fw_app_tag(app), req->uri_for_log);
    /* Waits for an app thread still inside read() or write(). */
    fw_reqguard_end(c.guard);
    fw_logstream_flush_thread(fw_app_errors(app));
    Py_XDECREF(result);
    Py_XDECREF(start_response);
    Py_XDECREF(environ);
    Py_DECREF(c.response);
    Py_DECREF(c.input);
    fw_reqguard_unref(c.guard);
    fw_app_leave(app, thread);
    if (req->client_gone) {
        fw_log(FW_LOG_INFO, "%s: %s: client went away after %llu body bytes", fw_app_tag(app),
               req->uri_for_log, (unsigned long long)req->body_bytes_sent);
        return -1;
    }
    return 0;
}
