/* Typed values read from YAML scalars. Each takes the reader on the value's
 * first event and consumes the whole node; on a wrong type or value it
 * reports an error at the value, naming the setting `key` and what was
 * expected, and returns -1 (the caller keeps going). Quoting never changes
 * a type: threads: 4 and threads: "4" are the same, and so are
 * user: true and user: "true". */
#ifndef FW_CONF_VALUE_H
#define FW_CONF_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/reader.h"

/* A scalar as text (valid until the next event), or NULL: reported when the
 * node is not a scalar, is null, or holds a NUL byte. what describes the
 * expected value for the message. */
const char *fw_conf_value_scalar(struct fw_conf_reader *r, const char *key, const char *what);

/* A non-empty string, malloc'd into *out (which must be NULL). */
int fw_conf_value_string(struct fw_conf_reader *r, const char *key, char **out);
/* A path, made absolute against the directory of the file (r->dir). */
int fw_conf_value_path(struct fw_conf_reader *r, const char *key, char **out);
/* A log target: "stderr", "syslog", "syslog:PATH" (another syslog
 * socket) or the path of a file; paths made absolute as above. */
int fw_conf_value_log(struct fw_conf_reader *r, const char *key, char **out);
/* true or false (also True/TRUE/False/FALSE); YAML 1.1's yes/no/on/off are
 * refused with a hint, since they differ between YAML versions. */
int fw_conf_value_bool(struct fw_conf_reader *r, const char *key, bool *out);
/* Decimal digits only, from min to max. */
int fw_conf_value_uint(struct fw_conf_reader *r, const char *key, uint64_t min, uint64_t max,
                       uint64_t *out);
/* A size ("512M") or a duration ("30s"), from min to max; a value out of
 * range is reported with the range, in the same units. */
int fw_conf_value_size(struct fw_conf_reader *r, const char *key, uint64_t min, uint64_t max,
                       uint64_t *bytes);
int fw_conf_value_duration(struct fw_conf_reader *r, const char *key, uint64_t min, uint64_t max,
                           uint64_t *ms);
/* A file mode in octal digits, quoted ("0660") or not (0660, 660). */
int fw_conf_value_mode(struct fw_conf_reader *r, const char *key, int *mode);
/* One of choices (exact spelling); *index gets its position. */
int fw_conf_value_choice(struct fw_conf_reader *r, const char *key, const char *const *choices,
                         size_t n, size_t *index);
/* A non-empty list of strings (or paths, made absolute), malloc'd. A bad
 * entry is reported and left out; the rest are still read. check, if not
 * NULL, returns why an entry is wrong, or NULL if it is fine. */
int fw_conf_value_list(struct fw_conf_reader *r, const char *key, bool paths,
                       const char *(*check)(const char *item), char ***out, size_t *n);

/* Grows *v (of elements of size size) to hold one more; 0 or -1. */
int fw_conf_value_grow(void **v, size_t *cap, size_t n, size_t size);

#endif
