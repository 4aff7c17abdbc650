/* Reading `apps:`: each app's mount is made canonical ("/" or "/a/b", no
 * trailing slash) and unique in its pool, its script absolute and checked
 * to be readable now, so a typo fails `fcgiwsgi -t` and not a worker;
 * own_gil is checked against the group and the embedded CPython. */
#include <config.h>

#include "conf/app.h"

#include "conf/strset.h"
#include "conf/value.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { A_MOUNT, A_SCRIPT, A_CALLABLE, A_GROUP, A_OWN_GIL, A_NKEYS };
#define A(field) offsetof(struct fw_conf_app, field)
static const struct fw_conf_key app_keys[A_NKEYS] = {
    [A_MOUNT] = FW_CONF_KEY("mount", FW_CONF_T_STRING, A(mount)),
    [A_SCRIPT] = FW_CONF_KEY("script", FW_CONF_T_PATH, A(script)),
    [A_CALLABLE] = FW_CONF_KEY("callable", FW_CONF_T_STRING, A(callable)),
    [A_GROUP] = FW_CONF_KEY("application_group", FW_CONF_T_STRING, A(application_group)),
    [A_OWN_GIL] = FW_CONF_KEY("own_gil", FW_CONF_T_BOOL, A(own_gil)),
};
const struct fw_conf_schema fw_conf_app_schema = {
    "app setting", app_keys, A_NKEYS, NULL, NULL,
};

/* The request path is normalised before it is matched (fcgi/environ.c),
 * so a mount with "//", "." or ".." could never match: refuse those. */
static char *canonical_mount(const char *mount, const char **why)
{
    char *out, *o;
    if (mount[0] != '/') {
        *why = "must start with '/'";
        return NULL;
    }
    if (strpbrk(mount, "?#")) {
        *why = "must be a path, without '?' or '#'";
        return NULL;
    }
    if (!(out = malloc(strlen(mount) + 1))) {
        *why = "cannot be stored: out of memory";
        return NULL;
    }
    o = out;
    for (const char *p = mount; *p;) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 0)
            break;
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
            free(out);
            *why = "must not contain '.' or '..' segments";
            return NULL;
        }
        *o++ = '/';
        memcpy(o, p, n);
        o += n;
        p += n;
    }
    if (o == out)
        *o++ = '/';
    *o = '\0';
    return out;
}

static int python_name(const char *s)
{
    /* Bytes >= 0x80: Python 3 names may be non-ASCII. */
    if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s & 0x80))
        return 0;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s & 0x80))
            return 0;
    return 1;
}

static void check_script(struct fw_conf_errors *errs, const char *path, struct fw_conf_mark m)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT)
            fw_conf_mark_error(errs, m, "script '%s' does not exist", path);
        else
            fw_conf_mark_error(errs, m, "script '%s' cannot be used: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        fw_conf_mark_error(errs, m, "script '%s' is not a regular file", path);
    } else if (access(path, R_OK) < 0) {
        fw_conf_mark_error(errs, m, "script '%s' cannot be read: %s", path, strerror(errno));
    }
}

/* The embedded CPython as MAJOR * 100 + MINOR, from "3.11" or "3.12.1". */
static int embedded_python(void)
{
    unsigned major = 0, minor = 0;
    if (sscanf(FW_PYTHON_VERSION, "%u.%u", &major, &minor) != 2)
        return 0;
    return (int)(major * 100 + minor);
}

/* own_gil: true needs an interpreter of its own (not the main one, which
 * holds the process's first GIL) and CPython 3.12's
 * Py_NewInterpreterFromConfig. */
