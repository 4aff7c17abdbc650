/* The loader: which files are read (the main file, then its includes,
 * depth first, without cycles), and the public entry points of config.h.
 * What a file holds is read by top.c and pool.c; checks across pools run
 * at the end (validate.c), once every file was read. */
#include <config.h>

#include "conf/config.h"
#include "conf/errors.h"
#include "conf/file.h"
#include "conf/path.h"
#include "conf/pool.h"
#include "conf/preflight.h"
#include "conf/reader.h"
#include "conf/top.h"
#include "conf/validate.h"
#include "conf/value.h"

#include <glob.h>
#include <stdlib.h>
#include <string.h>

/* Files per load, and include nesting: far above what anyone writes, low
 * enough that a glob matching a whole tree stops early. */
#define MAX_FILES 256
#define MAX_INCLUDE_DEPTH 16

struct loader {
    struct fw_conf_top top; /* cfg, errs and the pools' marks */
    size_t files_cap;
    struct file_id {
        dev_t dev;
        ino_t ino;
        int known;                       /* 0: a main file given as text, not on disk */
        struct fw_conf_mark included_at; /* line 0 for the main file */
    } * ids;                             /* one per file */
    size_t ids_cap;
    int too_many_reported;
};

/* The files being read, innermost first: an include of one of them is a
 * cycle. */
struct chain {
    struct file_id id;
    const struct chain *up;
    unsigned depth;
};

/* Reads file fi's text; the includes it names are left in ld->top.inc. */
static void parse_text(struct loader *ld, size_t fi, const char *dir, const char *text, size_t len)
{
    struct fw_config *cfg = ld->top.cfg;
    struct fw_conf_errors *errs = ld->top.errs;
    struct fw_conf_reader r;
    const char *file = cfg->files[fi];
    size_t first_pool = cfg->n_pools;
    if (fw_conf_reader_open(&r, file, dir, text, len, errs) < 0)
        return;
    int rc = fw_conf_reader_document(&r);
    if (rc == 0 && fi == 0)
        fw_conf_errors_add(errs, file, 0, 0, false,
                           "the file is empty: expected settings such as 'pools:'");
    else if (rc == 0)
        fw_conf_errors_add(errs, file, 0, 0, true, "the file is empty");
    else if (rc > 0)
        fw_conf_top_read(&r, &ld->top, fi == 0);
    if (rc >= 0)
        fw_conf_reader_end(&r);
    /* After a YAML error the file was cut short: its pools may lack what
     * the rest of the file held, so they are dropped unchecked. */
    for (size_t i = first_pool; i < cfg->n_pools; i++)
        if (r.broken)
            fw_conf_pool_free(&cfg->pools[i]);
        else
            fw_conf_pool_finish(&cfg->pools[i], &ld->top.marks[i], dir, errs);
    if (r.broken)
        cfg->n_pools = first_pool;
    fw_conf_reader_close(&r);
}

static int add_file(struct loader *ld, const char *path, struct file_id id)
{
    struct fw_config *cfg = ld->top.cfg;
    char *copy = strdup(path);
    if (!copy ||
        fw_conf_value_grow((void **)&cfg->files, &ld->files_cap, cfg->n_files,
                           sizeof(*cfg->files)) < 0 ||
        fw_conf_value_grow((void **)&ld->ids, &ld->ids_cap, cfg->n_files, sizeof(*ld->ids)) < 0) {
        free(copy);
        return -1;
    }
    ld->ids[cfg->n_files] = id;
    cfg->files[cfg->n_files++] = copy;
    return 0;
}

static void load_text(struct loader *ld, size_t fi, const char *text, size_t len,
                      const struct chain *chain);

