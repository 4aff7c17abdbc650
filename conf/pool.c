/* Reading one pool: its table of settings, the process model, env, and
 * resolving what names outside the file (users, groups, the address). */
#include <config.h>

#include "conf/pool.h"

#include "conf/account.h"
#include "conf/app.h"
#include "conf/top.h"
#include "conf/path.h"
#include "conf/strset.h"
#include "conf/value.h"
#include "lib/accessfmt.h"
#include "lib/units.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* FastCGI peers are filtered by address, so names (resolved once, at load)
 * and networks are not accepted. */
static const char *numeric_ip(const char *item)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, item, buf) == 1 || inet_pton(AF_INET6, item, buf) == 1)
        return NULL;
    return "is not a numeric IPv4 or IPv6 address";
}

#define P(field) offsetof(struct fw_conf_pool, field)
#define N_PROC FW_CONF_MAX_PROCESSES
#define MAX_REQ FW_CONF_MAX_REQUESTS
/* Sizes and durations: up to what lib/units.h says every user can carry. */
#define SIZE(name, offset, min)                                                                    \
    FW_CONF_KEY_RANGE((name), FW_CONF_T_SIZE, (offset), (min), FW_UNITS_SIZE_MAX_BYTES)
#define DURATION(name, offset)                                                                     \
    FW_CONF_KEY_RANGE((name), FW_CONF_T_DURATION, (offset), 0, FW_UNITS_DURATION_MAX_MS)

_Static_assert(FW_CONF_POOL_NKEYS <= FW_CONF_SCHEMA_MAX_KEYS, "the schema reader's tables");

