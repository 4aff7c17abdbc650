/* The checks of preflight.h. Each problem is reported at the setting that
 * causes it, in words an operator can act on: who cannot do what, on which
 * path, and what to change. */
#include <config.h>

#include "conf/preflight.h"

#include "conf/probe.h"
#include "conf/pyhome.h"
#include "conf/reader.h"
#include "conf/strset.h"
#include "lib/dir.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Supplementary groups of one user: far above what any system has. */
#define MAX_GROUPS 65536

/* A user's ids and groups: the pool's (as the worker will have them) or
 * the web server's. */
struct account {
    char name[64];
    struct fw_conf_probe_who who;
    gid_t *groups;
};

/* One thing to check as the pool's user, and the setting it comes from. */
struct item {
    const char *what; /* "script", "python_path entry", ... */
    struct fw_conf_mark mark;
};

static void account_free(struct account *a)
{
    free(a->groups);
    a->groups = NULL;
}

/* The groups initgroups(name, gid) would set, into a->groups. 0 or -1. */
static int load_groups(struct account *a, const char *name, gid_t gid)
{
    int n = 0;
    gid_t probe;
    getgrouplist(name, gid, &probe, &n); /* sets the count it needs */
    if (n <= 0 || n > MAX_GROUPS || !(a->groups = calloc((size_t)n, sizeof(gid_t))))
        return -1;
    if (getgrouplist(name, gid, a->groups, &n) < 0)
        return -1;
    a->who.groups = a->groups;
    a->who.n_groups = (size_t)n;
    return 0;
}

static void user_name(uid_t uid, char *out, size_t cap)
{
    struct passwd pw, *found = NULL;
    char buf[16384];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found)
        snprintf(out, cap, "%s", pw.pw_name);
    else
        snprintf(out, cap, "%ld", (long)uid);
}

static void group_name(gid_t gid, char *out, size_t cap)
{
    struct group gr, *found = NULL;
    char buf[16384];
    if (getgrgid_r(gid, &gr, buf, sizeof(buf), &found) == 0 && found)
        snprintf(out, cap, "%s", gr.gr_name);
    else
        snprintf(out, cap, "%ld", (long)gid);
}

/* "mode 0700, owner root:root", of path as the manager sees it. */
static void describe(const char *path, char *out, size_t cap)
{
    struct stat st;
    char u[64], g[64];
    if (stat(path, &st) < 0) {
        snprintf(out, cap, "%s", strerror(errno));
        return;
    }
    user_name(st.st_uid, u, sizeof(u));
    group_name(st.st_gid, g, sizeof(g));
    snprintf(out, cap, "mode %04o, owner %s:%s", (unsigned)(st.st_mode & 07777), u, g);
}

/* The worker's credentials (manager/spawn.c): the user's groups, its
 * primary group or `group`, its uid; only `group`: that gid and no
 * supplementary groups; neither: the manager's own. 0, or -1 if the pool's
 * user or group was not found (reported by the loader). */
