/* Reading a YAML mapping against a table of known keys: typed fields are
 * stored by offset, the rest go to a callback. Unknown keys (with a "did
 * you mean"), keys that belong at another level, and keys given twice are
 * reported here, once for every table. */
#ifndef FW_CONF_SCHEMA_H
#define FW_CONF_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "conf/reader.h"

enum fw_conf_type {
    FW_CONF_T_STRING,    /* char * */
    FW_CONF_T_PATH,      /* char *, made absolute */
    FW_CONF_T_BOOL,      /* bool */
    FW_CONF_T_UNSIGNED,  /* unsigned, from min to max */
    FW_CONF_T_INT,       /* int, from min to max */
    FW_CONF_T_U64,       /* uint64_t, from min to max */
    FW_CONF_T_SIZE,      /* uint64_t bytes, from min to max */
    FW_CONF_T_DURATION,  /* uint64_t milliseconds, from min to max */
    FW_CONF_T_MODE,      /* int */
    FW_CONF_T_LIST,      /* char ** at offset, size_t count at count_offset */
    FW_CONF_T_PATH_LIST, /* the same, made absolute */
    FW_CONF_T_CUSTOM,    /* the schema's callback reads it */
};

struct fw_conf_key {
    const char *name;
    enum fw_conf_type type;
    size_t offset;
    size_t count_offset;
    uint64_t min, max;
    const char *(*check)(const char *item); /* lists: see fw_conf_value_list() */
};

/* Table entries: a plain setting, a number with its range, a list. Every
 * number has a range, and the range is what the code using the field can
 * carry (t/unit/conf.c checks every table for it). */
#define FW_CONF_KEY(name, type, offset)                                                            \
    {                                                                                              \
        (name), (type), (offset), 0, 0, 0, NULL                                                    \
    }
#define FW_CONF_KEY_RANGE(name, type, offset, min, max)                                            \
    {                                                                                              \
        (name), (type), (offset), 0, (min), (max), NULL                                            \
    }
#define FW_CONF_KEY_LIST(name, type, offset, count_offset, check)                                  \
    {                                                                                              \
        (name), (type), (offset), (count_offset), 0, 0, (check)                                    \
    }

/* The most keys one table may have. */
#define FW_CONF_SCHEMA_MAX_KEYS 64

struct fw_conf_schema {
    const char *what; /* "pool setting": for "unknown pool setting 'x'" */
    const struct fw_conf_key *keys;
    size_t n_keys;
    /* Reads key number i (a FW_CONF_T_CUSTOM one) from r->ev into obj,
     * consuming the node. 0, or -1 (reported). */
    int (*custom)(struct fw_conf_reader *r, size_t i, void *obj, void *ctx);
    /* For an unknown key: where it belongs instead, as the rest of the
     * sentence "'key' ..." ("is a top-level setting, not a pool setting"),
     * or NULL. */
    const char *(*elsewhere)(const char *key);
};

/* r->ev is the mapping's start. Reads it to its end into obj. marks[i] gets
 * the position of key i's value, or line 0 if the key is absent. 0 when the
 * mapping was read to its end (even with errors reported), -1 if the reader
 * broke. */
int fw_conf_schema_read(struct fw_conf_reader *r, const struct fw_conf_schema *schema, void *obj,
                        struct fw_conf_mark *marks, void *ctx);

/* Index of name in schema, or -1. */
int fw_conf_schema_find(const struct fw_conf_schema *schema, const char *name);

/* Every table of settings a configuration file holds, by where it sits:
 * "top", "pool", "processes" (a dynamic pool's mapping) and "app". What
 * documents the settings is checked against these (t/man.t compares
 * fcgiwsgi.yaml(5) and conf/fcgiwsgi.yaml.example with them), so a table
 * added to the loader belongs here too. *n gets the number of tables. */
struct fw_conf_table {
    const char *section;
    const struct fw_conf_schema *schema;
};
const struct fw_conf_table *fw_conf_schema_tables(size_t *n);

#endif
