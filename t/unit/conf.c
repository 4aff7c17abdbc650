/* conf/: the YAML loader. Every validation rule has a fixture under
 * t/conf/rules/ that states the messages it must produce, exactly, in
 * "# expect:" lines at its end; this file runs them all, then checks parsed
 * values, defaults, includes, the example file and the limits. */
#include "config.h"

#include "conf/app.h"
#include "conf/config.h"
#include "conf/pool.h"
#include "conf/top.h"
#include "schema_field.h"
#include "tap.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *srcdir;
static char tmpdir[PATH_MAX];

static const char *src(const char *rel)
{
    static char buf[4][PATH_MAX];
    static int slot;
    char *b = buf[slot++ % 4];
    snprintf(b, PATH_MAX, "%s/%s", srcdir, rel);
    return b;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n + 4096 > cap) {
            char *more = realloc(text, cap = cap * 2 + 4096);
            if (!more)
                break;
            text = more;
        }
        size_t got = fread(text + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return text;
}

static void show(const struct fw_conf_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        diag("  got %s:%u:%u: %s: %s", errs->v[i].file ? errs->v[i].file : "-", errs->v[i].line,
             errs->v[i].column, errs->v[i].warning ? "warning" : "error", errs->v[i].message);
}

/* "# expect: [FILE:]LINE:COL: TEXT": an error (expect-warning: a warning;
 * expect-root: an error only when the test runs as root). FILE is a path
 * relative to the fixture's directory, for errors in included files. */
struct expect {
    char file[256];
    unsigned line, column;
    int warning;
    char text[256];
};

static size_t read_expects(const char *path, struct expect *v, size_t max)
{
    size_t len, n = 0;
    char *text = slurp(path, &len);
    for (char *p = text; p && p < text + len && n < max;) {
        char *eol = memchr(p, '\n', (size_t)(text + len - p));
        size_t ll = eol ? (size_t)(eol - p) : (size_t)(text + len - p);
        char line[600];
        snprintf(line, sizeof(line), "%.*s", (int)(ll < sizeof(line) ? ll : sizeof(line) - 1), p);
        p += ll + 1;
        struct expect e = { "", 0, 0, 0, "" };
        char *rest;
        if (!strncmp(line, "# expect: ", 10))
            rest = line + 10;
        else if (!strncmp(line, "# expect-warning: ", 18))
            rest = line + 18, e.warning = 1;
        else if (!strncmp(line, "# expect-root: ", 15)) {
            if (geteuid() != 0)
                continue;
            rest = line + 15;
        } else
            continue;
        if (!isdigit((unsigned char)*rest)) {
            char *colon = strchr(rest, ':');
            snprintf(e.file, sizeof(e.file), "/%.*s", (int)(colon - rest), rest);
            rest = colon + 1;
        }
        int used = 0;
        sscanf(rest, "%u:%u: %n", &e.line, &e.column, &used);
        snprintf(e.text, sizeof(e.text), "%s", rest + used);
        v[n++] = e;
    }
    free(text);
    return n;
}

static int same_file(const struct expect *e, const char *got, const char *main_file)
{
    size_t n = strlen(e->file), m = got ? strlen(got) : 0;
    if (!e->file[0])
        return got && !strcmp(got, main_file);
    return m >= n && !strcmp(got + m - n, e->file);
}

