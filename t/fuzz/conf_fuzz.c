/* libFuzzer harness for conf/: any bytes as a configuration file, loaded
 * from memory as if it were DIR/fuzz.yaml, where DIR holds a script and an
 * includable file so that relative paths in the corpus resolve. Built and
 * run by t/fuzz/run.sh; ASan and UBSan watch for bugs, libFuzzer's
 * -rss_limit_mb for unbounded memory. */
#include <config.h>

#include "conf/config.h"

#include <dlfcn.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char name[4096];

/* `listen: somehost:80` would ask DNS on every run: slow, and dependent on
 * the network. Names other than localhost fail here as they would for an
 * unknown host, so every other path of the loader still runs. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    struct addrinfo h = { 0 };
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
    if (hints)
        h = *hints;
    if (node && strcmp(node, "localhost") != 0)
        h.ai_flags |= AI_NUMERICHOST;
    return real(node, service, &h, res);
}

static void put(const char *dir, const char *file, const char *text)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/conf-fuzz-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    put(dir, "app.wsgi", "def application(environ, start_response):\n    pass\n");
    snprintf(name, sizeof(name), "%s/pools.d", dir);
    mkdir(name, 0700);
    put(dir, "pools.d/a.yaml",
        "pools:\n  inc:\n    listen: /run/inc.sock\n    user: nobody\n"
        "    apps: [{script: ../app.wsgi}]\n");
    snprintf(name, sizeof(name), "%s/fuzz.yaml", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fw_conf_errors errs = { 0 };
    struct fw_config *cfg = fw_conf_load_string(name, (const char *)data, size, &errs);
    if (cfg) {
        /* Touch what the manager would read. */
        size_t n = fw_conf_app_count(cfg);
        for (size_t i = 0; i < cfg->n_pools; i++)
            n += fw_conf_pool_multiprocess(&cfg->pools[i]) + strlen(cfg->pools[i].name);
        /* A valid config has a pool and an app, or none at all with an
         * include: and the "no pool is defined yet" warning (the installed
         * layout's empty pools.d). */
        bool warned = false;
        for (size_t i = 0; i < errs.n; i++)
            warned |= errs.v[i].warning && errs.v[i].message &&
                      strstr(errs.v[i].message, "no pool is defined yet");
        if (n == 0 && !(cfg->n_pools == 0 && warned))
            abort();
        fw_conf_free(cfg);
    } else if (fw_conf_error_count(&errs) == 0) {
        abort(); /* refused without saying why */
    }
    FILE *out = fopen("/dev/null", "w");
    if (out) {
        fw_conf_errors_print(&errs, out);
        fclose(out);
    }
    fw_conf_errors_free(&errs);
    return 0;
}
