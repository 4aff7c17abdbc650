/* A multi-phase-init test extension that supports sub-interpreters but does
 * not declare per-interpreter GIL support (Py_MOD_MULTIPLE_INTERPRETERS_
 * SUPPORTED, not Py_MOD_PER_INTERPRETER_GIL_SUPPORTED): CPython 3.12+ loads
 * it in a shared-GIL sub-interpreter and refuses it in one with its own GIL
 * ("module fw_sharedgil does not support loading in subinterpreters",
 * Objects/moduleobject.c). Built by t/own-gil.t. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyModuleDef_Slot slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    { Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED },
#endif
    { 0, NULL },
};

static struct PyModuleDef def = { PyModuleDef_HEAD_INIT, "fw_sharedgil", NULL, 0, NULL, slots };

PyMODINIT_FUNC PyInit_fw_sharedgil(void)
{
    return PyModuleDef_Init(&def);
}