static const struct fw_conf_key pool_keys[FW_CONF_POOL_NKEYS] = {
    [FW_CONF_POOL_LISTEN] = FW_CONF_KEY("listen", FW_CONF_T_STRING, P(listen)),
    [FW_CONF_POOL_LISTEN_MODE] = FW_CONF_KEY("listen_mode", FW_CONF_T_MODE, P(listen_mode)),
    [FW_CONF_POOL_LISTEN_OWNER] = FW_CONF_KEY("listen_owner", FW_CONF_T_STRING, P(listen_owner)),
    [FW_CONF_POOL_LISTEN_GROUP] = FW_CONF_KEY("listen_group", FW_CONF_T_STRING, P(listen_group)),
    [FW_CONF_POOL_LISTEN_BACKLOG] =
        FW_CONF_KEY_RANGE("listen_backlog", FW_CONF_T_INT, P(listen_backlog), 1, 65535),
    [FW_CONF_POOL_ALLOWED_CLIENTS] = FW_CONF_KEY_LIST(
        "allowed_clients", FW_CONF_T_LIST, P(allowed_clients), P(n_allowed_clients), numeric_ip),
    [FW_CONF_POOL_USER] = FW_CONF_KEY("user", FW_CONF_T_STRING, P(user)),
    [FW_CONF_POOL_GROUP] = FW_CONF_KEY("group", FW_CONF_T_STRING, P(group)),
    [FW_CONF_POOL_ALLOW_ROOT] = FW_CONF_KEY("allow_root", FW_CONF_T_BOOL, P(allow_root)),
    [FW_CONF_POOL_PROCESSES] = FW_CONF_KEY("processes", FW_CONF_T_CUSTOM, 0),
    [FW_CONF_POOL_THREADS] =
        FW_CONF_KEY_RANGE("threads", FW_CONF_T_UNSIGNED, P(threads), 1, FW_CONF_MAX_THREADS),
    [FW_CONF_POOL_MULTIPROCESS] = FW_CONF_KEY("multiprocess", FW_CONF_T_CUSTOM, 0),
    [FW_CONF_POOL_PRELOAD] = FW_CONF_KEY("preload", FW_CONF_T_BOOL, P(preload)),
    [FW_CONF_POOL_MAX_REQUESTS] =
        FW_CONF_KEY_RANGE("max_requests", FW_CONF_T_U64, P(max_requests), 0, MAX_REQ),
    [FW_CONF_POOL_MAX_REQUESTS_JITTER] =
        FW_CONF_KEY_RANGE("max_requests_jitter", FW_CONF_T_U64, P(max_requests_jitter), 0, MAX_REQ),
    [FW_CONF_POOL_MEMORY_LIMIT] = SIZE("memory_limit", P(memory_limit_bytes), 0),
    [FW_CONF_POOL_REQUEST_TIMEOUT] = DURATION("request_timeout", P(request_timeout_ms)),
    [FW_CONF_POOL_SLOWLOG_TIMEOUT] = DURATION("slowlog_timeout", P(slowlog_timeout_ms)),
    [FW_CONF_POOL_GRACEFUL_TIMEOUT] = DURATION("graceful_timeout", P(graceful_timeout_ms)),
    [FW_CONF_POOL_STARTUP_TIMEOUT] = DURATION("startup_timeout", P(startup_timeout_ms)),
    [FW_CONF_POOL_IDLE_TIMEOUT] = DURATION("idle_timeout", P(idle_timeout_ms)),
    [FW_CONF_POOL_MAX_BODY] = SIZE("max_body", P(max_body_bytes), 0),
    /* 0 would silently mean the default; a parser below 1K refuses every
     * real request. The upper bound keeps clear of the codec's own cap. */
    [FW_CONF_POOL_MAX_PARAMS] =
        FW_CONF_KEY_RANGE("max_params", FW_CONF_T_SIZE, P(max_params_bytes), 1024, 1ULL << 30),
    [FW_CONF_POOL_KEEPALIVE_TIMEOUT] = DURATION("keepalive_timeout", P(keepalive_timeout_ms)),
    [FW_CONF_POOL_CLIENT_TIMEOUT] = DURATION("client_timeout", P(client_timeout_ms)),
    /* 0: the hard limit. Above the kernel's usual nr_open cap nothing runs. */
    [FW_CONF_POOL_RLIMIT_NOFILE] =
        FW_CONF_KEY_RANGE("rlimit_nofile", FW_CONF_T_U64, P(rlimit_nofile), 0, 1048576),
    [FW_CONF_POOL_RLIMIT_CORE] = SIZE("rlimit_core", P(rlimit_core_bytes), 0),
    [FW_CONF_POOL_CLEAR_ENV] = FW_CONF_KEY("clear_env", FW_CONF_T_BOOL, P(clear_env)),
    [FW_CONF_POOL_CHDIR] = FW_CONF_KEY("chdir", FW_CONF_T_PATH, P(chdir)),
    [FW_CONF_POOL_UMASK] = FW_CONF_KEY("umask", FW_CONF_T_MODE, P(umask)),
    [FW_CONF_POOL_LOG] = FW_CONF_KEY("log", FW_CONF_T_CUSTOM, 0),
    [FW_CONF_POOL_ACCESS_LOG] = FW_CONF_KEY("access_log", FW_CONF_T_CUSTOM, 0),
    [FW_CONF_POOL_ACCESS_FORMAT] = FW_CONF_KEY("access_format", FW_CONF_T_CUSTOM, 0),
    [FW_CONF_POOL_PYTHON_HOME] = FW_CONF_KEY("python_home", FW_CONF_T_PATH, P(python_home)),
    [FW_CONF_POOL_PYTHON_PATH] = FW_CONF_KEY_LIST("python_path", FW_CONF_T_PATH_LIST,
                                                  P(python_path), P(n_python_path), NULL),
    [FW_CONF_POOL_ENV] = FW_CONF_KEY("env", FW_CONF_T_CUSTOM, 0),
    [FW_CONF_POOL_WATCH] =
        FW_CONF_KEY_LIST("watch", FW_CONF_T_PATH_LIST, P(watch), P(n_watch), NULL),
    [FW_CONF_POOL_WATCH_SCRIPTS] = FW_CONF_KEY("watch_scripts", FW_CONF_T_BOOL, P(watch_scripts)),
    [FW_CONF_POOL_APPS] = FW_CONF_KEY("apps", FW_CONF_T_CUSTOM, 0),
    [FW_CONF_POOL_METRICS_BUCKETS] = FW_CONF_KEY("metrics_buckets", FW_CONF_T_CUSTOM, 0),
    [FW_CONF_POOL_PING_PATH] = FW_CONF_KEY("ping_path", FW_CONF_T_STRING, P(ping_path)),
    [FW_CONF_POOL_STATUS_PATH] = FW_CONF_KEY("status_path", FW_CONF_T_STRING, P(status_path)),
    [FW_CONF_POOL_SPAWN] = FW_CONF_KEY("spawn", FW_CONF_T_CUSTOM, 0),
};