static void check_rule(const char *path)
{
    struct expect want[32];
    struct fw_conf_errors errs = { 0 };
    const char *name = strrchr(path, '/') + 1;
    char msg[512];
    size_t n = read_expects(path, want, 32), n_err = 0;
    for (size_t i = 0; i < n; i++)
        n_err += !want[i].warning;
    struct fw_config *cfg = fw_conf_load(path, &errs);
    snprintf(msg, sizeof(msg), "%s: %s", name, n_err ? "refused" : "accepted");
    ok(n_err ? cfg == NULL : cfg != NULL, msg);
    snprintf(msg, sizeof(msg), "%s: %zu messages", name, n);
    int good = is(errs.n, n, msg);
    for (size_t i = 0; i < n && i < errs.n; i++) {
        const struct expect *e = &want[i];
        const struct fw_conf_error *g = &errs.v[i];
        snprintf(msg, sizeof(msg), "%s: %s%s%u:%u: %s%s", name, e->file[0] ? e->file + 1 : "",
                 e->file[0] ? ":" : "", e->line, e->column, e->warning ? "warning: " : "", e->text);
        good &= ok(same_file(e, g->file, path) && g->line == e->line && g->column == e->column &&
                       g->warning == e->warning && strstr(g->message, e->text),
                   msg);
    }
    if (!good)
        show(&errs);
    fw_conf_free(cfg);
    fw_conf_errors_free(&errs);
}

static void test_rules(void)
{
    glob_t g;
    if (glob(src("t/conf/rules/*.yaml"), 0, NULL, &g) != 0) {
        ok(0, "fixtures found under t/conf/rules");
        return;
    }
    ok(g.gl_pathc >= 30, "fixtures found under t/conf/rules");
    for (size_t i = 0; i < g.gl_pathc; i++)
        check_rule(g.gl_pathv[i]);
    globfree(&g);
}

static struct fw_config *load_ok(const char *path, size_t warnings)
{
    struct fw_conf_errors errs = { 0 };
    struct fw_config *cfg = fw_conf_load(path, &errs);
    char msg[300];
    snprintf(msg, sizeof(msg), "%s loads with %zu warning(s)", path, warnings);
    if (!ok(cfg && errs.n == warnings && fw_conf_error_count(&errs) == 0, msg))
        show(&errs);
    fw_conf_errors_free(&errs);
    return cfg;
}

static const char *abs_src(const char *rel)
{
    static char buf[2][PATH_MAX];
    static int slot;
    char *b = buf[slot++ % 2];
    if (!realpath(src(rel), b))
        snprintf(b, PATH_MAX, "(%s: %s)", rel, strerror(errno));
    return b;
}

/* The directory the loader sees for a file under the source tree: as
 * given when absolute (FW_SRCDIR may hold "..": no realpath), else under
 * the cwd. */
static const char *loader_dir(const char *rel)
{
    static char buf[3 * PATH_MAX];
    char cwd[PATH_MAX];
    if (srcdir[0] == '/')
        snprintf(buf, sizeof(buf), "%s/%s", srcdir, rel);
    else if (getcwd(cwd, sizeof(cwd)) && !strcmp(srcdir, "."))
        snprintf(buf, sizeof(buf), "%s/%s", cwd, rel);
    else
        snprintf(buf, sizeof(buf), "%s/%s/%s", cwd, srcdir, rel);
    return buf;
}

