/* A set of strings with an index each, for duplicate checks that must stay
 * linear however many pools, env names or mounts a file holds. */
#ifndef FW_CONF_STRSET_H
#define FW_CONF_STRSET_H

#include <stddef.h>

struct fw_conf_strset {
    struct fw_conf_strset_slot {
        const char *key; /* not copied: it must outlive the set */
        size_t value;
    } * slots;
    size_t n, cap;
};

/* 0 if key was added with value; 1 if it was there (*old gets its value);
 * -1 if out of memory. */
int fw_conf_strset_add(struct fw_conf_strset *set, const char *key, size_t value, size_t *old);
/* 1 if key is in the set (*value gets its value), else 0. */
int fw_conf_strset_find(const struct fw_conf_strset *set, const char *key, size_t *value);
void fw_conf_strset_free(struct fw_conf_strset *set);

#endif
