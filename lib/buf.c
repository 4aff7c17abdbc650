/* Doubling growth; one extra byte is always kept for the NUL. */
#include "config.h"

#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fw_buf_init(struct fw_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void fw_buf_free(struct fw_buf *b)
{
    free(b->data);
    fw_buf_init(b);
}

static bool reserve(struct fw_buf *b, size_t more)
{
    if (b->failed)
        return false;
    if (more >= SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + more + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->failed = true;
        return false;
    }
    b->data = data;
    b->cap = cap;
    return true;
}

void fw_buf_add(struct fw_buf *b, const char *s, size_t len)
{
    if (!reserve(b, len))
        return;
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void fw_buf_puts(struct fw_buf *b, const char *s)
{
    fw_buf_add(b, s, strlen(s));
}

void fw_buf_printf(struct fw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void fw_buf_json_string(struct fw_buf *b, const char *s)
{
    fw_buf_add(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        size_t n = utf8_len(p);
        if (n == 0) {
            fw_buf_puts(b, "\\ufffd");
            p++;
        } else if (*p == '"' || *p == '\\') {
            char esc[2] = { '\\', (char)*p };
            fw_buf_add(b, esc, 2);
            p++;
        } else if (*p == '\n') {
            fw_buf_puts(b, "\\n");
            p++;
        } else if (*p == '\t') {
            fw_buf_puts(b, "\\t");
            p++;
        } else if (*p < 0x20 || *p == 0x7F) {
            fw_buf_printf(b, "\\u%04x", *p);
            p++;
        } else {
            fw_buf_add(b, (const char *)p, n);
            p += n;
        }
    }
    fw_buf_add(b, "\"", 1);
}

const char *fw_buf_str(const struct fw_buf *b)
{
    return b->len ? b->data : "";
}

bool fw_buf_failed(const struct fw_buf *b)
{
    return b->failed;
}
