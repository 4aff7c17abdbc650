/* LogStream: file-like text output to the log, line by line. */
#include "config.h"

#include "logstream.h"

#include "module.h"

#include <pythread.h>

/* A line without a newline is still emitted once it grows this long, so an
 * app writing without newlines cannot grow memory without bound. */
#define PARTIAL_MAX_CHARS (64 * 1024)

struct logstream {
    PyObject_HEAD char *tag;
    enum fw_log_level level;
    PyObject *partial; /* dict: thread ident -> str */
};

PyObject *fw_logstream_new(struct fw_modstate *st, const char *tag, enum fw_log_level level)
{
    struct logstream *self = PyObject_GC_New(struct logstream, st->logstream_type);
    if (!self)
        return NULL;
    self->tag = PyMem_RawMalloc(strlen(tag) + 1);
    self->level = level;
    self->partial = PyDict_New();
    if (!self->tag || !self->partial) {
        PyMem_RawFree(self->tag);
        self->tag = NULL;
        Py_CLEAR(self->partial);
        PyObject_GC_Del(self);
        Py_DECREF(st->logstream_type);
        return PyErr_NoMemory();
    }
    strcpy(self->tag, tag);
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static int emit(struct logstream *self, PyObject *text)
{
    PyObject *b = PyUnicode_AsEncodedString(text, "utf-8", "backslashreplace");
    if (!b)
        return -1;
    fw_log_block(self->level, self->tag, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return 0;
}

static PyObject *thread_key(void)
{
    return PyLong_FromUnsignedLong(PyThread_get_thread_ident());
}

static PyObject *ls_write(PyObject *op, PyObject *arg)
{
    struct logstream *self = (struct logstream *)op;
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "write() argument must be str, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    Py_ssize_t written = PyUnicode_GET_LENGTH(arg);
    PyObject *key = thread_key();
    PyObject *text = NULL, *head = NULL, *rest = NULL, *result = NULL;
    if (!key)
        return NULL;
    PyObject *prev = PyDict_GetItemWithError(self->partial, key); /* borrowed */
    if (!prev && PyErr_Occurred())
        goto done;
    text = prev ? PyUnicode_Concat(prev, arg) : Py_NewRef(arg);
    if (!text)
        goto done;
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    Py_ssize_t nl = PyUnicode_FindChar(text, '\n', 0, len, -1);
    if (nl == -2)
        goto done;
    if (nl >= 0) {
        head = PyUnicode_Substring(text, 0, nl);
        rest = PyUnicode_Substring(text, nl + 1, len);
        if (!head || !rest || emit(self, head) < 0)
            goto done;
    } else if (len >= PARTIAL_MAX_CHARS) {
        if (emit(self, text) < 0)
            goto done;
        rest = PyUnicode_New(0, 0);
        if (!rest)
            goto done;
    } else {
        rest = Py_NewRef(text);
    }
    if (PyUnicode_GET_LENGTH(rest) == 0) {
        if (prev && PyDict_DelItem(self->partial, key) < 0)
            goto done;
    } else if (PyDict_SetItem(self->partial, key, rest) < 0) {
        goto done;
    }
    result = PyLong_FromSsize_t(written);
done:
    Py_XDECREF(key);
    Py_XDECREF(text);
    Py_XDECREF(head);
    Py_XDECREF(rest);
    return result;
}

static PyObject *ls_writelines(PyObject *op, PyObject *lines)
{
    PyObject *it = PyObject_GetIter(lines);
    if (!it)
        return NULL;
    PyObject *line;
    while ((line = PyIter_Next(it))) {
        PyObject *r = ls_write(op, line);
        Py_DECREF(line);
        if (!r) {
            Py_DECREF(it);
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static int flush_thread(struct logstream *self)
{
    PyObject *key = thread_key();
    if (!key)
        return -1;
    int rc = 0;
    PyObject *prev = PyDict_GetItemWithError(self->partial, key);
    if (prev) {
        Py_INCREF(prev);
        rc = emit(self, prev);
        Py_DECREF(prev);
        if (PyDict_DelItem(self->partial, key) < 0)
            rc = -1;
    } else if (PyErr_Occurred()) {
        rc = -1;
    }
    Py_DECREF(key);
    return rc;
}

void fw_logstream_flush_thread(PyObject *stream)
{
    if (flush_thread((struct logstream *)stream) < 0)
        PyErr_Clear();
}

static PyObject *ls_flush(PyObject *op, PyObject *unused)
{
    if (flush_thread((struct logstream *)op) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *ls_false(PyObject *op, PyObject *unused)
{
    Py_RETURN_FALSE;
}

static PyObject *ls_true(PyObject *op, PyObject *unused)
{
    Py_RETURN_TRUE;
}

static PyObject *ls_fileno(PyObject *op, PyObject *unused)
{
    PyErr_SetString(PyExc_OSError, "fcgiwsgi log stream has no file descriptor");
    return NULL;
}

static PyObject *ls_get_encoding(PyObject *op, void *closure)
{
    return PyUnicode_FromString("utf-8");
}

static PyObject *ls_get_errors(PyObject *op, void *closure)
{
    return PyUnicode_FromString("backslashreplace");
}

static PyObject *ls_get_name(PyObject *op, void *closure)
{
    return PyUnicode_FromFormat("<%s>", ((struct logstream *)op)->tag);
}

static int ls_traverse(PyObject *op, visitproc visit, void *arg)
{
    struct logstream *self = (struct logstream *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->partial);
    return 0;
}

static int ls_clear(PyObject *op)
{
    Py_CLEAR(((struct logstream *)op)->partial);
    return 0;
}

static void ls_dealloc(PyObject *op)
{
    struct logstream *self = (struct logstream *)op;
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    ls_clear(op);
    PyMem_RawFree(self->tag);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMethodDef ls_methods[] = {
    { "write", ls_write, METH_O, NULL },
    { "writelines", ls_writelines, METH_O, NULL },
    { "flush", ls_flush, METH_NOARGS, NULL },
    { "isatty", ls_false, METH_NOARGS, NULL },
    { "readable", ls_false, METH_NOARGS, NULL },
    { "seekable", ls_false, METH_NOARGS, NULL },
    { "writable", ls_true, METH_NOARGS, NULL },
    { "fileno", ls_fileno, METH_NOARGS, NULL },
    { NULL, NULL, 0, NULL },
};

static PyObject *ls_get_closed(PyObject *op, void *closure)
{
    Py_RETURN_FALSE;
}

static PyGetSetDef ls_getset[] = {
    { "closed", ls_get_closed, NULL, NULL, NULL },
    { "encoding", ls_get_encoding, NULL, NULL, NULL },
    { "errors", ls_get_errors, NULL, NULL, NULL },
    { "name", ls_get_name, NULL, NULL, NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

static PyType_Slot ls_slots[] = {
    { Py_tp_dealloc, ls_dealloc },
    { Py_tp_traverse, ls_traverse },
    { Py_tp_clear, ls_clear },
    { Py_tp_methods, ls_methods },
    { Py_tp_getset, ls_getset },
    { Py_tp_doc, "A text stream whose lines go to the fcgiwsgi log." },
    { 0, NULL },
};

PyType_Spec fw_logstream_spec = {
    .name = "fcgiwsgi.LogStream",
    .basicsize = sizeof(struct logstream),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = ls_slots,
};
