/* A WSGI application: its script, callable name and application group, the
 * loading of the script as a module, and retrying a failed load later (rate
 * limited) so a transient failure at start heals without an operator. */
#ifndef FW_APP_H
#define FW_APP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

struct fw_pythread;
struct fw_modstate;

struct fw_app_config {
    const char *script;   /* path of the WSGI script */
    const char *callable; /* NULL: "application" */
    const char *group;    /* NULL: one interpreter for this script */
    /* application_group: auto. If a module refuses the group's
     * sub-interpreter at import, the app moves to the main interpreter (the
     * caller checked that no other app's isolation depends on it). */
    bool main_fallback;
    bool own_gil; /* the group's interpreter has its own GIL (3.12+) */
};

struct fw_app;

/* No Python is touched; NULL on out of memory. */
struct fw_app *fw_app_new(const struct fw_app_config *cfg);
void fw_app_free(struct fw_app *app);

const char *fw_app_script(const struct fw_app *app);

/* The end of the traceback of the last failed load ("" if none), and then
 * a line that names the module and the fix when a module refused the
 * interpreter (refusal.h). */
const char *fw_app_last_error(const struct fw_app *app);

/* Imported (by preload or a later retry); any thread, no GIL. */
bool fw_app_ready(const struct fw_app *app);

/* Imports the script now (preload). GIL not held. 0, or -1 (logged; a
 * later request retries). */
int fw_app_load(struct fw_app *app, struct fw_pythread *t);

/* For one request: returns the app's callable (borrowed) with the GIL held
 * in the app's interpreter, or NULL with the GIL not held if the app is not
 * loadable now (logged). */
PyObject *fw_app_enter(struct fw_app *app, struct fw_pythread *t);
void fw_app_leave(struct fw_app *app, struct fw_pythread *t);

/* Valid between enter and leave. */
struct fw_modstate *fw_app_modstate(struct fw_app *app);
PyObject *fw_app_errors(struct fw_app *app);       /* wsgi.errors, borrowed */
PyObject *fw_app_group_object(struct fw_app *app); /* str, borrowed */
PyObject *fw_app_script_object(struct fw_app *app);
const char *fw_app_tag(const struct fw_app *app); /* for log lines */
struct fw_interp *fw_app_interp(struct fw_app *app);

/* Drops the app's Python objects (before its interpreter ends). GIL not held. */
void fw_app_unload(struct fw_app *app, struct fw_pythread *t);

#endif