static int pool_account(const struct fw_conf_pool *pool, struct account *a)
{
    memset(a, 0, sizeof(*a));
    a->who = (struct fw_conf_probe_who){ geteuid(), getegid(), NULL, 0 };
    if ((pool->user && pool->uid == (uid_t)-1) || (pool->group && pool->gid == (gid_t)-1))
        return -1;
    if (pool->user) {
        snprintf(a->name, sizeof(a->name), "user %s", pool->user);
        a->who.uid = pool->uid;
        a->who.gid = pool->gid;
        if (load_groups(a, pool->user, pool->gid) < 0)
            return -1;
    } else if (pool->group) {
        snprintf(a->name, sizeof(a->name), "group %s", pool->group);
        a->who.gid = pool->gid;
    } else {
        snprintf(a->name, sizeof(a->name), "the manager's user");
    }
    return 0;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void report_probe(const struct fw_conf_pool *pool, const struct account *a,
                         const struct fw_conf_probe *p, const struct item *it,
                         struct fw_conf_errors *errs)
{
    char how[160], dir[PATH_MAX];
    const char *verb = p->mode & W_OK ? "written" : p->mode & R_OK ? "read" : "entered";
    if (p->err != EACCES) {
        fw_conf_mark_error(errs, it->mark, "%s %s cannot be %s by %s (pool '%s'): %s", it->what,
                           p->path, verb, a->name, pool->name, strerror(p->err));
        return;
    }
    if (p->blocked_len) {
        snprintf(dir, sizeof(dir), "%.*s", (int)p->blocked_len, p->path);
        describe(dir, how, sizeof(how));
        fw_conf_mark_error(errs, it->mark,
                           "%s %s cannot be %s by %s, which pool '%s' runs as: the directory %s "
                           "(%s) does not let it pass: allow it (chmod o+x, or a group of "
                           "the user's), or choose another 'user'",
                           it->what, p->path, verb, a->name, pool->name, dir, how);
        return;
    }
    describe(p->path, how, sizeof(how));
    bool r = p->mode & R_OK, x = p->mode & X_OK;
    fw_conf_mark_error(errs, it->mark,
                       "%s %s cannot be %s by %s, which pool '%s' runs as (%s): give that "
                       "user %s permission (chmod o+%s, or a group of the user's), or choose "
                       "another 'user'",
                       it->what, p->path, verb, a->name, pool->name, how,
                       r && x ? "read and search"
                       : r    ? "read"
                              : "search",
                       r && x ? "rx"
                       : r    ? "r"
                              : "x");
}

static void add(struct fw_conf_probe *v, struct item *items, size_t *n, const char *path, int mode,
                const char *what, struct fw_conf_mark m)
{
    if (*n >= FW_CONF_PROBE_MAX)
        return;
    v[*n] = (struct fw_conf_probe){ path, mode, 0, 0 };
    items[*n] = (struct item){ what, m };
    (*n)++;
}

/* Whether pool's user can read its scripts, python_path and python_home,
 * and enter chdir: the paths the manager itself finds (the loader reported
 * the others). */
static void check_access(const struct fw_conf_pool *pool, const struct fw_conf_mark *m,
                         struct fw_conf_errors *errs)
{
    struct account a;
    char venv_cfg[PATH_MAX], err[256];
    size_t cap = pool->n_apps + pool->n_python_path + 3, n = 0;
    struct fw_conf_probe *v = calloc(cap, sizeof(*v));
    struct item *items = calloc(cap, sizeof(*items));
    if (pool_account(pool, &a) < 0 || !v || !items)
        goto done;
    for (size_t i = 0; i < pool->n_apps; i++)
        if (pool->apps[i].script && access(pool->apps[i].script, R_OK) == 0)
            add(v, items, &n, pool->apps[i].script, R_OK, "script", pool->apps[i].script_mark);
    for (size_t i = 0; i < pool->n_python_path; i++) {
        const char *p = pool->python_path[i];
        struct stat st;
        if (stat(p, &st) < 0)
            fw_conf_mark_warning(errs, m[FW_CONF_POOL_PYTHON_PATH],
                                 "python_path entry %s: %s (Python skips it)", p, strerror(errno));
        else
            add(v, items, &n, p, S_ISDIR(st.st_mode) ? R_OK | X_OK : R_OK, "python_path entry",
                m[FW_CONF_POOL_PYTHON_PATH]);
    }
    if (pool->python_home && is_dir(pool->python_home)) {
        add(v, items, &n, pool->python_home, R_OK | X_OK, "python_home",
            m[FW_CONF_POOL_PYTHON_HOME]);
        snprintf(venv_cfg, sizeof(venv_cfg), "%s/pyvenv.cfg", pool->python_home);
        if (access(venv_cfg, F_OK) == 0)
            add(v, items, &n, venv_cfg, R_OK, "python_home's", m[FW_CONF_POOL_PYTHON_HOME]);
    }
    if (pool->chdir && !is_dir(pool->chdir))
        fw_conf_mark_error(errs, m[FW_CONF_POOL_CHDIR], "'chdir' %s is not a directory: %s",
                           pool->chdir, access(pool->chdir, F_OK) ? strerror(errno) : "a file");
    else if (pool->chdir)
        add(v, items, &n, pool->chdir, X_OK, "'chdir' directory", m[FW_CONF_POOL_CHDIR]);
    if (n == 0)
        goto done;
    if (fw_conf_probe_run(&a.who, v, n, err, sizeof(err)) < 0) {
        /* A manager that is not root cannot run the pool as another user
         * either, and says so when it spawns; -t as an operator's own user
         * checks a file meant for root's manager. */
        fw_conf_mark_warning(errs,
                             pool->user    ? m[FW_CONF_POOL_USER]
                             : pool->group ? m[FW_CONF_POOL_GROUP]
                                           : pool->mark,
                             "not checked whether %s can read what pool '%s' needs: %s%s", a.name,
                             pool->name, err,
                             geteuid() ? " (fcgiwsgi is not running as root)" : "");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].err)
            report_probe(pool, &a, &v[i], &items[i], errs);
done:
    account_free(&a);
    free(v);
    free(items);
}

