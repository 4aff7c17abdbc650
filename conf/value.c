/* Scalars to typed values, with messages that say what was expected. The
 * number rules are stricter than YAML's: no signs, no 0x, no underscores,
 * since "-1 processes" or "0x10 threads" is a mistake, not a notation. */
#include <config.h>

#include "conf/value.h"

#include "conf/path.h"
#include "lib/syslog.h"
#include "lib/units.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *fw_conf_value_scalar(struct fw_conf_reader *r, const char *key, const char *what)
{
    const yaml_event_t *ev = &r->ev;
    if (ev->type == YAML_ALIAS_EVENT) /* already reported */
        return NULL;
    if (ev->type != YAML_SCALAR_EVENT) {
        fw_conf_reader_error(r, ev->start_mark, "'%s' expects %s, got %s", key, what,
                             fw_conf_reader_kind(r));
        fw_conf_reader_skip(r);
        return NULL;
    }
    if (fw_conf_reader_is_null(r)) {
        fw_conf_reader_error(r, ev->start_mark,
                             "'%s' has no value: expected %s (leave the key out for the default)",
                             key, what);
        return NULL;
    }
    const char *v = (const char *)ev->data.scalar.value;
    if (strlen(v) != ev->data.scalar.length) {
        fw_conf_reader_error(r, ev->start_mark, "'%s' must not contain a NUL character", key);
        return NULL;
    }
    return v;
}

int fw_conf_value_string(struct fw_conf_reader *r, const char *key, char **out)
{
    const char *v = fw_conf_value_scalar(r, key, "a string");
    if (!v)
        return -1;
    if (!*v) {
        fw_conf_reader_error(r, r->ev.start_mark, "'%s' must not be empty", key);
        return -1;
    }
    if (!(*out = strdup(v))) {
        fw_conf_reader_error(r, r->ev.start_mark, "out of memory");
        return -1;
    }
    return 0;
}

int fw_conf_value_path(struct fw_conf_reader *r, const char *key, char **out)
{
    const char *v = fw_conf_value_scalar(r, key, "a path");
    if (!v)
        return -1;
    if (!*v) {
        fw_conf_reader_error(r, r->ev.start_mark, "'%s' must not be empty", key);
        return -1;
    }
    if (!(*out = fw_conf_path_join(r->dir, v))) {
        fw_conf_reader_error(r, r->ev.start_mark, "out of memory");
        return -1;
    }
    return 0;
}

int fw_conf_value_log(struct fw_conf_reader *r, const char *key, char **out)
{
    const char *v =
        fw_conf_value_scalar(r, key, "stderr, syslog, syslog:SOCKET or the path of a file");
    if (!v)
        return -1;
    const char *sys = fw_syslog_target_path(v);
    if (!*v || (sys && !*sys) || (!sys && !strncmp(v, "syslog:", 7))) {
        fw_conf_reader_error(r, r->ev.start_mark,
                             "'%s' must be stderr, syslog, syslog:SOCKET or the path of a file",
                             key);
        return -1;
    }
    char *path = NULL;
    if (!strcmp(v, "stderr") || !strcmp(v, "syslog")) {
        *out = strdup(v);
    } else if ((path = fw_conf_path_join(r->dir, sys ? sys : v))) {
        *out = sys ? malloc(strlen(path) + 8) : path;
        if (sys && *out)
            sprintf(*out, "syslog:%s", path);
        if (sys)
            free(path);
    }
    if (!*out) {
        fw_conf_reader_error(r, r->ev.start_mark, "out of memory");
        return -1;
    }
    return 0;
}

int fw_conf_value_bool(struct fw_conf_reader *r, const char *key, bool *out)
{
    static const char *const yaml11[] = { "yes", "no", "on", "off", "y", "n" };
    char q[64];
    const char *v = fw_conf_value_scalar(r, key, "true or false");
    if (!v)
        return -1;
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE")) {
        *out = false;
        return 0;
    }
    for (size_t i = 0; i < sizeof(yaml11) / sizeof(yaml11[0]); i++)
        if (!strcasecmp(v, yaml11[i])) {
            fw_conf_reader_error(r, r->ev.start_mark,
                                 "'%s' expects true or false, got %s: write true or false "
                                 "(YAML 1.1 booleans like yes/no/on/off are not accepted)",
                                 key, fw_conf_reader_quote(v, q));
            return -1;
        }
    fw_conf_reader_error(r, r->ev.start_mark, "'%s' expects true or false, got %s", key,
                         fw_conf_reader_quote(v, q));
    return -1;
}