/* processes: {min, max, min_spare, max_spare, idle_timeout} */
struct dynamic {
    unsigned min, max, min_spare, max_spare;
    uint64_t idle_timeout_ms;
};
enum { D_MIN, D_MAX, D_MIN_SPARE, D_MAX_SPARE, D_IDLE, D_NKEYS };
#define D(field) offsetof(struct dynamic, field)
static const struct fw_conf_key dynamic_keys[D_NKEYS] = {
    [D_MIN] = FW_CONF_KEY_RANGE("min", FW_CONF_T_UNSIGNED, D(min), 0, N_PROC),
    [D_MAX] = FW_CONF_KEY_RANGE("max", FW_CONF_T_UNSIGNED, D(max), 1, N_PROC),
    [D_MIN_SPARE] = FW_CONF_KEY_RANGE("min_spare", FW_CONF_T_UNSIGNED, D(min_spare), 0, N_PROC),
    [D_MAX_SPARE] = FW_CONF_KEY_RANGE("max_spare", FW_CONF_T_UNSIGNED, D(max_spare), 0, N_PROC),
    [D_IDLE] = DURATION("idle_timeout", D(idle_timeout_ms)),
};
const struct fw_conf_schema fw_conf_pool_processes_schema = {
    "'processes' setting", dynamic_keys, D_NKEYS, NULL, NULL,
};

static int read_custom(struct fw_conf_reader *r, size_t i, void *obj, void *ctx);
static const char *elsewhere(const char *key);

const struct fw_conf_schema fw_conf_pool_schema = {
    "pool setting", pool_keys, FW_CONF_POOL_NKEYS, read_custom, elsewhere,
};

static const char *elsewhere(const char *key)
{
    if (fw_conf_schema_find(&fw_conf_top_schema, key) >= 0)
        return "is a top-level setting, not a pool setting";
    if (fw_conf_schema_find(&fw_conf_app_schema, key) >= 0)
        return "is an app setting: put it in an entry of 'apps:'";
    if (fw_conf_schema_find(&fw_conf_pool_processes_schema, key) >= 0)
        return "belongs in a dynamic 'processes: {min, max, min_spare, max_spare}'";
    return NULL;
}

void fw_conf_pool_init(struct fw_conf_pool *pool)
{
    memset(pool, 0, sizeof(*pool));
    pool->listen_mode = 0660;
    pool->listen_uid = (uid_t)-1;
    pool->listen_gid = (gid_t)-1;
    pool->listen_backlog = 511;
    pool->uid = (uid_t)-1;
    pool->gid = (gid_t)-1;
    pool->pm = FW_CONF_PM_FIXED;
    pool->processes = 1;
    pool->idle_timeout_ms = 10 * 1000;
    pool->threads = 1;
    pool->multiprocess = FW_CONF_MP_AUTO;
    pool->preload = true;
    pool->watch_scripts = true;
    pool->graceful_timeout_ms = 30 * 1000;
    pool->startup_timeout_ms = 60 * 1000;
    pool->max_params_bytes = 1024 * 1024;
    pool->keepalive_timeout_ms = 60 * 1000;
    pool->client_timeout_ms = 60 * 1000;
    pool->rlimit_core_bytes = UINT64_MAX;
    pool->clear_env = true;
    pool->umask = -1;
    /* Prometheus's own default buckets. */
    static const uint64_t buckets_us[] = { 5000,   10000,   25000,   50000,   100000,  250000,
                                           500000, 1000000, 2500000, 5000000, 10000000 };
    memcpy(pool->metrics_buckets_us, buckets_us, sizeof(buckets_us));
    pool->n_metrics_buckets = sizeof(buckets_us) / sizeof(buckets_us[0]);
}

/* metrics_buckets: [0.005, 0.01, ...], seconds, ascending, each a whole
 * number of microseconds from 1 us to an hour (the slot counts app time in
 * microseconds). */
