/* Open addressing with linear probing; the set only grows. */
#include <config.h>

#include "conf/strset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

static void put(struct fw_conf_strset_slot *slots, size_t cap, const char *key, size_t value)
{
    size_t i = hash(key) & (cap - 1);
    while (slots[i].key)
        i = (i + 1) & (cap - 1);
    slots[i].key = key;
    slots[i].value = value;
}

static int grow(struct fw_conf_strset *set)
{
    size_t cap = set->cap ? set->cap * 2 : 16;
    struct fw_conf_strset_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i < set->cap; i++)
        if (set->slots[i].key)
            put(slots, cap, set->slots[i].key, set->slots[i].value);
    free(set->slots);
    set->slots = slots;
    set->cap = cap;
    return 0;
}

int fw_conf_strset_find(const struct fw_conf_strset *set, const char *key, size_t *value)
{
    if (!set->cap)
        return 0;
    for (size_t i = hash(key) & (set->cap - 1); set->slots[i].key; i = (i + 1) & (set->cap - 1))
        if (strcmp(set->slots[i].key, key) == 0) {
            *value = set->slots[i].value;
            return 1;
        }
    return 0;
}

int fw_conf_strset_add(struct fw_conf_strset *set, const char *key, size_t value, size_t *old)
{
    if (fw_conf_strset_find(set, key, old))
        return 1;
    /* Keep the table at most half full so probes stay short. */
    if (2 * (set->n + 1) > set->cap && grow(set) < 0)
        return -1;
    put(set->slots, set->cap, key, value);
    set->n++;
    return 0;
}

void fw_conf_strset_free(struct fw_conf_strset *set)
{
    free(set->slots);
    *set = (struct fw_conf_strset){ 0 };
}
