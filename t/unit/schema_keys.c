/* What the configuration's documentation is checked against (t/man.t):
 *   schema_keys                 every setting of every table (conf/schema.h's
 *                               fw_conf_schema_tables), one line each:
 *                               SECTION KEY TYPE DEFAULT MIN MAX, tab-separated
 *   schema_keys --example FILE  every setting FILE writes, as SECTION KEY, after
 *                               uncommenting the example's `#key:` and `#   key:`
 *                               lines (the conventions its header describes)
 * Not a test itself: a check program whose output the test compares. */
#include <config.h>

#include "conf/config.h"
#include "conf/pool.h"
#include "conf/schema.h"
#include "schema_field.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_FILE_BYTES (1 << 20)
#define MAX_DEPTH 64

static const char *type_name(enum fw_conf_type t)
{
    switch (t) {
    case FW_CONF_T_STRING: return "string";
    case FW_CONF_T_PATH: return "path";
    case FW_CONF_T_BOOL: return "boolean";
    case FW_CONF_T_UNSIGNED:
    case FW_CONF_T_INT:
    case FW_CONF_T_U64: return "number";
    case FW_CONF_T_SIZE: return "size";
    case FW_CONF_T_DURATION: return "duration";
    case FW_CONF_T_MODE: return "mode";
    case FW_CONF_T_LIST: return "list";
    case FW_CONF_T_PATH_LIST: return "paths";
    case FW_CONF_T_CUSTOM: break;
    }
    return "custom";
}

static bool has_range(enum fw_conf_type t)
{
    return t == FW_CONF_T_UNSIGNED || t == FW_CONF_T_INT || t == FW_CONF_T_U64 ||
           t == FW_CONF_T_SIZE || t == FW_CONF_T_DURATION;
}

/* The default as schema_field_text() gives it, or "-" where there is none
 * to compare: no object holding defaults, a key the minimal file wrote, or
 * a value that stands for "unset" (NULL, an empty list, mode -1, an
 * inherited UINT64_MAX). */
static void default_text(const struct fw_conf_key *k, const void *defaults, bool written, char *buf,
                         size_t size)
{
    if (!defaults || written || schema_field_text(k, defaults, buf, size) < 0 ||
        !strcmp(buf, "(null)") || !strcmp(buf, "-1") || (!buf[0] && k->type != FW_CONF_T_STRING) ||
        !strcmp(buf, "18446744073709551615"))
        snprintf(buf, size, "-");
}

/* The defaults of the top level and of an app are filled in by the loader,
 * so a minimal file is loaded; a pool's are fw_conf_pool_init()'s. */
static int print_schema(void)
{
    static const char text[] = "pools:\n"
                               "  p:\n"
                               "    listen: 127.0.0.1:9\n"
                               "    allow_root: true\n"
                               "    apps: [{script: /proc/self/exe}]\n";
    static const char *const written[] = { "pools", "script" };
    struct fw_conf_errors errs = { 0 };
    struct fw_config *cfg =
        fw_conf_load_string("/nonexistent/schema_keys.yaml", text, sizeof(text) - 1, &errs);
    if (!cfg) {
        fw_conf_errors_print(&errs, stderr);
        fw_conf_errors_free(&errs);
        return 1;
    }
    fw_conf_errors_free(&errs);
    struct fw_conf_pool pool;
    fw_conf_pool_init(&pool);
    size_t n;
    const struct fw_conf_table *tables = fw_conf_schema_tables(&n);
    for (size_t t = 0; t < n; t++) {
        const char *sec = tables[t].section;
        const void *defaults = !strcmp(sec, "top")    ? (const void *)cfg
                               : !strcmp(sec, "pool") ? (const void *)&pool
                               : !strcmp(sec, "app")  ? (const void *)&cfg->pools[0].apps[0]
                                                      : NULL;
        const struct fw_conf_schema *s = tables[t].schema;
        for (size_t i = 0; i < s->n_keys; i++) {
            const struct fw_conf_key *k = &s->keys[i];
            bool w = false;
            for (size_t j = 0; j < sizeof(written) / sizeof(written[0]); j++)
                w |= !strcmp(written[j], k->name);
            char def[512], lo[32] = "-", hi[32] = "-";
            default_text(k, defaults, w, def, sizeof(def));
            if (has_range(k->type)) {
                snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
                snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
            }
            printf("%s\t%s\t%s\t%s\t%s\t%s\n", sec, k->name, type_name(k->type), def, lo, hi);
        }
    }
    fw_conf_free(cfg);
    return 0;
}

/* `#key: value` is a setting at its default, `#   key: value` (three
 * spaces) one that is unset by default: both become `key: value` at the
 * comment's indentation. */
static char *uncomment(const char *in, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && in[end] != '\n')
            end++;
        size_t j = i;
        while (j < end && in[j] == ' ')
            j++;
        size_t drop = 0;
        if (j < end && in[j] == '#') {
            if (j + 1 < end && islower((unsigned char)in[j + 1]))
                drop = 1;
            else if (j + 4 < end && !memcmp(in + j + 1, "   ", 3) &&
                     islower((unsigned char)in[j + 4]))
                drop = 4;
        }
        memcpy(out + o, in + i, j - i);
        o += j - i;
        memcpy(out + o, in + j + drop, end - j - drop);
        o += end - j - drop;
        if (end < len)
            out[o++] = '\n';
        i = end + 1;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

