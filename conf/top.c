/* The top level of a configuration file: the main file's own settings
 * (control, log, ...), `include:` patterns and `pools:`. Which files are
 * read, and in which order, is load.c's business. */
#include <config.h>

#include "conf/top.h"

#include "conf/account.h"
#include "conf/errors.h"
#include "conf/path.h"
#include "conf/validate.h"
#include "conf/value.h"
#include "lib/syslog.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <syslog.h>

enum {
    T_CONTROL,
    T_CONTROL_GROUP,
    T_LOG,
    T_LOG_LEVEL,
    T_LOG_FACILITY,
    T_PID_FILE,
    T_STATUS_LISTEN,
    T_STATUS_LISTEN_MODE,
    T_STATUS_LISTEN_OWNER,
    T_STATUS_LISTEN_GROUP,
    T_INCLUDE,
    T_POOLS,
    T_NKEYS
};
#define C(field) offsetof(struct fw_config, field)
static const struct fw_conf_key top_keys[T_NKEYS] = {
    [T_CONTROL] = FW_CONF_KEY("control", FW_CONF_T_PATH, C(control)),
    [T_CONTROL_GROUP] = FW_CONF_KEY("control_group", FW_CONF_T_STRING, C(control_group)),
    [T_LOG] = FW_CONF_KEY("log", FW_CONF_T_CUSTOM, 0),
    [T_LOG_LEVEL] = FW_CONF_KEY("log_level", FW_CONF_T_CUSTOM, 0),
    [T_LOG_FACILITY] = FW_CONF_KEY("log_facility", FW_CONF_T_CUSTOM, 0),
    [T_PID_FILE] = FW_CONF_KEY("pid_file", FW_CONF_T_PATH, C(pid_file)),
    [T_STATUS_LISTEN] = FW_CONF_KEY("status_listen", FW_CONF_T_STRING, C(status_listen)),
    [T_STATUS_LISTEN_MODE] =
        FW_CONF_KEY("status_listen_mode", FW_CONF_T_MODE, C(status_listen_mode)),
    [T_STATUS_LISTEN_OWNER] =
        FW_CONF_KEY("status_listen_owner", FW_CONF_T_STRING, C(status_listen_owner)),
    [T_STATUS_LISTEN_GROUP] =
        FW_CONF_KEY("status_listen_group", FW_CONF_T_STRING, C(status_listen_group)),
    [T_INCLUDE] = FW_CONF_KEY("include", FW_CONF_T_CUSTOM, 0),
    [T_POOLS] = FW_CONF_KEY("pools", FW_CONF_T_CUSTOM, 0),
};
/* An included file holds pools, and may include more. */
static const struct fw_conf_key included_keys[] = {
    FW_CONF_KEY("include", FW_CONF_T_CUSTOM, 0),
    FW_CONF_KEY("pools", FW_CONF_T_CUSTOM, 0),
};

static int read_custom(struct fw_conf_reader *r, size_t i, void *obj, void *ctx);
static const char *top_elsewhere(const char *key);
static const char *included_elsewhere(const char *key);

const struct fw_conf_schema fw_conf_top_schema = {
    "top-level setting", top_keys, T_NKEYS, read_custom, top_elsewhere,
};
static const struct fw_conf_schema included_schema = {
    "setting of an included file", included_keys, 2, read_custom, included_elsewhere,
};

static const char *top_elsewhere(const char *key)
{
    return fw_conf_schema_find(&fw_conf_pool_schema, key) >= 0
               ? "is a pool setting: put it under pools: NAME:"
               : NULL;
}

static const char *included_elsewhere(const char *key)
{
    if (fw_conf_schema_find(&fw_conf_top_schema, key) >= 0)
        return "can only be set in the main configuration file, not in an included one";
    return top_elsewhere(key);
}

static int pool_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= 64 &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* Reads one pool whose name (checked) is copy, with r->ev at its value.
 * Takes copy. -1 if the reader broke. */
static int read_pool(struct fw_conf_reader *r, struct fw_conf_top *t, char *copy, yaml_mark_t km)
{
    struct fw_config *cfg = t->cfg;
    char q[64];
    if (r->ev.type != YAML_MAPPING_START_EVENT) {
        if (r->ev.type != YAML_ALIAS_EVENT)
            fw_conf_reader_error(r, r->ev.start_mark,
                                 "pool %s expects a mapping of settings (listen, apps, ...), "
                                 "got %s",
                                 fw_conf_reader_quote(copy, q), fw_conf_reader_kind(r));
        free(copy);
        return fw_conf_reader_skip(r);
    }
    if (fw_conf_value_grow((void **)&cfg->pools, &t->pools_cap, cfg->n_pools, sizeof(*cfg->pools)) <
            0 ||
        fw_conf_value_grow((void **)&t->marks, &t->marks_cap, cfg->n_pools, sizeof(*t->marks)) <
            0) {
        fw_conf_reader_error(r, km, "out of memory");
        free(copy);
        r->broken = true;
        return -1;
    }
    struct fw_conf_pool *pool = &cfg->pools[cfg->n_pools];
    fw_conf_pool_init(pool);
    pool->name = copy;
    pool->mark = fw_conf_reader_mark(r, km);
    /* A pool cut short by a broken reader is dropped: its missing settings
     * would only add noise to the error that broke it. */
    if (fw_conf_pool_read(r, pool, &t->marks[cfg->n_pools]) < 0) {
        fw_conf_pool_free(pool);
        return -1;
    }
    cfg->n_pools++;
    return 0;
}

