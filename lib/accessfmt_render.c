/* The access log's lines: rendering a compiled format (accessfmt.c) for
 * one request. It is on every request's path, so it formats numbers and
 * times by hand (snprintf and strftime cost more than the rest of a hello
 * request's line), formats the local time once a second per thread, and
 * binds what does not change in a process into the literals. */
#include "config.h"

#include "accessfmt.h"
#include "accessfmt_ops.h"

#include <stdbool.h>
#include <string.h>

/* Bytes copied as they are: printable ASCII but '"' and '\'. */
static bool plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* plain_byte() as a table, for the runs of them that most fields are. */
#define P16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
static const unsigned char plain_table[256] = {
    P16(0), P16(0), 1,      1,      0,      1,      1,      1,      1,
    1,      1,      1,      1,      1,      1,      1,      1,      1, /* 0x20-0x2f: '"' */
    P16(1), P16(1), 1,      1,      1,      1,      1,      1,      1,
    1,      1,      1,      1,      1,      0,      1,      1,      1, /* 0x50-0x5f: '\\' */
    P16(1), 1,      1,      1,      1,      1,      1,      1,      1,
    1,      1,      1,      1,      1,      1,      1,      0, /* DEL */
    P16(0), P16(0), P16(0), P16(0), P16(0), P16(0), P16(0), P16(0),
};

/* Length of the well-formed UTF-8 sequence at s (s[0] >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

size_t fw_accessfmt_escape(char *out, size_t max, const char *in, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)in;
    const size_t cut_len = sizeof(FW_ACCESSFMT_CUT) - 1;
    size_t soft = max > cut_len ? max - cut_len : 0;
    size_t o = 0, cut_at = (size_t)-1, i = 0;
    /* Most values are short and plain: copied as they are scanned. */
    if (len <= soft) {
        while (i < len && plain_table[s[i]]) {
            out[i] = (char)s[i];
            i++;
        }
        if (i == len)
            return len;
        o = i;
    }
    while (i < len) {
        size_t run = i;
        while (run < len && plain_table[s[run]])
            run++;
        if (run > i && o + (run - i) <= soft) {
            memcpy(out + o, s + i, run - i);
            o += run - i;
            i = run;
            continue;
        }
        size_t n = 1;
        size_t need;
        if (plain_byte(s[i]))
            need = 1;
        else if (s[i] >= 0x80 && (n = utf8_len(s + i, len - i)) > 0)
            need = n;
        else {
            n = 1;
            need = 4;
        }
        if (o + need > soft && cut_at == (size_t)-1)
            cut_at = o; /* the rest may still fit whole: see below */
        if (o + need > max) {
            o = cut_at;
            memcpy(out + o, FW_ACCESSFMT_CUT, cut_len < max ? cut_len : max);
            return o + (cut_len < max ? cut_len : max);
        }
        if (need == 4 && n == 1 && !plain_byte(s[i])) {
            out[o] = '\\';
            out[o + 1] = 'x';
            out[o + 2] = hex[s[i] >> 4];
            out[o + 3] = hex[s[i] & 15];
        } else {
            memcpy(out + o, s + i, n);
        }
        o += need;
        i += n;
    }
    return o;
}

