/* Exception-to-log formatting through the traceback module, with a plain
 * fallback if even that fails (out of memory, broken sys.modules). */
#include "config.h"

#include "pyutil.h"

int fw_pyutil_optional_attr(PyObject *obj, const char *name, PyObject **out)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_GetOptionalAttrString(obj, name, out);
#else
    /* 3.11 and 3.12 have it under its private name; it does not build an
     * AttributeError only to drop it (done on every request for close()). */
    PyObject *n = PyUnicode_InternFromString(name);
    if (!n)
        return -1;
    int rc = _PyObject_LookupAttr(obj, n, out);
    Py_DECREF(n);
    return rc;
#endif
}

static PyObject *format_exception(PyObject *type, PyObject *value, PyObject *tb)
{
    PyObject *mod = PyImport_ImportModule("traceback");
    if (!mod)
        return NULL;
    PyObject *lines = PyObject_CallMethod(mod, "format_exception", "OOO", type,
                                          value ? value : Py_None, tb ? tb : Py_None);
    Py_DECREF(mod);
    if (!lines)
        return NULL;
    PyObject *sep = PyUnicode_FromString("");
    PyObject *text = sep ? PyUnicode_Join(sep, lines) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(lines);
    return text;
}

static void keep_tail(const char *text, size_t len, char *keep, size_t size)
{
    if (!keep || size == 0)
        return;
    if (len >= size) {
        const char *start = text + len - (size - 1);
        const char *nl = memchr(start, '\n', (size_t)(text + len - start));
        if (nl && nl + 1 < text + len)
            start = nl + 1;
        len = (size_t)(text + len - start);
        text = start;
    }
    memcpy(keep, text, len);
    keep[len] = '\0';
}

void fw_pyutil_log_exception(enum fw_log_level level, const char *tag, const char *what)
{
    fw_pyutil_log_exception_keep(level, tag, what, NULL, 0);
}

void fw_pyutil_log_exception_keep(enum fw_log_level level, const char *tag, const char *what,
                                  char *keep, size_t keep_size)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (!type) {
        fw_log(level, "%s: %s (no Python exception set)", tag, what);
        keep_tail(what, strlen(what), keep, keep_size);
        return;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *text = format_exception(type, value, tb);
    PyObject *bytes = text ? PyUnicode_AsEncodedString(text, "utf-8", "backslashreplace") : NULL;
    if (bytes) {
        size_t wlen = strlen(what);
        Py_ssize_t blen = PyBytes_GET_SIZE(bytes);
        char *block = PyMem_RawMalloc(wlen + 1 + (size_t)blen);
        if (block) {
            memcpy(block, what, wlen);
            block[wlen] = '\n';
            memcpy(block + wlen + 1, PyBytes_AS_STRING(bytes), (size_t)blen);
            size_t len = wlen + 1 + (size_t)blen;
            while (len > 0 && block[len - 1] == '\n')
                len--;
            fw_log_block(level, tag, block, len);
            keep_tail(block, len, keep, keep_size);
            PyMem_RawFree(block);
        }
    } else {
        PyErr_Clear();
        PyObject *s = value ? PyObject_Str(value) : NULL;
        const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
        if (!msg)
            PyErr_Clear();
        char line[1024];
        int n = snprintf(line, sizeof(line), "%s: %s: %s (traceback unavailable)", what,
                         ((PyTypeObject *)type)->tp_name, msg ? msg : "?");
        fw_log(level, "%s: %s", tag, line);
        if (n > 0)
            keep_tail(line, strnlen(line, sizeof(line)), keep, keep_size);
        Py_XDECREF(s);
    }
    Py_XDECREF(bytes);
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}
