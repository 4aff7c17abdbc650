/* Stack dumps of a thread of the current interpreter, found among that
 * interpreter's thread states. Not sys._current_frames(): it walks the
 * threads of every interpreter and makes frame objects of their frames,
 * which with own-GIL interpreters (3.12+) races with those running under
 * their own GIL; the caller holds the GIL of the one it looks at. */
#include "config.h"

#include "stacks.h"

#include "lib/log.h"
#include "pyutil.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>

static const char one_code[] =
    "import traceback\n"
    "_fw_stacks = ''.join(traceback.format_stack(_fw_frame)) if _fw_frame else ''\n";

/* The frame (new reference) that the thread `ident` of the current
 * interpreter runs, or None. The GIL held keeps the list and the frame
 * from changing. */
static PyObject *frame_of(unsigned long ident)
{
    PyInterpreterState *is = PyThreadState_GetInterpreter(PyThreadState_Get());
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(is); ts; ts = PyThreadState_Next(ts)) {
        if (ts->thread_id != ident)
            continue;
        PyFrameObject *f = PyThreadState_GetFrame(ts);
        if (f)
            return (PyObject *)f;
    }
    Py_RETURN_NONE;
}

/* Runs code with `_fw_frame` set and logs the `_fw_stacks` it leaves. */
static void run_dump(const char *code, unsigned long ident, enum fw_log_level level,
                     const char *tag)
{
    PyObject *globals = PyDict_New();
    PyObject *r = NULL;
    if (!globals)
        goto fail;
    if (PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0)
        goto fail;
    PyObject *frame = frame_of(ident);
    int rc = PyDict_SetItemString(globals, "_fw_frame", frame);
    Py_DECREF(frame);
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