/* Two digits a step, written from the end of a scratch buffer. */
static size_t put_u64(char *out, uint64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    while (v >= 100) {
        p -= 2;
        memcpy(p, pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    size_t n = (size_t)(tmp + sizeof(tmp) - p);
    for (size_t i = 0; i < n; i++)
        out[i] = p[i];
    return n;
}

static size_t put_i64(char *out, int64_t v)
{
    if (v < 0) {
        out[0] = '-';
        return 1 + put_u64(out + 1, (uint64_t)(-(v + 1)) + 1);
    }
    return put_u64(out, (uint64_t)v);
}

/* v/1000 with three decimals: microseconds as "0.002" milliseconds, or
 * milliseconds as seconds. */
static size_t put_thousandths(char *out, int64_t v)
{
    if (v < 0)
        v = 0;
    size_t n = put_u64(out, (uint64_t)v / 1000);
    unsigned frac = (unsigned)((uint64_t)v % 1000);
    out[n] = '.';
    out[n + 1] = (char)('0' + frac / 100);
    out[n + 2] = (char)('0' + frac / 10 % 10);
    out[n + 3] = (char)('0' + frac % 10);
    return n + 4;
}

static void two(char *out, int v)
{
    out[0] = (char)('0' + v / 10 % 10);
    out[1] = (char)('0' + v % 10);
}

static void clock_update(struct fw_accessfmt_clock *k, time_t sec)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct tm tm;
    localtime_r(&sec, &tm);
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    int year = tm.tm_year + 1900;
    char *p = k->clf;
    p[0] = '[';
    two(p + 1, tm.tm_mday);
    p[3] = '/';
    memcpy(p + 4, months + 3 * (tm.tm_mon % 12), 3);
    p[7] = '/';
    two(p + 8, year / 100);
    two(p + 10, year % 100);
    p[12] = ':';
    two(p + 13, tm.tm_hour);
    p[15] = ':';
    two(p + 16, tm.tm_min);
    p[18] = ':';
    two(p + 19, tm.tm_sec);
    p[21] = ' ';
    p[22] = sign;
    two(p + 23, (int)(off / 60));
    two(p + 25, (int)(off % 60));
    p[27] = ']';
    k->clf_len = 28;
    char *q = k->iso;
    two(q, year / 100);
    two(q + 2, year % 100);
    q[4] = '-';
    two(q + 5, tm.tm_mon + 1);
    q[7] = '-';
    two(q + 8, tm.tm_mday);
    q[10] = 'T';
    memcpy(q + 11, p + 13, 8);
    k->off[0] = sign;
    two(k->off + 1, (int)(off / 60));
    k->off[3] = ':';
    two(k->off + 4, (int)(off % 60));
    k->sec = sec;
}

static size_t put_value(char *out, size_t room, const struct fw_accessfmt_value *v)
{
    if (!v->s || !v->len) {
        if (room < 1)
            return 0;
        out[0] = '-';
        return 1;
    }
    return fw_accessfmt_escape(out, room < FW_ACCESSFMT_FIELD_MAX ? room : FW_ACCESSFMT_FIELD_MAX,
                               v->s, v->len);
}

static size_t put_text(char *out, size_t room, const char *s)
{
    struct fw_accessfmt_value v = { s, s ? strlen(s) : 0 };
    return put_value(out, room, &v);
}

#define TEXT_OPS                                                                                   \
    (1u << OP_LIT | 1u << OP_PARAM | 1u << OP_QUERY | 1u << OP_REQUEST_LINE | 1u << OP_POOL |      \
     1u << OP_MOUNT)

size_t fw_accessfmt_render(const struct fw_accessfmt *f, const struct fw_accessfmt_request *r,
                           struct fw_accessfmt_clock *clock, char *out)
{
    /* Room for the newline; numbers and times need at most 40 bytes. */
    const size_t end = FW_ACCESSFMT_LINE_MAX - 1;
    size_t o = 0;
    for (size_t i = 0; i < f->n_ops; i++) {
        const struct op *op = &f->ops[i];
        size_t room = end - o;
        /* The ops that are not text need up to 40 bytes, and check nothing. */
        if (room < 48 && !(TEXT_OPS >> op->kind & 1))
            break;
        switch (op->kind) {
        case OP_LIT: {
            size_t n = op->b < room ? op->b : room;
            /* Most literals are a space or a quote: a fixed-size copy is two
             * moves, a memcpy() of n a call. text has room past any of them. */
            if (n <= 16 && room >= 16 && op->a + 16u <= sizeof(f->text))
                memcpy(out + o, f->text + op->a, 16);
            else
                memcpy(out + o, f->text + op->a, n);
            o += n;
            break;
        }
        case OP_PARAM: o += put_value(out + o, room, &r->params[op->a]); break;
        case OP_QUERY: {
            const struct fw_accessfmt_value *v = &r->params[op->a];
            if (v->s && v->len && room > 1) {
                out[o++] = '?';
                o += put_value(out + o, room - 1, v);
            }
            break;
        }
        case OP_REQUEST_LINE: {
            unsigned slots[3] = { op->a, op->b, op->c };
            for (int k = 0; k < 3 && o < end; k++) {
                if (k)
                    out[o++] = ' ';
                o += put_value(out + o, end - o, &r->params[slots[k]]);
            }
            break;
        }
        case OP_STATUS: o += put_i64(out + o, r->status); break;
        case OP_BYTES_CLF:
            if (r->body_bytes)
                o += put_u64(out + o, r->body_bytes);
            else
                out[o++] = '-';
            break;
        case OP_BYTES: o += put_u64(out + o, r->body_bytes); break;
        case OP_TOTAL_US: o += put_i64(out + o, r->total_us); break;
        case OP_TOTAL_MS: o += put_i64(out + o, r->total_us / 1000); break;
        case OP_TOTAL_S: o += put_thousandths(out + o, r->total_us / 1000); break;
        case OP_APP_US: o += put_i64(out + o, r->app_us); break;
        case OP_APP_MS: o += put_i64(out + o, r->app_us / 1000); break;
        case OP_APP_S: o += put_thousandths(out + o, r->app_us / 1000); break;
        case OP_PID: o += put_i64(out + o, r->pid); break;
        case OP_POOL: o += put_text(out + o, room, r->pool); break;
        case OP_MOUNT: o += put_text(out + o, room, r->mount); break;
        case OP_GENERATION: o += put_u64(out + o, r->generation); break;
        case OP_THREAD: o += put_u64(out + o, r->thread); break;
        case OP_TIME_CLF:
        case OP_TIME_ISO:
            if (clock->sec != r->now.tv_sec || !clock->clf_len)
                clock_update(clock, r->now.tv_sec);
            if (op->kind == OP_TIME_CLF) {
                memcpy(out + o, clock->clf, clock->clf_len);
                o += clock->clf_len;
            } else {
                memcpy(out + o, clock->iso, 19);
                o += 19;
                unsigned ms = (unsigned)(r->now.tv_nsec / 1000000);
                out[o] = '.';
                out[o + 1] = (char)('0' + ms / 100);
                out[o + 2] = (char)('0' + ms / 10 % 10);
                out[o + 3] = (char)('0' + ms % 10);
                memcpy(out + o + 4, clock->off, 6);
                o += 10;
            }
            break;
        case OP_TIME_MSEC:
            o += put_thousandths(out + o, (int64_t)r->now.tv_sec * 1000 + r->now.tv_nsec / 1000000);
            break;
        }
    }
    out[o++] = '\n';
    return o;
}

void fw_accessfmt_bind(struct fw_accessfmt *f, long pid, const char *pool, unsigned generation)
{
    struct op ops[FW_ACCESSFMT_MAX_OPS] = { { 0 } };
    size_t n = 0;
    for (size_t i = 0; i < f->n_ops; i++) {
        const struct op *op = &f->ops[i];
        char tmp[FW_ACCESSFMT_FIELD_MAX + 32];
        size_t len = 0;
        bool bound = true;
        switch (op->kind) {
        case OP_LIT:
            len = op->b;
            memcpy(tmp, f->text + op->a, len);
            break;
        case OP_PID: len = put_u64(tmp, (uint64_t)pid); break;
        case OP_GENERATION: len = put_u64(tmp, generation); break;
        case OP_POOL: len = put_text(tmp, FW_ACCESSFMT_FIELD_MAX, pool); break;
        default: bound = false;
        }
        if (bound && f->text_len + len <= sizeof(f->text)) {
            struct op *last = n ? &ops[n - 1] : NULL;
            memcpy(f->text + f->text_len, tmp, len);
            if (last && last->kind == OP_LIT && last->a + last->b == f->text_len)
                last->b = (unsigned short)(last->b + len);
            else
                ops[n++] =
                    (struct op){ OP_LIT, (unsigned short)f->text_len, (unsigned short)len, 0 };
            f->text_len += len;
        } else {
            ops[n++] = *op;
        }
    }
    memcpy(f->ops, ops, n * sizeof(ops[0]));
    f->n_ops = n;
}