static void test_full(void)
{
    struct fw_config *cfg = load_ok(src("t/conf/full.yaml"), 1);
    char want[4 * PATH_MAX];
    if (!cfg)
        return;
    const char *dir = loader_dir("t/conf");
    snprintf(want, sizeof(want), "%s/run/ctl.sock", dir);
    is_str(cfg->control, want, "control, relative to the file");
    is_str(cfg->control_group, "nogroup", "control_group");
    ok(cfg->control_gid != (gid_t)-1, "control_gid resolved");
    is_str(cfg->log, "/var/log/fcgiwsgi.log", "log");
    is_str(cfg->log_level, "debug", "log_level");
    is_str(cfg->pid_file, "/run/fcgiwsgi.pid", "pid_file");
    is(cfg->n_pools, 2, "two pools");
    is(fw_conf_app_count(cfg), 3, "three apps");
    const struct fw_conf_pool *p = &cfg->pools[0];
    is_str(p->name, "blog", "pool name");
    is(p->mark.line, 9, "pool mark line");
    is(p->mark.column, 3, "pool mark column");
    is_str(p->mark.file, cfg->files[0], "pool mark file");
    is_str(p->listen, "unix:/run/fcgiwsgi/blog.sock", "listen as written");
    is_str(p->listen_addr.text, "unix:/run/fcgiwsgi/blog.sock", "listen address");
    is(p->listen_mode, 0640, "listen_mode");
    is_str(p->listen_owner, "nobody", "listen_owner");
    is_str(p->listen_group, "nogroup", "listen_group");
    ok(p->listen_uid != (uid_t)-1 && p->listen_gid != (gid_t)-1, "listen owner resolved");
    is(p->listen_backlog, 128, "listen_backlog");
    is(p->n_allowed_clients, 0, "no allowed_clients");
    is_str(p->user, "nobody", "user");
    is_str(p->group, "nogroup", "group");
    ok(p->uid != (uid_t)-1 && p->gid != (gid_t)-1, "user and group resolved");
    ok(p->allow_root, "allow_root");
    is(p->pm, FW_CONF_PM_DYNAMIC, "dynamic");
    ok(p->min == 1 && p->max == 16 && p->min_spare == 2 && p->max_spare == 4, "min/max/spares");
    is(p->processes, 16, "processes is max");
    is(p->idle_timeout_ms, 90000, "idle_timeout");
    is(p->threads, 8, "threads quoted");
    is(p->multiprocess, FW_CONF_MP_FALSE, "multiprocess false");
    ok(!fw_conf_pool_multiprocess(p), "wsgi.multiprocess forced false");
    ok(!p->preload, "preload false");
    is(p->max_requests, 10000, "max_requests");
    is(p->max_requests_jitter, 500, "max_requests_jitter");
    is(p->memory_limit_bytes, 512ULL << 20, "memory_limit");
    is(p->request_timeout_ms, 120000, "request_timeout");
    is(p->graceful_timeout_ms, 5000, "graceful_timeout");
    is(p->startup_timeout_ms, 1500, "startup_timeout");
    is(p->max_body_bytes, 100ULL << 20, "max_body");
    is(p->max_params_bytes, 64 << 10, "max_params");
    snprintf(want, sizeof(want), "%s/venv", dir);
    is_str(p->python_home, want, "python_home, relative to the file");
    snprintf(want, sizeof(want), "%s/lib", dir);
    ok(p->n_python_path == 2 && !strcmp(p->python_path[0], "/srv/blog") &&
           !strcmp(p->python_path[1], want),
       "python_path");
    ok(p->n_env == 3 && !strcmp(p->env[0].name, "DJANGO_SETTINGS_MODULE") &&
           !strcmp(p->env[0].value, "blog.settings") && !strcmp(p->env[1].value, "") &&
           !strcmp(p->env[2].name, "PORT") && !strcmp(p->env[2].value, "8000"),
       "env, in order, numbers as text");
    ok(p->n_watch == 1 && !strcmp(p->watch[0], "/srv/blog/settings.ini"), "watch");
    ok(!p->watch_scripts, "watch_scripts");
    is(p->n_apps, 2, "two apps");
    is_str(p->apps[0].mount, "/blog", "mount without its trailing slash");
    snprintf(want, sizeof(want), "%s/../../examples/hello.wsgi", dir);
    is_str(p->apps[0].script, want, "script made absolute");
    is_str(p->apps[0].callable, "app", "callable");
    is_str(p->apps[0].application_group, "%{GLOBAL}", "application_group");
    ok(p->apps[0].mark.line == 36 && p->apps[0].mark.column == 9, "app mark");
    is_str(p->apps[1].mount, "/", "mount / stays /");
    is_str(p->apps[1].script, want, "leading ./ dropped");
    is_str(p->apps[1].callable, "application", "callable default");
    is_str(p->apps[1].application_group, "shared", "application_group");

    p = &cfg->pools[1];
    is_str(p->listen_addr.text, "[::1]:9000", "IPv6 listen");
    ok(p->n_allowed_clients == 2 && !strcmp(p->allowed_clients[1], "::1"), "allowed_clients");
    ok(p->pm == FW_CONF_PM_FIXED && p->processes == 3, "fixed processes");
    ok(p->multiprocess == FW_CONF_MP_TRUE && fw_conf_pool_multiprocess(p), "multiprocess true");
    is(p->listen_backlog, 1, "listen_backlog 1");
    is(p->idle_timeout_ms, 3600000, "pool-level idle_timeout");
    ok(p->listen_uid == p->uid && p->listen_gid == p->gid, "listen owner defaults to the user");
    is_str(p->apps[0].mount, "/", "mount defaults to /");
    fw_conf_free(cfg);
}

