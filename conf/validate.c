/* Rules across settings (a unix socket takes no allowed_clients, nor a
 * directory anyone may write; root needs allow_root) and across pools (one
 * name, one address each). */
#include <config.h>

#include "conf/validate.h"

#include "conf/errors.h"
#include "conf/reader.h"
#include "conf/path.h"
#include "conf/strset.h"
#include "lib/dir.h"
#include "lib/syslog.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void check_listen(const struct fw_conf_pool *pool, const struct fw_conf_mark *m,
                         struct fw_conf_errors *errs)
{
    static const int tcp_only[] = { FW_CONF_POOL_ALLOWED_CLIENTS };
    static const int unix_only[] = { FW_CONF_POOL_LISTEN_MODE, FW_CONF_POOL_LISTEN_OWNER,
                                     FW_CONF_POOL_LISTEN_GROUP };
    if (pool->listen_addr.family == AF_UNIX) {
        for (size_t i = 0; i < sizeof(tcp_only) / sizeof(tcp_only[0]); i++)
            if (m[tcp_only[i]].line)
                fw_conf_mark_error(errs, m[tcp_only[i]],
                                   "'%s' applies to TCP addresses, and 'listen' is a unix "
                                   "socket: limit who connects with listen_mode, listen_owner "
                                   "and listen_group",
                                   fw_conf_pool_schema.keys[tcp_only[i]].name);
        /* A directory that does not exist yet is preflight.c's to report:
         * the manager may be the one that creates it. */
        char err[512];
        const char *path = ((const struct sockaddr_un *)&pool->listen_addr.ss)->sun_path;
        if (fw_sock_check_dir(path, err, sizeof(err)) < 0 && errno != ENOENT)
            fw_conf_mark_error(errs, m[FW_CONF_POOL_LISTEN], "'listen': %s", err);
    } else if (pool->listen_addr.family) {
        for (size_t i = 0; i < sizeof(unix_only) / sizeof(unix_only[0]); i++)
            if (m[unix_only[i]].line)
                fw_conf_mark_error(errs, m[unix_only[i]],
                                   "'%s' applies to unix sockets, and 'listen' is a TCP "
                                   "address: limit who connects with allowed_clients",
                                   fw_conf_pool_schema.keys[unix_only[i]].name);
    }
}

static void check_root(const struct fw_conf_pool *pool, const struct fw_conf_mark *m,
                       struct fw_conf_errors *errs)
{
    if (pool->allow_root)
        return;
    if (pool->user && pool->uid == 0)
        fw_conf_mark_error(errs, m[FW_CONF_POOL_USER],
                           "pool '%s' would run its applications as root: choose another "
                           "'user', or add 'allow_root: true' if root is really meant",
                           pool->name);
    else if (!m[FW_CONF_POOL_USER].line && geteuid() == 0)
        fw_conf_mark_error(errs, pool->mark,
                           "pool '%s' has no 'user', so its applications would run as root "
                           "like the manager: set 'user' (e.g. user: www-data), or add "
                           "'allow_root: true' if root is really meant",
                           pool->name);
}

