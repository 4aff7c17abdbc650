/* Script loading: the script runs as a module named after a hash of its
 * path (two scripts with one basename never collide in sys.modules), in its
 * group's interpreter. */
#include "config.h"

#include "app.h"

#include "interp.h"
#include "lib/log.h"
#include "logstream.h"
#include "module.h"
#include "pyutil.h"
#include "refusal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A failed import is tried again on a later request, at most this often:
 * a database that was down at boot heals within a second of coming back. */
#define RETRY_MS 1000

struct fw_app {
    char *script;
    char *callable_name;
    char *group;
    bool main_fallback; /* application_group: auto */
    bool own_gil;
    char tag[300];
    pthread_mutex_t lock; /* serialises loading; taken without the GIL */
    atomic_bool ready;
    struct fw_interp *interp;
    struct fw_refusal refusal; /* why auto moved it to the main interpreter */
    unsigned failures;
    int64_t next_try_ms; /* monotonic */
    char last_error[2048];

    /* Python objects, owned, living in interp. */
    PyObject *callable;
    PyObject *fwmod;
    PyObject *errors;
    PyObject *group_obj;
    PyObject *script_obj;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct fw_app *fw_app_new(const struct fw_app_config *cfg)
{
    struct fw_app *app = calloc(1, sizeof(*app));
    if (!app)
        return NULL;
    app->script = strdup(cfg->script);
    app->callable_name = strdup(cfg->callable ? cfg->callable : "application");
    app->group = strdup(cfg->group ? cfg->group : cfg->script);
    app->main_fallback = cfg->main_fallback;
    app->own_gil = cfg->own_gil;
    if (!app->script || !app->callable_name || !app->group) {
        fw_app_free(app);
        return NULL;
    }
    snprintf(app->tag, sizeof(app->tag), "app %s", app->script);
    pthread_mutex_init(&app->lock, NULL);
    return app;
}

void fw_app_free(struct fw_app *app)
{
    if (!app)
        return;
    free(app->script);
    free(app->callable_name);
    free(app->group);
    free(app);
}

const char *fw_app_script(const struct fw_app *app)
{
    return app->script;
}

bool fw_app_ready(const struct fw_app *app)
{
    return atomic_load(&app->ready);
}

const char *fw_app_last_error(const struct fw_app *app)
{
    return app->last_error;
}

const char *fw_app_tag(const struct fw_app *app)
{
    return app->tag;
}

struct fw_modstate *fw_app_modstate(struct fw_app *app)
{
    return fw_module_state(app->fwmod);
}

PyObject *fw_app_errors(struct fw_app *app)
{
    return app->errors;
}

PyObject *fw_app_group_object(struct fw_app *app)
{
    return app->group_obj;
}

PyObject *fw_app_script_object(struct fw_app *app)
{
    return app->script_obj;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static PyObject *read_source(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        return NULL;
    }
    PyObject *src = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) {
            src = PyBytes_FromStringAndSize(NULL, size);
            if (src && fread(PyBytes_AS_STRING(src), 1, (size_t)size, f) != (size_t)size) {
                Py_CLEAR(src);
                PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
            }
        }
    }
    if (!src && !PyErr_Occurred())
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    fclose(f);
    return src;
}

/* With the GIL held in the app's interpreter. -1 with the exception
 * pending. */
