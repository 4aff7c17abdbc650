/* A text stream that sends whole lines to the log: sys.stdout, sys.stderr and
 * wsgi.errors. Partial lines are kept per thread so that print() from two
 * threads never mixes within a line. */
#ifndef FW_LOGSTREAM_H
#define FW_LOGSTREAM_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "lib/log.h"

struct fw_modstate;

extern PyType_Spec fw_logstream_spec;

/* A new reference; tag is put on each line (e.g. "app /srv/x.wsgi"). */
PyObject *fw_logstream_new(struct fw_modstate *st, const char *tag, enum fw_log_level level);

/* Emits the calling thread's partial line, if any (end of a request). */
void fw_logstream_flush_thread(PyObject *stream);

#endif
