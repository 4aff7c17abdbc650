/* start_response(), write() and header serialisation for FastCGI ("Status:"
 * plus the app's headers as a CGI response). */
#include "config.h"

#include "response.h"

#include "gateway.h"
#include "lib/log.h"
#include "module.h"
#include "reqguard.h"

#include <ctype.h>
#include <stdlib.h>

/* Fields change with the GIL held; those that go with the I/O (headers_sent,
 * body_sent) only while the request's guard is held too. */
struct response {
    PyObject_HEAD struct fw_reqguard *guard;
    struct fw_gw_request *req;               /* set only while the guard is held */
    PyObject *status;                        /* str, set by start_response */
    PyObject *headers;                       /* list of (str, str) */
    int status_code;
    int64_t content_length; /* from the app's headers, or set by us; -1 none */
    bool length_added;
    bool headers_sent;
    bool overflow_logged;
    bool is_head;
    bool finished; /* an error ended the response: nothing more goes out */
    uint64_t body_sent;
};

PyObject *fw_response_new(struct fw_modstate *st, struct fw_gw_request *req,
                          struct fw_reqguard *guard)
{
    struct response *self = PyObject_GC_New(struct response, st->response_type);
    if (!self)
        return NULL;
    fw_reqguard_ref(guard);
    self->guard = guard;
    self->req = NULL;
    self->is_head = req->is_head;
    self->finished = false;
    self->status = NULL;
    self->headers = NULL;
    self->status_code = 0;
    self->content_length = -1;
    self->length_added = false;
    self->headers_sent = false;
    self->overflow_logged = false;
    self->body_sent = 0;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

void fw_response_finish(PyObject *op)
{
    struct response *self = (struct response *)op;
    self->finished = true;
    self->headers_sent = true;
}

bool fw_response_started(PyObject *op)
{
    return ((struct response *)op)->status != NULL;
}

bool fw_response_headers_sent(PyObject *op)
{
    return ((struct response *)op)->headers_sent;
}

int64_t fw_response_content_length(PyObject *op)
{
    return ((struct response *)op)->content_length;
}

uint64_t fw_response_body_sent(PyObject *op)
{
    return ((struct response *)op)->body_sent;
}

static bool status_has_body(int code)
{
    return !(code == 204 || code == 304 || (code >= 100 && code < 200));
}

bool fw_response_has_body(PyObject *op)
{
    struct response *self = (struct response *)op;
    return !self->is_head && status_has_body(self->status_code);
}

void fw_response_set_length(PyObject *op, int64_t n)
{
    struct response *self = (struct response *)op;
    /* A HEAD's Content-Length, if sent, is the GET's (RFC 9110 9.3.2), and
     * apps (Werkzeug) answer HEAD with an empty body: 0 would be a lie. */
    if (self->is_head && n == 0)
        return;
    if (self->content_length < 0 && status_has_body(self->status_code)) {
        self->content_length = n;
        self->length_added = true;
    }
}

/* RFC 9110 token characters, for header names. */
static bool is_tchar(Py_UCS4 c)
{
    return c < 128 && (isalnum((int)c) || strchr("!#$%&'*+-.^_`|~", (int)c));
}

static int check_status(PyObject *status, int *code)
{
    if (!PyUnicode_Check(status)) {
        PyErr_Format(PyExc_TypeError, "WSGI status must be str, not %.100s",
                     Py_TYPE(status)->tp_name);
        return -1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(status);
    int kind = PyUnicode_KIND(status);
    const void *data = PyUnicode_DATA(status);
    if (n < 4 || PyUnicode_READ(kind, data, 3) != ' ')
        goto bad;
    int c = 0;
    for (int i = 0; i < 3; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch < '0' || ch > '9')
            goto bad;
        c = c * 10 + (int)(ch - '0');
    }
    if (c < 100)
        goto bad;
    for (Py_ssize_t i = 4; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch > 255 || (ch < 32 && ch != '\t') || ch == 127)
            goto bad;
    }
    *code = c;
    return 0;
bad:
    PyErr_Format(PyExc_ValueError, "invalid WSGI status %R: expected e.g. '200 OK'", status);
    return -1;
}

