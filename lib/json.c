/* The reader behind json.h: recursive descent over the bytes, depth
 * capped; values go to a node array in document order (a container's
 * children follow it, each subtree's size is recorded so siblings are one
 * hop apart), strings decoded into an arena of len + 1 bytes, which always
 * suffices: a string's decoded bytes plus its NUL never exceed its quoted
 * source. */
#include "config.h"

#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fw_json {
    enum fw_json_type type;
    bool is_int;
    uint32_t size;   /* nodes in this value's subtree, itself included */
    uint32_t count;  /* children */
    const char *key; /* as a member of an object */
    const char *str;
    double num;
    int64_t i;
};

struct fw_json_doc {
    struct fw_json *nodes;
    size_t n_nodes;
    char *arena;
};

struct parser {
    const unsigned char *p, *start, *end;
    const struct fw_json_limits *lim;
    struct fw_json_doc *doc;
    size_t cap;
    char *arena_at;
    char *err;
    size_t errcap;
    bool failed;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parser *ps, const char *fmt, ...)
{
    if (ps->failed)
        return -1;
    ps->failed = true;
    int n = snprintf(ps->err, ps->errcap, "byte %zu: ", (size_t)(ps->p - ps->start));
    if (n >= 0 && (size_t)n < ps->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->errcap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* A new node's index, or -1. Indices, not pointers: the array moves. */
static long new_node(struct parser *ps, enum fw_json_type type)
{
    struct fw_json_doc *d = ps->doc;
    if (d->n_nodes >= ps->lim->max_nodes || d->n_nodes >= UINT32_MAX - 1)
        return fail(ps, "more than %zu values", ps->lim->max_nodes);
    if (d->n_nodes == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        if (cap > ps->lim->max_nodes)
            cap = ps->lim->max_nodes;
        struct fw_json *nodes = realloc(d->nodes, cap * sizeof(*nodes));
        if (!nodes)
            return fail(ps, "out of memory");
        d->nodes = nodes;
        ps->cap = cap;
    }
    struct fw_json *v = &d->nodes[d->n_nodes];
    memset(v, 0, sizeof(*v));
    v->type = type;
    return (long)d->n_nodes++;
}

static bool literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return false;
    ps->p += n;
    return true;
}

static int hex4(struct parser *ps, unsigned *out)
{
    if (ps->end - ps->p < 4)
        return fail(ps, "short \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned c = ps->p[k], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return fail(ps, "bad \\u escape");
        v = v << 4 | d;
    }
    ps->p += 4;
    *out = v;
    return 0;
}

static void put_utf8(struct parser *ps, unsigned cp)
{
    char *o = ps->arena_at;
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    ps->arena_at = o;
}

/* The length of the valid UTF-8 sequence at p (< end), or 0: no overlong
 * forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        n = 3;
        if (p[0] == 0xE0)
            lo = 0xA0;
        if (p[0] == 0xED)
            hi = 0x9F;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        n = 4;
        if (p[0] == 0xF0)
            lo = 0x90;
        if (p[0] == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if (p[k] < 0x80 || p[k] > 0xBF)
            return 0;
    return n;
}

/* At the opening quote; the decoded text goes to the arena. */
static const char *string(struct parser *ps)
{
    char *out = ps->arena_at;
    ps->p++;
    for (;;) {
        if (ps->p >= ps->end) {
            fail(ps, "unterminated string");
            return NULL;
        }
        unsigned c = *ps->p;
        if (c == '"') {
            ps->p++;
            *ps->arena_at++ = '\0';
            return out;
        }
        if (c < 0x20) {
            fail(ps, "control character in a string");
            return NULL;
        }
        if (c != '\\') {
            size_t n = utf8_len(ps->p, ps->end);
            if (!n) {
                fail(ps, "invalid UTF-8");
                return NULL;
            }
            memcpy(ps->arena_at, ps->p, n);
            ps->arena_at += n;
            ps->p += n;
            continue;
        }
        if (++ps->p >= ps->end) {
            fail(ps, "unterminated string");
            return NULL;
        }
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *e = strchr(from, *ps->p);
        if (e && *ps->p) {
            *ps->arena_at++ = to[e - from];
            ps->p++;
            continue;
        }
        if (*ps->p != 'u') {
            fail(ps, "bad escape");
            return NULL;
        }
        ps->p++;
        unsigned cp, low;
        if (hex4(ps, &cp) < 0)
            return NULL;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail(ps, "lone low surrogate");
            return NULL;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                fail(ps, "lone high surrogate");
                return NULL;
            }
            ps->p += 2;
            if (hex4(ps, &low) < 0)
                return NULL;
            if (low < 0xDC00 || low > 0xDFFF) {
                fail(ps, "lone high surrogate");
                return NULL;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        if (cp == 0) {
            fail(ps, "\\u0000 in a string");
            return NULL;
        }
        put_utf8(ps, cp);
    }
}

static int number(struct parser *ps, long at)
{
    const unsigned char *s = ps->p;
    bool integer = true;
    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p < ps->end && *ps->p == '0') {
        ps->p++;
    } else if (ps->p < ps->end && *ps->p >= '1' && *ps->p <= '9') {
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    } else {
        return fail(ps, "bad number");
    }
    if (ps->p < ps->end && *ps->p == '.') {
        integer = false;
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "bad number");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        integer = false;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "bad number");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    char text[64];
    size_t n = (size_t)(ps->p - s);
    if (n >= sizeof(text))
        return fail(ps, "number longer than %zu characters", sizeof(text) - 1);
    memcpy(text, s, n);
    text[n] = '\0';
    struct fw_json *v = &ps->doc->nodes[at];
    errno = 0;
    v->num = strtod(text, NULL);
    if (errno == ERANGE && (v->num > 1 || v->num < -1))
        return fail(ps, "number out of range");
    if (integer) {
        errno = 0;
        long long i = strtoll(text, NULL, 10);
        v->is_int = errno != ERANGE;
        v->i = (int64_t)i;
    }
    return 0;
}

