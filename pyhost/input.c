/* The wsgi.input type. The GIL is released around every read from the web
 * server; a small buffer serves readline(). Each method holds the request's
 * guard from start to end, so threads sharing the object take turns and
 * one that comes after the request gets an exception. */
#include "config.h"

#include "input.h"

#include "gateway.h"
#include "module.h"
#include "reqguard.h"

#define INPUT_CHUNK (64 * 1024)

struct input {
    PyObject_HEAD struct fw_reqguard *guard;
    struct fw_gw_request *req;               /* set only while a method holds the guard */
    int64_t remaining;                       /* per CONTENT_LENGTH; -1: read to end of stream */
    uint64_t consumed;                       /* bytes taken from the stream */
    char *buf;                               /* readline buffer */
    size_t pos, len, cap;
    bool eof;
    bool too_large;
};

PyObject *fw_input_new(struct fw_modstate *st, struct fw_gw_request *req,
                       struct fw_reqguard *guard)
{
    struct input *self = PyObject_New(struct input, st->input_type);
    if (!self)
        return NULL;
    fw_reqguard_ref(guard);
    self->guard = guard;
    self->req = NULL;
    self->remaining = req->content_length;
    self->consumed = 0;
    self->buf = NULL;
    self->pos = self->len = self->cap = 0;
    self->eof = req->content_length == 0;
    self->too_large = false;
    return (PyObject *)self;
}

bool fw_input_too_large(PyObject *op)
{
    return ((struct input *)op)->too_large;
}

static int enter(struct input *self)
{
    struct fw_gw_request *req = fw_reqguard_enter(self->guard, PyExc_ValueError, "wsgi.input");
    if (!req)
        return -1;
    self->req = req;
    return 0;
}

static PyObject *leave(struct input *self, PyObject *result)
{
    self->req = NULL;
    fw_reqguard_leave(self->guard);
    return result;
}

/* Reads up to n bytes (fewer only at the end of the body) from the web
 * server into dst. Returns the count, 0 at the end, -1 with an exception. */
static ssize_t io_read(struct input *self, char *dst, size_t n)
{
    struct fw_gw_request *req = self->req;
    ssize_t got;
    Py_BEGIN_ALLOW_THREADS
        got = req->io.read(req->io.ctx, dst, n);
    Py_END_ALLOW_THREADS
    if (got < 0) {
        self->eof = true;
        PyErr_SetString(PyExc_OSError, "error reading the request body (client went away?)");
    }
    return got;
}

static Py_ssize_t body_too_large(struct input *self)
{
    self->too_large = true;
    self->eof = true;
    PyErr_Format(PyExc_OSError, "request body larger than the limit of %llu bytes",
                 (unsigned long long)self->req->max_body_bytes);
    return -1;
}

/* Reads up to n bytes (fewer only at the end of the body) from the web
 * server into dst. Returns the count, 0 at the end, -1 with an exception. */
static Py_ssize_t read_stream(struct input *self, char *dst, size_t n)
{
    if (self->eof || n == 0)
        return 0;
    if (self->remaining >= 0 && (int64_t)n > self->remaining)
        n = (size_t)self->remaining;
    uint64_t max = self->req->max_body_bytes;
    /* With a CONTENT_LENGTH the limit was checked before the app ran; a body
     * without one is checked as it streams in. */
    if (max && self->remaining < 0) {
        uint64_t allowed = max - self->consumed;
        if (allowed == 0) {
            char probe;
            ssize_t got = io_read(self, &probe, 1);
            if (got < 0)
                return -1;
            if (got > 0)
                return body_too_large(self);
            self->eof = true;
            return 0;
        }
        if (n > allowed)
            n = (size_t)allowed;
    }
    ssize_t got = io_read(self, dst, n);
    if (got < 0)
        return -1;
    self->consumed += (uint64_t)got;
    if (self->remaining >= 0)
        self->remaining -= got;
    if ((size_t)got < n || self->remaining == 0)
        self->eof = true;
    return got;
}

