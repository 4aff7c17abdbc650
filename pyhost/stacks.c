/* Stack dumps through sys._current_frames(), which (3.11 to 3.13) lists the
 * threads of every interpreter. */
#include "config.h"

#include "stacks.h"

#include "lib/log.h"
#include "pyutil.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>

static const char one_code[] =
    "import sys, traceback\n"
    "_f = sys._current_frames().get(_fw_ident)\n"
    "_fw_stacks = ''.join(traceback.format_stack(_f)) if _f else ''\n";

/* Runs code with `_fw_ident` set and logs the `_fw_stacks` it leaves. */
static void run_dump(const char *code, unsigned long ident, enum fw_log_level level,
                     const char *tag)
{
    PyObject *globals = PyDict_New();
    PyObject *r = NULL;
    if (!globals)
        goto fail;
    if (PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0)
        goto fail;
    PyObject *id = PyLong_FromUnsignedLong(ident);
    int rc = id ? PyDict_SetItemString(globals, "_fw_ident", id) : -1;
    Py_XDECREF(id);
    if (rc < 0)
        goto fail;
    r = PyRun_String(code, Py_file_input, globals, globals);
    if (!r)
        goto fail;
    PyObject *text = PyDict_GetItemString(globals, "_fw_stacks"); /* borrowed */
    Py_ssize_t len = 0;
    const char *s = text ? PyUnicode_AsUTF8AndSize(text, &len) : NULL;
    if (!s)
        goto fail;
    if (len)
        fw_log_block(level, tag, s, (size_t)len);
    else
        fw_log(level, "%s: no Python frame", tag);
    Py_DECREF(r);
    Py_DECREF(globals);
    return;
fail:
    fw_pyutil_log_exception(FW_LOG_ERR, tag, "dumping the stacks failed");
    Py_XDECREF(r);
    Py_XDECREF(globals);
}

void fw_stacks_log_thread(unsigned long ident, enum fw_log_level level, const char *what)
{
    char tag[300];
    snprintf(tag, sizeof(tag), "stack (%s)", what);
    run_dump(one_code, ident, level, tag);
}