/* The directory of path exists, or is the one level the manager makes
 * (lib/dir.h), which is said if tell_create; each directory is reported
 * once, at the first setting that needs it. */
static void check_dir(struct fw_conf_strset *seen, char ***kept, size_t *n_kept, const char *what,
                      const char *path, struct fw_conf_mark m, bool tell_create,
                      struct fw_conf_errors *errs)
{
    char dir[PATH_MAX], parent[PATH_MAX];
    struct stat st;
    size_t old;
    if (fw_dir_of(path, dir, sizeof(dir)) < 0 || fw_dir_of(dir, parent, sizeof(parent)) < 0)
        return;
    char *copy = strdup(dir);
    char **grown = copy ? realloc(*kept, (*n_kept + 1) * sizeof(**kept)) : NULL;
    if (!grown) {
        free(copy);
        return;
    }
    *kept = grown;
    (*kept)[(*n_kept)++] = copy;
    if (fw_conf_strset_add(seen, copy, 0, &old) != 0)
        return;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            fw_conf_mark_error(errs, m, "%s %s: %s is not a directory", what, path, dir);
    } else if (errno != ENOENT) {
        fw_conf_mark_error(errs, m, "%s %s: its directory %s: %s", what, path, dir,
                           strerror(errno));
    } else if (is_dir(parent)) {
        if (tell_create)
            fw_conf_mark_warning(errs, m,
                                 "%s %s: the directory %s does not exist yet: fcgiwsgi creates "
                                 "it (mode %04o, owned by its user) when it starts",
                                 what, path, dir, FW_DIR_MODE);
    } else {
        fw_conf_mark_error(errs, m,
                           "%s %s: the directory %s does not exist, nor %s: create it "
                           "(mkdir -p %s); fcgiwsgi creates only the last level",
                           what, path, dir, parent, dir);
    }
}

static const char *unix_path(const struct fw_conf_pool *pool)
{
    if (pool->listen_addr.family != AF_UNIX)
        return NULL;
    return ((const struct sockaddr_un *)&pool->listen_addr.ss)->sun_path;
}

static void check_dirs(const struct fw_conf_top *t)
{
    const struct fw_config *cfg = t->cfg;
    struct fw_conf_strset seen = { 0 };
    char **kept = NULL;
    size_t n_kept = 0;
    struct fw_conf_mark whole = { cfg->files[0], 0, 0 };
    if (cfg->pid_file)
        check_dir(&seen, &kept, &n_kept, "pid_file", cfg->pid_file, t->pid_file_at, true, t->errs);
    for (size_t i = 0; i < cfg->n_pools; i++) {
        const char *p = unix_path(&cfg->pools[i]);
        if (p)
            check_dir(&seen, &kept, &n_kept, "'listen'", p, t->marks[i].v[FW_CONF_POOL_LISTEN],
                      true, t->errs);
    }
    /* The default control socket's directory is the usual /run/fcgiwsgi,
     * which needs no word unless it cannot be made; last, so that a
     * socket of a pool there still says it. */
    if (cfg->control)
        check_dir(&seen, &kept, &n_kept, "control socket", cfg->control,
                  t->control_at.line ? t->control_at : whole, t->control_at.line != 0, t->errs);
    fw_conf_strset_free(&seen);
    for (size_t i = 0; i < n_kept; i++)
        free(kept[i]);
    free(kept);
}

static bool in_groups(const struct account *a, gid_t gid)
{
    if (a->who.gid == gid)
        return true;
    for (size_t i = 0; i < a->who.n_groups; i++)
        if (a->who.groups[i] == gid)
            return true;
    return false;
}

/* The permission bits (of 07) that web gets on a file of this owner. */
static unsigned bits_for(const struct account *web, uid_t uid, gid_t gid, mode_t mode)
{
    if (web->who.uid == uid)
        return (mode >> 6) & 7;
    if (in_groups(web, gid))
        return (mode >> 3) & 7;
    return mode & 7;
}

/* The first directory on path's way that web cannot search, into out; a
 * missing one is what the manager creates (FW_DIR_MODE, its own). */