static void check_defaults(const struct fw_config *cfg, const char *what)
{
    char msg[200];
    const struct fw_conf_pool *p = &cfg->pools[0];
#define D(cond, name)                                                                              \
    do {                                                                                           \
        snprintf(msg, sizeof(msg), "%s: %s", what, name);                                          \
        ok(cond, msg);                                                                             \
    } while (0)
    D(!strcmp(cfg->control, FW_CONF_DEFAULT_CONTROL), "control");
    D(!cfg->control_group && cfg->control_gid == (gid_t)-1, "control_group");
    D(!strcmp(cfg->log, "stderr") && !strcmp(cfg->log_level, "notice"), "log, log_level");
    D(!cfg->pid_file, "pid_file");
    D(!p->listen_owner && !p->listen_group && p->listen_backlog == 511, "listen settings");
    D(!p->n_allowed_clients && !p->allow_root, "allowed_clients, allow_root");
    D(p->pm == FW_CONF_PM_FIXED && p->processes == 1 && p->threads == 1, "processes, threads");
    D(p->multiprocess == FW_CONF_MP_AUTO && !fw_conf_pool_multiprocess(p), "multiprocess");
    D(p->preload && p->idle_timeout_ms == 10000, "preload, idle_timeout");
    D(!p->max_requests && !p->max_requests_jitter && !p->memory_limit_bytes, "recycling");
    D(!p->request_timeout_ms && p->graceful_timeout_ms == 30000 && p->startup_timeout_ms == 60000,
      "timeouts");
    D(!p->max_body_bytes && p->max_params_bytes == 1 << 20, "max_body, max_params");
    D(!p->python_home && !p->n_python_path && !p->n_env && !p->n_watch, "python settings");
    D(p->watch_scripts, "watch_scripts");
    D(!strcmp(p->apps[0].mount, "/") && !strcmp(p->apps[0].callable, "application") &&
          !p->apps[0].application_group,
      "app settings");
#undef D
}

static void test_defaults(void)
{
    char name[PATH_MAX + 16], text[PATH_MAX + 200];
    struct fw_conf_errors errs = { 0 };
    snprintf(name, sizeof(name), "%s/minimal.yaml", tmpdir);
    /* Not NUL-terminated: the length is what counts. */
    int n = snprintf(text, sizeof(text),
                     "pools:\n  m:\n    listen: ./m.sock\n    user: nobody\n"
                     "    apps: [{script: %s}]\nGARBAGE",
                     abs_src("examples/hello.wsgi"));
    struct fw_config *cfg = fw_conf_load_string(name, text, (size_t)n - 8, &errs);
    if (!ok(cfg && errs.n == 0, "a minimal config loads from a string")) {
        show(&errs);
        fw_conf_errors_free(&errs);
        return;
    }
    check_defaults(cfg, "default");
    const struct fw_conf_pool *p = &cfg->pools[0];
    ok(p->listen_mode == 0660 && p->uid != (uid_t)-1 && p->listen_uid == p->uid, "listen owner");
    char want[PATH_MAX + 32];
    snprintf(want, sizeof(want), "unix:%s/m.sock", tmpdir);
    is_str(p->listen_addr.text, want, "relative unix listen is relative to the file");
    is_str(cfg->path, name, "path as given");
    fw_conf_free(cfg);
    fw_conf_errors_free(&errs);
}

