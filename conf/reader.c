/* libyaml's event parser behind a small pull interface. libyaml marks are
 * 0-based and its errors live in undocumented parser fields (libyaml #211);
 * this file is the one place that reads them. */
#include <config.h>

#include "conf/reader.h"

#include "conf/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fw_conf_reader_open(struct fw_conf_reader *r, const char *file, const char *dir,
                        const char *text, size_t len, struct fw_conf_errors *errs)
{
    memset(r, 0, sizeof(*r));
    r->file = file;
    r->dir = dir;
    r->text = text;
    r->len = len;
    r->errs = errs;
    if (!yaml_parser_initialize(&r->parser)) {
        fw_conf_errors_add(errs, file, 0, 0, false, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&r->parser, (const unsigned char *)text, len);
    /* No guessing: a UTF-16 file (libyaml would accept one with a BOM) is
     * reported as not UTF-8 instead. */
    yaml_parser_set_encoding(&r->parser, YAML_UTF8_ENCODING);
    return 0;
}

void fw_conf_reader_close(struct fw_conf_reader *r)
{
    if (r->have_ev)
        yaml_event_delete(&r->ev);
    r->have_ev = false;
    yaml_parser_delete(&r->parser);
}

struct fw_conf_mark fw_conf_reader_mark(const struct fw_conf_reader *r, yaml_mark_t m)
{
    return (struct fw_conf_mark){ r->file, (unsigned)m.line + 1, (unsigned)m.column + 1 };
}

/* Bytes of value a double-quoted escape at src (src[0] == '\\') stands for,
 * and its length in the source in *src_len; 0 if it is not one we follow. */
static size_t escape_value_len(const char *src, size_t left, size_t *src_len)
{
    if (left < 2)
        return 0;
    size_t hex = src[1] == 'x' ? 2 : src[1] == 'u' ? 4 : src[1] == 'U' ? 8 : 0;
    *src_len = 2 + hex;
    if (!hex)
        return src[1] == 'N' || src[1] == '_' ? 2 : src[1] == 'L' || src[1] == 'P' ? 3 : 1;
    if (left < 2 + hex)
        return 0;
    char digits[9] = { 0 };
    memcpy(digits, src + 2, hex);
    unsigned long cp = strtoul(digits, NULL, 16);
    if (src[1] == 'x' || cp < 0x80)
        return 1;
    return cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

yaml_mark_t fw_conf_reader_scalar_mark(const struct fw_conf_reader *r, size_t offset)
{
    yaml_mark_t m = r->ev.start_mark;
    yaml_scalar_style_t style = r->ev.data.scalar.style;
    if (r->ev.type != YAML_SCALAR_EVENT || !r->text ||
        (style != YAML_PLAIN_SCALAR_STYLE && style != YAML_SINGLE_QUOTED_SCALAR_STYLE &&
         style != YAML_DOUBLE_QUOTED_SCALAR_STYLE))
        return m;
    const char *p = r->text, *end = r->text + r->len;
    for (size_t line = 0; line < m.line && p < end; p++)
        if (*p == '\n')
            line++;
    /* Marks count characters, not bytes. */
    for (size_t col = 0; col < m.column && p < end; col++)
        do
            p++;
        while (p < end && ((unsigned char)*p & 0xc0) == 0x80);
    size_t col = m.column;
    if (style != YAML_PLAIN_SCALAR_STYLE) {
        p++;
        col++;
    }
    for (size_t done = 0; done < offset;) {
        if (p >= end || *p == '\n' || *p == '\r')
            return m;
        size_t src_len = 1, value_len = 1;
        if (style == YAML_SINGLE_QUOTED_SCALAR_STYLE && *p == '\'' && p + 1 < end && p[1] == '\'')
            src_len = 2;
        else if (style == YAML_DOUBLE_QUOTED_SCALAR_STYLE && *p == '\\' &&
                 !(value_len = escape_value_len(p, (size_t)(end - p), &src_len)))
            return m;
        for (size_t i = 0; i < src_len; i++)
            col += ((unsigned char)p[i] & 0xc0) != 0x80;
        p += src_len;
        done += value_len;
    }
    m.column = col;
    return m;
}

static void vreport(struct fw_conf_errors *errs, struct fw_conf_mark m, bool warning,
                    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static void vreport(struct fw_conf_errors *errs, struct fw_conf_mark m, bool warning,
                    const char *fmt, va_list ap)
{
    fw_conf_errors_addv(errs, m.file, m.line, m.column, warning, fmt, ap);
}

void fw_conf_reader_error(struct fw_conf_reader *r, yaml_mark_t m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(r->errs, fw_conf_reader_mark(r, m), false, fmt, ap);
    va_end(ap);
}

void fw_conf_reader_warning(struct fw_conf_reader *r, yaml_mark_t m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(r->errs, fw_conf_reader_mark(r, m), true, fmt, ap);
    va_end(ap);
}

void fw_conf_mark_error(struct fw_conf_errors *errs, struct fw_conf_mark m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(errs, m, false, fmt, ap);
    va_end(ap);
}

void fw_conf_mark_warning(struct fw_conf_errors *errs, struct fw_conf_mark m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(errs, m, true, fmt, ap);
    va_end(ap);
}

const char *fw_conf_reader_quote(const char *s, char buf[64])
{
    size_t o = 0, i;
    buf[o++] = '\'';
    for (i = 0; i < 40 && s[i]; i++)
        buf[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (s[i]) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

/* The byte at a mark. Marks count characters, not bytes, so walk the UTF-8
 * text counting lead bytes. -1 past the end. */
static int char_at(const struct fw_conf_reader *r, yaml_mark_t m)
{
    size_t chars = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (((unsigned char)r->text[i] & 0xC0) == 0x80)
            continue;
        if (chars++ == m.index)
            return (unsigned char)r->text[i];
    }
    return -1;
}

/* libyaml's reader errors carry a byte offset and no mark. */
static struct fw_conf_mark mark_of_offset(const struct fw_conf_reader *r, size_t offset)
{
    struct fw_conf_mark m = { r->file, 1, 1 };
    for (size_t i = 0; i < offset && i < r->len; i++) {
        if (r->text[i] == '\n') {
            m.line++;
            m.column = 1;
        } else if (((unsigned char)r->text[i] & 0xC0) != 0x80) {
            m.column++;
        }
    }
    return m;
}

static void report_yaml_error(struct fw_conf_reader *r)
{
    const yaml_parser_t *p = &r->parser;
    const char *problem = p->problem ? p->problem : "unknown problem";
    struct fw_conf_mark m;

    switch (p->error) {
    case YAML_READER_ERROR:
        if (strstr(problem, "UTF-8") || strstr(problem, "Unicode")) {
            /* For a bad trailing byte libyaml points at that byte; the
             * sequence's lead byte is what the user wrote (often Latin-1). */
            size_t off = p->problem_offset < r->len ? p->problem_offset : r->len;
            if (strstr(problem, "trailing") && off > 0) {
                size_t stop = off > 4 ? off - 4 : 0;
                off--;
                while (off > stop && ((unsigned char)r->text[off] & 0xC0) == 0x80)
                    off--;
            }
            m = mark_of_offset(r, off);
            fw_conf_mark_error(r->errs, m,
                               "the file is not valid UTF-8 (byte 0x%02X: %s): save it as "
                               "UTF-8 text",
                               off < r->len ? (unsigned char)r->text[off] : 0, problem);
        } else if (strstr(problem, "control characters")) {
            m = mark_of_offset(r, p->problem_offset);
            fw_conf_mark_error(r->errs, m,
                               "control character 0x%02X is not allowed in YAML text "
                               "(write it as an escape in a double-quoted string)",
                               (unsigned)p->problem_value);
        } else {
            m = mark_of_offset(r, p->problem_offset);
            fw_conf_mark_error(r->errs, m, "cannot read the text: %s", problem);
        }
        return;
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
        m = fw_conf_reader_mark(r, p->problem_mark);
        if (strstr(problem, "tab") || char_at(r, p->problem_mark) == '\t') {
            fw_conf_mark_error(r->errs, m,
                               "tab character in indentation: YAML indents with spaces only");
        } else if (p->context) {
            struct fw_conf_mark c = fw_conf_reader_mark(r, p->context_mark);
            fw_conf_mark_error(r->errs, m, "YAML syntax error: %s (%s that starts at %u:%u)%s",
                               problem, p->context, c.line, c.column,
                               strstr(p->context, "block") ? "; check the indentation" : "");
        } else {
            fw_conf_mark_error(r->errs, m, "YAML syntax error: %s", problem);
        }
        return;
    case YAML_MEMORY_ERROR:
        fw_conf_errors_add(r->errs, r->file, 0, 0, false, "out of memory while parsing");
        return;
    default: fw_conf_errors_add(r->errs, r->file, 0, 0, false, "YAML error: %s", problem); return;
    }
}

/* Anchors and aliases are refused rather than expanded: nothing in the
 * schema needs them, and refusing is the simplest defence against alias
 * bombs. Tags are refused because the key, not the tag, gives the type. */
static void check_node(struct fw_conf_reader *r, const yaml_char_t *anchor, const yaml_char_t *tag)
{
    char q[64];
    if (anchor)
        fw_conf_reader_error(
            r, r->ev.start_mark,
            "YAML anchors (here %s) are not supported: write the value out in full",
            fw_conf_reader_quote((const char *)anchor, q));
    if (tag)
        fw_conf_reader_error(r, r->ev.start_mark,
                             "YAML tags (here %s) are not supported: the setting decides the type",
                             fw_conf_reader_quote((const char *)tag, q));
}

int fw_conf_reader_next(struct fw_conf_reader *r)
{
    char q[64];
    if (r->have_ev)
        yaml_event_delete(&r->ev);
    r->have_ev = false;
    if (!r->broken && fw_conf_errors_full(r->errs)) {
        /* The rest of the file goes unchecked: that must fail the load,
         * and the listing must say it stopped. */
        if (!r->errs->n_dropped)
            r->errs->n_dropped = 1;
        r->broken = true;
    }
    if (r->broken)
        return -1;
    if (!yaml_parser_parse(&r->parser, &r->ev)) {
        report_yaml_error(r);
        r->broken = true;
        return -1;
    }
    r->have_ev = true;
    switch (r->ev.type) {
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        if (++r->depth > FW_CONF_MAX_DEPTH) {
            fw_conf_reader_error(r, r->ev.start_mark, "nested deeper than %d levels",
                                 FW_CONF_MAX_DEPTH);
            r->broken = true;
            return -1;
        }
        if (r->ev.type == YAML_MAPPING_START_EVENT)
            check_node(r, r->ev.data.mapping_start.anchor, r->ev.data.mapping_start.tag);
        else
            check_node(r, r->ev.data.sequence_start.anchor, r->ev.data.sequence_start.tag);
        break;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT: r->depth--; break;
    case YAML_SCALAR_EVENT: check_node(r, r->ev.data.scalar.anchor, r->ev.data.scalar.tag); break;
    case YAML_ALIAS_EVENT:
        fw_conf_reader_error(
            r, r->ev.start_mark,
            "YAML aliases (here %s) are not supported: write the value out in full",
            fw_conf_reader_quote((const char *)r->ev.data.alias.anchor, q));
        break;
    default: break;
    }
    return 0;
}

int fw_conf_reader_skip(struct fw_conf_reader *r)
{
    if (r->broken)
        return -1;
    if (r->ev.type != YAML_MAPPING_START_EVENT && r->ev.type != YAML_SEQUENCE_START_EVENT)
        return 0;
    unsigned outer = r->depth - 1;
    while (r->depth > outer)
        if (fw_conf_reader_next(r) < 0)
            return -1;
    return 0;
}

int fw_conf_reader_key(struct fw_conf_reader *r)
{
    for (;;) {
        if (fw_conf_reader_next(r) < 0)
            return -1;
        if (r->ev.type == YAML_MAPPING_END_EVENT)
            return 0;
        if (r->ev.type == YAML_SCALAR_EVENT &&
            strlen((const char *)r->ev.data.scalar.value) == r->ev.data.scalar.length)
            return 1;
        if (r->ev.type == YAML_SCALAR_EVENT)
            fw_conf_reader_error(r, r->ev.start_mark, "a key must not contain a NUL character");
        else if (r->ev.type != YAML_ALIAS_EVENT)
            fw_conf_reader_error(r, r->ev.start_mark, "a key must be a name, not %s",
                                 fw_conf_reader_kind(r));
        if (fw_conf_reader_skip(r) < 0 || fw_conf_reader_next(r) < 0 || fw_conf_reader_skip(r) < 0)
            return -1;
    }
}

bool fw_conf_reader_is_null(const struct fw_conf_reader *r)
{
    if (r->ev.type != YAML_SCALAR_EVENT || r->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)r->ev.data.scalar.value;
    return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

const char *fw_conf_reader_kind(const struct fw_conf_reader *r)
{
    switch (r->ev.type) {
    case YAML_MAPPING_START_EVENT: return "a mapping";
    case YAML_SEQUENCE_START_EVENT: return "a list";
    case YAML_ALIAS_EVENT: return "an alias";
    case YAML_SCALAR_EVENT: return fw_conf_reader_is_null(r) ? "no value" : "a single value";
    default: return "something else";
    }
}

int fw_conf_reader_document(struct fw_conf_reader *r)
{
    if (fw_conf_reader_next(r) < 0 || fw_conf_reader_next(r) < 0) /* stream start, then */
        return -1;
    if (r->ev.type == YAML_STREAM_END_EVENT)
        return 0;
    if (fw_conf_reader_next(r) < 0) /* past the document start, to the root */
        return -1;
    return fw_conf_reader_is_null(r) ? 0 : 1;
}

int fw_conf_reader_end(struct fw_conf_reader *r)
{
    if (r->broken)
        return -1;
    if (r->have_ev && r->ev.type == YAML_STREAM_END_EVENT)
        return 0;
    if (fw_conf_reader_next(r) < 0 || fw_conf_reader_next(r) < 0) /* document end, then */
        return -1;
    if (r->ev.type == YAML_DOCUMENT_START_EVENT) {
        fw_conf_reader_error(r, r->ev.start_mark,
                             "a second YAML document starts here: a configuration file holds "
                             "exactly one (remove this '---' and what follows, or merge them)");
        r->broken = true;
        return -1;
    }
    return 0;
}
