/* fcgiwsgi, the manager's entry point: options, then either checking the
 * configuration (-t) or handing it to the master loop (manager.h). */
#include "config.h"

#include "conf/config.h"
#include "lib/log.h"
#include "manager/manager.h"
#include "manager/spawn.h"
#include "pyhost/host.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONFIG FW_CONF_DEFAULT_FILE

/* Exit statuses, as for fcgiwsgi-responder: 2 is bad usage or a bad
 * configuration, which a supervisor must not restart in a loop. */
enum { EXIT_INVALID = 1, EXIT_USAGE = 2 };

struct options {
    const char *config;
    bool test;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: fcgiwsgi [-c FILE] [-t]\n"
                 "Runs pools of FastCGI WSGI responders as FILE describes.\n"
                 "\n"
                 "  -c, --config FILE  the configuration (default " DEFAULT_CONFIG ")\n"
                 "  -t, --test         check the configuration, print every error, and exit:\n"
                 "                     0 if it is valid, 1 if not\n"
                 "  -h, --help         this text\n"
                 "  -v, --version      the version\n");
}

static void print_version(void)
{
    char py[32];
    fw_host_python_version(py, sizeof(py));
    printf("fcgiwsgi %s\nCPython %s (embedded in the workers)\nlibyaml %s\n"
           "FastCGI: fcgiwsgi's own record codec\n",
           PACKAGE_VERSION, py, fw_conf_yaml_version());
}

/* Returns -1 to exit with `*status`, or 0 to go on. */
static int parse_options(int argc, char **argv, struct options *o, int *status)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "test", no_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'v' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    *o = (struct options){ .config = DEFAULT_CONFIG };
    while ((c = getopt_long(argc, argv, "c:thv", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 't': o->test = true; break;
        case 'h':
            usage(stdout);
            *status = 0;
            return -1;
        case 'v':
            print_version();
            *status = 0;
            return -1;
        default:
            usage(stderr);
            *status = EXIT_USAGE;
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fcgiwsgi: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        *status = EXIT_USAGE;
        return -1;
    }
    return 0;
}

/* -t: every error and warning on stderr; the verdict on stdout if valid. */
static int test_config(const char *path)
{
    struct fw_conf_errors errs = { 0 };
    struct fw_config *cfg = fw_conf_load_preflight(path, &errs);
    fw_conf_errors_print(&errs, stderr);
    fw_conf_errors_free(&errs);
    if (!cfg)
        return EXIT_INVALID;
    printf("%s: configuration OK (%zu pools, %zu apps)\n", path, cfg->n_pools,
           fw_conf_app_count(cfg));
    fw_conf_free(cfg);
    return 0;
}

/* A configuration that starts may still have warnings (preflight's about a
 * socket the web server cannot reach, say): they go to the log like its
 * other lines, timestamped (a reload logs its own the same way); a refused
 * one gets the lines -t prints. */
static void log_warnings(const struct fw_conf_errors *errs)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = errs->n ? open_memstream(&text, &len) : NULL;
    if (!f)
        return;
    fw_conf_errors_print(errs, f);
    fclose(f);
    while (len && text[len - 1] == '\n')
        len--;
    fw_log_block(FW_LOG_WARN, NULL, text, len);
    free(text);
}

/* ps shows a process's argv strings: the master's title goes over its own
 * argv and environ, which the kernel lays out one after the other (what
 * nginx does), once environ has moved to the heap. Nothing reads argv after
 * this (the config path was copied by the loader). */
static void set_title(int argc, char **argv, const char *title)
{
    extern char **environ;
    char *end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc && argv[i] == end; i++)
        end += strlen(argv[i]) + 1;
    size_t n = 0;
    while (environ[n])
        n++;
    char **copy = calloc(n + 1, sizeof(*copy));
    if (!copy)
        return;
    for (size_t i = 0; i < n; i++) {
        if (environ[i] == end)
            end += strlen(environ[i]) + 1;
        if (!(copy[i] = strdup(environ[i])))
            return;
    }
    environ = copy;
    size_t room = (size_t)(end - argv[0]);
    snprintf(argv[0], room, "%s", title);
    size_t used = strlen(argv[0]);
    memset(argv[0] + used, 0, room - used);
    for (int i = 1; i < argc; i++)
        argv[i] = NULL;
}

int main(int argc, char **argv)
{
    /* A worker image, exec'd by the master's child (manager/spawn.c). */
    if (argc == 2 && strcmp(argv[1], FW_SPAWN_WORKER_ARG) == 0)
        return fw_spawn_worker_main();
    if (argc == 2 && strcmp(argv[1], FW_SPAWN_TEMPLATE_ARG) == 0)
        return fw_spawn_template_main(argv);
    struct options o;
    int status;
    if (parse_options(argc, argv, &o, &status) < 0)
        return status;
    if (o.test)
        return test_config(o.config);
    struct fw_conf_errors errs = { 0 };
    struct fw_config *cfg = fw_conf_load_preflight(o.config, &errs);
    if (cfg)
        log_warnings(&errs);
    else
        fw_conf_errors_print(&errs, stderr);
    fw_conf_errors_free(&errs);
    if (!cfg)
        return EXIT_USAGE; /* nothing a restart could fix */
    char title[300];
    snprintf(title, sizeof(title), "fcgiwsgi: master (%s)", cfg->path);
    set_title(argc, argv, title);
    return fw_manager_run(cfg);
}
