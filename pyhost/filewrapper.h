/* wsgi.file_wrapper: wraps a file-like object for efficient transmission.
 * The gateway sends a wrapped real file straight from its descriptor in
 * large blocks without the GIL; anything else is iterated in blksize reads. */
#ifndef FW_FILEWRAPPER_H
#define FW_FILEWRAPPER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

struct fw_modstate;

extern PyType_Spec fw_filewrapper_spec;

/* Borrowed reference to the wrapped object if obj is exactly a FileWrapper
 * of this interpreter, else NULL (no exception). */
PyObject *fw_filewrapper_filelike(struct fw_modstate *st, PyObject *obj);

#endif
