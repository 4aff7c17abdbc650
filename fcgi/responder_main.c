/* fcgiwsgi-responder: one worker without a manager, for web servers that
 * spawn FastCGI programs themselves (listening socket on fd 0) or for a
 * socket given with --listen. */
#include "config.h"

#include "apps.h"
#include "lib/log.h"
#include "lib/sock.h"
#include "lib/units.h"
#include "worker.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_PYTHON_PATH 64

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fcgiwsgi-responder [options] [SCRIPT]\n"
            "\n"
            "Serves the WSGI application in SCRIPT over FastCGI. Without SCRIPT, each\n"
            "request's SCRIPT_FILENAME names its script (mod_fcgid with FcgidWrapper),\n"
            "each script in its own sub-interpreter.\n"
            "\n"
            "  --listen ADDR             unix socket path or HOST:PORT ([::1]:PORT);\n"
            "                            default: the listening socket on fd 0\n"
            "  --socket-mode MODE        octal mode of a unix socket created by --listen\n"
            "  --backlog N               listen backlog for --listen (default: SOMAXCONN)\n"
            "  --threads N               request threads (default 1)\n"
            "  --callable NAME           the WSGI callable in the script (default application)\n"
            "  --application-group G     interpreter to run in; %%{GLOBAL} is the main one\n"
            "                            (default: the script path, one interpreter per\n"
            "                            script); auto (with SCRIPT): the default, or the\n"
            "                            main one if a module refuses sub-interpreters\n"
            "  --mount PREFIX            URL prefix of the app: SCRIPT_NAME is PREFIX and\n"
            "                            PATH_INFO the rest of the request path (default /\n"
            "                            with SCRIPT; the web server's own without)\n"
            "  --max-body SIZE           largest request body (e.g. 100M; default unlimited)\n"
            "  --max-params SIZE         largest total of FastCGI params (default 1M)\n"
            "  --keepalive-timeout TIME  close a kept connection idle this long (default 60s;\n"
            "                            0: never)\n"
            "  --client-timeout TIME     drop a web server silent this long mid-request\n"
            "                            (default 60s; 0: never)\n"
            "  --request-timeout TIME    interrupt an app call running this long (its own\n"
            "                            time, not waits on the client; default 0: never)\n"
            "  --slowlog-timeout TIME    log the Python stack of an app call running this\n"
            "                            long, once, and let it run (default 0: never)\n"
            "  --graceful-timeout TIME   on stop, cut requests still running after this\n"
            "                            (default 30s; 0: never)\n"
            "  --multiprocess            set wsgi.multiprocess (several responders serve the app)\n"
            "  --python-path DIR         prepend DIR to sys.path (repeatable)\n"
            "  --python-home DIR         virtualenv or Python prefix to use\n"
            "  --no-preload              import SCRIPT on the first request, not at start\n"
            "  --log FILE                log to FILE instead of stderr\n"
            "  --log-level LEVEL         err, warn, notice (default), info or debug\n"
            "  -h, --help, -v, --version\n");
}

enum {
    OPT_LISTEN = 256,
    OPT_SOCKET_MODE,
    OPT_BACKLOG,
    OPT_THREADS,
    OPT_CALLABLE,
    OPT_GROUP,
    OPT_MOUNT,
    OPT_MAX_BODY,
    OPT_MAX_PARAMS,
    OPT_KEEPALIVE_TIMEOUT,
    OPT_CLIENT_TIMEOUT,
    OPT_REQUEST_TIMEOUT,
    OPT_SLOWLOG_TIMEOUT,
    OPT_GRACEFUL_TIMEOUT,
    OPT_MULTIPROCESS,
    OPT_PYTHON_PATH,
    OPT_PYTHON_HOME,
    OPT_NO_PRELOAD,
    OPT_LOG,
    OPT_LOG_LEVEL,
    OPT_HELP,
    OPT_VERSION,
};

