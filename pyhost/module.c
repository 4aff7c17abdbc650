/* The `fcgiwsgi` module: per-interpreter state with the gateway's types,
 * request_restart(), and stdout/stderr redirection to the log. */
#include "config.h"

#include "module.h"

#include "filewrapper.h"
#include "input.h"
#include "lib/log.h"
#include "logstream.h"
#include "response.h"

static fw_module_restart_fn restart_hook;

void fw_module_set_restart_hook(fw_module_restart_fn hook)
{
    restart_hook = hook;
}

struct fw_modstate *fw_module_state(PyObject *module)
{
    return (struct fw_modstate *)PyModule_GetState(module);
}

static const char *const key_names[FW_KEY__COUNT] = {
    [FW_KEY_WSGI_VERSION] = "wsgi.version",
    [FW_KEY_WSGI_URL_SCHEME] = "wsgi.url_scheme",
    [FW_KEY_WSGI_INPUT] = "wsgi.input",
    [FW_KEY_WSGI_ERRORS] = "wsgi.errors",
    [FW_KEY_WSGI_MULTITHREAD] = "wsgi.multithread",
    [FW_KEY_WSGI_MULTIPROCESS] = "wsgi.multiprocess",
    [FW_KEY_WSGI_RUN_ONCE] = "wsgi.run_once",
    [FW_KEY_WSGI_INPUT_TERMINATED] = "wsgi.input_terminated",
    [FW_KEY_WSGI_FILE_WRAPPER] = "wsgi.file_wrapper",
    [FW_KEY_FCGIWSGI_APPLICATION_GROUP] = "fcgiwsgi.application_group",
    [FW_KEY_FCGIWSGI_SCRIPT] = "fcgiwsgi.script",
    [FW_KEY_FCGIWSGI_POOL] = "fcgiwsgi.pool",
    [FW_KEY_FCGIWSGI_GENERATION] = "fcgiwsgi.generation",
};