/* Each typed setting of a table holds the same in a and b (objects of the
 * table's struct); what differs is reported. */
static void same_settings(const struct fw_conf_schema *schema, const void *a, const void *b,
                          const char *what)
{
    for (size_t i = 0; i < schema->n_keys; i++) {
        const struct fw_conf_key *k = &schema->keys[i];
        char x[512], y[512], msg[200];
        if (schema_field_text(k, a, x, sizeof(x)) < 0 || schema_field_text(k, b, y, sizeof(y)) < 0)
            continue;
        snprintf(msg, sizeof(msg), "%s: '#%s:' states its default", what, k->name);
        is_str(y, x, msg);
    }
}

/* The example documents every setting at its default: loaded as it is, and
 * with every "#name: value" line uncommented, it must give the same
 * values. */
static void test_example(void)
{
    const char *path = src("conf/fcgiwsgi.yaml.example");
    struct fw_config *cfg = load_ok(path, 0);
    size_t len, n = 0, uncommented = 0;
    char *text = slurp(path, &len), *out = malloc(len + 1);
    if (!cfg || !text || !out)
        goto done;
    is_str(cfg->pools[0].name, "www", "example pool");
    is_str(cfg->pools[0].user, "www-data", "example user");
    for (size_t i = 0; i < len; i++) {
        /* "#name:" after indentation, at a line start */
        size_t j = i;
        while (j < len && text[j] == ' ')
            j++;
        int at_line_start = i == 0 || text[i - 1] == '\n';
        if (at_line_start && j + 1 < len && text[j] == '#' && islower((unsigned char)text[j + 1])) {
            memcpy(out + n, text + i, j - i);
            n += j - i;
            i = j; /* drop the '#' */
            uncommented++;
            continue;
        }
        out[n++] = text[i];
    }
    ok(uncommented >= 19, "the example has commented defaults");
    size_t n_tables;
    const struct fw_conf_table *tables = fw_conf_schema_tables(&n_tables);
    for (size_t t = 0; t < n_tables; t++)
        for (size_t i = 0; i < tables[t].schema->n_keys; i++) {
            const char *name = tables[t].schema->keys[i].name;
            char key[64], msg[100];
            snprintf(key, sizeof(key), "%s:", name);
            snprintf(msg, sizeof(msg), "the example documents '%s'", name);
            ok(strstr(text, key) != NULL, msg);
        }
    struct fw_conf_errors errs = { 0 };
    struct fw_config *all = fw_conf_load_string(path, out, n, &errs);
    if (!ok(all && fw_conf_error_count(&errs) == 0, "the example with every default uncommented"))
        show(&errs);
    fw_conf_errors_free(&errs);
    if (all) {
        check_defaults(cfg, "example");
        check_defaults(all, "example uncommented");
        same_settings(&fw_conf_top_schema, cfg, all, "example");
        same_settings(&fw_conf_pool_schema, &cfg->pools[0], &all->pools[0], "example pool");
        same_settings(&fw_conf_app_schema, &cfg->pools[0].apps[0], &all->pools[0].apps[0],
                      "example app");
        is(all->pools[0].listen_mode, 0660, "listen_mode default written out");
        ok(!memcmp(&all->pools[0].listen_addr, &cfg->pools[0].listen_addr,
                   sizeof(cfg->pools[0].listen_addr)),
           "same listen address");
    }
    fw_conf_free(all);
done:
    fw_conf_free(cfg);
    free(text);
    free(out);
}