/* Returns 1 if it is Content-Length (and sets *len), 0 otherwise, -1 on error. */
static int check_header(PyObject *item, int64_t *len)
{
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
        PyErr_Format(PyExc_TypeError, "WSGI header must be a (name, value) tuple, not %R", item);
        return -1;
    }
    PyObject *name = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);
    if (!PyUnicode_Check(name) || !PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "WSGI header name and value must be str: %R", item);
        return -1;
    }
    Py_ssize_t nlen = PyUnicode_GET_LENGTH(name);
    if (nlen == 0) {
        PyErr_SetString(PyExc_ValueError, "empty WSGI header name");
        return -1;
    }
    int kind = PyUnicode_KIND(name);
    const void *data = PyUnicode_DATA(name);
    for (Py_ssize_t i = 0; i < nlen; i++) {
        if (!is_tchar(PyUnicode_READ(kind, data, i))) {
            PyErr_Format(PyExc_ValueError, "invalid character in WSGI header name %R", name);
            return -1;
        }
    }
    /* "Status" would be read by the web server as the CGI status. */
    if (PyUnicode_CompareWithASCIIString(name, "Status") == 0 ||
        (nlen == 6 && strcasecmp(PyUnicode_AsUTF8(name), "status") == 0)) {
        PyErr_SetString(PyExc_ValueError,
                        "WSGI header 'Status' is not allowed; use the status argument");
        return -1;
    }
    Py_ssize_t vlen = PyUnicode_GET_LENGTH(value);
    kind = PyUnicode_KIND(value);
    data = PyUnicode_DATA(value);
    for (Py_ssize_t i = 0; i < vlen; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch > 255 || (ch < 32 && ch != '\t') || ch == 127) {
            PyErr_Format(PyExc_ValueError, "invalid character %s in the value of WSGI header %R",
                         ch == '\r' || ch == '\n' ? "(CR or LF)" : "", name);
            return -1;
        }
    }
    if (nlen == 14 && strcasecmp(PyUnicode_AsUTF8(name), "content-length") == 0) {
        const char *v = PyUnicode_AsUTF8(value);
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (!v[0] || *end || errno || n < 0 || !isdigit((unsigned char)v[0])) {
            PyErr_Format(PyExc_ValueError, "invalid Content-Length %R", value);
            return -1;
        }
        *len = n;
        return 1;
    }
    return 0;
}

