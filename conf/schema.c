/* The table-driven half of the loader: one loop for every mapping with
 * known keys (top level, pool, processes, app). */
#include <config.h>

#include "conf/schema.h"

#include "conf/app.h"
#include "conf/pool.h"
#include "conf/suggest.h"
#include "conf/top.h"
#include "conf/value.h"

#include <stdbool.h>
#include <string.h>

int fw_conf_schema_find(const struct fw_conf_schema *schema, const char *name)
{
    for (size_t i = 0; i < schema->n_keys; i++)
        if (!strcmp(schema->keys[i].name, name))
            return (int)i;
    return -1;
}

const struct fw_conf_table *fw_conf_schema_tables(size_t *n)
{
    static const struct fw_conf_table tables[] = {
        { "top", &fw_conf_top_schema },
        { "pool", &fw_conf_pool_schema },
        { "processes", &fw_conf_pool_processes_schema },
        { "app", &fw_conf_app_schema },
    };
    *n = sizeof(tables) / sizeof(tables[0]);
    return tables;
}

static void unknown_key(struct fw_conf_reader *r, const struct fw_conf_schema *schema,
                        const char *key)
{
    const char *names[FW_CONF_SCHEMA_MAX_KEYS];
    const char *where = schema->elsewhere ? schema->elsewhere(key) : NULL;
    char q[64];
    if (where) {
        fw_conf_reader_error(r, r->ev.start_mark, "'%s' %s", key, where);
        return;
    }
    for (size_t i = 0; i < schema->n_keys; i++)
        names[i] = schema->keys[i].name;
    const char *near = fw_conf_suggest(key, names, schema->n_keys);
    if (near)
        fw_conf_reader_error(r, r->ev.start_mark, "unknown %s %s; did you mean '%s'?", schema->what,
                             fw_conf_reader_quote(key, q), near);
    else
        fw_conf_reader_error(r, r->ev.start_mark, "unknown %s %s", schema->what,
                             fw_conf_reader_quote(key, q));
}

static int read_value(struct fw_conf_reader *r, const struct fw_conf_key *k, char *obj)
{
    void *field = obj + k->offset;
    uint64_t u = 0;
    int rc;
    switch (k->type) {
    case FW_CONF_T_STRING: return fw_conf_value_string(r, k->name, (char **)field);
    case FW_CONF_T_PATH: return fw_conf_value_path(r, k->name, (char **)field);
    case FW_CONF_T_BOOL: return fw_conf_value_bool(r, k->name, (bool *)field);
    case FW_CONF_T_SIZE: return fw_conf_value_size(r, k->name, k->min, k->max, (uint64_t *)field);
    case FW_CONF_T_DURATION:
        return fw_conf_value_duration(r, k->name, k->min, k->max, (uint64_t *)field);
    case FW_CONF_T_MODE: return fw_conf_value_mode(r, k->name, (int *)field);
    case FW_CONF_T_U64: return fw_conf_value_uint(r, k->name, k->min, k->max, (uint64_t *)field);
    case FW_CONF_T_UNSIGNED:
    case FW_CONF_T_INT:
        /* The tables keep max within the field's type. */
        if ((rc = fw_conf_value_uint(r, k->name, k->min, k->max, &u)) == 0) {
            if (k->type == FW_CONF_T_INT)
                *(int *)field = (int)u;
            else
                *(unsigned *)field = (unsigned)u;
        }
        return rc;
    case FW_CONF_T_LIST:
    case FW_CONF_T_PATH_LIST:
        return fw_conf_value_list(r, k->name, k->type == FW_CONF_T_PATH_LIST, k->check,
                                  (char ***)field, (size_t *)(obj + k->count_offset));
    case FW_CONF_T_CUSTOM: break;
    }
    return -1;
}

int fw_conf_schema_read(struct fw_conf_reader *r, const struct fw_conf_schema *schema, void *obj,
                        struct fw_conf_mark *marks, void *ctx)
{
    struct fw_conf_mark key_marks[FW_CONF_SCHEMA_MAX_KEYS] = { { 0 } };
    char name[64];
    int rc;
    for (size_t i = 0; i < schema->n_keys; i++)
        marks[i] = (struct fw_conf_mark){ 0 };
    while ((rc = fw_conf_reader_key(r)) > 0) {
        const char *key = (const char *)r->ev.data.scalar.value;
        int i = fw_conf_schema_find(schema, key);
        if (i < 0) {
            unknown_key(r, schema, key);
            if (fw_conf_reader_next(r) < 0 || fw_conf_reader_skip(r) < 0)
                return -1;
            continue;
        }
        snprintf(name, sizeof(name), "%s", key);
        if (key_marks[i].line) {
            fw_conf_reader_error(r, r->ev.start_mark, "'%s' is given twice (first at %u:%u)", name,
                                 key_marks[i].line, key_marks[i].column);
            if (fw_conf_reader_next(r) < 0 || fw_conf_reader_skip(r) < 0)
                return -1;
            continue;
        }
        key_marks[i] = fw_conf_reader_mark(r, r->ev.start_mark);
        if (fw_conf_reader_next(r) < 0)
            return -1;
        marks[i] = fw_conf_reader_mark(r, r->ev.start_mark);
        const struct fw_conf_key *k = &schema->keys[i];
        if (k->type == FW_CONF_T_CUSTOM)
            schema->custom(r, (size_t)i, obj, ctx);
        else
            read_value(r, k, obj);
        if (r->broken)
            return -1;
    }
    return rc;
}