static void test_includes(void)
{
    struct fw_config *cfg = load_ok(src("t/conf/rules/include-relative.yaml"), 0);
    char want[4 * PATH_MAX];
    if (!cfg)
        return;
    const char *dir = loader_dir("t/conf/rules");
    ok(cfg->n_pools == 3 && !strcmp(cfg->pools[0].name, "main") &&
           !strcmp(cfg->pools[1].name, "one") && !strcmp(cfg->pools[2].name, "two"),
       "pools in reading order: main file, then includes in glob order");
    is(cfg->n_files, 3, "three files read");
    snprintf(want, sizeof(want), "%s/../inc/pools.d/10-one.yaml", dir);
    is_str(cfg->files[1], want, "included file named by the glob, relative to its includer");
    ok(cfg->pools[1].mark.file == cfg->files[1] && cfg->pools[1].mark.line == 3,
       "a pool's mark names the included file");
    snprintf(want, sizeof(want), "unix:%s/../inc/pools.d/one.sock", dir);
    is_str(cfg->pools[1].listen_addr.text, want, "paths in an included file are relative to it");
    snprintf(want, sizeof(want), "%s/../inc/pools.d/lib", dir);
    ok(cfg->pools[1].n_python_path == 1 && !strcmp(cfg->pools[1].python_path[0], want),
       "python_path relative to the included file");
    ok(access(cfg->pools[2].apps[0].script, R_OK) == 0, "script relative to the included file");
    fw_conf_free(cfg);
}

static struct fw_conf_errors load_text(const char *text)
{
    struct fw_conf_errors errs = { 0 };
    char name[PATH_MAX + 16];
    snprintf(name, sizeof(name), "%s/t.yaml", tmpdir);
    struct fw_config *cfg = fw_conf_load_string(name, text, strlen(text), &errs);
    ok(cfg == NULL, "refused");
    fw_conf_free(cfg);
    return errs;
}

static void test_limits(void)
{
    char path[PATH_MAX + 16];
    struct fw_conf_errors errs;

    /* 300 mistakes: the list stops at 100 messages but still fails. */
    char *many = malloc(300 * 16);
    size_t n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(many + n, "bad%d: 1\n", i);
    errs = load_text(many);
    ok(errs.n == 100 && errs.n_dropped > 0 && fw_conf_error_count(&errs) > 100,
       "at most 100 messages kept, the rest counted");
    fw_conf_errors_free(&errs);
    free(many);

    /* An alias bomb: refused at the first anchors, without expanding. */
    errs = load_text("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c]\n");
    ok(errs.n > 0 && errs.n <= 100 && strstr(errs.v[1].message, "anchors"), "alias bomb refused");
    fw_conf_errors_free(&errs);

    errs = load_text("");
    ok(errs.n == 1 && errs.v[0].line == 0 && strstr(errs.v[0].message, "the file is empty"),
       "an empty file");
    fw_conf_errors_free(&errs);

    /* Bigger than 1 MiB. */
    snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    for (int i = 0; f && i < 1024 * 1024 / 64 + 1; i++)
        fprintf(f, "# %061d\n", i);
    if (f)
        fclose(f);
    errs = (struct fw_conf_errors){ 0 };
    ok(!fw_conf_load(path, &errs) && errs.n == 1 && strstr(errs.v[0].message, "larger than"),
       "a file over 1 MiB is refused");
    fw_conf_errors_free(&errs);

    /* A FIFO must not hang the loader. */
    snprintf(path, sizeof(path), "%s/fifo.yaml", tmpdir);
    if (mkfifo(path, 0600) == 0) {
        ok(!fw_conf_load(path, &errs) && errs.n == 1 &&
               strstr(errs.v[0].message, "not a regular file"),
           "a FIFO is refused without blocking");
        fw_conf_errors_free(&errs);
    }

    /* Nothing to read at all. */
    ok(!fw_conf_load(src("t/conf/no-such.yaml"), &errs) && errs.n == 1 && errs.v[0].line == 0 &&
           strstr(errs.v[0].message, "No such file"),
       "a missing file");
    fw_conf_errors_free(&errs);

    /* An unreadable script; root reads everything. */
    if (geteuid() != 0) {
        char text[PATH_MAX * 2];
        snprintf(path, sizeof(path), "%s/secret.wsgi", tmpdir);
        f = fopen(path, "w");
        if (f)
            fclose(f);
        chmod(path, 0);
        snprintf(text, sizeof(text),
                 "pools:\n  a:\n    listen: /x.sock\n    apps: [{script: %s}]\n", path);
        errs = load_text(text);
        ok(errs.n == 1 && strstr(errs.v[0].message, "cannot be read"), "unreadable script");
        fw_conf_errors_free(&errs);
    }
}