static PyObject *sr_call(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    struct response *self = (struct response *)op;
    PyObject *status, *headers, *exc_info = Py_None;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw < 2 || nargs + nkw > 3) {
        PyErr_SetString(PyExc_TypeError, "start_response(status, headers, exc_info=None)");
        return NULL;
    }
    PyObject *argv[3] = { NULL, NULL, Py_None };
    for (Py_ssize_t i = 0; i < nargs; i++)
        argv[i] = args[i];
    static const char *const names[3] = { "status", "headers", "exc_info" };
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *kw = PyTuple_GET_ITEM(kwnames, k);
        int pos = -1;
        for (int j = 0; j < 3; j++)
            if (PyUnicode_CompareWithASCIIString(kw, names[j]) == 0)
                pos = j;
        if (pos < 0 || pos < nargs) {
            PyErr_Format(PyExc_TypeError, "start_response() got an unexpected keyword %R", kw);
            return NULL;
        }
        argv[pos] = args[nargs + k];
    }
    status = argv[0];
    headers = argv[1];
    exc_info = argv[2];
    if (!status || !headers) {
        PyErr_SetString(PyExc_TypeError, "start_response(status, headers, exc_info=None)");
        return NULL;
    }
    if (fw_reqguard_ended(self->guard)) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called after its request ended");
        return NULL;
    }
    if (exc_info != Py_None) {
        if (self->headers_sent) {
            /* PEP 3333: re-raise when headers are already out. */
            if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
                PyErr_SetString(PyExc_TypeError,
                                "exc_info must be a (type, value, traceback) tuple");
                return NULL;
            }
            PyObject *t = PyTuple_GET_ITEM(exc_info, 0), *v = PyTuple_GET_ITEM(exc_info, 1),
                     *tb = PyTuple_GET_ITEM(exc_info, 2);
            PyErr_Restore(Py_NewRef(t), Py_NewRef(v), tb == Py_None ? NULL : Py_NewRef(tb));
            return NULL;
        }
    } else if (self->status) {
        PyErr_SetString(PyExc_RuntimeError,
                        "start_response() called a second time without exc_info");
        return NULL;
    }
    int code;
    if (check_status(status, &code) < 0)
        return NULL;
    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "WSGI headers must be a list, not %.100s",
                     Py_TYPE(headers)->tp_name);
        return NULL;
    }
    int64_t clen = -1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        int64_t prev = clen;
        int rc = check_header(PyList_GET_ITEM(headers, i), &clen);
        if (rc < 0)
            return NULL;
        /* Two lengths make the response's framing ambiguous (RFC 9112
         * 6.3: a recipient must treat it as an error). */
        if (rc == 1 && prev >= 0) {
            PyErr_SetString(PyExc_ValueError, "WSGI headers give Content-Length twice");
            return NULL;
        }
    }
    Py_XSETREF(self->status, Py_NewRef(status));
    /* A copy: the app may mutate its list after we validated it. */
    Py_XSETREF(self->headers, PyList_GetSlice(headers, 0, PyList_GET_SIZE(headers)));
    if (!self->headers)
        return NULL;
    self->status_code = code;
    self->content_length = clen;
    self->length_added = false;
    return PyObject_GetAttrString(op, "write");
}

static int io_write(struct response *self, const char *data, size_t len, bool flush)
{
    struct fw_gw_request *req = self->req;
    int rc;
    /* Headers and small bodies only fill a buffer: no reason to let go of
     * the GIL (two hand-offs per write, measured in the hello benchmark). */
    if (!flush && len && req->io.write_buffered &&
        req->io.write_buffered(req->io.ctx, data, len) == 0)
        return 0;
    Py_BEGIN_ALLOW_THREADS
        rc = len ? req->io.write(req->io.ctx, data, len) : 0;
        if (rc == 0 && flush)
            rc = req->io.flush(req->io.ctx);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        req->client_gone = true;
    return rc;
}

static void append(char **p, PyObject *s)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    memcpy(*p, PyUnicode_1BYTE_DATA(s), (size_t)n);
    *p += n;
}

static int send_headers(struct response *self)
{
    Py_ssize_t n = PyList_GET_SIZE(self->headers);
    size_t size = 8 + (size_t)PyUnicode_GET_LENGTH(self->status) + 2 + 40 + 2;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *h = PyList_GET_ITEM(self->headers, i);
        size += (size_t)PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(h, 0)) +
                (size_t)PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(h, 1)) + 4;
    }
    char stackbuf[2048];
    char *buf = size <= sizeof(stackbuf) ? stackbuf : PyMem_Malloc(size);
    if (!buf)
        return -1;
    /* Validated as latin-1 with no control characters, so each str is stored
     * one byte per character and copies as is. */
    char *p = buf;
    memcpy(p, "Status: ", 8);
    p += 8;
    append(&p, self->status);
    *p++ = '\r';
    *p++ = '\n';
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *h = PyList_GET_ITEM(self->headers, i);
        append(&p, PyTuple_GET_ITEM(h, 0));
        *p++ = ':';
        *p++ = ' ';
        append(&p, PyTuple_GET_ITEM(h, 1));
        *p++ = '\r';
        *p++ = '\n';
    }
    if (self->length_added)
        p += sprintf(p, "Content-Length: %lld\r\n", (long long)self->content_length);
    *p++ = '\r';
    *p++ = '\n';
    self->headers_sent = true;
    self->req->status = self->status_code;
    int rc = io_write(self, buf, (size_t)(p - buf), false);
    if (buf != stackbuf)
        PyMem_Free(buf);
    return rc;
}