static void read_pools(struct fw_conf_reader *r, struct fw_conf_top *t)
{
    char q[64];
    if (r->ev.type != YAML_MAPPING_START_EVENT) {
        if (r->ev.type != YAML_ALIAS_EVENT)
            fw_conf_reader_error(r, r->ev.start_mark,
                                 "'pools' expects a mapping of pool names to their settings, "
                                 "got %s",
                                 fw_conf_reader_kind(r));
        fw_conf_reader_skip(r);
        return;
    }
    while (fw_conf_reader_key(r) > 0) {
        yaml_mark_t km = r->ev.start_mark;
        char *copy = strdup((const char *)r->ev.data.scalar.value);
        if (!copy) {
            fw_conf_reader_error(r, km, "out of memory");
            r->broken = true;
            return;
        }
        if (!pool_name_ok(copy))
            fw_conf_reader_error(r, km,
                                 "bad pool name %s: use 1 to 64 letters, digits, '_', '.' "
                                 "and '-'",
                                 fw_conf_reader_quote(copy, q));
        if (fw_conf_reader_next(r) < 0) {
            free(copy);
            return;
        }
        if (!pool_name_ok(copy)) {
            free(copy);
            if (fw_conf_reader_skip(r) < 0)
                return;
        } else if (read_pool(r, t, copy, km) < 0) {
            return;
        }
    }
}

static void read_include(struct fw_conf_reader *r, struct fw_conf_top *t)
{
    yaml_mark_t start = r->ev.start_mark;
    size_t entries = 0;
    if (r->ev.type != YAML_SEQUENCE_START_EVENT) {
        if (r->ev.type != YAML_ALIAS_EVENT)
            fw_conf_reader_error(r, start,
                                 "'include' expects a list of file patterns, e.g. "
                                 "[pools.d/*.yaml], got %s",
                                 fw_conf_reader_kind(r));
        fw_conf_reader_skip(r);
        return;
    }
    while (fw_conf_reader_next(r) == 0 && r->ev.type != YAML_SEQUENCE_END_EVENT) {
        struct fw_conf_include inc = { NULL, fw_conf_reader_mark(r, r->ev.start_mark) };
        entries++;
        if (fw_conf_value_string(r, "include", &inc.pattern) < 0)
            continue;
        if (fw_conf_value_grow((void **)&t->inc, &t->inc_cap, t->n_inc, sizeof(*t->inc)) < 0) {
            fw_conf_reader_error(r, r->ev.start_mark, "out of memory");
            free(inc.pattern);
            continue;
        }
        t->inc[t->n_inc++] = inc;
    }
    if (entries == 0 && !r->broken)
        fw_conf_reader_error(r, start, "'include' is an empty list: leave the key out instead");
}

static int read_custom(struct fw_conf_reader *r, size_t i, void *obj, void *ctx)
{
    static const char *const levels[] = { "err", "warn", "notice", "info", "debug" };
    static const char *const facilities[] = { "daemon", "user",   "local0", "local1", "local2",
                                              "local3", "local4", "local5", "local6", "local7" };
    struct fw_conf_top *t = ctx;
    struct fw_config *cfg = obj;
    size_t level;
    /* Two schemas share this callback: go by name, not by index. */
    const char *name = t->schema->keys[i].name;
    if (!strcmp(name, "pools")) {
        if (!t->pools_at.line)
            t->pools_at = fw_conf_reader_mark(r, r->ev.start_mark);
        read_pools(r, t);
    } else if (!strcmp(name, "include")) {
        if (t->schema == &fw_conf_top_schema && !t->include_at.line)
            t->include_at = fw_conf_reader_mark(r, r->ev.start_mark);
        read_include(r, t);
    } else if (!strcmp(name, "log")) {
        fw_conf_value_log(r, "log", &cfg->log);
    } else if (!strcmp(name, "log_facility")) {
        if (fw_conf_value_choice(r, "log_facility", facilities, 10, &level) < 0)
            return -1;
        cfg->log_facility = fw_syslog_facility_parse(facilities[level]);
    } else if (!strcmp(name, "log_level")) {
        if (fw_conf_value_choice(r, "log_level", levels, 5, &level) < 0)
            return -1;
        if (!(cfg->log_level = strdup(levels[level])))
            fw_conf_reader_error(r, r->ev.start_mark, "out of memory");
    }
    return 0;
}

static bool loopback(const struct fw_sock_addr *a)
{
    if (a->family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr) >> 24) == 127;
    if (a->family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
    return true;
}