static void read_buckets(struct fw_conf_reader *r, struct fw_conf_pool *pool)
{
    yaml_mark_t start = r->ev.start_mark;
    size_t n = 0;
    bool bad = false;
    uint64_t v[FW_CONF_MAX_BUCKETS];
    if (r->ev.type != YAML_SEQUENCE_START_EVENT) {
        if (r->ev.type != YAML_ALIAS_EVENT)
            fw_conf_reader_error(r, start,
                                 "'metrics_buckets' expects a list of seconds, e.g. [0.01, 0.1, "
                                 "1], got %s",
                                 fw_conf_reader_kind(r));
        fw_conf_reader_skip(r);
        return;
    }
    while (fw_conf_reader_next(r) == 0 && r->ev.type != YAML_SEQUENCE_END_EVENT) {
        yaml_mark_t at = r->ev.start_mark;
        const char *s = fw_conf_value_scalar(r, "metrics_buckets", "a number of seconds");
        if (!s) {
            bad = true;
            continue;
        }
        char *end;
        double us = strtod(s, &end) * 1e6;
        bool in_range = end != s && !*end && us >= 1.0 && us <= 3600e6;
        double off = in_range ? us - (double)(uint64_t)(us + 0.5) : 1.0;
        if (off > 1e-3 || off < -1e-3) {
            fw_conf_reader_error(r, at,
                                 "'metrics_buckets': '%.40s' is not a number of seconds from "
                                 "0.000001 to 3600 in whole microseconds",
                                 s);
            bad = true;
            continue;
        }
        if (n == FW_CONF_MAX_BUCKETS) {
            fw_conf_reader_error(r, at, "'metrics_buckets': at most %d bounds",
                                 FW_CONF_MAX_BUCKETS);
            bad = true;
            continue;
        }
        uint64_t b = (uint64_t)(us + 0.5);
        if (n && b <= v[n - 1]) {
            fw_conf_reader_error(r, at,
                                 "'metrics_buckets': '%.40s' is not above the bound before "
                                 "it: list them in ascending order, once each",
                                 s);
            bad = true;
            continue;
        }
        v[n++] = b;
    }
    if (!n && !bad && !r->broken)
        fw_conf_reader_error(r, start,
                             "'metrics_buckets' is an empty list: leave the key out for "
                             "the default buckets");
    if (bad || !n)
        return;
    memcpy(pool->metrics_buckets_us, v, n * sizeof(v[0]));
    pool->n_metrics_buckets = n;
}

static void read_dynamic(struct fw_conf_reader *r, struct fw_conf_pool *pool,
                         struct fw_conf_pool_marks *c)
{
    struct dynamic d = { 0 };
    struct fw_conf_mark m[D_NKEYS];
    yaml_mark_t start = r->ev.start_mark;
    size_t before = fw_conf_error_count(r->errs);
    if (fw_conf_schema_read(r, &fw_conf_pool_processes_schema, &d, m, NULL) < 0)
        return;
    if (!m[D_MAX].line) {
        fw_conf_reader_error(r, start,
                             "dynamic 'processes' needs 'max', the most processes to run");
        return;
    }
    if (fw_conf_error_count(r->errs) > before)
        return;
    if (!m[D_MAX_SPARE].line)
        d.max_spare = d.max;
    if (d.min > d.max)
        fw_conf_mark_error(r->errs, m[D_MIN], "'min' (%u) must not be more than 'max' (%u)", d.min,
                           d.max);
    if (d.max_spare > d.max)
        fw_conf_mark_error(r->errs, m[D_MAX_SPARE],
                           "'max_spare' (%u) must not be more than 'max' (%u)", d.max_spare, d.max);
    else if (d.min_spare > d.max_spare)
        fw_conf_mark_error(r->errs, m[D_MIN_SPARE],
                           "'min_spare' (%u) must not be more than 'max_spare' (%u%s)", d.min_spare,
                           d.max_spare, m[D_MAX_SPARE].line ? "" : ", from 'max'");
    pool->pm = FW_CONF_PM_DYNAMIC;
    pool->processes = d.max;
    pool->min = d.min;
    pool->max = d.max;
    pool->min_spare = d.min_spare;
    pool->max_spare = d.max_spare;
    if (m[D_IDLE].line) {
        c->dynamic_idle = m[D_IDLE];
        c->dynamic_idle_ms = d.idle_timeout_ms;
    }
}

static void read_processes(struct fw_conf_reader *r, struct fw_conf_pool *pool,
                           struct fw_conf_pool_marks *c)
{
    uint64_t n;
    if (r->ev.type == YAML_MAPPING_START_EVENT) {
        read_dynamic(r, pool, c);
    } else if (r->ev.type == YAML_SEQUENCE_START_EVENT) {
        fw_conf_reader_error(r, r->ev.start_mark,
                             "'processes' expects a number of processes, or a mapping "
                             "{min, max, min_spare, max_spare, idle_timeout}; got a list");
        fw_conf_reader_skip(r);
    } else if (fw_conf_value_uint(r, "processes", 1, N_PROC, &n) == 0) {
        pool->pm = FW_CONF_PM_FIXED;
        pool->processes = (unsigned)n;
    }
}