static int value(struct parser *ps, unsigned depth);

/* At '[' or '{'. */
static int container(struct parser *ps, long at, unsigned depth)
{
    bool object = *ps->p == '{';
    char close = object ? '}' : ']';
    if (depth >= ps->lim->max_depth)
        return fail(ps, "nested deeper than %u", ps->lim->max_depth);
    ps->p++;
    skip_ws(ps);
    uint32_t count = 0;
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
    } else {
        for (;;) {
            const char *key = NULL;
            if (object) {
                if (ps->p >= ps->end || *ps->p != '"')
                    return fail(ps, "expected a key");
                if (!(key = string(ps)))
                    return -1;
                skip_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':')
                    return fail(ps, "expected ':'");
                ps->p++;
            }
            size_t child = ps->doc->n_nodes;
            if (value(ps, depth + 1) < 0)
                return -1;
            ps->doc->nodes[child].key = key;
            count++;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                skip_ws(ps);
                continue;
            }
            if (ps->p < ps->end && *ps->p == close) {
                ps->p++;
                break;
            }
            return fail(ps, "expected ',' or '%c'", close);
        }
    }
    ps->doc->nodes[at].count = count;
    return 0;
}

static int value(struct parser *ps, unsigned depth)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "expected a value");
    unsigned c = *ps->p;
    enum fw_json_type type = c == '{'   ? FW_JSON_OBJECT
                             : c == '[' ? FW_JSON_ARRAY
                             : c == '"' ? FW_JSON_STRING
                             : c == 't' ? FW_JSON_TRUE
                             : c == 'f' ? FW_JSON_FALSE
                             : c == 'n' ? FW_JSON_NULL
                                        : FW_JSON_NUMBER;
    if (type == FW_JSON_NUMBER && c != '-' && (c < '0' || c > '9'))
        return fail(ps, "expected a value");
    long at = new_node(ps, type);
    if (at < 0)
        return -1;
    int rc = 0;
    switch (type) {
    case FW_JSON_OBJECT:
    case FW_JSON_ARRAY: rc = container(ps, at, depth); break;
    case FW_JSON_STRING: {
        const char *s = string(ps);
        if (!s)
            return -1;
        ps->doc->nodes[at].str = s;
        break;
    }
    case FW_JSON_TRUE: rc = literal(ps, "true") ? 0 : fail(ps, "bad literal"); break;
    case FW_JSON_FALSE: rc = literal(ps, "false") ? 0 : fail(ps, "bad literal"); break;
    case FW_JSON_NULL: rc = literal(ps, "null") ? 0 : fail(ps, "bad literal"); break;
    case FW_JSON_NUMBER: rc = number(ps, at); break;
    }
    if (rc == 0)
        ps->doc->nodes[at].size = (uint32_t)(ps->doc->n_nodes - (size_t)at);
    return rc;
}

