/* The built-in `fcgiwsgi` module, one instance per interpreter (multi-phase
 * init), and its state: the heap types of the gateway and the constant
 * objects each interpreter needs. Importing it routes sys.stdout and
 * sys.stderr to the log. */
#ifndef FW_MODULE_H
#define FW_MODULE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define FW_MODULE_NAMES 256 /* a power of two */

struct fw_modstate {
    PyTypeObject *input_type;
    PyTypeObject *logstream_type;
    PyTypeObject *filewrapper_type;
    PyTypeObject *response_type;
    PyObject *request_timeout; /* fcgiwsgi.RequestTimeout */
    PyObject *wsgi_version;
    PyObject *str_http;
    PyObject *str_https;
    PyObject *str_empty;
    PyObject *keys[16];   /* interned environ keys, indexed by enum fw_key */
    PyObject *pool;       /* fcgiwsgi.pool, made on first use (constant per process) */
    PyObject *generation; /* fcgiwsgi.generation, likewise */
    /* FastCGI param names seen so far, interned (see fw_module_param_name). */
    PyObject *names[FW_MODULE_NAMES];
    unsigned n_names;
};

enum fw_key {
    FW_KEY_WSGI_VERSION,
    FW_KEY_WSGI_URL_SCHEME,
    FW_KEY_WSGI_INPUT,
    FW_KEY_WSGI_ERRORS,
    FW_KEY_WSGI_MULTITHREAD,
    FW_KEY_WSGI_MULTIPROCESS,
    FW_KEY_WSGI_RUN_ONCE,
    FW_KEY_WSGI_INPUT_TERMINATED,
    FW_KEY_WSGI_FILE_WRAPPER,
    FW_KEY_FCGIWSGI_APPLICATION_GROUP,
    FW_KEY_FCGIWSGI_SCRIPT,
    FW_KEY_FCGIWSGI_POOL,
    FW_KEY_FCGIWSGI_GENERATION,
    FW_KEY__COUNT
};

/* The PyInit function for PyImport_AppendInittab. */
PyObject *fw_module_init(void);

struct fw_modstate *fw_module_state(PyObject *module);

/* A param name (latin-1) as a str, new reference: the same interned object
 * each time for names up to 64 bytes while the table has room (3/4 of
 * FW_MODULE_NAMES; the web server picks the names, so the table is bounded),
 * so its hash is computed once per interpreter, not once per request. GIL
 * held. */
PyObject *fw_module_param_name(struct fw_modstate *st, const char *name, size_t len);

/* Routes this interpreter's sys.stdout and sys.stderr to the log, each line
 * tagged with the application group, so print() can never reach the
 * FastCGI stream and always says where it came from. */
int fw_module_redirect_std(PyObject *module, const char *group);

/* What fcgiwsgi.request_restart() does in this process; the worker sets it.
 * Called with the GIL held; returns 0 if the restart was requested. */
typedef int (*fw_module_restart_fn)(void);
void fw_module_set_restart_hook(fw_module_restart_fn hook);

#endif