static const struct option options[] = {
    { "listen", required_argument, NULL, OPT_LISTEN },
    { "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
    { "backlog", required_argument, NULL, OPT_BACKLOG },
    { "threads", required_argument, NULL, OPT_THREADS },
    { "callable", required_argument, NULL, OPT_CALLABLE },
    { "application-group", required_argument, NULL, OPT_GROUP },
    { "mount", required_argument, NULL, OPT_MOUNT },
    { "max-body", required_argument, NULL, OPT_MAX_BODY },
    { "max-params", required_argument, NULL, OPT_MAX_PARAMS },
    { "keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE_TIMEOUT },
    { "client-timeout", required_argument, NULL, OPT_CLIENT_TIMEOUT },
    { "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
    { "slowlog-timeout", required_argument, NULL, OPT_SLOWLOG_TIMEOUT },
    { "graceful-timeout", required_argument, NULL, OPT_GRACEFUL_TIMEOUT },
    { "multiprocess", no_argument, NULL, OPT_MULTIPROCESS },
    { "python-path", required_argument, NULL, OPT_PYTHON_PATH },
    { "python-home", required_argument, NULL, OPT_PYTHON_HOME },
    { "no-preload", no_argument, NULL, OPT_NO_PRELOAD },
    { "log", required_argument, NULL, OPT_LOG },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "help", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
};

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fcgiwsgi-responder: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return FW_EXIT_CONFIG;
}

static int parse_uint(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct fw_worker_config cfg = {
        .listen_fd = 0,
        .threads = 1,
        .preload = true,
        .channel_fd = -1,
        .log_fd = -1,
        .keepalive_timeout_ms = FW_WORKER_DEFAULT_KEEPALIVE_TIMEOUT_MS,
        .client_timeout_ms = FW_WORKER_DEFAULT_CLIENT_TIMEOUT_MS,
        .graceful_timeout_ms = FW_WORKER_DEFAULT_GRACEFUL_TIMEOUT_MS,
    };
    const char *listen_addr = NULL;
    const char *python_path[MAX_PYTHON_PATH];
    size_t n_python_path = 0;
    long backlog = 0, socket_mode = -1, v;
    char prefix[64];
    char script_path[PATH_MAX];

    snprintf(prefix, sizeof(prefix), "responder pid %ld", (long)getpid());
    fw_log_set_prefix(prefix);

    int opt;
    while ((opt = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (opt == 'h' || opt == 'v')
            opt = opt == 'h' ? OPT_HELP : OPT_VERSION;
        switch (opt) {
        case OPT_LISTEN: listen_addr = optarg; break;
        case OPT_SOCKET_MODE: {
            char *end;
            errno = 0;
            socket_mode = strtol(optarg, &end, 8);
            if (!*optarg || *end || errno || socket_mode < 0 || socket_mode > 07777)
                return bad("--socket-mode %s: expected an octal mode such as 0660", optarg);
            break;
        }
        case OPT_BACKLOG:
            if (parse_uint(optarg, 1, INT_MAX, &backlog) < 0)
                return bad("--backlog %s: expected a positive number", optarg);
            break;
        case OPT_THREADS:
            if (parse_uint(optarg, 1, FW_WORKER_MAX_THREADS, &v) < 0)
                return bad("--threads %s: expected a number from 1 to %d", optarg,
                           FW_WORKER_MAX_THREADS);
            cfg.threads = (unsigned)v;
            break;
        case OPT_CALLABLE: cfg.callable = optarg; break;
        case OPT_GROUP: cfg.group = optarg; break;
        case OPT_MOUNT:
            if (optarg[0] != '/')
                return bad("--mount %s: a URL prefix starts with /", optarg);
            cfg.mount = optarg;
            break;
        case OPT_MAX_BODY:
            if (fw_units_parse_size_bounded(optarg, &cfg.max_body_bytes) < 0)
                return bad("--max-body %s: expected a size such as 100M, at most 1T", optarg);
            break;
        case OPT_MAX_PARAMS:
            if (fw_units_parse_size_bounded(optarg, &cfg.max_params_bytes) < 0 ||
                cfg.max_params_bytes == 0)
                return bad("--max-params %s: expected a size such as 64K, at most 1T", optarg);
            break;
        case OPT_KEEPALIVE_TIMEOUT:
            if (fw_units_parse_duration_bounded(optarg, &cfg.keepalive_timeout_ms) < 0)
                return bad("--keepalive-timeout %s: expected a duration such as 60s, at most 576h",
                           optarg);
            break;
        case OPT_CLIENT_TIMEOUT:
            if (fw_units_parse_duration_bounded(optarg, &cfg.client_timeout_ms) < 0)
                return bad("--client-timeout %s: expected a duration such as 60s, at most 576h",
                           optarg);
            break;
        case OPT_REQUEST_TIMEOUT:
            if (fw_units_parse_duration_bounded(optarg, &cfg.request_timeout_ms) < 0)
                return bad("--request-timeout %s: expected a duration such as 30s, at most 576h",
                           optarg);
            break;
        case OPT_SLOWLOG_TIMEOUT:
            if (fw_units_parse_duration_bounded(optarg, &cfg.slowlog_timeout_ms) < 0)
                return bad("--slowlog-timeout %s: expected a duration such as 5s, at most 576h",
                           optarg);
            break;
        case OPT_GRACEFUL_TIMEOUT:
            if (fw_units_parse_duration_bounded(optarg, &cfg.graceful_timeout_ms) < 0)
                return bad("--graceful-timeout %s: expected a duration such as 30s, at most 576h",
                           optarg);
            break;
        case OPT_MULTIPROCESS: cfg.multiprocess = true; break;
        case OPT_PYTHON_PATH:
            if (n_python_path == MAX_PYTHON_PATH)
                return bad("too many --python-path options (at most %d)", MAX_PYTHON_PATH);
            python_path[n_python_path++] = optarg;
            break;
        case OPT_PYTHON_HOME: cfg.host.python_home = optarg; break;
        case OPT_NO_PRELOAD: cfg.preload = false; break;
        case OPT_LOG:
            if (fw_log_open(optarg) < 0) {
                fprintf(stderr, "fcgiwsgi-responder: --log %s: %s\n", optarg, strerror(errno));
                return FW_EXIT_CONFIG;
            }
            break;
        case OPT_LOG_LEVEL: {
            int level = fw_log_level_parse(optarg);
            if (level < 0)
                return bad("--log-level %s: expected err, warn, notice, info or debug", optarg);
            fw_log_set_level((enum fw_log_level)level);
            break;
        }
        case OPT_HELP: usage(stdout); return 0;
        case OPT_VERSION: {
            char py[32];
            fw_host_python_version(py, sizeof(py));
            printf("fcgiwsgi-responder %s\nCPython %s (embedded)\nFastCGI: fcgiwsgi's own record "
                   "codec\n",
                   PACKAGE_VERSION, py);
            return 0;
        }
        default: usage(stderr); return FW_EXIT_CONFIG;
        }
    }
    if (optind < argc - 1)
        return bad("more than one SCRIPT given (%s ...)", argv[optind + 1]);
    if (optind == argc - 1) {
        /* Absolute, so __file__, the log and the default group name do not
         * depend on the working directory. */
        if (!realpath(argv[optind], script_path) || access(script_path, R_OK) < 0) {
            fprintf(stderr, "fcgiwsgi-responder: %s: %s\n", argv[optind], strerror(errno));
            return FW_EXIT_CONFIG;
        }
    }
    /* Moving one script of many into the main interpreter would have it
     * share that with the next one that moves. */
    if (optind != argc - 1 && cfg.group && strcmp(cfg.group, FW_APPS_GROUP_AUTO) == 0)
        return bad("--application-group auto needs a SCRIPT: without one each SCRIPT_FILENAME "
                   "has an interpreter of its own");
    /* With a script, the options describe that one app. */
    struct fw_worker_app app = {
        .script = script_path, .callable = cfg.callable, .group = cfg.group, .mount = cfg.mount
    };
    if (optind == argc - 1) {
        cfg.apps = &app;
        cfg.n_apps = 1;
    }
    cfg.host.python_path = python_path;
    cfg.host.n_python_path = n_python_path;

    struct fw_sock_addr addr;
    struct stat created;
    bool own_socket = false;
    if (listen_addr) {
        char err[256];
        if (fw_sock_parse(listen_addr, &addr, err, sizeof(err)) < 0)
            return bad("--listen: %s", err);
        int fd = fw_sock_listen(&addr, (int)backlog, (int)socket_mode, NULL, err, sizeof(err));
        if (fd < 0)
            return bad("--listen: %s", err);
        cfg.listen_fd = fd;
        if (addr.family == AF_UNIX) {
            own_socket = stat(((struct sockaddr_un *)&addr.ss)->sun_path, &created) == 0;
        }
        fw_log(FW_LOG_NOTICE, "listening on %s", addr.text);
    } else if (fw_sock_is_listener(0) != 1) {
        fprintf(stderr, "fcgiwsgi-responder: fd 0 is not a listening socket: give --listen ADDR, "
                        "or start me from a FastCGI spawner (mod_fcgid, spawn-fcgi, lighttpd "
                        "bin-path)\n");
        return FW_EXIT_CONFIG;
    }

    int status = fw_worker_run(&cfg);

    if (own_socket) {
        /* Remove the path only if it is still the socket we made. */
        const char *path = ((struct sockaddr_un *)&addr.ss)->sun_path;
        struct stat now;
        if (stat(path, &now) == 0 && now.st_ino == created.st_ino && now.st_dev == created.st_dev)
            unlink(path);
    }
    /* C stdio is left unflushed too: a request thread may hold its lock, or
     * block on a full pipe with it. */
    if (status == FW_EXIT_FAILURE)
        _exit(status);
    return status;
}
