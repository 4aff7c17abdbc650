/* Telling a virtualenv or a prefix from what CPython's start-up would make
 * of it (Modules/getpath.py): a virtualenv is a directory with pyvenv.cfg,
 * whose `home` is the bin directory of the CPython it was made with, and
 * whose packages are in lib/pythonX.Y; a prefix holds the standard library
 * in lib/pythonX.Y (lib64 on some systems), or lib/pythonXY.zip. */
#include <config.h>

#include "conf/pyhome.h"

#include "conf/file.h"
#include "conf/reader.h"

#include <ctype.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Other versions named in a message: enough for a reader, bounded. */
#define MAX_OTHERS 4

/* A path built from parts; false if it would not fit (then it names
 * nothing that could exist). */
static bool __attribute__((format(printf, 3, 4)))
path_of(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* "3.12.1", "3.12.1.final.0" -> "3.12"; false if v does not start so. */
static bool major_minor(const char *v, char out[16])
{
    size_t a = strspn(v, "0123456789");
    if (a == 0 || a > 4 || v[a] != '.')
        return false;
    size_t b = strspn(v + a + 1, "0123456789");
    if (b == 0 || b > 4)
        return false;
    snprintf(out, 16, "%.*s", (int)(a + 1 + b), v);
    return true;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

struct venv {
    char version[16]; /* MAJOR.MINOR, or "" */
    char full[80];    /* where it says so, for the message */
    char home[PATH_MAX];
    bool has_home;
};

/* pyvenv.cfg is "key = value" lines, as CPython reads it; version_info is
 * virtualenv's (its `version` may be virtualenv's own), version venv's. */
static void parse_venv(char *text, struct venv *v)
{
    char from_info[16] = "", from_version[16] = "", full_info[80] = "", full_version[80] = "";
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *key = trim(line), *value = trim(eq + 1);
        if (!strcasecmp(key, "home")) {
            snprintf(v->home, sizeof(v->home), "%s", value);
            v->has_home = true;
        } else if (!strcasecmp(key, "version_info") && major_minor(value, from_info)) {
            snprintf(full_info, sizeof(full_info), "its pyvenv.cfg: version_info = %.30s", value);
        } else if (!strcasecmp(key, "version") && major_minor(value, from_version)) {
            snprintf(full_version, sizeof(full_version), "its pyvenv.cfg: version = %.30s", value);
        }
    }
    bool info = from_info[0] != '\0';
    snprintf(v->version, sizeof(v->version), "%s", info ? from_info : from_version);
    snprintf(v->full, sizeof(v->full), "%s", info ? full_info : full_version);
}

/* The X.Y of each lib/pythonX.Y directory under dir/lib and dir/lib64, but
 * `skip`, joined with ", " into out; the number found. */
static int other_versions(const char *dir, const char *skip, char *out, size_t cap)
{
    static const char *const libs[] = { "lib", "lib64" };
    int found = 0;
    out[0] = '\0';
    for (size_t l = 0; l < 2 && found < MAX_OTHERS; l++) {
        char path[PATH_MAX];
        DIR *d = path_of(path, sizeof(path), "%s/%s", dir, libs[l]) ? opendir(path) : NULL;
        if (!d)
            continue;
        struct dirent *e;
        char mm[16];
        /* readdir() on a DIR of our own is safe beside threads;
         * readdir_r() is the deprecated one. */
        // cppcheck-suppress readdirCalled
        while ((e = readdir(d)) && found < MAX_OTHERS) {
            if (strncmp(e->d_name, "python", 6) || !major_minor(e->d_name + 6, mm) ||
                strcmp(mm, e->d_name + 6) || !strcmp(mm, skip) || strstr(out, mm))
                continue;
            size_t n = strlen(out);
            snprintf(out + n, cap - n, "%s%s", found ? ", " : "", mm);
            found++;
        }
        closedir(d);
    }
    return found;
}

/* The standard library of CPython version under prefix: the landmark
 * os.py and the encodings package CPython imports first, or the zip. */
static bool has_stdlib(const char *prefix, const char *version)
{
    static const char *const libs[] = { "lib", "lib64" };
    char nodot[16], path[PATH_MAX];
    size_t k = 0;
    for (const char *c = version; *c && k + 1 < sizeof(nodot); c++)
        if (*c != '.')
            nodot[k++] = *c;
    nodot[k] = '\0';
    for (size_t l = 0; l < 2; l++) {
        if (path_of(path, sizeof(path), "%s/%s/python%s.zip", prefix, libs[l], nodot) &&
            exists(path))
            return true;
        if (!path_of(path, sizeof(path), "%s/%s/python%s/os.py", prefix, libs[l], version) ||
            !exists(path))
            continue;
        if (path_of(path, sizeof(path), "%s/%s/python%s/encodings/__init__.py", prefix, libs[l],
                    version) &&
            exists(path))
            return true;
    }
    return false;
}

/* A `home` names a CPython if it holds python3 or pythonX.Y (any X.Y: the
 * version is pyvenv.cfg's to say). */
static bool holds_python(const char *bin)
{
    char path[PATH_MAX];
    return (path_of(path, sizeof(path), "%s/python3", bin) && exists(path)) ||
           (path_of(path, sizeof(path), "%s/python", bin) && exists(path));
}

static void check_venv(const char *home, const char *cfg_path, const char *version,
                       const char *python, struct fw_conf_mark m, struct fw_conf_errors *errs)
{
    char *text = NULL, err[256], others[64];
    size_t len;
    struct stat st;
    struct venv v = { 0 };
    if (fw_conf_file_read(cfg_path, &text, &len, &st, err, sizeof(err)) < 0) {
        fw_conf_mark_error(errs, m, "'python_home' %s: cannot read its pyvenv.cfg: %s", home, err);
        return;
    }
    /* The loader's buffer has no NUL: the lines are cut in a copy. */
    char *z = malloc(len + 1);
    if (!z) {
        free(text);
        fw_conf_mark_error(errs, m, "out of memory");
        return;
    }
    memcpy(z, text, len);
    z[len] = '\0';
    free(text);
    parse_venv(z, &v);
    free(z);
    if (!v.version[0]) {
        /* No version written (an old tool): its lib/pythonX.Y says. */
        char lib[PATH_MAX];
        bool own = path_of(lib, sizeof(lib), "%s/lib/python%s", home, version) && is_dir(lib);
        if (own)
            snprintf(others, sizeof(others), "%s", version);
        else if (other_versions(home, version, others, sizeof(others)) == 0)
            others[0] = '\0';
        others[strcspn(others, ",")] = '\0';
        if (others[0]) {
            snprintf(v.version, sizeof(v.version), "%s", others);
            snprintf(v.full, sizeof(v.full), "from its lib/python%s", others);
        }
    }
    if (v.version[0] && strcmp(v.version, version) != 0) {
        fw_conf_mark_error(errs, m,
                           "'python_home' %s is a virtualenv of CPython %s (%s), but fcgiwsgi "
                           "embeds CPython %s, which would not find the virtualenv's packages "
                           "(lib/python%s/site-packages): make the virtualenv with %s -m venv, "
                           "or build fcgiwsgi for CPython %s (configure --with-python)",
                           home, v.version, v.full, version, v.version, python, v.version);
        return;
    }
    if (!v.version[0])
        fw_conf_mark_warning(errs, m,
                             "'python_home' %s: its pyvenv.cfg names no version: cannot tell "
                             "whether it was made for CPython %s, which fcgiwsgi embeds",
                             home, version);
    if (!v.has_home)
        fw_conf_mark_error(errs, m,
                           "'python_home' %s: its pyvenv.cfg has no 'home' (the CPython the "
                           "virtualenv was made with): make it again with %s -m venv",
                           home, python);
    else if (!is_dir(v.home))
        fw_conf_mark_error(errs, m,
                           "'python_home' %s: its pyvenv.cfg's home %s does not exist: the "
                           "CPython it was made with is gone; make the virtualenv again with "
                           "%s -m venv",
                           home, v.home, python);
    else if (!holds_python(v.home))
        fw_conf_mark_warning(errs, m,
                             "'python_home' %s: its pyvenv.cfg's home %s holds no python3: "
                             "is it the bin directory of a CPython?",
                             home, v.home);
}

static void check_prefix(const char *home, const char *version, const char *python,
                         struct fw_conf_mark m, struct fw_conf_errors *errs)
{
    char others[64], path[PATH_MAX];
    if (has_stdlib(home, version))
        return;
    if (path_of(path, sizeof(path), "%s/lib/python%s", home, version) && is_dir(path))
        fw_conf_mark_error(errs, m,
                           "'python_home' %s: %s holds no os.py and encodings package, which "
                           "CPython %s needs to start: is it a complete installation?",
                           home, path, version);
    else if (other_versions(home, version, others, sizeof(others)) > 0)
        fw_conf_mark_error(errs, m,
                           "'python_home' %s is a prefix of CPython %s (it has lib/python%s), but "
                           "fcgiwsgi embeds CPython %s: give a prefix of CPython %s, or a "
                           "virtualenv made with %s -m venv",
                           home, others, others, version, version, python);
    else
        fw_conf_mark_error(errs, m,
                           "'python_home' %s is neither a virtualenv (no pyvenv.cfg) nor a "
                           "prefix of CPython %s (no lib/python%s/os.py): give the directory "
                           "of a virtualenv made with %s -m venv, or a prefix such as %s",
                           home, version, version, python, FW_PYTHON_PREFIX);
}

void fw_conf_pyhome_check(const char *home, const char *version, const char *python,
                          struct fw_conf_mark m, struct fw_conf_errors *errs)
{
    struct stat st;
    char cfg_path[PATH_MAX];
    if (stat(home, &st) < 0) {
        if (errno == ENOENT)
            fw_conf_mark_error(errs, m,
                               "'python_home' %s does not exist: give the directory of a "
                               "virtualenv (%s -m venv DIR) or a prefix of CPython %s",
                               home, python, version);
        else
            fw_conf_mark_error(errs, m, "'python_home' %s: %s", home, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        fw_conf_mark_error(errs, m, "'python_home' %s is not a directory", home);
        return;
    }
    if (!path_of(cfg_path, sizeof(cfg_path), "%s/pyvenv.cfg", home)) {
        fw_conf_mark_error(errs, m, "'python_home' %s: the path is too long", home);
        return;
    }
    if (exists(cfg_path))
        check_venv(home, cfg_path, version, python, m, errs);
    else
        check_prefix(home, version, python, m, errs);
}