static int env_name_ok(const char *name)
{
    return name[0] && !strchr(name, '=');
}

static void read_env(struct fw_conf_reader *r, struct fw_conf_pool *pool)
{
    struct fw_conf_strset seen = { 0 };
    struct fw_conf_mark *where = NULL; /* of each entry of pool->env */
    size_t cap = 0, where_cap = 0, old;
    char q[64];
    if (r->ev.type != YAML_MAPPING_START_EVENT) {
        if (r->ev.type != YAML_ALIAS_EVENT)
            fw_conf_reader_error(r, r->ev.start_mark,
                                 "'env' expects a mapping of NAME: value, got %s",
                                 fw_conf_reader_kind(r));
        fw_conf_reader_skip(r);
        return;
    }
    while (fw_conf_reader_key(r) > 0) {
        yaml_mark_t km = r->ev.start_mark;
        const char *name = (const char *)r->ev.data.scalar.value;
        char *copy = NULL, *value = NULL;
        if (!env_name_ok(name))
            fw_conf_reader_error(r, km,
                                 "bad environment variable name %s: it must not be empty or "
                                 "contain '='",
                                 fw_conf_reader_quote(name, q));
        else if (!(copy = strdup(name)))
            fw_conf_reader_error(r, km, "out of memory");
        if (fw_conf_reader_next(r) < 0) {
            free(copy);
            break;
        }
        const char *v = NULL;
        if (fw_conf_reader_is_null(r))
            fw_conf_reader_error(r, r->ev.start_mark,
                                 "env %s has no value: write \"\" for an empty string",
                                 fw_conf_reader_quote(copy ? copy : "", q));
        else
            v = fw_conf_value_scalar(r, copy ? copy : "env", "a string");
        if (!v || !copy)
            goto next;
        if (fw_conf_value_grow((void **)&pool->env, &cap, pool->n_env, sizeof(*pool->env)) < 0 ||
            fw_conf_value_grow((void **)&where, &where_cap, pool->n_env, sizeof(*where)) < 0 ||
            !(value = strdup(v))) {
            fw_conf_reader_error(r, km, "out of memory");
            goto next;
        }
        int dup = fw_conf_strset_add(&seen, copy, pool->n_env, &old);
        if (dup > 0)
            fw_conf_reader_error(r, km, "env %s is given twice (first at %u:%u)",
                                 fw_conf_reader_quote(copy, q), where[old].line, where[old].column);
        else if (dup < 0)
            fw_conf_reader_error(r, km, "out of memory");
        if (dup != 0)
            goto next;
        where[pool->n_env] = fw_conf_reader_mark(r, km);
        pool->env[pool->n_env++] = (struct fw_conf_env){ copy, value };
        continue;
    next:
        free(copy);
        free(value);
    }
    free(where);
    fw_conf_strset_free(&seen);
}

/* A file, or off. Not stderr or syslog: workers write whole batches of
 * lines with one write() (fcgi/access.c), which a file takes atomically
 * with O_APPEND and a datagram socket or a pipe would not. */
static int read_access_log(struct fw_conf_reader *r, struct fw_conf_pool *pool)
{
    const char *v = fw_conf_value_scalar(r, "access_log", "the path of a file, or off");
    if (!v)
        return -1;
    if (!strcmp(v, "off") || !strcmp(v, "false"))
        return 0;
    if (!*v || !strcmp(v, "stderr") || !strncmp(v, "syslog", 6)) {
        fw_conf_reader_error(r, r->ev.start_mark,
                             "'access_log' must be the path of a file, or off (not stderr or "
                             "syslog: lines go out in batches that only a file keeps whole)");
        return -1;
    }
    if (!(pool->access_log = fw_conf_path_join(r->dir, v))) {
        fw_conf_reader_error(r, r->ev.start_mark, "out of memory");
        return -1;
    }
    return 0;
}