static void check_own_gil(struct fw_conf_reader *r, const struct fw_conf_app *app,
                          struct fw_conf_mark m)
{
    if (embedded_python() < 312)
        fw_conf_mark_error(r->errs, m,
                           "'own_gil: true' needs CPython 3.12 or later, and fcgiwsgi embeds "
                           "CPython %s: remove it, or build fcgiwsgi against a newer CPython",
                           FW_PYTHON_VERSION);
    else if (app->application_group && !strcmp(app->application_group, "%{GLOBAL}"))
        fw_conf_mark_error(r->errs, m,
                           "'own_gil: true' cannot apply to application_group \"%%{GLOBAL}\": "
                           "the main interpreter keeps the process's first GIL; give the app a "
                           "group of its own (or no application_group) for an own GIL");
}

/* After the app's mapping was read: defaults and checks. */
static void finish(struct fw_conf_reader *r, struct fw_conf_app *app, const struct fw_conf_mark *m)
{
    const char *why = NULL;
    char q[64];
    if (app->mount) {
        char *canon = canonical_mount(app->mount, &why);
        if (!canon)
            fw_conf_mark_error(r->errs, m[A_MOUNT], "'mount' %s, got %s", why,
                               fw_conf_reader_quote(app->mount, q));
        free(app->mount);
        app->mount = canon;
    } else if (!m[A_MOUNT].line && !(app->mount = strdup("/"))) {
        fw_conf_mark_error(r->errs, app->mark, "out of memory");
    }
    if (!m[A_SCRIPT].line)
        fw_conf_mark_error(r->errs, app->mark,
                           "this app has no 'script': add the path of its WSGI file");
    else if (app->script)
        check_script(r->errs, app->script, m[A_SCRIPT]);
    app->script_mark = m[A_SCRIPT];
    app->group_mark = m[A_GROUP];
    if (app->callable && !python_name(app->callable))
        fw_conf_mark_error(r->errs, m[A_CALLABLE],
                           "'callable' must be a Python name such as application, got %s",
                           fw_conf_reader_quote(app->callable, q));
    else if (!m[A_CALLABLE].line && !(app->callable = strdup("application")))
        fw_conf_mark_error(r->errs, app->mark, "out of memory");
    app->own_gil_mark = m[A_OWN_GIL];
    if (app->own_gil)
        check_own_gil(r, app, m[A_OWN_GIL]);
    if (app->application_group && !strncmp(app->application_group, "%{", 2) &&
        strcmp(app->application_group, "%{GLOBAL}") != 0)
        fw_conf_mark_error(r->errs, m[A_GROUP],
                           "'application_group' %s: the only %%{...} group is %%{GLOBAL} "
                           "(the main interpreter)",
                           fw_conf_reader_quote(app->application_group, q));
}

/* Reads one entry of the list; r->ev is its first event. 0 or -1 (broken). */
static int read_app(struct fw_conf_reader *r, struct fw_conf_pool *pool, size_t *cap,
                    struct fw_conf_strset *mounts)
{
    struct fw_conf_mark m[A_NKEYS];
    struct fw_conf_app app = { .mark = fw_conf_reader_mark(r, r->ev.start_mark) };
    size_t old;
    if (r->ev.type != YAML_MAPPING_START_EVENT) {
        if (r->ev.type != YAML_ALIAS_EVENT)
            fw_conf_reader_error(r, r->ev.start_mark,
                                 "each app is a mapping {mount, script, callable, "
                                 "application_group}, got %s",
                                 fw_conf_reader_kind(r));
        return fw_conf_reader_skip(r);
    }
    if (fw_conf_schema_read(r, &fw_conf_app_schema, &app, m, NULL) < 0) {
        fw_conf_app_free(&app);
        return -1;
    }
    finish(r, &app, m);
    if (fw_conf_value_grow((void **)&pool->apps, cap, pool->n_apps, sizeof(*pool->apps)) < 0) {
        fw_conf_mark_error(r->errs, app.mark, "out of memory");
        fw_conf_app_free(&app);
        return 0;
    }
    pool->apps[pool->n_apps] = app;
    if (!app.mount)
        goto added;
    int dup = fw_conf_strset_add(mounts, app.mount, pool->n_apps, &old);
    struct fw_conf_mark where = m[A_MOUNT].line ? m[A_MOUNT] : app.mark;
    if (dup > 0)
        fw_conf_mark_error(r->errs, where,
                           "mount '%s' is already used by the app at %u:%u in pool '%s'", app.mount,
                           pool->apps[old].mark.line, pool->apps[old].mark.column, pool->name);
    else if (dup < 0)
        fw_conf_mark_error(r->errs, where, "out of memory");
added:
    pool->n_apps++;
    return 0;
}

