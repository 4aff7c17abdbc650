/* CPython start-up and shut-down for a worker, and the per-interpreter set-up
 * hook (sys.path, the fcgiwsgi module that redirects stdout/stderr). */
#include "config.h"

#include "host.h"

#include "gilkick.h"
#include "interp.h"
#include "lib/log.h"
#include "module.h"
#include "pyutil.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct fw_host_config *host_cfg;
static PyThreadState *host_main_state;
static struct fw_pythread *host_thread;

struct fw_pythread *fw_host_main_thread(void)
{
    return host_thread;
}

/* Runs in each new interpreter, and once in the main one. */
static int init_interpreter(const char *group)
{
    PyObject *sys_path = PySys_GetObject("path"); /* borrowed */
    if (sys_path && PyList_Check(sys_path) && host_cfg) {
        for (size_t i = host_cfg->n_python_path; i > 0; i--) {
            PyObject *p = PyUnicode_DecodeFSDefault(host_cfg->python_path[i - 1]);
            if (!p)
                return -1;
            int rc = PyList_Insert(sys_path, 0, p);
            Py_DECREF(p);
            if (rc < 0)
                return -1;
        }
    }
    PyObject *mod = PyImport_ImportModule("fcgiwsgi");
    if (!mod)
        return -1;
    int rc = fw_module_redirect_std(mod, group);
    Py_DECREF(mod);
    return rc;
}

static int set_config_string(PyConfig *config, wchar_t **field, const char *value)
{
    PyStatus st = PyConfig_SetBytesString(config, field, value);
    if (PyStatus_Exception(st)) {
        fw_log(FW_LOG_ERR, "cannot set Python configuration to '%s': %s", value,
               st.err_msg ? st.err_msg : "error");
        return -1;
    }
    return 0;
}

int fw_host_start(const struct fw_host_config *cfg)
{
    host_cfg = cfg;
    if (PyImport_AppendInittab("fcgiwsgi", fw_module_init) < 0) {
        fw_log(FW_LOG_ERR, "cannot register the fcgiwsgi module");
        return -1;
    }
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    /* A virtualenv is found through its pyvenv.cfg, next to bin/python: make
     * CPython believe that is the running executable, as `venv/bin/python`
     * would. A plain prefix is passed as home. */
    if (cfg->python_home) {
        char exe[4096];
        struct stat st;
        snprintf(exe, sizeof(exe), "%s/pyvenv.cfg", cfg->python_home);
        if (stat(exe, &st) == 0) {
            snprintf(exe, sizeof(exe), "%s/bin/python3", cfg->python_home);
            if (set_config_string(&config, &config.program_name, exe) < 0 ||
                set_config_string(&config, &config.executable, exe) < 0)
                goto fail;
        } else if (set_config_string(&config, &config.home, cfg->python_home) < 0) {
            goto fail;
        }
    } else {
        /* The CPython we were built against, not whatever python3 comes
         * first on PATH; sys.executable names its interpreter, so that
         * multiprocessing and subprocess([sys.executable]) run Python. */
        struct stat st;
        if (set_config_string(&config, &config.home, FW_PYTHON_PREFIX) < 0 ||
            (stat(FW_PYTHON_EXECUTABLE, &st) == 0 &&
             (set_config_string(&config, &config.program_name, FW_PYTHON_EXECUTABLE) < 0 ||
              set_config_string(&config, &config.executable, FW_PYTHON_EXECUTABLE) < 0)))
            goto fail;
    }
    PyStatus status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        /* A python_home that -t passed may have broken since. */
        char home[600] = "";
        if (cfg->python_home)
            snprintf(home, sizeof(home), " (python_home %.500s)", cfg->python_home);
        fw_log(FW_LOG_ERR, "Python failed to start%s: %s%s%s", home, status.func ? status.func : "",
               status.func ? ": " : "", status.err_msg ? status.err_msg : "unknown error");
        return -1;
    }
    fw_interp_setup(init_interpreter);
    if (init_interpreter(FW_INTERP_GLOBAL) < 0) {
        fw_pyutil_log_exception(FW_LOG_ERR, FW_INTERP_GLOBAL, "setting up Python failed");
        PyEval_SaveThread();
        return -1;
    }
    fw_log(FW_LOG_INFO, "Python %s started", Py_GetVersion());
    host_main_state = PyEval_SaveThread();
    host_thread = fw_interp_thread_attach();
    if (!host_thread) {
        fw_log(FW_LOG_ERR, "out of memory attaching the main thread to Python");
        return -1;
    }
    return 0;