static void include_file(struct loader *ld, const char *path, struct fw_conf_mark at,
                         const struct chain *chain)
{
    struct fw_config *cfg = ld->top.cfg;
    char *text = NULL, err[256];
    size_t len;
    struct stat st;
    if (cfg->n_files >= MAX_FILES) {
        if (!ld->too_many_reported++)
            fw_conf_mark_error(ld->top.errs, at, "more than %d files to read: not including '%s'",
                               MAX_FILES, path);
        return;
    }
    if (fw_conf_file_read(path, &text, &len, &st, err, sizeof(err)) < 0) {
        fw_conf_mark_error(ld->top.errs, at, "cannot include '%s': %s", path, err);
        return;
    }
    struct chain link = { { st.st_dev, st.st_ino, 1, at }, chain, chain->depth + 1 };
    for (const struct chain *c = chain; c; c = c->up)
        if (c->id.known && c->id.dev == st.st_dev && c->id.ino == st.st_ino) {
            fw_conf_mark_error(ld->top.errs, at,
                               "include cycle: '%s' is being read already (it includes this "
                               "file, directly or through other includes)",
                               path);
            goto done;
        }
    for (size_t i = 0; i < cfg->n_files; i++)
        if (ld->ids[i].known && ld->ids[i].dev == st.st_dev && ld->ids[i].ino == st.st_ino) {
            struct fw_conf_mark *first = &ld->ids[i].included_at;
            if (first->line)
                fw_conf_mark_error(ld->top.errs, at, "'%s' is included twice (first at %s:%u:%u)",
                                   path, first->file, first->line, first->column);
            else
                fw_conf_mark_error(ld->top.errs, at, "'%s' is the main configuration file", path);
            goto done;
        }
    if (link.depth > MAX_INCLUDE_DEPTH) {
        fw_conf_mark_error(ld->top.errs, at,
                           "includes nested more than %d deep: not including '%s'",
                           MAX_INCLUDE_DEPTH, path);
        goto done;
    }
    if (add_file(ld, path, link.id) < 0) {
        fw_conf_mark_error(ld->top.errs, at, "out of memory");
        goto done;
    }
    load_text(ld, cfg->n_files - 1, text, len, &link);
done:
    free(text);
}

static void expand(struct loader *ld, const char *dir, const struct fw_conf_include *inc,
                   const struct chain *chain)
{
    glob_t g = { 0 };
    char q[64];
    char *pattern = fw_conf_path_glob(dir, inc->pattern);
    if (!pattern) {
        fw_conf_mark_error(ld->top.errs, inc->mark, "out of memory");
        return;
    }
    int rc = glob(pattern, 0, NULL, &g);
    if (rc == GLOB_NOMATCH)
        fw_conf_mark_warning(ld->top.errs, inc->mark, "include %s matches no file",
                             fw_conf_reader_quote(inc->pattern, q));
    else if (rc != 0)
        fw_conf_mark_error(ld->top.errs, inc->mark, "include %s: %s",
                           fw_conf_reader_quote(inc->pattern, q),
                           rc == GLOB_NOSPACE ? "out of memory" : "cannot read a directory");
    for (size_t i = 0; rc == 0 && i < g.gl_pathc && !fw_conf_errors_full(ld->top.errs); i++)
        include_file(ld, g.gl_pathv[i], inc->mark, chain);
    globfree(&g); /* g was zeroed: safe whatever glob() returned */
    free(pattern);
}

/* Reads file fi (its text given), then the files it includes, depth first,
 * so that pools come in the order an operator reads them. */
static void load_text(struct loader *ld, size_t fi, const char *text, size_t len,
                      const struct chain *chain)
{
    const char *file = ld->top.cfg->files[fi];
    char *dir = fw_conf_path_dir(file);
    if (!dir) {
        fw_conf_errors_add(ld->top.errs, file, 0, 0, false, "cannot find the file's directory");
        return;
    }
    parse_text(ld, fi, dir, text, len);
    /* Taken before recursing: the included files fill ld->top.inc again. */
    struct fw_conf_include *inc = ld->top.inc;
    size_t n_inc = ld->top.n_inc;
    ld->top.inc = NULL;
    ld->top.n_inc = ld->top.inc_cap = 0;
    for (size_t i = 0; i < n_inc; i++) {
        if (!fw_conf_errors_full(ld->top.errs))
            expand(ld, dir, &inc[i], chain);
        free(inc[i].pattern);
    }
    free(inc);
    free(dir);
}

