/* A worker's apps: the configured ones by mount, each in its own
 * interpreter unless the config names a group, or, with none configured,
 * one per SCRIPT_FILENAME as requests name them (mod_fcgid's model), at
 * most FW_APPS_MAX_SCRIPTS. */
#ifndef FW_APPS_H
#define FW_APPS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct fw_app;
struct fw_worker_config;

#define FW_APPS_MAX_SCRIPTS 64

/* The application_group that runs an app in its default group, or in the
 * main interpreter if a module refuses sub-interpreters at import. */
#define FW_APPS_GROUP_AUTO "auto"

struct fw_worker_apps {
    const struct fw_worker_config *cfg;
    struct fw_app **mounted; /* one per cfg->apps entry */
    const char **mounts;     /* their canonical mounts (what conn.c matches) */
    size_t n_mounts;
    pthread_mutex_t lock; /* SCRIPT_FILENAME mode */
    struct fw_app *scripts[FW_APPS_MAX_SCRIPTS];
    size_t n_scripts;
};

/* No Python is touched. -1 on out of memory (logged). fw_apps_free is safe
 * on a zeroed struct and after a failed init. */
int fw_apps_init(struct fw_worker_apps *a, const struct fw_worker_config *cfg);

/* Imports every configured app now. False if one failed (logged; requests
 * answer 500 and retry), with the end of its traceback in err. */
bool fw_apps_preload(struct fw_worker_apps *a, char *err, size_t errlen);

/* Every configured app is imported (a failed preload healed). */
bool fw_apps_all_ready(const struct fw_worker_apps *a);

/* The app for a request (a fw_conn_app_fn; ctx is the struct): NULL with
 * *status set when there is none. */
struct fw_app *fw_apps_find(void *ctx, size_t mount_index, const char *script_filename,
                            int *status);

/* Drops the apps' Python objects, before the interpreters end. */
void fw_apps_unload(struct fw_worker_apps *a);
void fw_apps_free(struct fw_worker_apps *a);

#endif
