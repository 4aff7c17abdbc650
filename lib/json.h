/* A small, bounded JSON reader (RFC 8259, strict): the whole document is
 * parsed into one node array and one string arena, both sized before
 * anything is read, so input of N bytes costs at most a known amount of
 * memory, and nesting is capped so the recursive parser's stack is too.
 * For fcgiwsgi-ctl top, which reads `status --json`; no writer here
 * (lib/buf.h writes JSON strings). */
#ifndef FW_JSON_H
#define FW_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fw_json_type {
    FW_JSON_NULL,
    FW_JSON_FALSE,
    FW_JSON_TRUE,
    FW_JSON_NUMBER,
    FW_JSON_STRING,
    FW_JSON_ARRAY,
    FW_JSON_OBJECT,
};

struct fw_json_limits {
    size_t max_bytes; /* longer input is refused before any allocation */
    unsigned max_depth;
    size_t max_nodes; /* values, keys not counted */
};

#define FW_JSON_DEFAULT_LIMITS                                                                     \
    {                                                                                              \
        .max_bytes = 64u << 20, .max_depth = 32, .max_nodes = 1u << 20                             \
    }

/* A parsed value; read-only, valid until its document is freed. */
struct fw_json;
struct fw_json_doc;

/* NULL on error, with err filled ("byte 17: bad escape"). Refused: input
 * past the limits, anything outside the grammar (trailing commas, leading
 * zeros, NaN, comments, bytes after the value), strings with control
 * characters, invalid UTF-8, lone surrogates or \u0000, numbers that do
 * not fit a double. Duplicate keys are kept; lookups find the first. */
struct fw_json_doc *fw_json_parse(const char *text, size_t len, const struct fw_json_limits *lim,
                                  char *err, size_t errcap);
void fw_json_free(struct fw_json_doc *doc);
const struct fw_json *fw_json_root(const struct fw_json_doc *doc);

/* Every reader below takes NULL and a value of any type, so lookups chain
 * without checks: a missing or mistyped member reads as absent. */
enum fw_json_type fw_json_type(const struct fw_json *v);
/* A member of an object, or NULL. */
const struct fw_json *fw_json_get(const struct fw_json *obj, const char *key);
/* Elements of an array, members of an object (0 for anything else). */
size_t fw_json_len(const struct fw_json *v);
const struct fw_json *fw_json_at(const struct fw_json *v, size_t i);
/* Iteration in order: prev NULL gives the first; NULL after the last. */
const struct fw_json *fw_json_next(const struct fw_json *v, const struct fw_json *prev);
/* A member's key (NULL for an array's element). */
const char *fw_json_key(const struct fw_json *member);
/* A string's text (NUL-terminated UTF-8, no NUL inside), or dflt. */
const char *fw_json_str(const struct fw_json *v, const char *dflt);
/* A number that is an integer within int64_t, or dflt. */
int64_t fw_json_int(const struct fw_json *v, int64_t dflt);
double fw_json_num(const struct fw_json *v, double dflt);
/* true only for true; dflt for anything but a boolean. */
bool fw_json_bool(const struct fw_json *v, bool dflt);

#endif