struct fw_json_doc *fw_json_parse(const char *text, size_t len, const struct fw_json_limits *lim,
                                  char *err, size_t errcap)
{
    static const struct fw_json_limits dflt = FW_JSON_DEFAULT_LIMITS;
    if (!lim)
        lim = &dflt;
    if (errcap)
        err[0] = '\0';
    if (len > lim->max_bytes) {
        snprintf(err, errcap, "%zu bytes, more than %zu", len, lim->max_bytes);
        return NULL;
    }
    struct fw_json_doc *doc = calloc(1, sizeof(*doc));
    if (!doc || !(doc->arena = malloc(len + 1))) {
        snprintf(err, errcap, "out of memory");
        free(doc);
        return NULL;
    }
    struct parser ps = {
        .p = (const unsigned char *)text,
        .start = (const unsigned char *)text,
        .end = (const unsigned char *)text + len,
        .lim = lim,
        .doc = doc,
        .arena_at = doc->arena,
        .err = err,
        .errcap = errcap,
    };
    if (value(&ps, 0) == 0) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            fail(&ps, "more after the value");
    }
    if (ps.failed) {
        fw_json_free(doc);
        return NULL;
    }
    return doc;
}

void fw_json_free(struct fw_json_doc *doc)
{
    if (!doc)
        return;
    free(doc->nodes);
    free(doc->arena);
    free(doc);
}

const struct fw_json *fw_json_root(const struct fw_json_doc *doc)
{
    return doc && doc->n_nodes ? &doc->nodes[0] : NULL;
}

enum fw_json_type fw_json_type(const struct fw_json *v)
{
    return v ? v->type : FW_JSON_NULL;
}

size_t fw_json_len(const struct fw_json *v)
{
    return v && (v->type == FW_JSON_ARRAY || v->type == FW_JSON_OBJECT) ? v->count : 0;
}

/* Children sit right after their parent, and a sibling is one subtree's
 * size away. */
const struct fw_json *fw_json_next(const struct fw_json *v, const struct fw_json *prev)
{
    if (!fw_json_len(v))
        return NULL;
    const struct fw_json *c = prev ? prev + prev->size : v + 1;
    return c < v + v->size ? c : NULL;
}

const struct fw_json *fw_json_at(const struct fw_json *v, size_t i)
{
    if (i >= fw_json_len(v))
        return NULL;
    const struct fw_json *c = fw_json_next(v, NULL);
    while (i--)
        c = fw_json_next(v, c);
    return c;
}

const struct fw_json *fw_json_get(const struct fw_json *obj, const char *key)
{
    if (fw_json_type(obj) != FW_JSON_OBJECT)
        return NULL;
    for (const struct fw_json *c = fw_json_next(obj, NULL); c; c = fw_json_next(obj, c))
        if (strcmp(c->key, key) == 0)
            return c;
    return NULL;
}

const char *fw_json_str(const struct fw_json *v, const char *dflt)
{
    return v && v->type == FW_JSON_STRING ? v->str : dflt;
}

int64_t fw_json_int(const struct fw_json *v, int64_t dflt)
{
    return v && v->type == FW_JSON_NUMBER && v->is_int ? v->i : dflt;
}

double fw_json_num(const struct fw_json *v, double dflt)
{
    return v && v->type == FW_JSON_NUMBER ? v->num : dflt;
}

bool fw_json_bool(const struct fw_json *v, bool dflt)
{
    if (v && v->type == FW_JSON_TRUE)
        return true;
    if (v && v->type == FW_JSON_FALSE)
        return false;
    return dflt;
}

const char *fw_json_key(const struct fw_json *member)
{
    return member ? member->key : NULL;
}
