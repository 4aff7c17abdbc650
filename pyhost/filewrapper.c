/* The FileWrapper type: iteration and close() per PEP 3333. The fast path
 * that bypasses iteration lives in the gateway. */
#include "config.h"

#include "filewrapper.h"

#include "module.h"
#include "pyutil.h"

struct filewrapper {
    PyObject_HEAD PyObject *filelike;
    Py_ssize_t blksize;
};

static PyObject *fwr_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = { "filelike", "blksize", NULL };
    PyObject *filelike;
    Py_ssize_t blksize = 8192;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|n:FileWrapper", kwlist, &filelike, &blksize))
        return NULL;
    if (blksize <= 0) {
        PyErr_SetString(PyExc_ValueError, "FileWrapper blksize must be positive");
        return NULL;
    }
    struct filewrapper *self = (struct filewrapper *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->filelike = Py_NewRef(filelike);
    self->blksize = blksize;
    return (PyObject *)self;
}

PyObject *fw_filewrapper_filelike(struct fw_modstate *st, PyObject *obj)
{
    if (Py_TYPE(obj) != st->filewrapper_type)
        return NULL;
    return ((struct filewrapper *)obj)->filelike;
}

static PyObject *fwr_iternext(PyObject *op)
{
    struct filewrapper *self = (struct filewrapper *)op;
    PyObject *data = PyObject_CallMethod(self->filelike, "read", "n", self->blksize);
    if (!data)
        return NULL;
    Py_ssize_t n = PyObject_Length(data);
    if (n < 0 && PyErr_ExceptionMatches(PyExc_TypeError)) {
        /* Returning data with this exception set made Python raise a
         * SystemError in whoever iterates us. */
        PyErr_Format(PyExc_TypeError,
                     "wsgi.file_wrapper: read() of the wrapped object returned %.100s, "
                     "which has no length (it must return bytes)",
                     Py_TYPE(data)->tp_name);
    }
    if (n <= 0) { /* 0: the end of the file, StopIteration; < 0: the error set */
        Py_DECREF(data);
        return NULL;
    }
    return data;
}

static PyObject *fwr_close(PyObject *op, PyObject *unused)
{
    struct filewrapper *self = (struct filewrapper *)op;
    PyObject *close = NULL;
    if (fw_pyutil_optional_attr(self->filelike, "close", &close) < 0)
        return NULL;
    if (!close)
        Py_RETURN_NONE;
    PyObject *r = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    return r;
}

static int fwr_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(((struct filewrapper *)op)->filelike);
    return 0;
}

static int fwr_clear(PyObject *op)
{
    Py_CLEAR(((struct filewrapper *)op)->filelike);
    return 0;
}

static void fwr_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    fwr_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *fwr_get_filelike(PyObject *op, void *closure)
{
    return Py_NewRef(((struct filewrapper *)op)->filelike);
}

static PyObject *fwr_get_blksize(PyObject *op, void *closure)
{
    return PyLong_FromSsize_t(((struct filewrapper *)op)->blksize);
}

static PyMethodDef fwr_methods[] = {
    { "close", fwr_close, METH_NOARGS, "Close the wrapped file if it has close()." },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef fwr_getset[] = {
    { "filelike", fwr_get_filelike, NULL, NULL, NULL },
    { "blksize", fwr_get_blksize, NULL, NULL, NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

static PyType_Slot fwr_slots[] = {
    { Py_tp_new, fwr_new },
    { Py_tp_dealloc, fwr_dealloc },
    { Py_tp_traverse, fwr_traverse },
    { Py_tp_clear, fwr_clear },
    { Py_tp_iter, PyObject_SelfIter },
    { Py_tp_iternext, fwr_iternext },
    { Py_tp_methods, fwr_methods },
    { Py_tp_getset, fwr_getset },
    { Py_tp_doc, "FileWrapper(filelike, blksize=8192): wsgi.file_wrapper." },
    { 0, NULL },
};

PyType_Spec fw_filewrapper_spec = {
    .name = "fcgiwsgi.FileWrapper",
    .basicsize = sizeof(struct filewrapper),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = fwr_slots,
};
