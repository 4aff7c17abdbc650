/* The configuration as the rest of fcgiwsgi sees it: typed, validated
 * structs built from the YAML file (and its includes). This header is the
 * whole interface of conf/; nothing else parses YAML. The loader never logs:
 * it appends every problem, with FILE:LINE:COLUMN, to an error list. */
#ifndef FW_CONFIG_H
#define FW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "lib/sock.h"

/* metrics_buckets: at most this many bounds (the +Inf bucket aside); each
 * worker counts them in its scoreboard slot. */
#define FW_CONF_MAX_BUCKETS 16

/* Where something was written: for messages about it later (reload). */
struct fw_conf_mark {
    const char *file; /* points into struct fw_config's file list */
    unsigned line;    /* 1-based */
    unsigned column;  /* 1-based */
};

enum fw_conf_multiprocess {
    FW_CONF_MP_AUTO, /* true when more than one process can serve the pool */
    FW_CONF_MP_TRUE,
    FW_CONF_MP_FALSE,
};

/* How a worker process comes to be (spawn:). */
enum fw_conf_spawn {
    FW_CONF_SPAWN_FRESH,    /* fork and exec, then import the apps (the default) */
    FW_CONF_SPAWN_TEMPLATE, /* forked from the pool's template, apps imported */
};

enum fw_conf_pm {
    FW_CONF_PM_FIXED,   /* processes: N */
    FW_CONF_PM_DYNAMIC, /* processes: {min, max, min_spare, max_spare, idle_timeout} */
};

struct fw_conf_app {
    char *mount;             /* canonical URL prefix: "/" or "/x/y" (no trailing slash) */
    char *script;            /* absolute path, existing and readable at load time */
    char *callable;          /* default "application" */
    char *application_group; /* NULL: one interpreter for this app; "%{GLOBAL}": main;
                                "auto": its own, or main if a module refuses sub-interpreters */
    struct fw_conf_mark mark;
    struct fw_conf_mark script_mark; /* of its 'script:' value */
    struct fw_conf_mark group_mark;  /* of its 'application_group:' value */
    /* Its group's interpreter has its own GIL (CPython 3.12+; never for
     * %{GLOBAL}); apps naming one group agree on it. */
    bool own_gil;
    struct fw_conf_mark own_gil_mark; /* of its 'own_gil:' value */
};

struct fw_conf_env {
    char *name;
    char *value;
};

struct fw_conf_pool {
    char *name;
    struct fw_conf_mark mark;

    /* listen */
    char *listen; /* as written */
    struct fw_sock_addr listen_addr;
    int listen_mode;                   /* unix sockets; default 0660 */
    char *listen_owner, *listen_group; /* NULL: the pool's user/group */
    uid_t listen_uid;                  /* listen_owner's, else uid; (uid_t)-1 if neither */
    gid_t listen_gid;                  /* listen_group's, else gid; (gid_t)-1 if neither */
    int listen_backlog;                /* default 511 */
    char **allowed_clients;            /* TCP only; numeric IPv4/IPv6 addresses */
    size_t n_allowed_clients;

    /* identity */
    char *user, *group; /* NULL: unchanged (the manager's) */
    uid_t uid;          /* resolved; (uid_t)-1 if no user */
    gid_t gid;          /* resolved: group, else the user's primary group; (gid_t)-1 */
    bool allow_root;

    /* process model */
    enum fw_conf_pm pm;
    unsigned processes;                      /* fixed: N >= 1; dynamic: max */
    unsigned min, max, min_spare, max_spare; /* dynamic only */
    uint64_t idle_timeout_ms;                /* dynamic only; default 10 s */
    unsigned threads;                        /* >= 1; default 1 */
    enum fw_conf_multiprocess multiprocess;
    bool preload; /* default true */
    enum fw_conf_spawn spawn;

    /* limits and timeouts (0 where it means "none") */
    uint64_t max_requests;         /* 0: never */
    uint64_t max_requests_jitter;  /* default 0 */
    uint64_t memory_limit_bytes;   /* 0: none */
    uint64_t request_timeout_ms;   /* 0: none */
    uint64_t slowlog_timeout_ms;   /* 0: none */
    uint64_t graceful_timeout_ms;  /* default 30 s */
    uint64_t startup_timeout_ms;   /* default 60 s */
    uint64_t max_body_bytes;       /* 0: none */
    uint64_t max_params_bytes;     /* default 1 MiB */
    uint64_t keepalive_timeout_ms; /* idle kept FastCGI connection; default 60 s */
    uint64_t client_timeout_ms;    /* web server silent mid-request; default 60 s */
    uint64_t rlimit_nofile;        /* workers' RLIMIT_NOFILE; 0: raised to the hard limit */
    uint64_t rlimit_core_bytes;    /* RLIMIT_CORE; UINT64_MAX: inherited */
    /* metrics: the request-duration histogram's upper bounds, ascending, in
     * microseconds (app time); the default when not set. */
    uint64_t metrics_buckets_us[FW_CONF_MAX_BUCKETS];
    size_t n_metrics_buckets;
    /* ping_path: answered "pong" by the worker itself, before any app;
     * status_path: answered by the worker from the master's page of its
     * pool. NULL: none. */
    char *ping_path;
    char *status_path;