/* Compiled here only to be checked, with the bad directive's own column. */
static int read_access_format(struct fw_conf_reader *r, struct fw_conf_pool *pool)
{
    const char *v = fw_conf_value_scalar(r, "access_format", "a format string");
    if (!v)
        return -1;
    size_t off;
    char err[160];
    struct fw_accessfmt *f = fw_accessfmt_compile(v, &off, err, sizeof(err));
    if (!f) {
        fw_conf_reader_error(r, fw_conf_reader_scalar_mark(r, off), "'access_format': %s", err);
        return -1;
    }
    fw_accessfmt_free(f);
    if (!(pool->access_format = strdup(v))) {
        fw_conf_reader_error(r, r->ev.start_mark, "out of memory");
        return -1;
    }
    return 0;
}

static int read_custom(struct fw_conf_reader *r, size_t i, void *obj, void *ctx)
{
    static const char *const mp[] = { "auto", "true", "false" };
    static const char *const sp[] = { "fresh", "template" };
    struct fw_conf_pool *pool = obj;
    size_t choice;
    switch (i) {
    case FW_CONF_POOL_PROCESSES: read_processes(r, pool, ctx); return 0;
    case FW_CONF_POOL_ENV: read_env(r, pool); return 0;
    case FW_CONF_POOL_METRICS_BUCKETS: read_buckets(r, pool); return 0;
    case FW_CONF_POOL_APPS: return fw_conf_app_read_list(r, pool);
    case FW_CONF_POOL_LOG: return fw_conf_value_log(r, "log", &pool->log);
    case FW_CONF_POOL_ACCESS_LOG: return read_access_log(r, pool);
    case FW_CONF_POOL_ACCESS_FORMAT: return read_access_format(r, pool);
    case FW_CONF_POOL_MULTIPROCESS:
        /* The enum follows the order of mp[]. */
        if (fw_conf_value_choice(r, "multiprocess", mp, 3, &choice) < 0)
            return -1;
        pool->multiprocess = (enum fw_conf_multiprocess)choice;
        return 0;
    case FW_CONF_POOL_SPAWN:
        if (fw_conf_value_choice(r, "spawn", sp, 2, &choice) < 0)
            return -1;
        pool->spawn = (enum fw_conf_spawn)choice;
        return 0;
    default: return -1;
    }
}

/* A relative unix path ("./app.sock", "unix:run/app.sock") is relative to
 * the file's directory, like every other path in the file. */
static void parse_listen(struct fw_conf_pool *pool, struct fw_conf_mark m, const char *dir,
                         struct fw_conf_errors *errs)
{
    const char *spec = pool->listen, *path = NULL;
    char *joined = NULL, *unix_spec = NULL, err[256];
    if (!strncmp(spec, "unix:", 5))
        path = spec + 5;
    else if (spec[0] == '.')
        path = spec;
    if (path && path[0] && path[0] != '/') {
        if (!(joined = fw_conf_path_join(dir, path)) ||
            asprintf(&unix_spec, "unix:%s", joined) < 0) {
            unix_spec = NULL;
            fw_conf_mark_error(errs, m, "out of memory");
            goto done;
        }
        spec = unix_spec;
    }
    if (fw_sock_parse(spec, &pool->listen_addr, err, sizeof(err)) < 0) {
        memset(&pool->listen_addr, 0, sizeof(pool->listen_addr));
        fw_conf_mark_error(errs, m, "'listen': %s", err);
    }
done:
    free(joined);
    free(unix_spec);
}

/* Compared with REQUEST_URI's path as the web server sent it. */
static bool ping_path_ok(const char *p)
{
    size_t n = strlen(p);
    if (p[0] != '/' || n > 256)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f || p[i] == '?' ||
            p[i] == '#')
            return false;
    return true;
}

/* spawn: template forks workers from a process that imported the apps,
 * and a forked process keeps only CPython's main interpreter: every app
 * must be there, by its consent where there are several (each would
 * otherwise have had an interpreter of its own). */
static void check_template(const struct fw_conf_pool *pool, const struct fw_conf_mark *m,
                           struct fw_conf_errors *errs)
{
    if (!pool->preload)
        fw_conf_mark_error(errs, m[FW_CONF_POOL_PRELOAD],
                           "'preload: false' with 'spawn: template' (line %u): the template "
                           "imports the apps before it forks; drop one of them",
                           m[FW_CONF_POOL_SPAWN].line);
    for (size_t i = 0; i < pool->n_apps; i++) {
        const struct fw_conf_app *a = &pool->apps[i];
        const char *g = a->application_group;
        if (g ? !strcmp(g, "%{GLOBAL}") : pool->n_apps == 1)
            continue;
        fw_conf_mark_error(errs, g ? a->group_mark : a->mark,
                           "with 'spawn: template' (line %u) every app runs in the main "
                           "interpreter (a forked process keeps only that one): give this app "
                           "application_group: \"%%{GLOBAL}\" (the pool's apps then share it), "
                           "or use spawn: fresh",
                           m[FW_CONF_POOL_SPAWN].line);
    }
}