static PyObject *mod_request_restart(PyObject *self, PyObject *unused)
{
    if (!restart_hook) {
        PyErr_SetString(PyExc_RuntimeError,
                        "fcgiwsgi.request_restart(): this process has no manager to restart it");
        return NULL;
    }
    if (restart_hook() < 0) {
        PyErr_SetString(PyExc_RuntimeError, "fcgiwsgi.request_restart(): the request failed");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    { "request_restart", mod_request_restart, METH_NOARGS,
      "Ask the manager to recycle this pool gracefully (all its processes)." },
    { NULL, NULL, 0, NULL },
};

static int add_type(PyObject *module, PyType_Spec *spec, PyTypeObject **slot, int public)
{
    PyObject *t = PyType_FromModuleAndSpec(module, spec, NULL);
    if (!t)
        return -1;
    *slot = (PyTypeObject *)t;
    if (public && PyModule_AddObjectRef(module, strrchr(spec->name, '.') + 1, t) < 0)
        return -1;
    return 0;
}

int fw_module_redirect_std(PyObject *module, const char *group)
{
    struct fw_modstate *st = fw_module_state(module);
    char tag[512];
    snprintf(tag, sizeof(tag), "%s stdout", group);
    /* stderr carries what goes wrong (Python's logging writes there): it
     * must show under log_level warn; plain output is info. */
    PyObject *out = fw_logstream_new(st, tag, FW_LOG_INFO);
    snprintf(tag, sizeof(tag), "%s stderr", group);
    PyObject *err = fw_logstream_new(st, tag, FW_LOG_WARN);
    int rc = -1;
    if (!out || !err)
        goto done;
    if (PySys_SetObject("stdout", out) < 0 || PySys_SetObject("stderr", err) < 0)
        goto done;
    rc = 0;
done:
    Py_XDECREF(out);
    Py_XDECREF(err);
    return rc;
}

static int module_exec(PyObject *module)
{
    struct fw_modstate *st = fw_module_state(module);
    if (add_type(module, &fw_input_spec, &st->input_type, 1) < 0 ||
        add_type(module, &fw_logstream_spec, &st->logstream_type, 1) < 0 ||
        add_type(module, &fw_filewrapper_spec, &st->filewrapper_type, 1) < 0 ||
        add_type(module, &fw_response_spec, &st->response_type, 0) < 0)
        return -1;
    /* A BaseException, like KeyboardInterrupt: frameworks turn every
     * Exception into their own 500 page, and the request must unwind. */
    st->request_timeout = PyErr_NewExceptionWithDoc(
        "fcgiwsgi.RequestTimeout",
        "Raised inside a request's thread when its app ran past request_timeout.",
        PyExc_BaseException, NULL);
    if (!st->request_timeout || PyModule_AddObjectRef(module, "RequestTimeout", st->request_timeout) < 0)
        return -1;
    st->wsgi_version = Py_BuildValue("(ii)", 1, 0);
    st->str_http = PyUnicode_InternFromString("http");
    st->str_https = PyUnicode_InternFromString("https");
    st->str_empty = PyUnicode_InternFromString("");
    if (!st->wsgi_version || !st->str_http || !st->str_https || !st->str_empty)
        return -1;
    for (int i = 0; i < FW_KEY__COUNT; i++) {
        st->keys[i] = PyUnicode_InternFromString(key_names[i]);
        if (!st->keys[i])
            return -1;
    }
    if (PyModule_AddStringConstant(module, "version", PACKAGE_VERSION) < 0)
        return -1;
    return 0;
}

#define NAME_MAX_LEN 64
#define NAME_PROBES 8

PyObject *fw_module_param_name(struct fw_modstate *st, const char *name, size_t len)
{
    if (len > NAME_MAX_LEN)
        return PyUnicode_DecodeLatin1(name, (Py_ssize_t)len, NULL);
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 16777619u;
    for (unsigned probe = 0; probe < NAME_PROBES; probe++) {
        PyObject **slot = &st->names[(h + probe) & (FW_MODULE_NAMES - 1)];
        if (!*slot) {
            PyObject *s = PyUnicode_DecodeLatin1(name, (Py_ssize_t)len, NULL);
            if (!s || st->n_names >= FW_MODULE_NAMES / 4 * 3)
                return s;
            PyUnicode_InternInPlace(&s);
            *slot = Py_NewRef(s);
            st->n_names++;
            return s;
        }
        /* Latin-1 text is stored one byte per character, as it came. */
        if ((size_t)PyUnicode_GET_LENGTH(*slot) == len &&
            PyUnicode_KIND(*slot) == PyUnicode_1BYTE_KIND &&
            memcmp(PyUnicode_1BYTE_DATA(*slot), name, len) == 0)
            return Py_NewRef(*slot);
    }
    return PyUnicode_DecodeLatin1(name, (Py_ssize_t)len, NULL);
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    struct fw_modstate *st = fw_module_state(module);
    if (!st)
        return 0;
    Py_VISIT(st->input_type);
    Py_VISIT(st->logstream_type);
    Py_VISIT(st->filewrapper_type);
    Py_VISIT(st->response_type);
    Py_VISIT(st->request_timeout);
    return 0;
}

static int module_clear(PyObject *module)
{
    struct fw_modstate *st = fw_module_state(module);
    if (!st)
        return 0;
    Py_CLEAR(st->input_type);
    Py_CLEAR(st->logstream_type);
    Py_CLEAR(st->filewrapper_type);
    Py_CLEAR(st->response_type);
    Py_CLEAR(st->request_timeout);
    Py_CLEAR(st->wsgi_version);
    Py_CLEAR(st->str_http);
    Py_CLEAR(st->str_https);
    Py_CLEAR(st->str_empty);
    Py_CLEAR(st->pool);
    Py_CLEAR(st->generation);
    for (int i = 0; i < FW_KEY__COUNT; i++)
        Py_CLEAR(st->keys[i]);
    for (unsigned i = 0; i < FW_MODULE_NAMES; i++)
        Py_CLEAR(st->names[i]);
    st->n_names = 0;
    return 0;
}

static void module_free(void *module)
{
    module_clear((PyObject *)module);
}

static PyModuleDef_Slot module_slots[] = {
    { Py_mod_exec, (void *)module_exec },
#if PY_VERSION_HEX >= 0x030C0000
    /* Its state is per module and its types are heap types: nothing is
     * shared between interpreters, so own-GIL ones may import it too. */
    { Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED },
#endif
    { 0, NULL },
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fcgiwsgi",
    .m_doc = "The fcgiwsgi server's interface for applications.",
    .m_size = sizeof(struct fw_modstate),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyObject *fw_module_init(void)
{
    return PyModuleDef_Init(&module_def);
}
