/* The access log format's compiler: the format's text to a list of ops,
 * with the params it names in slots, checked once at load and once in
 * each worker; rendering is accessfmt_render.c's. */
#include "config.h"

#include "accessfmt.h"
#include "accessfmt_ops.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct compiler {
    struct fw_accessfmt *f;
    const char *fmt;
    size_t pos; /* of the directive being read */
    char *err;
    size_t errlen;
    bool failed;
};

static int fail(struct compiler *c, const char *msg)
{
    if (!c->failed)
        snprintf(c->err, c->errlen, "%s", msg);
    c->failed = true;
    return -1;
}

static int add_op(struct compiler *c, enum op_kind kind, unsigned a, unsigned b, unsigned cc)
{
    if (c->f->n_ops == FW_ACCESSFMT_MAX_OPS)
        return fail(c, "too many fields (at most 128)");
    c->f->ops[c->f->n_ops++] =
        (struct op){ kind, (unsigned short)a, (unsigned short)b, (unsigned short)cc };
    return 0;
}

#define name_hash fw_accessfmt_name_hash

static int slot_of(struct compiler *c, const char *name, size_t len)
{
    struct fw_accessfmt *f = c->f;
    for (size_t i = 0; i < f->n_slots; i++)
        if (f->slots[i].len == len && !memcmp(f->slots[i].name, name, len))
            return (int)i;
    if (f->n_slots == FW_ACCESSFMT_MAX_PARAMS)
        return fail(c, "too many different params (at most 32)");
    if (len >= sizeof(f->slots[0].name))
        return fail(c, "a param name is too long (at most 64 characters)");
    memcpy(f->slots[f->n_slots].name, name, len);
    f->slots[f->n_slots].name[len] = '\0';
    f->slots[f->n_slots].len = len;
    unsigned h = name_hash(name, len);
    f->slots[f->n_slots].hash = h;
    f->hashes |= 1ull << h;
    f->same_hash[f->n_slots] = f->by_hash[h];
    f->by_hash[h] = (signed char)f->n_slots;
    return (int)f->n_slots++;
}

static int add_param(struct compiler *c, enum op_kind kind, const char *name)
{
    int s = slot_of(c, name, strlen(name));
    return s < 0 ? -1 : add_op(c, kind, (unsigned)s, 0, 0);
}

/* %{NAME}e: a param as the web server sent it (FastCGI names are CGI
 * variables); %{Header-Name}i: a request header, as its HTTP_ param. */