void fw_conf_pool_finish(struct fw_conf_pool *pool, struct fw_conf_pool_marks *marks,
                         const char *dir, struct fw_conf_errors *errs)
{
    const struct fw_conf_mark *m = marks->v;
    if (!m[FW_CONF_POOL_LISTEN].line)
        fw_conf_mark_error(errs, pool->mark,
                           "pool '%s' has no 'listen': add one, e.g. listen: " FW_RUNDIR "/%s.sock",
                           pool->name, pool->name);
    else if (pool->listen)
        parse_listen(pool, m[FW_CONF_POOL_LISTEN], dir, errs);
    if (!m[FW_CONF_POOL_APPS].line)
        fw_conf_mark_error(errs, pool->mark,
                           "pool '%s' has no 'apps': add a list of apps, e.g. "
                           "apps: [{mount: /, script: app.wsgi}]",
                           pool->name);
    if (pool->user)
        fw_conf_account_user(errs, pool->user, m[FW_CONF_POOL_USER], &pool->uid, &pool->gid);
    if (pool->group)
        fw_conf_account_group(errs, pool->group, m[FW_CONF_POOL_GROUP], &pool->gid);
    pool->listen_uid = pool->uid;
    pool->listen_gid = pool->gid;
    if (pool->listen_owner)
        fw_conf_account_user(errs, pool->listen_owner, m[FW_CONF_POOL_LISTEN_OWNER],
                             &pool->listen_uid, NULL);
    if (pool->listen_group)
        fw_conf_account_group(errs, pool->listen_group, m[FW_CONF_POOL_LISTEN_GROUP],
                              &pool->listen_gid);
    if (pool->ping_path && !ping_path_ok(pool->ping_path))
        fw_conf_mark_error(errs, m[FW_CONF_POOL_PING_PATH],
                           "'ping_path' must be a path of at most 256 printable characters "
                           "starting with '/', without '?', '#' or spaces, e.g. /fcgiwsgi-ping");
    if (pool->status_path && !ping_path_ok(pool->status_path))
        fw_conf_mark_error(errs, m[FW_CONF_POOL_STATUS_PATH],
                           "'status_path' must be a path of at most 256 printable characters "
                           "starting with '/', without '?', '#' or spaces, e.g. /fcgiwsgi-status");
    else if (pool->status_path && pool->ping_path && !strcmp(pool->status_path, pool->ping_path))
        fw_conf_mark_error(errs, m[FW_CONF_POOL_STATUS_PATH],
                           "'status_path' is the same as 'ping_path' (line %u): give each its own",
                           m[FW_CONF_POOL_PING_PATH].line);
    if (pool->spawn == FW_CONF_SPAWN_TEMPLATE)
        check_template(pool, m, errs);
    if (marks->dynamic_idle.line && m[FW_CONF_POOL_IDLE_TIMEOUT].line)
        fw_conf_mark_error(errs, marks->dynamic_idle,
                           "'idle_timeout' is also set for the pool at line %u: set it once",
                           m[FW_CONF_POOL_IDLE_TIMEOUT].line);
    else if (marks->dynamic_idle.line)
        pool->idle_timeout_ms = marks->dynamic_idle_ms;
}

