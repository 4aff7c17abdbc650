/* Small helpers over the CPython API shared by pyhost files: optional
 * attributes across 3.11-3.13, and turning the current exception into log
 * lines with its traceback. */
#ifndef FW_PYUTIL_H
#define FW_PYUTIL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "lib/log.h"

/* *out = obj.name (new reference) or NULL if it has none. -1 on other errors. */
int fw_pyutil_optional_attr(PyObject *obj, const char *name, PyObject **out);

/* Logs "what" and the pending exception's traceback as one block, then
 * clears the exception. Must be called with the GIL and an exception set. */
void fw_pyutil_log_exception(enum fw_log_level level, const char *tag, const char *what);
/* The same, and the end of what was logged (the traceback's last lines,
 * where the error is) is copied into keep (NUL-terminated, cut at a line
 * start when it does not fit). */
void fw_pyutil_log_exception_keep(enum fw_log_level level, const char *tag, const char *what,
                                  char *keep, size_t keep_size);

#endif