fail:
    PyConfig_Clear(&config);
    return -1;
}

void fw_host_stop(void)
{
    if (!host_main_state)
        return;
    fw_gilkick_stop();
    PyEval_RestoreThread(host_main_state);
    int rc = fw_interp_end_all(host_thread);
    PyEval_SaveThread();
    fw_interp_thread_detach(host_thread);
    host_thread = NULL;
    if (rc < 0) {
        /* Finalizing with interpreters that still run threads can abort the
         * process; the exit that follows releases everything anyway. */
        fw_log(FW_LOG_WARN, "skipping Python finalization: some interpreter is still busy");
        return;
    }
    if (!fw_interp_finalize_safe()) {
        PyEval_RestoreThread(host_main_state);
        PyObject *atexit = PyImport_ImportModule("atexit");
        PyObject *r = atexit ? PyObject_CallMethod(atexit, "_run_exitfuncs", NULL) : NULL;
        if (!r)
            fw_pyutil_log_exception(FW_LOG_WARN, FW_INTERP_GLOBAL, "running atexit handlers");
        Py_XDECREF(r);
        Py_XDECREF(atexit);
        PyEval_SaveThread();
        fw_log(FW_LOG_INFO,
               "skipping Python finalization: CPython %s would free memory of an "
               "own-GIL interpreter in it",
               PY_VERSION);
        return;
    }
    PyEval_RestoreThread(host_main_state);
    host_main_state = NULL;
    if (Py_FinalizeEx() < 0)
        fw_log(FW_LOG_WARN, "Python finalization reported an error (e.g. flushing stdout)");
}

void fw_host_fork_before(void)
{
    PyEval_RestoreThread(host_main_state);
    PyOS_BeforeFork();
}

void fw_host_fork_parent(void)
{
    PyOS_AfterFork_Parent();
    host_main_state = PyEval_SaveThread();
}

void fw_host_fork_child(void)
{
    /* Also deletes every other thread's state and every interpreter but
     * the main one, and reinitialises the GIL and the import lock. */
    PyOS_AfterFork_Child();
    host_main_state = PyEval_SaveThread();
}

void fw_host_freeze(void)
{
    PyEval_RestoreThread(host_main_state);
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *r = gc ? PyObject_CallMethod(gc, "collect", NULL) : NULL;
    Py_XDECREF(r);
    r = gc ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;
    if (!r)
        fw_pyutil_log_exception(FW_LOG_WARN, FW_INTERP_GLOBAL, "gc.freeze() before forking");
    Py_XDECREF(r);
    Py_XDECREF(gc);
    PyErr_Clear();
    host_main_state = PyEval_SaveThread();
}

void fw_host_thread_names(char *out, size_t cap)
{
    size_t len = 0;
    if (!cap)
        return;
    out[0] = '\0';
    PyEval_RestoreThread(host_main_state);
    PyObject *name = PyUnicode_FromString("threading");
    PyObject *mod = name ? PyImport_GetModule(name) : NULL; /* not imported: none */
    PyObject *list = mod ? PyObject_CallMethod(mod, "enumerate", NULL) : NULL;
    PyObject *self = mod ? PyObject_CallMethod(mod, "current_thread", NULL) : NULL;
    Py_ssize_t n = list && PyList_Check(list) ? PyList_GET_SIZE(list) : 0;
    for (Py_ssize_t i = 0; i < n && len + 1 < cap; i++) {
        PyObject *t = PyList_GET_ITEM(list, i); /* borrowed */
        if (t == self)
            continue;
        PyObject *tn = PyObject_GetAttrString(t, "name");
        const char *utf8 = tn && PyUnicode_Check(tn) ? PyUnicode_AsUTF8(tn) : NULL;
        int w = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", utf8 ? utf8 : "?");
        len = w < 0 ? len : (size_t)w >= cap - len ? cap - 1 : len + (size_t)w;
        Py_XDECREF(tn);
    }
    PyErr_Clear();
    Py_XDECREF(self);
    Py_XDECREF(list);
    Py_XDECREF(mod);
    Py_XDECREF(name);
    host_main_state = PyEval_SaveThread();
}

void fw_host_python_version(char *out, size_t cap)
{
    const char *v = Py_GetVersion();
    size_t n = strcspn(v, " ");
    snprintf(out, cap, "%.*s", (int)n, v);
}
