/* A growable text buffer for replies and reports built piece by piece.
 * Out of memory is sticky: later appends do nothing and fw_buf_failed says
 * so, so callers check once at the end. */
#ifndef FW_BUF_H
#define FW_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct fw_buf {
    char *data; /* NUL-terminated when len > 0 */
    size_t len, cap;
    bool failed;
};

void fw_buf_init(struct fw_buf *b);
void fw_buf_free(struct fw_buf *b);

void fw_buf_add(struct fw_buf *b, const char *s, size_t len);
void fw_buf_puts(struct fw_buf *b, const char *s);
__attribute__((format(printf, 2, 3))) void fw_buf_printf(struct fw_buf *b, const char *fmt, ...);

/* s as a JSON string, quotes included; bytes that are not valid UTF-8 are
 * written as U+FFFD. */
void fw_buf_json_string(struct fw_buf *b, const char *s);

/* "" if nothing was added (never NULL). */
const char *fw_buf_str(const struct fw_buf *b);
bool fw_buf_failed(const struct fw_buf *b);

#endif