static void test_print(void)
{
    struct fw_conf_errors errs = { 0 };
    char *buf = NULL;
    size_t len = 0;
    fw_conf_free(fw_conf_load(src("t/conf/rules/include-nomatch.yaml"), &errs));
    ok(!fw_conf_load(src("t/conf/rules/no-pools.yaml"), &errs), "a second load appends");
    FILE *f = open_memstream(&buf, &len);
    fw_conf_errors_print(&errs, f);
    fclose(f);
    char want[4 * PATH_MAX];
    snprintf(want, sizeof(want),
             "%s:1:11: warning: include 'no-such-dir/*.yaml' matches no file\n"
             "%s:1:31: warning: include '/nonexistent-fw/*.yaml' matches no file\n"
             "%s:1:1: error: no pool is defined: add one under 'pools:'\n",
             src("t/conf/rules/include-nomatch.yaml"), src("t/conf/rules/include-nomatch.yaml"),
             src("t/conf/rules/no-pools.yaml"));
    is_str(buf, want, "FILE:LINE:COLUMN: error|warning: message");
    is(fw_conf_error_count(&errs), 1, "warnings are not counted as errors");
    free(buf);
    fw_conf_errors_free(&errs);
}

/* Every number a table reads has a range that the code using it can carry:
 * no table may leave a number unbounded (max 0 or UINT64_MAX), a duration
 * must fit poll()'s int milliseconds, a size an int64_t. */
static void check_ranges(const struct fw_conf_schema *s)
{
    char msg[200];
    for (size_t i = 0; i < s->n_keys; i++) {
        const struct fw_conf_key *k = &s->keys[i];
        uint64_t type_max;
        switch (k->type) {
        case FW_CONF_T_INT: type_max = INT_MAX; break;
        case FW_CONF_T_UNSIGNED: type_max = UINT_MAX; break;
        case FW_CONF_T_U64: type_max = UINT64_MAX - 1; break;
        case FW_CONF_T_SIZE: type_max = INT64_MAX; break;
        case FW_CONF_T_DURATION: type_max = INT_MAX; break;
        default: continue;
        }
        snprintf(msg, sizeof(msg), "%s '%s' has a range (%llu to %llu) its type carries", s->what,
                 k->name, (unsigned long long)k->min, (unsigned long long)k->max);
        ok(k->max > 0 && k->min <= k->max && k->max <= type_max, msg);
    }
}

static void test_ranges(void)
{
    size_t n;
    const struct fw_conf_table *tables = fw_conf_schema_tables(&n);
    for (size_t i = 0; i < n; i++)
        check_ranges(tables[i].schema);
}

/* The 1-based column where needle ends on 1-based line `line` of text. */
static unsigned column_after(const char *text, unsigned line, const char *needle)
{
    for (unsigned l = 1; l < line && text; l++)
        if ((text = strchr(text, '\n')))
            text++;
    const char *at = text ? strstr(text, needle) : NULL;
    return at ? (unsigned)(at - text + strlen(needle)) + 1 : 0;
}

/* own_gil: refused on %{GLOBAL}, on CPython < 3.12 (naming the embedded
 * version), and where two apps of one group disagree; each at its value. */