static int send_locked(struct response *self, const char *data, size_t len, bool flush)
{
    if (self->finished) {
        PyErr_SetString(PyExc_OSError, "the response was already ended by an error");
        return -1;
    }
    if (!self->headers_sent && send_headers(self) < 0)
        return -1;
    if (!fw_response_has_body((PyObject *)self))
        len = 0;
    if (self->content_length >= 0 && self->body_sent + len > (uint64_t)self->content_length) {
        if (!self->overflow_logged) {
            fw_log(FW_LOG_WARN, "%s: app sent more than its Content-Length of %lld; extra dropped",
                   self->req->uri_for_log, (long long)self->content_length);
            self->overflow_logged = true;
        }
        len = (size_t)((uint64_t)self->content_length - self->body_sent);
    }
    if (len == 0 && !flush)
        return 0;
    if (io_write(self, data, len, flush) < 0)
        return -1;
    self->body_sent += len;
    self->req->body_bytes_sent = self->body_sent;
    return 0;
}

int fw_response_send(PyObject *op, const char *data, size_t len, bool flush)
{
    struct response *self = (struct response *)op;
    struct fw_gw_request *req = fw_reqguard_enter(self->guard, PyExc_RuntimeError, "write()");
    if (!req)
        return -1;
    self->req = req;
    int rc = send_locked(self, data, len, flush);
    self->req = NULL;
    fw_reqguard_leave(self->guard);
    return rc;
}

static PyObject *resp_write(PyObject *op, PyObject *arg)
{
    struct response *self = (struct response *)op;
    if (!self->status) {
        PyErr_SetString(PyExc_RuntimeError, "write() called before start_response()");
        return NULL;
    }
    if (!PyBytes_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "write() argument must be bytes, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    /* PEP 3333: write() returns once the data is on its way. */
    if (fw_response_send(op, PyBytes_AS_STRING(arg), (size_t)PyBytes_GET_SIZE(arg), true) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_OSError, "client connection closed");
        return NULL;
    }
    Py_RETURN_NONE;
}

static int resp_traverse(PyObject *op, visitproc visit, void *arg)
{
    struct response *self = (struct response *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->status);
    Py_VISIT(self->headers);
    return 0;
}

static int resp_clear(PyObject *op)
{
    struct response *self = (struct response *)op;
    Py_CLEAR(self->status);
    Py_CLEAR(self->headers);
    return 0;
}

static void resp_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    resp_clear(op);
    fw_reqguard_unref(((struct response *)op)->guard);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *resp_start_response(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    return sr_call(op, args, nargs, kwnames);
}

static PyMethodDef resp_methods[] = {
    { "start_response", (PyCFunction)(void (*)(void))resp_start_response,
      METH_FASTCALL | METH_KEYWORDS, "start_response(status, headers, exc_info=None)" },
    { "write", resp_write, METH_O, "write(data): send bytes now (legacy WSGI)" },
    { NULL, NULL, 0, NULL },
};

static PyType_Slot resp_slots[] = {
    { Py_tp_dealloc, resp_dealloc },
    { Py_tp_traverse, resp_traverse },
    { Py_tp_clear, resp_clear },
    { Py_tp_methods, resp_methods },
    { 0, NULL },
};

PyType_Spec fw_response_spec = {
    .name = "fcgiwsgi.Response",
    .basicsize = sizeof(struct response),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = resp_slots,
};
