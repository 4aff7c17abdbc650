/* Stack dumps through sys._current_frames(), which (3.11 to 3.13) lists the
 * threads of every interpreter, so one call in the main interpreter shows
 * every request thread whichever sub-interpreter it is in. */
#include "config.h"

#include "stacks.h"

#include "interp.h"
#include "lib/log.h"
#include "pyutil.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>

static const char dump_code[] =
    "import sys, threading, traceback\n"
    "_names = {t.ident: t.name for t in threading.enumerate()}\n"
    "_fw_stacks = '\\n'.join(\n"
    "    'Thread %d (%s), most recent call last:\\n%s' % (\n"
    "        i, _names.get(i, 'request thread'), ''.join(traceback.format_stack(f)))\n"
    "    for i, f in sys._current_frames().items() if i != threading.get_ident())\n";

static void dump_current(const char *group)
{
    PyObject *globals = PyDict_New();
    PyObject *r = NULL;
    if (!globals)
        goto fail;
    if (PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0)
        goto fail;
    r = PyRun_String(dump_code, Py_file_input, globals, globals);
    if (!r)
        goto fail;
    PyObject *text = PyDict_GetItemString(globals, "_fw_stacks"); /* borrowed */
    Py_ssize_t len = 0;
    const char *s = text ? PyUnicode_AsUTF8AndSize(text, &len) : NULL;
    if (!s)
        goto fail;
    char tag[300];
    snprintf(tag, sizeof(tag), "stack (%s)", group);
    if (len)
        fw_log_block(FW_LOG_ERR, tag, s, (size_t)len);
    else
        fw_log(FW_LOG_ERR, "%s: no Python thread", tag);
    Py_DECREF(r);
    Py_DECREF(globals);
    return;
fail:
    fw_pyutil_log_exception(FW_LOG_ERR, group, "dumping the stacks failed");
    Py_XDECREF(r);
    Py_XDECREF(globals);
}

void fw_stacks_log(struct fw_pythread *t, const char *why)
{
    fw_log(FW_LOG_ERR, "Python stacks of every thread follow (%s)", why);
    struct fw_interp *main_interp = fw_interp_at(0);
    fw_interp_enter(t, main_interp);
    dump_current("all interpreters");
    fw_interp_leave(t);
}