static bool dir_blocks(const struct account *web, const char *dir, char *out, size_t cap)
{
    char buf[PATH_MAX];
    size_t len = strnlen(dir, sizeof(buf));
    if (len >= sizeof(buf) || dir[0] != '/')
        return false;
    memcpy(buf, dir, len + 1);
    struct stat st;
    if (stat("/", &st) == 0 && !(bits_for(web, st.st_uid, st.st_gid, st.st_mode) & 1)) {
        snprintf(out, cap, "/");
        return true;
    }
    for (size_t i = 1; i <= len; i++) {
        if (i < len && buf[i] != '/')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        bool blocked =
            stat(buf, &st) == 0 && !(bits_for(web, st.st_uid, st.st_gid, st.st_mode) & 1);
        if (blocked)
            snprintf(out, cap, "%s", buf);
        buf[i] = saved;
        if (blocked)
            return true;
    }
    return false;
}

/* A warning when the web server's usual user could not connect to pool's
 * unix socket (connect() needs write permission on it, and search on
 * each directory). ACLs are not weighed: this is a hint, not a refusal. */
static void check_reach(const struct fw_conf_pool *pool, const struct fw_conf_mark *m,
                        const struct account *web, struct fw_conf_errors *errs)
{
    const char *path = unix_path(pool);
    char dir[PATH_MAX], blocked[PATH_MAX], how[160], u[64], g[64];
    if (!path || web->who.uid == 0 || fw_dir_of(path, dir, sizeof(dir)) < 0)
        return;
    if (dir_blocks(web, dir, blocked, sizeof(blocked))) {
        describe(blocked, how, sizeof(how));
        fw_conf_mark_warning(errs, m[FW_CONF_POOL_LISTEN],
                             "'listen' %s: the web server's usual user %s could not reach the "
                             "socket: the directory %s (%s) does not let it pass; allow it "
                             "(chmod o+x, or a group %s is in), or put the socket elsewhere",
                             path, web->name, blocked, how, web->name);
        return;
    }
    mode_t mode = (mode_t)(pool->listen_mode >= 0 ? pool->listen_mode : 0660);
    uid_t uid = pool->listen_uid != (uid_t)-1 ? pool->listen_uid : geteuid();
    gid_t gid = pool->listen_gid != (gid_t)-1 ? pool->listen_gid : getegid();
    if (bits_for(web, uid, gid, mode) & 2)
        return;
    user_name(uid, u, sizeof(u));
    group_name(gid, g, sizeof(g));
    struct fw_conf_mark at = m[FW_CONF_POOL_LISTEN_GROUP].line  ? m[FW_CONF_POOL_LISTEN_GROUP]
                             : m[FW_CONF_POOL_LISTEN_MODE].line ? m[FW_CONF_POOL_LISTEN_MODE]
                                                                : m[FW_CONF_POOL_LISTEN];
    fw_conf_mark_warning(errs, at,
                         "'listen' %s: the web server's usual user %s could not connect: the "
                         "socket will be mode %04o, owner %s:%s, and %s is %s: set "
                         "listen_group: %s (or a group it is in), or a listen_mode that lets "
                         "it write",
                         path, web->name, (unsigned)mode, u, g, web->name,
                         in_groups(web, gid) ? "in that group" : "not in that group", web->name);
}

/* The web server's user, if this system has one; 0 or -1. */
static int web_account(struct account *web)
{
    struct passwd pw, *found = NULL;
    char buf[16384];
    memset(web, 0, sizeof(*web));
    if (getpwnam_r(FW_CONF_PREFLIGHT_WEB_USER, &pw, buf, sizeof(buf), &found) != 0 || !found)
        return -1;
    snprintf(web->name, sizeof(web->name), "%s", FW_CONF_PREFLIGHT_WEB_USER);
    web->who.uid = pw.pw_uid;
    web->who.gid = pw.pw_gid;
    return load_groups(web, FW_CONF_PREFLIGHT_WEB_USER, pw.pw_gid);
}

void fw_conf_preflight(const struct fw_conf_top *t)
{
    const struct fw_config *cfg = t->cfg;
    struct account web;
    bool have_web = web_account(&web) == 0;
    check_dirs(t);
    for (size_t i = 0; i < cfg->n_pools; i++) {
        const struct fw_conf_pool *pool = &cfg->pools[i];
        const struct fw_conf_mark *m = t->marks[i].v;
        if (pool->python_home)
            fw_conf_pyhome_check(pool->python_home, FW_PYTHON_VERSION, FW_PYTHON_EXECUTABLE,
                                 m[FW_CONF_POOL_PYTHON_HOME], t->errs);
        check_access(pool, m, t->errs);
        if (have_web)
            check_reach(pool, m, &web, t->errs);
    }
    account_free(&web);
}