int fw_conf_pool_read(struct fw_conf_reader *r, struct fw_conf_pool *pool,
                      struct fw_conf_pool_marks *marks)
{
    memset(marks, 0, sizeof(*marks));
    return fw_conf_schema_read(r, &fw_conf_pool_schema, pool, marks->v, marks);
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void fw_conf_pool_free(struct fw_conf_pool *pool)
{
    free(pool->name);
    free(pool->listen);
    free(pool->listen_owner);
    free(pool->listen_group);
    free_list(pool->allowed_clients, pool->n_allowed_clients);
    free(pool->user);
    free(pool->group);
    free(pool->python_home);
    free(pool->chdir);
    free(pool->log);
    free(pool->ping_path);
    free(pool->status_path);
    free(pool->access_log);
    free(pool->access_format);
    free_list(pool->python_path, pool->n_python_path);
    for (size_t i = 0; i < pool->n_env; i++) {
        free(pool->env[i].name);
        free(pool->env[i].value);
    }
    free(pool->env);
    free_list(pool->watch, pool->n_watch);
    for (size_t i = 0; i < pool->n_apps; i++)
        fw_conf_app_free(&pool->apps[i]);
    free(pool->apps);
}

bool fw_conf_pool_multiprocess(const struct fw_conf_pool *pool)
{
    switch (pool->multiprocess) {
    case FW_CONF_MP_TRUE: return true;
    case FW_CONF_MP_FALSE: return false;
    case FW_CONF_MP_AUTO: break;
    }
    return pool->pm == FW_CONF_PM_DYNAMIC || pool->processes > 1;
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i], b[i]))
            return false;
    return true;
}

bool fw_conf_pool_equal(const struct fw_conf_pool *a, const struct fw_conf_pool *b)
{
    if (!str_eq(a->name, b->name) || strcmp(a->listen_addr.text, b->listen_addr.text) != 0 ||
        a->listen_mode != b->listen_mode || a->listen_uid != b->listen_uid ||
        a->listen_gid != b->listen_gid || a->listen_backlog != b->listen_backlog ||
        !strv_eq(a->allowed_clients, a->n_allowed_clients, b->allowed_clients,
                 b->n_allowed_clients) ||
        a->uid != b->uid || a->gid != b->gid || !str_eq(a->user, b->user) ||
        !str_eq(a->group, b->group) || a->allow_root != b->allow_root || a->pm != b->pm ||
        a->processes != b->processes || a->min != b->min || a->max != b->max ||
        a->min_spare != b->min_spare || a->max_spare != b->max_spare ||
        a->idle_timeout_ms != b->idle_timeout_ms || a->threads != b->threads ||
        a->multiprocess != b->multiprocess || a->preload != b->preload || a->spawn != b->spawn ||
        a->max_requests != b->max_requests || a->max_requests_jitter != b->max_requests_jitter ||
        a->memory_limit_bytes != b->memory_limit_bytes ||
        a->request_timeout_ms != b->request_timeout_ms ||
        a->slowlog_timeout_ms != b->slowlog_timeout_ms ||
        a->graceful_timeout_ms != b->graceful_timeout_ms ||
        a->startup_timeout_ms != b->startup_timeout_ms || a->max_body_bytes != b->max_body_bytes ||
        a->max_params_bytes != b->max_params_bytes ||
        a->keepalive_timeout_ms != b->keepalive_timeout_ms ||
        a->client_timeout_ms != b->client_timeout_ms || a->rlimit_nofile != b->rlimit_nofile ||
        a->rlimit_core_bytes != b->rlimit_core_bytes || a->clear_env != b->clear_env ||
        a->umask != b->umask || !str_eq(a->chdir, b->chdir) || !str_eq(a->log, b->log) ||
        !str_eq(a->access_log, b->access_log) || !str_eq(a->access_format, b->access_format) ||
        !str_eq(a->python_home, b->python_home) ||
        !strv_eq(a->python_path, a->n_python_path, b->python_path, b->n_python_path) ||
        !strv_eq(a->watch, a->n_watch, b->watch, b->n_watch) ||
        a->watch_scripts != b->watch_scripts || a->n_env != b->n_env || a->n_apps != b->n_apps ||
        a->n_metrics_buckets != b->n_metrics_buckets || !str_eq(a->ping_path, b->ping_path) ||
        !str_eq(a->status_path, b->status_path) ||
        memcmp(a->metrics_buckets_us, b->metrics_buckets_us,
               a->n_metrics_buckets * sizeof(a->metrics_buckets_us[0])) != 0)
        return false;
    for (size_t i = 0; i < a->n_env; i++)
        if (!str_eq(a->env[i].name, b->env[i].name) || !str_eq(a->env[i].value, b->env[i].value))
            return false;
    for (size_t i = 0; i < a->n_apps; i++) {
        const struct fw_conf_app *x = &a->apps[i], *y = &b->apps[i];
        if (!str_eq(x->mount, y->mount) || !str_eq(x->script, y->script) ||
            !str_eq(x->callable, y->callable) ||
            !str_eq(x->application_group, y->application_group) || x->own_gil != y->own_gil)
            return false;
    }
    return true;
}
