/* Refusal texts, and finding the refusing module (refusal.h). The texts are
 * the raisers' own, across their versions: PyO3's in src/impl_/pymodule.rs
 * (0.17-0.19: "PyO3 modules may only be initialized once per interpreter
 * process"; 0.20 on: "PyO3 modules do not yet support subinterpreters, see
 * https://github.com/PyO3/pyo3/issues/576", and for builds that cannot ask
 * for the interpreter's id, "PyO3 modules compiled for ... may only be
 * initialized once per interpreter process"), CPython's in Python/import.c
 * (3.12 and 3.13, for a single-phase-init module or one declaring
 * Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED, where the interpreter checks;
 * in an own-GIL interpreter also for a multi-phase module that does not
 * declare Py_MOD_PER_INTERPRETER_GIL_SUPPORTED, Objects/moduleobject.c:
 * "module %s does not support loading in subinterpreters"), and the opt-out
 * of CPython's "Isolating Extension Modules" HOWTO, which numpy 2's
 * _multiarray_umath raises ("cannot load module more than once per
 * process"). */
#include "config.h"

#include "refusal.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <string.h>

#define CHAIN_MAX 16 /* exceptions looked at along __cause__/__context__ */

#define CPYTHON_PREFIX "module "
#define CPYTHON_TEXT " does not support loading in subinterpreters"

static bool refusal_text(const char *s)
{
    return strstr(s, "PyO3 modules do not yet support subinterpreters") ||
           (strstr(s, "PyO3 modules") &&
            strstr(s, "may only be initialized once per interpreter process")) ||
           strstr(s, CPYTHON_TEXT) || strstr(s, "cannot load module more than once per process");
}

/* The module of a refusal that does not name it: the one the innermost
 * frame's import statement was loading (importlib strips its own frames
 * from an ImportError's traceback), that is the first name it imports that
 * is not in sys.modules yet. Python, since it needs ast; run only after a
 * failed import. */
static const char module_of_src[] =
    "import ast, linecache, sys\n"
    "def _missing(name):\n"
    "    parts = name.split('.')\n"
    "    for i in range(1, len(parts) + 1):\n"
    "        n = '.'.join(parts[:i])\n"
    "        if n not in sys.modules:\n"
    "            return n\n"
    "    return None\n"
    "def module_of(e):\n"
    "    tb = e.__traceback__\n"
    "    if tb is None:\n"
    "        return ''\n"
    "    while tb.tb_next is not None:\n"
    "        tb = tb.tb_next\n"
    "    f, line = tb.tb_frame, tb.tb_lineno\n"
    "    src = ''.join(linecache.getlines(f.f_code.co_filename, f.f_globals))\n"
    "    node = None\n"
    "    for n in ast.walk(ast.parse(src)):\n"
    "        if isinstance(n, (ast.Import, ast.ImportFrom)) and \\\n"
    "                n.lineno <= line <= (n.end_lineno or n.lineno):\n"
    "            node = n\n"
    "    if node is None:\n"
    "        return ''\n"
    "    if isinstance(node, ast.Import):\n"
    "        names = [a.name for a in node.names]\n"
    "    else:\n"
    "        base = node.module or ''\n"
    "        if node.level:\n"
    "            bits = (f.f_globals.get('__package__') or '').rsplit('.', node.level - 1)\n"
    "            if len(bits) < node.level or not bits[0]:\n"
    "                return ''\n"
    "            base = bits[0] + ('.' + base if base else '')\n"
    "        m = _missing(base)\n"
    "        if m:\n"
    "            return m\n"
    "        names = [base + '.' + a.name for a in node.names if a.name != '*']\n"
    "    for n in names:\n"
    "        m = _missing(n)\n"
    "        if m:\n"
    "            return m\n"
    "    return ''\n";

static void module_of(PyObject *exc, char *out, size_t size)
{
    PyObject *globals = PyDict_New(), *r = NULL, *fn = NULL, *name = NULL;
    if (!globals || PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0)
        goto done;
    r = PyRun_String(module_of_src, Py_file_input, globals, globals);
    fn = r ? PyDict_GetItemString(globals, "module_of") : NULL; /* borrowed */
    name = fn ? PyObject_CallOneArg(fn, exc) : NULL;
    const char *s = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (s)
        snprintf(out, size, "%s", s);
done:
    PyErr_Clear();
    Py_XDECREF(name);
    Py_XDECREF(r);
    Py_XDECREF(globals);
}

/* exc is an ImportError: does its text say it refused the interpreter? */
static bool check_one(PyObject *exc, struct fw_refusal *out)
{
    PyObject *str = PyObject_Str(exc);
    const char *s = str ? PyUnicode_AsUTF8(str) : NULL;
    bool refused = s && refusal_text(s);
    if (refused) {
        snprintf(out->text, sizeof(out->text), "%s", s);
        for (char *c = out->text; *c; c++)
            if ((unsigned char)*c < 0x20)
                *c = ' ';
        const char *tail = strstr(s, CPYTHON_TEXT);
        size_t plen = strlen(CPYTHON_PREFIX);
        out->cpython = tail != NULL;
        if (tail && (size_t)(tail - s) > plen && !strncmp(s, CPYTHON_PREFIX, plen))
            snprintf(out->module, sizeof(out->module), "%.*s", (int)(tail - s - plen), s + plen);
        else
            module_of(exc, out->module, sizeof(out->module));
    }
    PyErr_Clear();
    Py_XDECREF(str);
    return refused;
}

bool fw_refusal_find(struct fw_refusal *out)
{
    out->module[0] = out->text[0] = '\0';
    out->cpython = false;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (!type)
        return false;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    bool refused = false;
    PyObject *e = Py_XNewRef(value);
    for (int depth = 0; e && e != Py_None && depth < CHAIN_MAX && !refused; depth++) {
        if (PyExceptionInstance_Check(e) && PyObject_IsInstance(e, PyExc_ImportError) == 1)
            refused = check_one(e, out);
        PyErr_Clear();
        PyObject *next = PyExceptionInstance_Check(e) ? PyException_GetCause(e) : NULL;
        if (!next && PyExceptionInstance_Check(e))
            next = PyException_GetContext(e);
        Py_SETREF(e, next);
    }
    Py_XDECREF(e);
    PyErr_Restore(type, value, tb);
    return refused;
}