/* 0, or -1 if s is not all decimal digits; 1 if it overflows. */
static int parse_decimal(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int fw_conf_value_uint(struct fw_conf_reader *r, const char *key, uint64_t min, uint64_t max,
                       uint64_t *out)
{
    char what[96], q[64];
    uint64_t v = 0;
    if (max == UINT64_MAX)
        snprintf(what, sizeof(what), "a whole number (at least %llu)", (unsigned long long)min);
    else
        snprintf(what, sizeof(what), "a whole number from %llu to %llu", (unsigned long long)min,
                 (unsigned long long)max);
    const char *s = fw_conf_value_scalar(r, key, what);
    if (!s)
        return -1;
    int rc = parse_decimal(s, &v);
    if (rc < 0) {
        fw_conf_reader_error(r, r->ev.start_mark, "'%s' expects %s, got %s", key, what,
                             fw_conf_reader_quote(s, q));
        return -1;
    }
    if (rc > 0 || v < min || v > max) {
        fw_conf_reader_error(r, r->ev.start_mark, "'%s' is out of range: expected %s, got %s", key,
                             what, fw_conf_reader_quote(s, q));
        return -1;
    }
    *out = v;
    return 0;
}

/* What a size or a duration setting reads: parse is fw_units_*, format its
 * inverse; what says which notation is expected. */
struct quantity {
    int (*parse)(const char *text, uint64_t *v);
    void (*format)(uint64_t v, char *buf, size_t size);
    const char *noun; /* "a size", "a duration" */
    const char *what;
};

static int read_quantity(struct fw_conf_reader *r, const char *key, const struct quantity *qt,
                         uint64_t min, uint64_t max, uint64_t *out)
{
    char q[64], lo[32], hi[32];
    uint64_t v = 0;
    const char *s = fw_conf_value_scalar(r, key, qt->what);
    if (!s)
        return -1;
    errno = 0;
    if (qt->parse(s, &v) < 0 && errno != ERANGE) {
        fw_conf_reader_error(r, r->ev.start_mark, "'%s' expects %s, got %s", key, qt->what,
                             fw_conf_reader_quote(s, q));
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        qt->format(min, lo, sizeof(lo));
        qt->format(max, hi, sizeof(hi));
        fw_conf_reader_error(r, r->ev.start_mark,
                             "'%s' is out of range: expected %s from %s to %s, got %s", key,
                             qt->noun, lo, hi, fw_conf_reader_quote(s, q));
        return -1;
    }
    *out = v;
    return 0;
}

int fw_conf_value_size(struct fw_conf_reader *r, const char *key, uint64_t min, uint64_t max,
                       uint64_t *bytes)
{
    static const struct quantity size = {
        fw_units_parse_size,
        fw_units_format_size,
        "a size",
        "a size in bytes, with an optional K, M or G (e.g. 512M)",
    };
    return read_quantity(r, key, &size, min, max, bytes);
}

int fw_conf_value_duration(struct fw_conf_reader *r, const char *key, uint64_t min, uint64_t max,
                           uint64_t *ms)
{
    static const struct quantity duration = {
        fw_units_parse_duration_ms,
        fw_units_format_duration,
        "a duration",
        "a duration with ms, s, m or h (e.g. 30s); a bare number is seconds",
    };
    return read_quantity(r, key, &duration, min, max, ms);
}

int fw_conf_value_mode(struct fw_conf_reader *r, const char *key, int *mode)
{
    char q[64];
    const char *what = "a file mode in octal digits, such as \"0660\"";
    const char *s = fw_conf_value_scalar(r, key, what);
    if (!s)
        return -1;
    size_t n = strlen(s);
    int v = 0;
    for (size_t i = 0; i < n && n <= 4; i++) {
        if (s[i] < '0' || s[i] > '7') {
            n = 0;
            break;
        }
        v = v * 8 + (s[i] - '0');
    }
    if (n == 0 || n > 4) {
        fw_conf_reader_error(r, r->ev.start_mark, "'%s' expects %s, got %s", key, what,
                             fw_conf_reader_quote(s, q));
        return -1;
    }
    *mode = v;
    return 0;
}

int fw_conf_value_choice(struct fw_conf_reader *r, const char *key, const char *const *choices,
                         size_t n, size_t *index)
{
    char what[160], q[64];
    size_t o = (size_t)snprintf(what, sizeof(what), "one of");
    for (size_t i = 0; i < n && o < sizeof(what); i++)
        o += (size_t)snprintf(what + o, sizeof(what) - o, "%s %s", i ? "," : "", choices[i]);
    const char *s = fw_conf_value_scalar(r, key, what);
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, choices[i])) {
            *index = i;
            return 0;
        }
    fw_conf_reader_error(r, r->ev.start_mark, "'%s' expects %s, got %s", key, what,
                         fw_conf_reader_quote(s, q));
    return -1;
}

int fw_conf_value_grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *nv = realloc(*v, ncap * size);
    if (!nv)
        return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

int fw_conf_value_list(struct fw_conf_reader *r, const char *key, bool paths,
                       const char *(*check)(const char *item), char ***out, size_t *n)
{
    const char *why;
    char q[64];
    char **v = NULL, *item;
    size_t count = 0, cap = 0;
    int rc = -1;
    yaml_mark_t start = r->ev.start_mark;
    if (r->ev.type != YAML_SEQUENCE_START_EVENT) {
        if (r->ev.type != YAML_ALIAS_EVENT)
            fw_conf_reader_error(r, start, "'%s' expects a list, e.g. [%s], got %s", key,
                                 paths ? "/a, b/c" : "a, b", fw_conf_reader_kind(r));
        fw_conf_reader_skip(r);
        return -1;
    }
    bool bad = false;
    for (;;) {
        if (fw_conf_reader_next(r) < 0)
            goto fail;
        if (r->ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        item = NULL;
        if ((paths ? fw_conf_value_path(r, key, &item) : fw_conf_value_string(r, key, &item)) < 0) {
            bad = true;
            continue;
        }
        if (check && (why = check(item))) {
            fw_conf_reader_error(r, r->ev.start_mark, "'%s': %s %s", key,
                                 fw_conf_reader_quote(item, q), why);
            free(item);
            bad = true;
            continue;
        }
        if (fw_conf_value_grow((void **)&v, &cap, count, sizeof(*v)) < 0) {
            free(item);
            fw_conf_reader_error(r, r->ev.start_mark, "out of memory");
            goto fail;
        }
        v[count++] = item;
    }
    if (count == 0 && !bad) {
        fw_conf_reader_error(r, start, "'%s' is an empty list: leave the key out instead", key);
        goto fail;
    }
    rc = bad ? -1 : 0;
fail:
    /* Partial lists are kept on errors so the caller frees one way. */
    *out = v;
    *n = count;
    return rc;
}