static int add_named(struct compiler *c, const char *arg, size_t len, bool header)
{
    char name[80];
    if (len == 0)
        return fail(c, header ? "%{...}i needs a name inside the braces"
                              : "%{...}e needs a name inside the braces");
    if (len > 64)
        return fail(c, "a param name is too long (at most 64 characters)");
    size_t n = 0;
    if (header) {
        bool content = (len == 12 && !strncasecmp(arg, "Content-Type", 12)) ||
                       (len == 14 && !strncasecmp(arg, "Content-Length", 14));
        if (!content) {
            memcpy(name, "HTTP_", 5);
            n = 5;
        }
    }
    for (size_t i = 0; i < len; i++) {
        char ch = arg[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || (header && ch == '-');
        if (!ok)
            return fail(c, header ? "a header name holds letters, digits, '-' and '_' only"
                                  : "a param name holds letters, digits and '_' only");
        if (header)
            ch = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
        name[n++] = ch;
    }
    int s = slot_of(c, name, n);
    return s < 0 ? -1 : add_op(c, OP_PARAM, (unsigned)s, 0, 0);
}

static bool arg_is(const char *arg, size_t len, const char *word)
{
    return len == strlen(word) && !memcmp(arg, word, len);
}

/* One directive: letter, with arg (len 0 when none was given; has_arg
 * tells "%{}x" from "%x"). */
static int directive(struct compiler *c, char letter, const char *arg, size_t len, bool has_arg)
{
    char msg[48];
    if (has_arg && letter && strchr("%haAvumUHqlrsbBP", letter)) {
        snprintf(msg, sizeof(msg), "%%%c takes no {argument}", letter);
        return fail(c, msg);
    }
    switch (letter) {
    case '%': return add_op(c, OP_LIT, (unsigned)(c->pos + 1), 1, 0) /* the second '%' */;
    case 'h':
    case 'a': return add_param(c, OP_PARAM, "REMOTE_ADDR");
    case 'A': return add_param(c, OP_PARAM, "SERVER_ADDR");
    case 'v': return add_param(c, OP_PARAM, "SERVER_NAME");
    case 'u': return add_param(c, OP_PARAM, "REMOTE_USER");
    case 'm': return add_param(c, OP_PARAM, "REQUEST_METHOD");
    case 'U': return add_param(c, OP_PARAM, "REQUEST_URI");
    case 'H': return add_param(c, OP_PARAM, "SERVER_PROTOCOL");
    case 'q': return add_param(c, OP_QUERY, "QUERY_STRING");
    case 'l': return add_op(c, OP_LIT, 0, 0, 0) /* patched to "-" below */;
    case 'p':
        if (!has_arg || arg_is(arg, len, "local") || arg_is(arg, len, "canonical"))
            return add_param(c, OP_PARAM, "SERVER_PORT");
        if (arg_is(arg, len, "remote"))
            return add_param(c, OP_PARAM, "REMOTE_PORT");
        return fail(c, "%{...}p is %{remote}p or %{local}p");
    case 'r': {
        int m = slot_of(c, "REQUEST_METHOD", 14), u = slot_of(c, "REQUEST_URI", 11),
            p = slot_of(c, "SERVER_PROTOCOL", 15);
        if (m < 0 || u < 0 || p < 0)
            return -1;
        return add_op(c, OP_REQUEST_LINE, (unsigned)m, (unsigned)u, (unsigned)p);
    }
    case 's': return add_op(c, OP_STATUS, 0, 0, 0);
    case 'b': return add_op(c, OP_BYTES_CLF, 0, 0, 0);
    case 'B': return add_op(c, OP_BYTES, 0, 0, 0);
    case 'P': return add_op(c, OP_PID, 0, 0, 0);
    case 'D':
        if (!has_arg)
            return add_op(c, OP_TOTAL_US, 0, 0, 0);
        if (arg_is(arg, len, "app"))
            return add_op(c, OP_APP_US, 0, 0, 0);
        return fail(c, "%{...}D is %D or %{app}D");
    case 'T':
        if (!has_arg || arg_is(arg, len, "s"))
            return add_op(c, OP_TOTAL_S, 0, 0, 0);
        if (arg_is(arg, len, "ms"))
            return add_op(c, OP_TOTAL_MS, 0, 0, 0);
        if (arg_is(arg, len, "us"))
            return add_op(c, OP_TOTAL_US, 0, 0, 0);
        if (arg_is(arg, len, "app"))
            return add_op(c, OP_APP_S, 0, 0, 0);
        if (arg_is(arg, len, "app_ms"))
            return add_op(c, OP_APP_MS, 0, 0, 0);
        if (arg_is(arg, len, "app_us"))
            return add_op(c, OP_APP_US, 0, 0, 0);
        return fail(c, "%{...}T is one of s, ms, us, app, app_ms, app_us");
    case 't':
        if (!has_arg)
            return add_op(c, OP_TIME_CLF, 0, 0, 0);
        if (arg_is(arg, len, "iso"))
            return add_op(c, OP_TIME_ISO, 0, 0, 0);
        if (arg_is(arg, len, "msec"))
            return add_op(c, OP_TIME_MSEC, 0, 0, 0);
        return fail(c, "%{...}t is %t, %{iso}t or %{msec}t");
    case 'w':
        if (arg_is(arg, len, "pool"))
            return add_op(c, OP_POOL, 0, 0, 0);
        if (arg_is(arg, len, "generation"))
            return add_op(c, OP_GENERATION, 0, 0, 0);
        if (arg_is(arg, len, "mount"))
            return add_op(c, OP_MOUNT, 0, 0, 0);
        if (arg_is(arg, len, "thread"))
            return add_op(c, OP_THREAD, 0, 0, 0);
        return fail(c, "%{...}w is one of %{pool}w, %{generation}w, %{mount}w, %{thread}w");
    case 'e': return add_named(c, arg, len, false);
    case 'i': return add_named(c, arg, len, true);
    default: {
        char q[8];
        if ((unsigned char)letter < 0x20 || (unsigned char)letter >= 0x7f)
            snprintf(q, sizeof(q), "\\x%02x", (unsigned char)letter);
        else
            snprintf(q, sizeof(q), "%c", letter);
        snprintf(msg, sizeof(msg), "unknown directive '%%%s'", q);
        return fail(c, msg);
    }
    }
}

/* Adjacent literal text merges into one op; "%l" is a literal "-", kept
 * in text past the format's own bytes. */
static int literal(struct compiler *c, size_t from, size_t to)
{
    struct fw_accessfmt *f = c->f;
    if (from == to)
        return 0;
    struct op *last = f->n_ops ? &f->ops[f->n_ops - 1] : NULL;
    if (last && last->kind == OP_LIT && last->a + last->b == from) {
        last->b = (unsigned short)(last->b + (to - from));
        return 0;
    }
    return add_op(c, OP_LIT, (unsigned)from, (unsigned)(to - from), 0);
}

struct fw_accessfmt *fw_accessfmt_compile(const char *fmt, size_t *err_offset, char *err,
                                          size_t errlen)
{
    size_t len = strlen(fmt);
    *err_offset = 0;
    if (len > FW_ACCESSFMT_MAX_FORMAT - 1) {
        snprintf(err, errlen, "the format is too long (at most %d bytes)",
                 FW_ACCESSFMT_MAX_FORMAT - 1);
        return NULL;
    }
    struct fw_accessfmt *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memset(f->by_hash, -1, sizeof(f->by_hash));
    memcpy(f->text, fmt, len);
    /* The "-" of %l, past the format's bytes. */
    f->text[len] = '-';
    f->text_len = len + 1;
    struct compiler c = { .f = f, .fmt = fmt, .err = err, .errlen = errlen };
    size_t i = 0, lit = 0;
    while (i < len && !c.failed) {
        unsigned char ch = (unsigned char)fmt[i];
        if (ch != '%') {
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                c.pos = i;
                fail(&c, ch == '\n' ? "a control character in the format (write one line)"
                                    : "a control character in the format (write printable text)");
                break;
            }
            i++;
            continue;
        }
        if (literal(&c, lit, i) < 0)
            break;
        c.pos = i;
        size_t j = i + 1, arg = 0, arg_len = 0;
        bool has_arg = false;
        if (j < len && fmt[j] == '{') {
            const char *close = memchr(fmt + j, '}', len - j);
            if (!close) {
                fail(&c, "'%{' without its closing '}'");
                break;
            }
            has_arg = true;
            arg = j + 1;
            arg_len = (size_t)(close - (fmt + arg));
            j = (size_t)(close - fmt) + 1;
        }
        /* Apache's %>s and %<s (final and original status) are one here. */
        if (j < len && (fmt[j] == '>' || fmt[j] == '<'))
            j++;
        if (j >= len) {
            fail(&c, "a directive without its letter at the end of the format");
            break;
        }
        size_t before = f->n_ops;
        if (directive(&c, fmt[j], fmt + arg, arg_len, has_arg) < 0)
            break;
        if (fmt[j] == 'l' && f->n_ops > before) {
            f->ops[f->n_ops - 1].a = (unsigned short)len;
            f->ops[f->n_ops - 1].b = 1;
        }
        i = lit = j + 1;
    }
    if (!c.failed)
        literal(&c, lit, len);
    if (c.failed) {
        *err_offset = c.pos;
        free(f);
        return NULL;
    }
    return f;
}

void fw_accessfmt_free(struct fw_accessfmt *f)
{
    free(f);
}

size_t fw_accessfmt_n_params(const struct fw_accessfmt *f)
{
    return f->n_slots;
}

uint64_t fw_accessfmt_hashes(const struct fw_accessfmt *f)
{
    return f->hashes;
}

int fw_accessfmt_param_slot(const struct fw_accessfmt *f, const char *name, size_t len)
{
    if (!len)
        return -1;
    for (int i = f->by_hash[name_hash(name, len)]; i >= 0; i = f->same_hash[i])
        if (f->slots[i].len == len && !memcmp(f->slots[i].name, name, len))
            return i;
    return -1;
}
