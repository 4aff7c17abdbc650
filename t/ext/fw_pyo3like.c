/* A test extension that refuses every interpreter but the main one the way
 * PyO3's modules refuse a sub-interpreter (src/impl_/pymodule.rs): an
 * ImportError with PyO3's own text (0.20 on). Multi-phase init, as PyO3
 * 0.28's: its exec slot runs in the importing interpreter on every version,
 * where CPython 3.13 runs a single-phase PyInit_ in the main interpreter
 * (so PyO3 before 0.28 checks the main one's id there). Built by
 * t/subinterp-refusal.t with the embedded CPython's headers. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int exec_module(PyObject *m)
{
    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        PyErr_SetString(PyExc_ImportError, "PyO3 modules do not yet support subinterpreters, see "
                                           "https://github.com/PyO3/pyo3/issues/576");
        return -1;
    }
    return PyModule_AddStringConstant(m, "where", "main");
}

static PyModuleDef_Slot slots[] = {
    { Py_mod_exec, (void *)exec_module },
    { 0, NULL },
};

static struct PyModuleDef def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fw_pyo3like",
    .m_size = 0,
    .m_slots = slots,
};

PyMODINIT_FUNC PyInit_fw_pyo3like(void)
{
    return PyModuleDef_Init(&def);
}
