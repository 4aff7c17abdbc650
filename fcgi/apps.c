/* The worker's apps (apps.h). */
#include "config.h"

#include "apps.h"

#include "environ.h"
#include "worker.h"
#include "lib/log.h"
#include "pyhost/app.h"
#include "pyhost/host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* application_group: auto may move app i to the main interpreter only where
 * that costs no isolation: every other app of the pool is there already
 * (conf/ refuses other configurations; this checks the worker's copy). */
static bool may_share_main(const struct fw_worker_config *cfg, size_t i)
{
    for (size_t j = 0; j < cfg->n_apps; j++)
        if (j != i && (!cfg->apps[j].group || strcmp(cfg->apps[j].group, "%{GLOBAL}") != 0))
            return false;
    return true;
}

int fw_apps_init(struct fw_worker_apps *w, const struct fw_worker_config *cfg)
{
    w->cfg = cfg;
    pthread_mutex_init(&w->lock, NULL);
    size_t n = cfg->n_apps ? cfg->n_apps : (cfg->mount ? 1 : 0);
    w->mounted = calloc(cfg->n_apps + 1, sizeof(*w->mounted));
    w->mounts = calloc(n + 1, sizeof(*w->mounts));
    if (!w->mounted || !w->mounts)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        const char *m = cfg->n_apps ? cfg->apps[i].mount : cfg->mount;
        if (!m)
            m = "/";
        char *canon = malloc(strlen(m) + 2);
        if (!canon)
            goto nomem;
        fw_environ_mount_canon(m, canon);
        w->mounts[i] = canon;
        w->n_mounts++;
    }
    for (size_t i = 0; i < cfg->n_apps; i++) {
        /* The default group is the app, not its file (mod_wsgi's is host,
         * port and mount): one script at two mounts must not share module
         * state that a framework fills from the first request's SCRIPT_NAME
         * (Django's STATIC_URL). A pool's mounts are unique; the pool name
         * keeps the name unique where apps use it as a cache key. A lone
         * responder serves one app per script: its default stays the path. */
        char *group = NULL;
        const char *named = cfg->apps[i].group;
        bool autogroup = named && strcmp(named, FW_APPS_GROUP_AUTO) == 0;
        if ((!named || autogroup) && cfg->pool &&
            asprintf(&group, "%s|%s", cfg->pool, w->mounts[i][0] ? w->mounts[i] : "/") < 0)
            goto nomem;
        struct fw_app_config ac = { .script = cfg->apps[i].script,
                                    .callable = cfg->apps[i].callable,
                                    .group = group       ? group
                                             : autogroup ? NULL
                                                         : named,
                                    .main_fallback = autogroup && may_share_main(cfg, i),
                                    .own_gil = cfg->apps[i].own_gil };
        w->mounted[i] = fw_app_new(&ac);
        free(group);
        if (!w->mounted[i])
            goto nomem;
    }
    return 0;
nomem:
    fw_log(FW_LOG_ERR, "out of memory setting up the apps");
    return -1;
}

bool fw_apps_preload(struct fw_worker_apps *w, char *err, size_t errlen)
{
    bool ok = true;
    for (size_t i = 0; i < w->cfg->n_apps; i++) {
        if (fw_app_load(w->mounted[i], fw_host_main_thread()) == 0)
            continue;
        if (ok)
            snprintf(err, errlen, "%s", fw_app_last_error(w->mounted[i]));
        ok = false;
    }
    return ok;
}

bool fw_apps_all_ready(const struct fw_worker_apps *w)
{
    for (size_t i = 0; i < w->cfg->n_apps; i++)
        if (!fw_app_ready(w->mounted[i]))
            return false;
    return true;
}

void fw_apps_free(struct fw_worker_apps *w)
{
    if (!w->cfg)
        return;
    for (size_t i = 0; w->mounted && i < w->cfg->n_apps; i++)
        fw_app_free(w->mounted[i]);
    for (size_t i = 0; w->mounts && i < w->n_mounts; i++)
        free((char *)w->mounts[i]);
    free(w->mounted);
    free(w->mounts);
    for (size_t i = 0; i < w->n_scripts; i++)
        fw_app_free(w->scripts[i]);
    pthread_mutex_destroy(&w->lock);
}

void fw_apps_unload(struct fw_worker_apps *w)
{
    struct fw_pythread *py = fw_host_main_thread();
    for (size_t i = 0; i < w->cfg->n_apps; i++)
        if (w->mounted[i])
            fw_app_unload(w->mounted[i], py);
    for (size_t i = 0; i < w->n_scripts; i++)
        fw_app_unload(w->scripts[i], py);
}

struct fw_app *fw_apps_find(void *ctx, size_t mount_index, const char *script_filename, int *status)
{
    struct fw_worker_apps *w = ctx;
    if (w->cfg->n_apps)
        return w->mounted[mount_index];
    if (!script_filename || !script_filename[0]) {
        fw_log(FW_LOG_WARN,
               "request without SCRIPT_FILENAME and no script configured; answered 404");
        *status = 404;
        return NULL;
    }
    struct fw_app *app = NULL;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->n_scripts; i++) {
        if (strcmp(fw_app_script(w->scripts[i]), script_filename) == 0) {
            app = w->scripts[i];
            break;
        }
    }
    if (!app) {
        struct stat st;
        if (stat(script_filename, &st) < 0 || !S_ISREG(st.st_mode)) {
            fw_log(FW_LOG_WARN, "SCRIPT_FILENAME %s is not a file; answered 404", script_filename);
            *status = 404;
        } else if (w->n_scripts == FW_APPS_MAX_SCRIPTS) {
            fw_log(FW_LOG_ERR, "SCRIPT_FILENAME %s: already serving %d scripts; answered 500",
                   script_filename, FW_APPS_MAX_SCRIPTS);
        } else {
            struct fw_app_config ac = {
                .script = script_filename,
                .callable = w->cfg->callable,
                .group = w->cfg->group,
            };
            app = fw_app_new(&ac);
            if (app)
                w->scripts[w->n_scripts++] = app;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return app;
}