static int load(struct fw_app *app)
{
    char modname[64];
    snprintf(modname, sizeof(modname), "_fcgiwsgi_%016llx", (unsigned long long)fnv1a(app->script));
    PyObject *src = NULL, *code = NULL, *module = NULL, *result = NULL, *callable = NULL;
    PyObject *modules = PyImport_GetModuleDict(); /* borrowed */
    int rc = -1;

    if (!app->fwmod || !app->errors || !app->group_obj || !app->script_obj) {
        Py_XSETREF(app->fwmod, PyImport_ImportModule("fcgiwsgi"));
        if (!app->fwmod)
            goto fail;
        Py_XSETREF(app->errors,
                   fw_logstream_new(fw_module_state(app->fwmod), app->tag, FW_LOG_WARN));
        Py_XSETREF(app->group_obj, PyUnicode_DecodeFSDefault(app->group));
        Py_XSETREF(app->script_obj, PyUnicode_DecodeFSDefault(app->script));
        if (!app->errors || !app->group_obj || !app->script_obj)
            goto fail;
    }
    src = read_source(app->script);
    if (!src)
        goto fail;
    code = Py_CompileStringObject(PyBytes_AS_STRING(src), app->script_obj, Py_file_input, NULL, -1);
    if (!code)
        goto fail;
    module = PyModule_New(modname);
    if (!module)
        goto fail;
    PyObject *dict = PyModule_GetDict(module); /* borrowed */
    if (PyDict_SetItemString(dict, "__file__", app->script_obj) < 0 ||
        PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) < 0 ||
        PyDict_SetItemString(modules, modname, module) < 0)
        goto fail;
    result = PyEval_EvalCode(code, dict, dict);
    if (!result) {
        if (PyDict_GetItemString(modules, modname))
            PyDict_DelItemString(modules, modname);
        goto fail;
    }
    callable = PyObject_GetAttrString(module, app->callable_name);
    if (!callable) {
        PyErr_Format(PyExc_AttributeError, "WSGI script %s defines no '%s'", app->script,
                     app->callable_name);
        goto fail;
    }
    if (!PyCallable_Check(callable)) {
        PyErr_Format(PyExc_TypeError, "'%s' in WSGI script %s is not callable (%.100s)",
                     app->callable_name, app->script, Py_TYPE(callable)->tp_name);
        goto fail;
    }
    Py_XSETREF(app->callable, Py_NewRef(callable));
    rc = 0;
fail:
    Py_XDECREF(src);
    Py_XDECREF(code);
    Py_XDECREF(module);
    Py_XDECREF(result);
    Py_XDECREF(callable);
    return rc;
}

/* GIL held in app->interp, load() failed with the exception pending:
 * logs it with its traceback and, if a module refused this interpreter,
 * one line that names it and the fix, which also ends last_error (what
 * status and restart show). True if the app is to be tried in the main
 * interpreter now instead (application_group: auto); then the traceback
 * is only a debug line. */
static bool report_failure(struct fw_app *app)
{
    struct fw_refusal rf;
    bool refused = fw_refusal_find(&rf);
    bool sub = app->interp != fw_interp_at(0);
    const char *mod = rf.module[0] ? "module " : "an extension module";
    if (refused && sub && app->main_fallback) {
        app->refusal = rf;
        fw_pyutil_log_exception(FW_LOG_DEBUG, app->tag,
                                "loading the WSGI script in a sub-interpreter failed");
        return true;
    }
    char tail[sizeof(app->last_error)], line[1024];
    fw_pyutil_log_exception_keep(FW_LOG_ERR, app->tag, "loading the WSGI script failed", tail,
                                 sizeof(tail));
    if (!refused) {
        memcpy(app->last_error, tail, sizeof(tail));
        return false;
    }
    if (sub && fw_interp_own_gil(app->interp) && rf.cpython)
        snprintf(line, sizeof(line),
                 "%s%s cannot be imported in an interpreter with its own GIL (%s): set own_gil: "
                 "false for this app (or application_group: \"%%{GLOBAL}\")",
                 mod, rf.module, rf.text);
    else if (sub)
        snprintf(line, sizeof(line),
                 "%s%s cannot be imported in a sub-interpreter (%s): set application_group: "
                 "\"%%{GLOBAL}\" for this app",
                 mod, rf.module, rf.text);
    else
        snprintf(line, sizeof(line),
                 "%s%s was imported by another interpreter of this process first and refuses a "
                 "second one (%s): set application_group: \"%%{GLOBAL}\" for every app of this "
                 "pool that imports it",
                 mod, rf.module, rf.text);
    fw_log(FW_LOG_ERR, "%s: %s", app->tag, line);
    /* As much of the traceback's end as fits, then the line: the last line
     * is what status shows of an import error. */
    size_t cap = sizeof(app->last_error) - 1, len = strnlen(line, sizeof(line) - 1);
    size_t tlen = strnlen(tail, sizeof(tail) - 1);
    size_t room = cap - len - 1 < tlen ? cap - len - 1 : tlen;
    memcpy(app->last_error, tail + (tlen - room), room);
    app->last_error[room] = '\n';
    memcpy(app->last_error + room + 1, line, len);
    app->last_error[room + 1 + len] = '\0';
    return false;
}