static Py_ssize_t buffered(struct input *self)
{
    return (Py_ssize_t)(self->len - self->pos);
}

/* Makes room and reads more. The buffer grows only while one line is longer
 * than it, as a file's readline() would hold that line in memory too. */
static int fill_buffer(struct input *self)
{
    if (self->pos > 0) {
        memmove(self->buf, self->buf + self->pos, self->len - self->pos);
        self->len -= self->pos;
        self->pos = 0;
    }
    if (self->cap - self->len < INPUT_CHUNK / 2) {
        size_t cap = self->cap ? self->cap * 2 : INPUT_CHUNK;
        char *b = PyMem_Realloc(self->buf, cap);
        if (!b) {
            PyErr_NoMemory();
            return -1;
        }
        self->buf = b;
        self->cap = cap;
    }
    Py_ssize_t got = read_stream(self, self->buf + self->len, self->cap - self->len);
    if (got < 0)
        return -1;
    self->len += (size_t)got;
    return (int)(got > 0);
}

static PyObject *read_all(struct input *self)
{
    Py_ssize_t have = buffered(self);
    Py_ssize_t size = have + (self->remaining > 0 ? (Py_ssize_t)self->remaining : 0);
    if (self->remaining < 0)
        size = have + INPUT_CHUNK;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (!out)
        return NULL;
    char *p = PyBytes_AS_STRING(out);
    if (have > 0)
        memcpy(p, self->buf + self->pos, (size_t)have);
    self->pos = self->len = 0;
    Py_ssize_t n = have;
    for (;;) {
        if (n == size) {
            if (self->eof)
                break;
            if (_PyBytes_Resize(&out, size * 2) < 0)
                return NULL;
            size *= 2;
            p = PyBytes_AS_STRING(out);
        }
        Py_ssize_t got = read_stream(self, p + n, (size_t)(size - n));
        if (got < 0) {
            Py_DECREF(out);
            return NULL;
        }
        if (got == 0)
            break;
        n += got;
    }
    if (n != size && _PyBytes_Resize(&out, n) < 0)
        return NULL;
    return out;
}

