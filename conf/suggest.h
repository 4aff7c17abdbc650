/* "Did you mean": the known name closest to a misspelt one. */
#ifndef FW_CONF_SUGGEST_H
#define FW_CONF_SUGGEST_H

#include <stddef.h>

/* The candidate nearest to word (edit distance, a swap of two neighbours
 * counting as one edit) if it is near enough to be a typo; else NULL. */
const char *fw_conf_suggest(const char *word, const char *const *candidates, size_t n);

#endif