static struct fw_config *load(const char *name, const char *text, size_t len, const struct stat *st,
                              bool preflight, struct fw_conf_errors *errs)
{
    struct loader ld = { .top.errs = errs };
    size_t before = fw_conf_error_count(errs), first = errs->n;
    struct fw_config *cfg = ld.top.cfg = calloc(1, sizeof(*cfg));
    struct chain top = { { 0 }, NULL, 0 };
    if (!cfg)
        goto nomem;
    cfg->control_gid = (gid_t)-1;
    cfg->status_listen_mode = 0660;
    cfg->status_uid = (uid_t)-1;
    cfg->status_gid = (gid_t)-1;
    if (st)
        top.id = (struct file_id){ st->st_dev, st->st_ino, 1, { 0 } };
    if (!(cfg->path = strdup(name)) || add_file(&ld, name, top.id) < 0)
        goto nomem;
    load_text(&ld, 0, text, len, &top);
    if (cfg->n_pools == 0 && fw_conf_error_count(errs) == before && ld.top.include_at.line) {
        /* The installed layout: the main file includes pools.d/, empty
         * until the first app. The manager then runs its control socket
         * alone, so that a package can start it and a reload adds pools. */
        fw_conf_mark_warning(errs, ld.top.include_at,
                             "no pool is defined yet: the included files define none; the "
                             "manager serves its control socket alone until a reload finds one");
    } else if (cfg->n_pools == 0 && fw_conf_error_count(errs) == before) {
        /* At an empty 'pools:', else at the top of the main file: every
         * error has a place an editor can jump to. */
        struct fw_conf_mark at = ld.top.pools_at;
        if (!at.line)
            at = (struct fw_conf_mark){ cfg->files[0], 1, 1 };
        fw_conf_mark_error(errs, at, "no pool is defined: add one under 'pools:'");
    }
    fw_conf_validate(cfg, ld.top.marks, errs);
    if (preflight)
        fw_conf_preflight(&ld.top);
    goto done;
nomem:
    fw_conf_errors_add(errs, name, 0, 0, false, "out of memory");
done:
    if (cfg)
        fw_conf_errors_sort(errs, first, cfg->files, cfg->n_files);
    free(ld.top.marks);
    free(ld.ids);
    if (fw_conf_error_count(errs) > before) {
        fw_conf_free(cfg);
        return NULL;
    }
    return cfg;
}

struct fw_config *fw_conf_load_string(const char *name, const char *text, size_t len,
                                      struct fw_conf_errors *errs)
{
    struct stat st;
    /* The text may stand for a file on disk: then an include of that file
     * is a cycle like any other. */
    return load(name, text, len, stat(name, &st) == 0 ? &st : NULL, false, errs);
}

static struct fw_config *load_file(const char *path, bool preflight, struct fw_conf_errors *errs)
{
    char *text = NULL, err[256];
    size_t len;
    struct stat st;
    if (fw_conf_file_read(path, &text, &len, &st, err, sizeof(err)) < 0) {
        fw_conf_errors_add(errs, path, 0, 0, false, "cannot read the configuration: %s", err);
        return NULL;
    }
    struct fw_config *cfg = load(path, text, len, &st, preflight, errs);
    free(text);
    return cfg;
}

struct fw_config *fw_conf_load(const char *path, struct fw_conf_errors *errs)
{
    return load_file(path, false, errs);
}

struct fw_config *fw_conf_load_preflight(const char *path, struct fw_conf_errors *errs)
{
    return load_file(path, true, errs);
}

void fw_conf_free(struct fw_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_pools; i++)
        fw_conf_pool_free(&cfg->pools[i]);
    free(cfg->pools);
    for (size_t i = 0; i < cfg->n_files; i++)
        free(cfg->files[i]);
    free(cfg->files);
    free(cfg->path);
    free(cfg->control);
    free(cfg->control_group);
    free(cfg->status_listen);
    free(cfg->status_listen_owner);
    free(cfg->status_listen_group);
    free(cfg->log);
    free(cfg->log_level);
    free(cfg->pid_file);
    free(cfg);
}

size_t fw_conf_app_count(const struct fw_config *cfg)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_pools; i++)
        n += cfg->pools[i].n_apps;
    return n;
}

const char *fw_conf_yaml_version(void)
{
    return yaml_get_version_string();
}
