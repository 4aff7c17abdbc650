/* A single-phase-init test extension (PyModule_Create in its PyInit_, no
 * Py_mod_multiple_interpreters slot): CPython 3.12 and 3.13 refuse it in an
 * interpreter that checks extensions ("module fw_singlephase does not
 * support loading in subinterpreters"). Built by t/subinterp-refusal.t. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef def = { PyModuleDef_HEAD_INIT, "fw_singlephase", NULL, -1, NULL };

PyMODINIT_FUNC PyInit_fw_singlephase(void)
{
    return PyModule_Create(&def);
}