    /* the worker's process */
    bool clear_env; /* default true: HOME, USER, LOGNAME, SHELL, PATH of the user, LANG/LC_* */
    char *chdir;    /* NULL: the user's home, else / */
    int umask;      /* -1: inherited */
    char *log;      /* as the top-level log (stderr, a path, syslog[:PATH]); NULL: that one */

    char *access_log;    /* the access log's file (absolute); NULL: off */
    char *access_format; /* checked by lib/accessfmt; NULL: FW_ACCESSFMT_DEFAULT */

    /* Python */
    char *python_home;
    char **python_path;
    size_t n_python_path;
    struct fw_conf_env *env;
    size_t n_env;
    char **watch; /* extra files whose change recycles the pool */
    size_t n_watch;
    bool watch_scripts; /* the apps' scripts recycle it when they change; default true */

    struct fw_conf_app *apps; /* >= 1 */
    size_t n_apps;
};

struct fw_config {
    char *path;   /* the main file as given */
    char **files; /* every file read, main first (includes after) */
    size_t n_files;
    char *control;       /* control socket path; default /run/fcgiwsgi/ctl.sock */
    char *control_group; /* NULL: root and the manager's user only */
    gid_t control_gid;   /* resolved; (gid_t)-1 */
    char *log;           /* "stderr" (default), a path, "syslog" or "syslog:PATH" */
    int log_facility;    /* for syslog: LOG_DAEMON (default), LOG_USER, LOG_LOCAL0..7 */
    char *log_level;     /* err, warn, notice (default), info, debug */
    char *pid_file;      /* NULL: none */
    /* status_listen: the master's own HTTP status server (/status,
     * /metrics, /ping); NULL: none. A unix socket (mode, owner and group as
     * a pool's listen) or a loopback TCP address. */
    char *status_listen;
    struct fw_sock_addr status_addr;
    int status_listen_mode; /* default 0660 */
    char *status_listen_owner, *status_listen_group;
    uid_t status_uid; /* (uid_t)-1: unchanged */
    gid_t status_gid; /* (gid_t)-1: unchanged */
    struct fw_conf_pool *pools;
    size_t n_pools;
};

struct fw_conf_error {
    char *file;      /* NULL for errors not tied to a file */
    unsigned line;   /* 0 if unknown */
    unsigned column; /* 0 if unknown */
    bool warning;    /* a warning does not fail the load */
    char *message;
};

struct fw_conf_errors {
    struct fw_conf_error *v;
    size_t n;
    size_t cap;
    size_t n_dropped; /* errors not stored (past the limit, or no memory); still counted */
};

/* Loads and validates path and its includes. Returns the config, or NULL if
 * there was at least one error (not counting warnings); every error and
 * warning found is appended to errs either way. */
struct fw_config *fw_conf_load(const char *path, struct fw_conf_errors *errs);
/* fw_conf_load(), and then the checks of what the file names outside
 * itself that would make a start fail (python_home's CPython version, what
 * the pools' users can read, the directories of sockets, log and pid file;
 * conf/preflight.h lists them), reported in the same list at the settings'
 * positions. It reads the file system as the pools' users, in a short-lived
 * child when those are not the caller's: for -t, the start and reload. */
struct fw_config *fw_conf_load_preflight(const char *path, struct fw_conf_errors *errs);
/* The same from text in memory (tests, the fuzzer): name stands for the file
 * in messages and is the base of relative paths; includes are read from
 * disk as usual. text need not be NUL-terminated. */
struct fw_config *fw_conf_load_string(const char *name, const char *text, size_t len,
                                      struct fw_conf_errors *errs);
void fw_conf_free(struct fw_config *cfg);

/* Number of entries in errs that are errors (not warnings). */
size_t fw_conf_error_count(const struct fw_conf_errors *errs);

/* Prints "FILE:LINE:COLUMN: error: message" (or "warning:") lines. */
void fw_conf_errors_print(const struct fw_conf_errors *errs, FILE *out);
void fw_conf_errors_free(struct fw_conf_errors *errs);

/* wsgi.multiprocess for a pool, following DESIGN.md. */
bool fw_conf_pool_multiprocess(const struct fw_conf_pool *pool);

/* For reload: true if a and b configure the same pool (name, marks and
 * the order of nothing but lists aside), so its workers need no recycle. */
bool fw_conf_pool_equal(const struct fw_conf_pool *a, const struct fw_conf_pool *b);

/* Total apps over all pools (for "configuration OK (N pools, M apps)"). */
size_t fw_conf_app_count(const struct fw_config *cfg);

/* The libyaml this was built with, for --version. */
const char *fw_conf_yaml_version(void);

/* The install layout: Makefile.am passes $(runstatedir)/fcgiwsgi and
 * $(sysconfdir)/fcgiwsgi; the fallbacks are the system's, for builds
 * without it (t/fuzz/run.sh). */
#ifndef FW_RUNDIR
#define FW_RUNDIR "/run/fcgiwsgi"
#endif
#ifndef FW_CONFDIR
#define FW_CONFDIR "/etc/fcgiwsgi"
#endif
#define FW_CONF_DEFAULT_CONTROL FW_RUNDIR "/ctl.sock"
#define FW_CONF_DEFAULT_FILE FW_CONFDIR "/fcgiwsgi.yaml"

/* The control socket's path from file's top-level `control:` alone (the
 * default if it has none), resolved like the loader does; nothing else of
 * the file, or of its includes, is read or checked. NULL with err set. */
char *fw_conf_control_path(const char *file, char *err, size_t errlen);

#endif