void fw_conf_check_log(struct fw_conf_errors *errs, struct fw_conf_mark mark, const char *target)
{
    struct stat st;
    const char *sys = fw_syslog_target_path(target);
    if (!target || !strcmp(target, "stderr"))
        return;
    if (sys) {
        if (strlen(sys) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            fw_conf_mark_error(errs, mark, "'log': %s is too long for a unix socket path", sys);
        else if (stat(sys, &st) < 0 || !S_ISSOCK(st.st_mode))
            fw_conf_mark_warning(errs, mark,
                                 "'log': no syslog socket at %s (yet): lines are dropped until "
                                 "one is there",
                                 sys);
        return;
    }
    char *dir = fw_conf_path_dir(target);
    if (!dir) {
        fw_conf_mark_error(errs, mark, "out of memory");
        return;
    }
    char parent[PATH_MAX];
    struct stat pst;
    int dir_err = stat(dir, &st) < 0 ? errno : 0;
    if (dir_err == ENOENT && fw_dir_of(dir, parent, sizeof(parent)) == 0 &&
        stat(parent, &pst) == 0 && S_ISDIR(pst.st_mode))
        /* The one level the manager creates (lib/dir.h), as for sockets. */
        fw_conf_mark_warning(errs, mark,
                             "'log' %s: the directory %s does not exist yet: fcgiwsgi creates "
                             "it (mode %04o, owned by its user) when it starts",
                             target, dir, FW_DIR_MODE);
    else if (dir_err)
        fw_conf_mark_error(errs, mark, "'log' %s: its directory %s: %s%s", target, dir,
                           strerror(dir_err),
                           dir_err == ENOENT ? " (nor its parent: fcgiwsgi creates only the "
                                               "last level; mkdir -p it)"
                                             : "");
    else if (!S_ISDIR(st.st_mode))
        fw_conf_mark_error(errs, mark, "'log' %s: %s is not a directory", target, dir);
    else if (stat(target, &st) == 0 && S_ISDIR(st.st_mode))
        fw_conf_mark_error(errs, mark, "'log' %s is a directory, not a file", target);
    free(dir);
}

static void check_pool(const struct fw_conf_pool *pool, const struct fw_conf_mark *m,
                       struct fw_conf_errors *errs)
{
    check_listen(pool, m, errs);
    if (pool->log)
        fw_conf_check_log(errs, m[FW_CONF_POOL_LOG], pool->log);
    check_root(pool, m, errs);
    if (pool->access_format && !pool->access_log)
        fw_conf_mark_warning(errs, m[FW_CONF_POOL_ACCESS_FORMAT],
                             "'access_format' has no effect without 'access_log'");
    if (pool->max_requests_jitter > 0 && pool->max_requests == 0)
        fw_conf_mark_warning(errs, m[FW_CONF_POOL_MAX_REQUESTS_JITTER],
                             "'max_requests_jitter' has no effect without 'max_requests'");
    if (m[FW_CONF_POOL_IDLE_TIMEOUT].line && pool->pm == FW_CONF_PM_FIXED)
        fw_conf_mark_warning(errs, m[FW_CONF_POOL_IDLE_TIMEOUT],
                             "'idle_timeout' has no effect on a fixed number of processes");
}

/* The port, if addr is a TCP wildcard address ("*:80", "[::]:80"). */
static int wildcard_port(const struct fw_sock_addr *a)
{
    if (a->family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
        return sin->sin_addr.s_addr == htonl(INADDR_ANY) ? ntohs(sin->sin_port) : -1;
    }
    if (a->family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
        return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ? ntohs(sin6->sin6_port) : -1;
    }
    return -1;
}

static int port_of(const struct fw_sock_addr *a)
{
    if (a->family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return -1;
}

/* A wildcard address takes its port on every address of its family, so
 * "*:9000" and "127.0.0.1:9000" cannot both be bound. Keyed by family and
 * port, so that it stays linear in the number of pools. */
static void check_wildcards(const struct fw_config *cfg, const struct fw_conf_pool_marks *marks,
                            struct fw_conf_errors *errs)
{
    struct fw_conf_strset wild = { 0 };
    char(*keys)[16] = calloc(cfg->n_pools, sizeof(*keys));
    size_t w;
    if (!keys && cfg->n_pools) {
        fw_conf_errors_add(errs, cfg->path, 0, 0, false, "out of memory");
        return;
    }
    for (size_t i = 0; i < cfg->n_pools; i++) {
        const struct fw_sock_addr *a = &cfg->pools[i].listen_addr;
        snprintf(keys[i], sizeof(keys[i]), "%d/%d", a->family, port_of(a));
        if (wildcard_port(a) >= 0 && fw_conf_strset_add(&wild, keys[i], i, &w) < 0)
            fw_conf_errors_add(errs, cfg->path, 0, 0, false, "out of memory");
    }
    for (size_t i = 0; i < cfg->n_pools && wild.n; i++) {
        const struct fw_sock_addr *a = &cfg->pools[i].listen_addr;
        if (port_of(a) < 0 || wildcard_port(a) >= 0 || !fw_conf_strset_find(&wild, keys[i], &w))
            continue;
        fw_conf_mark_error(errs, marks[i].v[FW_CONF_POOL_LISTEN],
                           "'listen' %s conflicts with pool '%s', which listens on %s "
                           "(every address, the same port)",
                           a->text, cfg->pools[w].name, cfg->pools[w].listen_addr.text);
    }
    fw_conf_strset_free(&wild);
    free(keys);
}

void fw_conf_validate(const struct fw_config *cfg, const struct fw_conf_pool_marks *marks,
                      struct fw_conf_errors *errs)
{
    struct fw_conf_strset names = { 0 }, listens = { 0 };
    size_t old;
    for (size_t i = 0; i < cfg->n_pools; i++) {
        const struct fw_conf_pool *pool = &cfg->pools[i];
        const struct fw_conf_mark *m = marks[i].v;
        int dup = fw_conf_strset_add(&names, pool->name, i, &old);
        if (dup > 0) {
            const struct fw_conf_mark *first = &cfg->pools[old].mark;
            fw_conf_mark_error(errs, pool->mark, "pool '%s' is already defined at %s:%u:%u",
                               pool->name, first->file, first->line, first->column);
        }
        if (pool->listen_addr.family &&
            (dup = fw_conf_strset_add(&listens, pool->listen_addr.text, i, &old)) > 0) {
            const struct fw_conf_mark *first = &marks[old].v[FW_CONF_POOL_LISTEN];
            fw_conf_mark_error(errs, m[FW_CONF_POOL_LISTEN],
                               "'listen' %s is already used by pool '%s' at %s:%u:%u",
                               pool->listen_addr.text, cfg->pools[old].name, first->file,
                               first->line, first->column);
        }
        if (dup < 0)
            fw_conf_mark_error(errs, pool->mark, "out of memory");
        check_pool(pool, m, errs);
    }
    check_wildcards(cfg, marks, errs);
    fw_conf_strset_free(&names);
    fw_conf_strset_free(&listens);
}