static void drop_objects(struct fw_app *app)
{
    Py_CLEAR(app->callable);
    Py_CLEAR(app->errors);
    Py_CLEAR(app->group_obj);
    Py_CLEAR(app->script_obj);
    Py_CLEAR(app->fwmod);
}

/* application_group: auto, after a module refused the app's sub-interpreter:
 * the app moves to the main interpreter for good (GIL not held). The
 * sub-interpreter keeps what the failed import left; nothing runs there. */
static int load_in_main(struct fw_app *app, struct fw_pythread *t)
{
    char *group = strdup(FW_INTERP_GLOBAL);
    if (!group) {
        snprintf(app->last_error, sizeof(app->last_error), "out of memory");
        return -1;
    }
    free(app->group);
    app->group = group;
    app->interp = fw_interp_at(0);
    app->main_fallback = false;
    fw_interp_enter(t, app->interp);
    int rc = load(app);
    if (rc < 0)
        report_failure(app);
    fw_interp_leave(t);
    if (rc == 0)
        fw_log(FW_LOG_WARN,
               "%s: %s%s cannot be imported in a sub-interpreter (%s); application_group: auto "
               "moved the app to the main interpreter (%s), where it serves",
               app->tag, app->refusal.module[0] ? "module " : "an extension module",
               app->refusal.module, app->refusal.text, FW_INTERP_GLOBAL);
    return rc;
}

/* Holds app->lock, GIL not held. */
static int ensure_loaded(struct fw_app *app, struct fw_pythread *t, bool forced)
{
    if (atomic_load(&app->ready))
        return 0;
    int64_t now = now_ms();
    if (!forced && app->failures && now < app->next_try_ms)
        return -1;
    if (!app->interp) {
        app->interp = fw_interp_get(t, app->group, app->own_gil);
        if (!app->interp) {
            snprintf(app->last_error, sizeof(app->last_error),
                     "the interpreter of application group '%s' could not be set up", app->group);
            goto failed;
        }
    }
    fw_interp_enter(t, app->interp);
    int rc = load(app);
    bool in_main = rc < 0 && report_failure(app);
    if (in_main)
        drop_objects(app);
    fw_interp_leave(t);
    if (in_main)
        rc = load_in_main(app, t);
    if (rc == 0) {
        if (app->failures)
            fw_log(FW_LOG_NOTICE, "%s: loaded after %u failed attempts", app->tag, app->failures);
        else
            fw_log(FW_LOG_INFO, "%s: loaded in application group '%s'", app->tag, app->group);
        app->failures = 0;
        app->last_error[0] = '\0';
        atomic_store(&app->ready, true);
        return 0;
    }
failed:
    app->failures++;
    int64_t delay = RETRY_MS;
    app->next_try_ms = now_ms() + delay; /* from the end of this attempt */
    fw_log(
        FW_LOG_WARN,
        "%s: not loaded (attempt %u); requests get 500 and the next attempt is in %lld ms or later",
        app->tag, app->failures, (long long)delay);
    return -1;
}

int fw_app_load(struct fw_app *app, struct fw_pythread *t)
{
    pthread_mutex_lock(&app->lock);
    int rc = ensure_loaded(app, t, true);
    pthread_mutex_unlock(&app->lock);
    return rc;
}

PyObject *fw_app_enter(struct fw_app *app, struct fw_pythread *t)
{
    if (!atomic_load(&app->ready)) {
        pthread_mutex_lock(&app->lock);
        int rc = ensure_loaded(app, t, false);
        pthread_mutex_unlock(&app->lock);
        if (rc < 0)
            return NULL;
    }
    fw_interp_enter(t, app->interp);
    return app->callable;
}

void fw_app_leave(struct fw_app *app, struct fw_pythread *t)
{
    fw_interp_leave(t);
}

void fw_app_unload(struct fw_app *app, struct fw_pythread *t)
{
    if (!app->interp)
        return;
    fw_interp_enter(t, app->interp);
    drop_objects(app);
    atomic_store(&app->ready, false);
    fw_interp_leave(t);
}

struct fw_interp *fw_app_interp(struct fw_app *app)
{
    return app->interp;
}