/* Apps that name one group share its interpreter, and so its GIL. */
static void check_group_gil(struct fw_conf_reader *r, const struct fw_conf_pool *pool)
{
    for (size_t i = 0; i < pool->n_apps; i++) {
        const struct fw_conf_app *a = &pool->apps[i];
        if (!a->application_group || !strcmp(a->application_group, "auto"))
            continue;
        for (size_t j = 0; j < i; j++) {
            const struct fw_conf_app *o = &pool->apps[j];
            if (!o->application_group || strcmp(o->application_group, a->application_group) ||
                o->own_gil == a->own_gil)
                continue;
            fw_conf_mark_error(r->errs, a->own_gil_mark.line ? a->own_gil_mark : a->group_mark,
                               "this app's 'own_gil' is %s, and the app at %u:%u in the same "
                               "application_group '%s' has %s: apps of one group share one "
                               "interpreter, so they must agree",
                               a->own_gil ? "true" : "false", o->mark.line, o->mark.column,
                               a->application_group, o->own_gil ? "true" : "false");
            break;
        }
    }
}

/* application_group: auto may move an app into the main interpreter: that
 * costs no isolation only if the pool's other apps are all there already. */
static void check_auto(struct fw_conf_reader *r, const struct fw_conf_pool *pool)
{
    for (size_t i = 0; i < pool->n_apps; i++) {
        const struct fw_conf_app *a = &pool->apps[i];
        if (!a->application_group || strcmp(a->application_group, "auto") != 0)
            continue;
        for (size_t j = 0; j < pool->n_apps; j++) {
            const struct fw_conf_app *o = &pool->apps[j];
            if (j == i || (o->application_group && !strcmp(o->application_group, "%{GLOBAL}")))
                continue;
            fw_conf_mark_error(r->errs, a->group_mark,
                               "'application_group: auto' may move this app into the main "
                               "interpreter, so every other app of pool '%s' must be in "
                               "\"%%{GLOBAL}\" already, and the app at %u:%u is not: give "
                               "this app \"%%{GLOBAL}\" or a group of its own",
                               pool->name, o->mark.line, o->mark.column);
            break;
        }
    }
}

int fw_conf_app_read_list(struct fw_conf_reader *r, struct fw_conf_pool *pool)
{
    struct fw_conf_strset mounts = { 0 };
    yaml_mark_t start = r->ev.start_mark;
    size_t cap = pool->n_apps, entries = 0;
    int rc = 0;
    if (r->ev.type != YAML_SEQUENCE_START_EVENT) {
        if (r->ev.type != YAML_ALIAS_EVENT)
            fw_conf_reader_error(r, start,
                                 "'apps' expects a list of apps, each a mapping {mount, "
                                 "script, ...}, got %s",
                                 fw_conf_reader_kind(r));
        fw_conf_reader_skip(r);
        return -1;
    }
    for (;;) {
        if (fw_conf_reader_next(r) < 0) {
            rc = -1;
            goto done;
        }
        if (r->ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        entries++;
        if (read_app(r, pool, &cap, &mounts) < 0) {
            rc = -1;
            goto done;
        }
    }
    if (entries == 0) {
        fw_conf_reader_error(r, start, "'apps' is empty: a pool needs at least one app");
        rc = -1;
    }
    check_auto(r, pool);
    check_group_gil(r, pool);
done:
    fw_conf_strset_free(&mounts);
    return rc;
}

void fw_conf_app_free(struct fw_conf_app *app)
{
    free(app->mount);
    free(app->script);
    free(app->callable);
    free(app->application_group);
}