struct walk {
    yaml_parser_t p;
    yaml_event_t ev;
    bool have;
    unsigned depth;
};

/* Moves to the next event; -1 at a YAML error or past the depth bound. */
static int next(struct walk *w)
{
    if (w->have)
        yaml_event_delete(&w->ev);
    w->have = false;
    if (!yaml_parser_parse(&w->p, &w->ev)) {
        fprintf(stderr, "schema_keys: YAML error at %zu:%zu: %s\n", w->p.problem_mark.line + 1,
                w->p.problem_mark.column + 1, w->p.problem ? w->p.problem : "?");
        return -1;
    }
    w->have = true;
    if (w->ev.type == YAML_MAPPING_START_EVENT || w->ev.type == YAML_SEQUENCE_START_EVENT) {
        if (++w->depth > MAX_DEPTH)
            return -1;
    } else if (w->ev.type == YAML_MAPPING_END_EVENT || w->ev.type == YAML_SEQUENCE_END_EVENT) {
        w->depth--;
    }
    return 0;
}

/* w->ev starts a node: moves to its last event. */
static int skip(struct walk *w)
{
    unsigned depth = w->depth;
    if (w->ev.type != YAML_MAPPING_START_EVENT && w->ev.type != YAML_SEQUENCE_START_EVENT)
        return 0;
    while (w->depth >= depth)
        if (next(w) < 0)
            return -1;
    return 0;
}

static int walk_mapping(struct walk *w, const char *section);

/* w->ev is the value of `key` in a mapping of `section`. */
static int walk_value(struct walk *w, const char *section, const char *key)
{
    bool map = w->ev.type == YAML_MAPPING_START_EVENT;
    if (!strcmp(section, "top") && !strcmp(key, "pools") && map) {
        /* pool names, each to its settings */
        for (;;) {
            if (next(w) < 0)
                return -1;
            if (w->ev.type == YAML_MAPPING_END_EVENT)
                return 0;
            if (next(w) < 0)
                return -1;
            if (w->ev.type == YAML_MAPPING_START_EVENT) {
                if (walk_mapping(w, "pool") < 0)
                    return -1;
            } else if (skip(w) < 0) {
                return -1;
            }
        }
    }
    if (!strcmp(section, "pool") && !strcmp(key, "processes") && map)
        return walk_mapping(w, "processes");
    if (!strcmp(section, "pool") && !strcmp(key, "apps") &&
        w->ev.type == YAML_SEQUENCE_START_EVENT) {
        for (;;) {
            if (next(w) < 0)
                return -1;
            if (w->ev.type == YAML_SEQUENCE_END_EVENT)
                return 0;
            if (w->ev.type == YAML_MAPPING_START_EVENT) {
                if (walk_mapping(w, "app") < 0)
                    return -1;
            } else if (skip(w) < 0) {
                return -1;
            }
        }
    }
    return skip(w);
}

/* w->ev starts a mapping of settings: prints its keys, to its end. */
static int walk_mapping(struct walk *w, const char *section)
{
    char key[128];
    for (;;) {
        if (next(w) < 0)
            return -1;
        if (w->ev.type == YAML_MAPPING_END_EVENT)
            return 0;
        if (w->ev.type != YAML_SCALAR_EVENT) {
            fprintf(stderr, "schema_keys: a key that is not a string at line %zu\n",
                    w->ev.start_mark.line + 1);
            return -1;
        }
        snprintf(key, sizeof(key), "%s", (const char *)w->ev.data.scalar.value);
        printf("%s\t%s\n", section, key);
        if (next(w) < 0 || walk_value(w, section, key) < 0)
            return -1;
    }
}

static int print_example(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    char *text = malloc(MAX_FILE_BYTES), *plain = NULL;
    size_t len = text ? fread(text, 1, MAX_FILE_BYTES, f) : 0, plain_len = 0;
    fclose(f);
    int rc = 1;
    struct walk w = { .have = false };
    if (!text || len == MAX_FILE_BYTES || !(plain = uncomment(text, len, &plain_len))) {
        fprintf(stderr, "schema_keys: %s: out of memory, or larger than %d bytes\n", path,
                MAX_FILE_BYTES);
        goto done;
    }
    if (!yaml_parser_initialize(&w.p))
        goto done;
    yaml_parser_set_input_string(&w.p, (const unsigned char *)plain, plain_len);
    do {
        if (next(&w) < 0)
            goto fail;
    } while (w.ev.type != YAML_MAPPING_START_EVENT && w.ev.type != YAML_STREAM_END_EVENT);
    if (w.ev.type == YAML_MAPPING_START_EVENT && walk_mapping(&w, "top") == 0)
        rc = 0;
fail:
    if (w.have)
        yaml_event_delete(&w.ev);
    yaml_parser_delete(&w.p);
done:
    free(text);
    free(plain);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 1)
        return print_schema();
    if (argc == 3 && !strcmp(argv[1], "--example"))
        return print_example(argv[2]);
    fprintf(stderr, "usage: schema_keys [--example FILE]\n");
    return 2;
}