static void test_own_gil(void)
{
    char text[PATH_MAX * 4], msg[200];
    unsigned major = 0, minor = 0;
    sscanf(FW_PYTHON_VERSION, "%u.%u", &major, &minor);
    bool new_python = major * 100 + minor >= 312;
    const char *script = abs_src("examples/hello.wsgi");
    snprintf(text, sizeof(text),
             "pools:\n  a:\n    listen: /x.sock\n    user: nobody\n    apps:\n"
             "      - {mount: /a, script: %s, own_gil: true}\n"
             "      - {mount: /b, script: %s, application_group: \"%%{GLOBAL}\", own_gil: true}\n"
             "      - {mount: /c, script: %s, application_group: g, own_gil: true}\n"
             "      - {mount: /d, script: %s, application_group: g}\n",
             script, script, script, script);
    struct fw_conf_errors errs = { 0 };
    char name[PATH_MAX + 16];
    snprintf(name, sizeof(name), "%s/own_gil.yaml", tmpdir);
    struct fw_config *cfg = fw_conf_load_string(name, text, strlen(text), &errs);
    ok(cfg == NULL, "own_gil: refused");
    /* 3.12+: %{GLOBAL} at /b, the disagreement at /d; 3.11: /a, /b, /c for
     * the version, then /d. */
    size_t want = new_python ? 2 : 4;
    snprintf(msg, sizeof(msg), "own_gil: %zu messages on CPython %s", want, FW_PYTHON_VERSION);
    int good = is(errs.n, want, msg);
    if (good && new_python) {
        good &= ok(errs.v[0].line == 7 && errs.v[0].column == column_after(text, 7, "own_gil: ") &&
                       strstr(errs.v[0].message, "cannot apply to application_group"),
                   "own_gil on %{GLOBAL}: at its value");
    } else if (good) {
        good &= ok(errs.v[0].line == 6 && errs.v[0].column == column_after(text, 6, "own_gil: ") &&
                       strstr(errs.v[0].message, "needs CPython 3.12 or later") &&
                       strstr(errs.v[0].message, "embeds CPython " FW_PYTHON_VERSION),
                   "own_gil on CPython < 3.12: at its value, naming the embedded version");
    }
    if (good) {
        const struct fw_conf_error *e = &errs.v[errs.n - 1];
        good &= ok(e->line == 9 && e->column == column_after(text, 9, "group: ") &&
                       strstr(e->message, "'own_gil' is false") && strstr(e->message, "at 8:9"),
                   "apps of one group disagree: at the later app's group");
    }
    if (!good)
        show(&errs);
    fw_conf_free(cfg);
    fw_conf_errors_free(&errs);
}

static void test_multiprocess(void)
{
    struct fw_conf_pool p = { .pm = FW_CONF_PM_FIXED, .processes = 1 };
    ok(!fw_conf_pool_multiprocess(&p), "one fixed process: false");
    p.processes = 2;
    ok(fw_conf_pool_multiprocess(&p), "two fixed processes: true");
    p.processes = 1;
    p.pm = FW_CONF_PM_DYNAMIC;
    ok(fw_conf_pool_multiprocess(&p), "dynamic: true");
    p.pm = FW_CONF_PM_FIXED;
    p.multiprocess = FW_CONF_MP_TRUE;
    ok(fw_conf_pool_multiprocess(&p), "forced true");
}

int main(void)
{
    srcdir = getenv("FW_SRCDIR") ? getenv("FW_SRCDIR") : ".";
    snprintf(tmpdir, sizeof(tmpdir), "%s/fw-conf-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_rules();
    test_full();
    test_defaults();
    test_example();
    test_includes();
    test_limits();
    test_print();
    test_multiprocess();
    test_own_gil();
    test_ranges();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        diag("could not remove %s", tmpdir);
    return done_testing();
}
