/* A setting's value read through its schema entry (type and offset), as
 * exact text: what t/unit/conf.c compares between two loads and what
 * t/unit/schema_keys prints as a default. Header-only, for unit tests. */
#ifndef FW_T_SCHEMA_FIELD_H
#define FW_T_SCHEMA_FIELD_H

#include "conf/schema.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Strings as they are ("(null)" when unset), numbers in decimal (sizes in
 * bytes, durations in milliseconds), modes in octal ("-1" when unset),
 * lists as their entries joined by '|'. -1 for a key read by the schema's
 * callback (FW_CONF_T_CUSTOM): its field is not described by the table. */
static int __attribute__((unused))
schema_field_text(const struct fw_conf_key *k, const void *obj, char *buf, size_t size)
{
    const void *field = (const char *)obj + k->offset;
    size_t o;
    switch (k->type) {
    case FW_CONF_T_STRING:
    case FW_CONF_T_PATH: {
        const char *s = *(char *const *)field;
        snprintf(buf, size, "%s", s ? s : "(null)");
        return 0;
    }
    case FW_CONF_T_BOOL:
        snprintf(buf, size, "%s", *(const bool *)field ? "true" : "false");
        return 0;
    case FW_CONF_T_UNSIGNED: snprintf(buf, size, "%u", *(const unsigned *)field); return 0;
    case FW_CONF_T_INT: snprintf(buf, size, "%d", *(const int *)field); return 0;
    case FW_CONF_T_U64:
    case FW_CONF_T_SIZE:
    case FW_CONF_T_DURATION:
        snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)field);
        return 0;
    case FW_CONF_T_MODE: {
        int mode = *(const int *)field;
        if (mode < 0)
            snprintf(buf, size, "-1");
        else
            snprintf(buf, size, "%04o", (unsigned)mode);
        return 0;
    }
    case FW_CONF_T_LIST:
    case FW_CONF_T_PATH_LIST: {
        char *const *v = *(char **const *)field;
        size_t n = *(const size_t *)(const void *)((const char *)obj + k->count_offset);
        buf[0] = '\0';
        o = 0;
        for (size_t i = 0; i < n && o < size; i++)
            o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? "|" : "", v[i]);
        return 0;
    }
    case FW_CONF_T_CUSTOM: break;
    }
    return -1;
}

#endif