/* status_listen answers with what every pool serves (URIs included) and
 * takes no credentials: a unix socket whose mode says who may read it, or
 * loopback, behind a web server that decides who may see it. A relative
 * unix path is relative to the file's directory, as a pool's listen. */
static void finish_status(struct fw_conf_top *t, const struct fw_conf_mark *m)
{
    struct fw_config *cfg = t->cfg;
    char err[256], *joined = NULL, *spec = NULL;
    const char *s = cfg->status_listen, *path = NULL;
    if (!strncmp(s, "unix:", 5))
        path = s + 5;
    else if (s[0] == '.')
        path = s;
    if (path && path[0] && path[0] != '/') {
        char *dir = strdup(cfg->path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash)
            *slash = '\0';
        joined = dir ? fw_conf_path_join(slash ? dir : ".", path) : NULL;
        free(dir);
        if (!joined || asprintf(&spec, "unix:%s", joined) < 0) {
            spec = NULL;
            fw_conf_mark_error(t->errs, m[T_STATUS_LISTEN], "out of memory");
            goto done;
        }
        s = spec;
    }
    if (fw_sock_parse(s, &cfg->status_addr, err, sizeof(err)) < 0)
        fw_conf_mark_error(t->errs, m[T_STATUS_LISTEN], "'status_listen': %s", err);
    else if (!loopback(&cfg->status_addr))
        fw_conf_mark_error(t->errs, m[T_STATUS_LISTEN],
                           "'status_listen': %s is not a loopback address: use a unix socket, "
                           "127.0.0.1:PORT or [::1]:PORT, and a web server in front to publish it",
                           cfg->status_addr.text);
    if (cfg->status_listen_owner)
        fw_conf_account_user(t->errs, cfg->status_listen_owner, m[T_STATUS_LISTEN_OWNER],
                             &cfg->status_uid, NULL);
    if (cfg->status_listen_group)
        fw_conf_account_group(t->errs, cfg->status_listen_group, m[T_STATUS_LISTEN_GROUP],
                              &cfg->status_gid);
done:
    free(joined);
    free(spec);
}

/* Defaults and checks of the main file's own settings. */
static void finish_main(struct fw_conf_top *t, const struct fw_conf_mark *m)
{
    struct fw_config *cfg = t->cfg;
    if (!cfg->control && !(cfg->control = strdup(FW_CONF_DEFAULT_CONTROL)))
        goto nomem;
    if (!cfg->log && !(cfg->log = strdup("stderr")))
        goto nomem;
    if (!cfg->log_level && !(cfg->log_level = strdup("notice")))
        goto nomem;
    if (!m[T_LOG_FACILITY].line)
        cfg->log_facility = LOG_DAEMON;
    fw_conf_check_log(t->errs, m[T_LOG], cfg->log);
    if (strlen(cfg->control) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        fw_conf_mark_error(t->errs, m[T_CONTROL],
                           "'control' is too long for a unix socket path (at most %zu bytes)",
                           sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    if (cfg->control_group)
        fw_conf_account_group(t->errs, cfg->control_group, m[T_CONTROL_GROUP], &cfg->control_gid);
    if (cfg->status_listen)
        finish_status(t, m);
    else if (m[T_STATUS_LISTEN_MODE].line || m[T_STATUS_LISTEN_OWNER].line ||
             m[T_STATUS_LISTEN_GROUP].line)
        fw_conf_mark_error(t->errs,
                           m[T_STATUS_LISTEN_MODE].line    ? m[T_STATUS_LISTEN_MODE]
                           : m[T_STATUS_LISTEN_OWNER].line ? m[T_STATUS_LISTEN_OWNER]
                                                           : m[T_STATUS_LISTEN_GROUP],
                           "status_listen_mode, _owner and _group need 'status_listen'");
    return;
nomem:
    fw_conf_errors_add(t->errs, cfg->path, 0, 0, false, "out of memory");
}

void fw_conf_top_read(struct fw_conf_reader *r, struct fw_conf_top *t, bool main_file)
{
    struct fw_conf_mark m[T_NKEYS] = { { 0 } };
    if (r->ev.type != YAML_MAPPING_START_EVENT) {
        /* Said only if the rest of the file parses: a YAML error after a
         * root scalar is the real problem ("a b: c" is one long key). */
        yaml_mark_t at = r->ev.start_mark;
        const char *kind = fw_conf_reader_kind(r);
        if (r->ev.type != YAML_ALIAS_EVENT && fw_conf_reader_skip(r) == 0 &&
            fw_conf_reader_end(r) == 0)
            fw_conf_reader_error(r, at,
                                 "expected a mapping of settings (key: value lines) at the top "
                                 "of the file, got %s",
                                 kind);
        return;
    }
    t->schema = main_file ? &fw_conf_top_schema : &included_schema;
    fw_conf_schema_read(r, t->schema, t->cfg, m, t);
    if (main_file) {
        t->control_at = m[T_CONTROL];
        t->pid_file_at = m[T_PID_FILE];
        finish_main(t, m);
    }
}