static PyObject *read_size(struct input *self, Py_ssize_t size)
{
    if (size < 0)
        return read_all(self);
    Py_ssize_t have = buffered(self);
    Py_ssize_t take = have < size ? have : size;
    if (take == size || self->eof) {
        PyObject *out = PyBytes_FromStringAndSize(self->buf ? self->buf + self->pos : "", take);
        self->pos += (size_t)take;
        return out;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (!out)
        return NULL;
    char *p = PyBytes_AS_STRING(out);
    if (take)
        memcpy(p, self->buf + self->pos, (size_t)take);
    self->pos = self->len = 0;
    Py_ssize_t n = take;
    while (n < size) {
        Py_ssize_t got = read_stream(self, p + n, (size_t)(size - n));
        if (got < 0) {
            Py_DECREF(out);
            return NULL;
        }
        if (got == 0)
            break;
        n += got;
    }
    if (n != size && _PyBytes_Resize(&out, n) < 0)
        return NULL;
    return out;
}

static PyObject *readline(struct input *self, Py_ssize_t limit)
{
    size_t scanned = 0;
    for (;;) {
        Py_ssize_t have = buffered(self);
        const char *start = self->buf ? self->buf + self->pos : "";
        size_t scan_to = (size_t)have;
        if (limit >= 0 && (size_t)limit < scan_to)
            scan_to = (size_t)limit;
        const char *nl =
            scan_to > scanned ? memchr(start + scanned, '\n', scan_to - scanned) : NULL;
        Py_ssize_t take = -1;
        if (nl)
            take = nl - start + 1;
        else if (limit >= 0 && have >= limit)
            take = limit;
        else if (self->eof)
            take = have;
        if (take >= 0) {
            PyObject *out = PyBytes_FromStringAndSize(start, take);
            self->pos += (size_t)take;
            return out;
        }
        scanned = scan_to;
        if (fill_buffer(self) < 0)
            return NULL;
    }
}

static int parse_size_arg(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t *size,
                          const char *name)
{
    *size = -1;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument", name);
        return -1;
    }
    if (nargs == 1 && args[0] != Py_None) {
        *size = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
        if (*size == -1 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

static PyObject *in_read(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    struct input *self = (struct input *)op;
    Py_ssize_t size;
    if (parse_size_arg(args, nargs, &size, "read") < 0 || enter(self) < 0)
        return NULL;
    return leave(self, read_size(self, size));
}

static PyObject *in_readline(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    struct input *self = (struct input *)op;
    Py_ssize_t size;
    if (parse_size_arg(args, nargs, &size, "readline") < 0 || enter(self) < 0)
        return NULL;
    return leave(self, readline(self, size));
}

static PyObject *readlines(struct input *self, Py_ssize_t hint)
{
    PyObject *lines = PyList_New(0);
    if (!lines)
        return NULL;
    Py_ssize_t total = 0;
    for (;;) {
        PyObject *line = readline(self, -1);
        if (!line) {
            Py_DECREF(lines);
            return NULL;
        }
        Py_ssize_t n = PyBytes_GET_SIZE(line);
        if (n == 0) {
            Py_DECREF(line);
            break;
        }
        int rc = PyList_Append(lines, line);
        Py_DECREF(line);
        if (rc < 0) {
            Py_DECREF(lines);
            return NULL;
        }
        total += n;
        if (hint > 0 && total >= hint)
            break;
    }
    return lines;
}

static PyObject *in_readlines(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    struct input *self = (struct input *)op;
    Py_ssize_t hint;
    if (parse_size_arg(args, nargs, &hint, "readlines") < 0 || enter(self) < 0)
        return NULL;
    return leave(self, readlines(self, hint));
}

static PyObject *in_iternext(PyObject *op)
{
    struct input *self = (struct input *)op;
    if (enter(self) < 0)
        return NULL;
    PyObject *line = leave(self, readline(self, -1));
    if (line && PyBytes_GET_SIZE(line) == 0) {
        Py_DECREF(line);
        return NULL;
    }
    return line;
}

static PyObject *in_true(PyObject *op, PyObject *unused)
{
    Py_RETURN_TRUE;
}

static PyObject *in_false(PyObject *op, PyObject *unused)
{
    Py_RETURN_FALSE;
}

static PyObject *in_close(PyObject *op, PyObject *unused)
{
    Py_RETURN_NONE;
}

static void in_dealloc(PyObject *op)
{
    struct input *self = (struct input *)op;
    PyTypeObject *tp = Py_TYPE(op);
    PyMem_Free(self->buf);
    fw_reqguard_unref(self->guard);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMethodDef in_methods[] = {
    { "read", (PyCFunction)(void (*)(void))in_read, METH_FASTCALL, "read([size]) -> bytes" },
    { "readline", (PyCFunction)(void (*)(void))in_readline, METH_FASTCALL,
      "readline([size]) -> bytes" },
    { "readlines", (PyCFunction)(void (*)(void))in_readlines, METH_FASTCALL,
      "readlines([hint]) -> list of bytes" },
    { "readable", in_true, METH_NOARGS, NULL },
    { "writable", in_false, METH_NOARGS, NULL },
    { "seekable", in_false, METH_NOARGS, NULL },
    { "close", in_close, METH_NOARGS, NULL },
    { NULL, NULL, 0, NULL },
};

static PyType_Slot in_slots[] = {
    { Py_tp_dealloc, in_dealloc },
    { Py_tp_iter, PyObject_SelfIter },
    { Py_tp_iternext, in_iternext },
    { Py_tp_methods, in_methods },
    { Py_tp_doc, "The request body (wsgi.input)." },
    { 0, NULL },
};

PyType_Spec fw_input_spec = {
    .name = "fcgiwsgi.Input",
    .basicsize = sizeof(struct input),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = in_slots,
};
