/* libFuzzer harness for fcgi/record (the FastCGI codec) and fcgi/environ:
 * any bytes as what a web server sends on one connection. Checks that the
 * events do not depend on how the bytes are split, that every event and
 * reply is well-formed, that the environ built from the params stays in
 * bounds, and, where libfcgi 2.4.2 reads the same bytes without error, that
 * both yield the same params and body (a differential oracle). Built and run
 * by t/fuzz/run.sh; abort() marks a failure.
 *
 * Environment: FW_FUZZ_STATS=1 prints at exit how many inputs each oracle
 * exclusion kept from libfcgi; FW_FUZZ_WALK_CHECK=1 checks the pre-filter's
 * model of libfcgi (see differential()). */
#include <config.h>

#include "fcgi/environ.h"
#include "fcgi/record.h"

#include <errno.h>
#include <fastcgi.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PARAMS_BYTES (1u << 20)

/* ---- what one parse of a whole stream produced ------------------------- */

/* A log of events, with STDIN data merged across events (its split is the
 * caller's), so two runs over differently split input compare equal. */
struct log {
    unsigned char *b;
    size_t n, cap;
    bool in_stdin;
    size_t stdin_run;
};

/* The first request, for the differential oracle. */
struct first {
    bool begun, params_done, stdin_end, failed; /* failed: error, too large, abort */
    const char *why;                            /* what failed it */
    unsigned id;
    unsigned char *params; /* (u32 name_len, name, u32 value_len, value)* */
    size_t params_len, n_params;
    unsigned char *body;
    size_t body_len;
};

static void put(struct log *l, const void *d, size_t n)
{
    if (l->n + n > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->n + n)
            cap *= 2;
        l->b = realloc(l->b, cap);
        if (!l->b)
            abort();
        l->cap = cap;
    }
    memcpy(l->b + l->n, d, n);
    l->n += n;
}

static void put_u32(struct log *l, size_t v)
{
    uint32_t x = (uint32_t)v;
    put(l, &x, sizeof(x));
}

static void end_stdin_run(struct log *l)
{
    if (l->in_stdin) {
        put(l, "s", 1);
        put_u32(l, l->stdin_run);
    }
    l->in_stdin = false;
    l->stdin_run = 0;
}

static void append(unsigned char **b, size_t *n, const void *d, size_t len)
{
    unsigned char *nb = realloc(*b, *n + len + 1);
    if (!nb)
        abort();
    *b = nb;
    if (len)
        memcpy(*b + *n, d, len);
    *n += len;
}

/* ---- invariants of one event ------------------------------------------- */

static bool same(const void *a, size_t an, const void *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static unsigned be16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* A REPLY is one whole record the codec built: version 1, lengths that add
 * up, zero padding to a multiple of 8 and a body we can predict, so nothing
 * uninitialised reaches the peer. */
static void check_reply(const struct fw_record_event *ev, const struct fw_record_parser *p)
{
    const unsigned char *r = ev->data;
    if (ev->len < FW_RECORD_HEADER_LEN || ev->len > sizeof(p->reply))
        abort();
    unsigned clen = be16(r + 4), pad = r[6];
    if (r[0] != FCGI_VERSION_1 || r[7] != 0 || ev->len != FW_RECORD_HEADER_LEN + clen + pad ||
        ev->len % 8 != 0 || pad >= 8)
        abort();
    for (unsigned i = 0; i < pad; i++)
        if (r[8 + clen + i] != 0)
            abort();
    const unsigned char *body = r + 8;
    switch (r[1]) {
    case FCGI_END_REQUEST:
        if (clen != 8 || be16(r + 2) == 0 || memcmp(body, "\0\0\0\0", 4) != 0 ||
            (body[4] != FCGI_CANT_MPX_CONN && body[4] != FCGI_UNKNOWN_ROLE) ||
            memcmp(body + 5, "\0\0\0", 3) != 0)
            abort();
        break;
    case FCGI_UNKNOWN_TYPE:
        if (clen != 8 || be16(r + 2) != 0 || memcmp(body + 1, "\0\0\0\0\0\0\0", 7) != 0)
            abort();
        break;
    case FCGI_GET_VALUES_RESULT: {
        if (be16(r + 2) != 0)
            abort();
        /* one-byte lengths, known names, each at most once, decimal values */
        unsigned seen = 0;
        size_t i = 0;
        while (i < clen) {
            if (i + 2 > clen)
                abort();
            unsigned nl = body[i], vl = body[i + 1];
            if (nl >= 0x80 || vl >= 0x80 || i + 2 + nl + vl > clen || vl == 0)
                abort();
            const char *nm = (const char *)body + i + 2;
            unsigned bit = 0;
            unsigned want = 0;
            if (nl == 14 && memcmp(nm, FCGI_MAX_CONNS, 14) == 0)
                bit = 1, want = p->max_conns;
            else if (nl == 13 && memcmp(nm, FCGI_MAX_REQS, 13) == 0)
                bit = 2, want = p->max_reqs;
            else if (nl == 15 && memcmp(nm, FCGI_MPXS_CONNS, 15) == 0)
                bit = 4, want = 0;
            if (!bit || (seen & bit))
                abort();
            seen |= bit;
            char digits[16];
            int dn = snprintf(digits, sizeof(digits), "%u", want);
            if ((unsigned)dn != vl || memcmp(body + i + 2 + nl, digits, vl) != 0)
                abort();
            i += 2 + nl + vl;
        }
        break;
    }
    default: abort();
    }
}

/* The params the codec holds after PARAMS_DONE: each NUL-terminated, inside
 * its buffer, and within max_params. */
static void check_params(const struct fw_record_parser *p, size_t input_len)
{
    size_t total = 0;
    if (p->n_params * FW_RECORD_PARAM_OVERHEAD > p->max_params_bytes)
        abort();
    for (size_t i = 0; i < p->n_params; i++) {
        const char *nm, *v;
        size_t nl, vl;
        fw_record_param(p, i, &nm, &nl, &v, &vl);
        if (nm < p->buf || nm + nl >= p->buf + p->buf_len || v < p->buf ||
            v + vl >= p->buf + p->buf_len || nm[nl] != '\0' || v[vl] != '\0')
            abort();
        total += nl + vl;
    }
    /* every byte of a name or value came from the input */
    if (total > input_len)
        abort();
}

/* ---- fw_environ_build over the params ---------------------------------- */

static bool within(const char *x, size_t len, const char *lo, size_t n)
{
    return lo && x >= lo && x <= lo + n && len <= (size_t)(lo + n - x);
}

static const char *const mounts[] = { "/app", "/app/sub", "" };
#define N_MOUNTS (sizeof(mounts) / sizeof(mounts[0]))

static void check_environ(const struct fw_record_parser *p)
{
    static struct fw_param *in;
    static size_t in_cap;
    if (p->n_params > in_cap) {
        in_cap = p->n_params * 2;
        in = realloc(in, in_cap * sizeof(*in));
        if (!in)
            abort();
    }
    for (size_t i = 0; i < p->n_params; i++)
        fw_record_param(p, i, &in[i].name, &in[i].name_len, &in[i].value, &in[i].value_len);

    /* every mount list and none; the root mount last, so /x is not always 404 */
    static const size_t mount_counts[] = { 0, 1, 2, 3 };
    for (size_t k = 0; k < sizeof(mount_counts) / sizeof(mount_counts[0]); k++) {
        size_t nm = mount_counts[k];
        struct fw_environ e = { 0 };
        int status = fw_environ_build(&e, in, p->n_params, mounts, nm);
        if (status != 0 && status != 400 && status != 404)
            abort();
        if (status != 0) {
            if (!e.error || (status == 404 && nm == 0))
                abort();
            fw_environ_free(&e);
            continue;
        }
        /* the input's params, less some, plus SCRIPT_NAME, PATH_INFO */
        if (e.n_params > p->n_params + 2 || e.n_params > e.cap_params || !e.method)
            abort();
        if (nm > 0 && e.mount_index >= nm)
            abort();
        if (e.content_length < -1)
            abort();
        unsigned sum = 0;
        for (size_t i = 0; i < e.n_params; i++) {
            const struct fw_param *o = &e.params[i];
            bool name_ok = within(o->name, o->name_len, p->buf, p->buf_len) ||
                           within(o->name, o->name_len, e.scratch, e.cap_scratch);
            /* a repeated HTTP_* param's joined value lives in e.joined */
            bool value_ok = within(o->value, o->value_len, p->buf, p->buf_len) ||
                            within(o->value, o->value_len, e.scratch, e.cap_scratch) ||
                            within(o->value, o->value_len, e.joined, e.cap_joined);
            for (size_t m = 0; m < nm; m++)
                value_ok = value_ok || within(o->value, o->value_len, mounts[m], strlen(mounts[m]));
            /* the names it adds, and "" for an absent SCRIPT_NAME/PATH_INFO */
            if (!name_ok && o->name_len == strlen(o->name) &&
                (strcmp(o->name, "SCRIPT_NAME") == 0 || strcmp(o->name, "PATH_INFO") == 0 ||
                 strcmp(o->name, "HTTP_TRANSFER_ENCODING") == 0))
                name_ok = true;
            if (!value_ok && o->value_len == 0)
                value_ok = true;
            if (!name_ok || !value_ok)
                abort();
            for (size_t j = 0; j < o->name_len; j++)
                sum += (unsigned char)o->name[j];
            for (size_t j = 0; j < o->value_len; j++)
                sum += (unsigned char)o->value[j];
        }
        __asm__ volatile("" : : "r"(sum)); /* every byte read, for ASan */
        fw_environ_free(&e);
    }
}

/* ---- one run of the codec ---------------------------------------------- */

static const char too_large[] = "too large";

struct run_opts {
    size_t step;       /* bytes per feed */
    size_t max_params; /* the parser's limit */
    size_t keep_bytes; /* for fw_record_parser_next */
    bool environ;      /* also build the environ (on one run only) */
};

/* Feeds data in steps of opts->step bytes, as a connection would, and logs
 * every event. Stops where a connection would be closed. */
static void run(const uint8_t *data, size_t size, const struct run_opts *o, struct log *l,
                struct first *f)
{
    struct fw_record_parser p;
    fw_record_parser_init(&p, o->max_params, 7, 3);
    bool closed = false;
    int requests = 0;
    size_t pos = 0;
    while (pos < size && !closed) {
        size_t len = size - pos < o->step ? size - pos : o->step;
        const unsigned char *chunk = data + pos;
        size_t used = 0;
        while (!closed) {
            struct fw_record_event ev;
            size_t k = fw_record_parse(&p, chunk + used, len - used, &ev);
            if (k > len - used)
                abort();
            /* each event consumes a byte at least: a loop that parses
             * until NONE cannot spin */
            if (ev.kind != FW_RECORD_NONE && k == 0)
                abort();
            used += k;
            if (ev.kind == FW_RECORD_NONE) {
                if (used != len)
                    abort();
                break;
            }
            if (ev.kind != FW_RECORD_STDIN)
                end_stdin_run(l);
            unsigned char kind = (unsigned char)ev.kind;
            switch (ev.kind) {
            case FW_RECORD_NONE: break;
            case FW_RECORD_BEGIN:
                if (ev.request_id == 0 || p.phase != FW_RECORD_IN_PARAMS)
                    abort();
                put(l, &kind, 1);
                put_u32(l, ev.request_id);
                put(l, ev.keep_conn ? "k" : "-", 1);
                if (f && !f->begun) {
                    f->begun = true;
                    f->id = ev.request_id;
                }
                break;
            case FW_RECORD_PARAMS_DONE:
                if (ev.request_id != p.request_id)
                    abort();
                check_params(&p, size);
                put(l, &kind, 1);
                put_u32(l, p.n_params);
                for (size_t i = 0; i < p.n_params; i++) {
                    const char *nm, *v;
                    size_t nl, vl;
                    fw_record_param(&p, i, &nm, &nl, &v, &vl);
                    put_u32(l, nl);
                    put(l, nm, nl);
                    put_u32(l, vl);
                    put(l, v, vl);
                }
                if (f && requests == 0 && f->begun && !f->failed) {
                    f->params_done = true;
                    f->n_params = p.n_params;
                    for (size_t i = 0; i < p.n_params; i++) {
                        const char *nm, *v;
                        size_t nl, vl;
                        fw_record_param(&p, i, &nm, &nl, &v, &vl);
                        uint32_t x = (uint32_t)nl;
                        append(&f->params, &f->params_len, &x, 4);
                        append(&f->params, &f->params_len, nm, nl);
                        x = (uint32_t)vl;
                        append(&f->params, &f->params_len, &x, 4);
                        append(&f->params, &f->params_len, v, vl);
                    }
                }
                if (o->environ)
                    check_environ(&p);
                break;
            case FW_RECORD_STDIN:
                if (ev.data < chunk || ev.data + ev.len > chunk + used || ev.len == 0 ||
                    ev.request_id != p.request_id || p.phase != FW_RECORD_IN_STDIN)
                    abort();
                if (!l->in_stdin)
                    put(l, &kind, 1);
                l->in_stdin = true;
                l->stdin_run += ev.len;
                put(l, ev.data, ev.len);
                if (f && requests == 0 && f->params_done && !f->failed)
                    append(&f->body, &f->body_len, ev.data, ev.len);
                break;
            case FW_RECORD_STDIN_END:
            case FW_RECORD_ABORT:
                if (ev.request_id != p.request_id || p.request_id == 0)
                    abort();
                put(l, &kind, 1);
                put_u32(l, ev.request_id);
                if (f && requests == 0) {
                    if (ev.kind == FW_RECORD_STDIN_END && f->params_done)
                        f->stdin_end = true;
                    else
                        f->failed = true, f->why = "abort";
                }
                requests++;
                /* the response goes out; keep-conn or not, read on: the
                 * codec must not care */
                fw_record_parser_next(&p, o->keep_bytes);
                if (fw_record_mid_request(&p)) /* the event came at a record's end */
                    abort();
                break;
            case FW_RECORD_REPLY:
                check_reply(&ev, &p);
                put(l, &kind, 1);
                put_u32(l, ev.len);
                put(l, ev.data, ev.len);
                put(l, ev.close_after ? "c" : "-", 1);
                closed = ev.close_after;
                break;
            case FW_RECORD_TOO_LARGE:
            case FW_RECORD_ERROR:
                if (ev.kind == FW_RECORD_ERROR && !ev.error)
                    abort();
                put(l, &kind, 1);
                if (ev.error)
                    put(l, ev.error, strlen(ev.error));
                if (f && requests == 0)
                    f->failed = true, f->why = ev.error ? ev.error : too_large;
                /* dead: nothing more is consumed */
                if (fw_record_parse(&p, chunk + used, len - used, &ev) != 0 ||
                    ev.kind != FW_RECORD_NONE)
                    abort();
                closed = true;
                break;
            default: abort();
            }
        }
        pos += len;
    }
    end_stdin_run(l);
    fw_record_parser_free(&p);
}

/* ---- the differential oracle's pre-filter ------------------------------ */

/* Why an input was not handed to libfcgi, or what came of it. */
enum {
    ST_INPUTS,
    ST_NO_REQUEST,    /* no whole first request by libfcgi's reading */
    ST_MGMT,          /* a management record libfcgi mishandles */
    ST_ROLE,          /* first BEGIN_REQUEST not a responder */
    ST_BEGIN_PAD,     /* padding on the BEGIN_REQUEST */
    ST_EMPTY_PAD,     /* padding on the empty PARAMS record */
    ST_STRAY_EMPTY,   /* an empty record of another request */
    ST_HUGE_LEN,      /* a param length past the input's size */
    ST_NAME_EQ,       /* '=' in a name */
    ST_NUL,           /* NUL in a name or value */
    ST_SOCKBUF,       /* input did not fit into the socket buffer */
    ST_LIBFCGI_ERROR, /* libfcgi refused it */
    ST_CODEC_REFUSED, /* libfcgi took it, the codec (deliberately) did not */
    ST_COMPARED,      /* both took it: compared, equal */
    ST_WALK_WRONG,    /* the same, where the walk expected libfcgi to refuse */
    ST_N
};
static const char *const st_names[ST_N] = {
    "inputs",        "no-request",    "mgmt-record",   "not-responder", "begin-padding",
    "empty-padding", "stray-empty",   "huge-length",   "name-has-eq",   "nul-byte",
    "sockbuf",       "libfcgi-error", "codec-refused", "compared",      "walk-wrong",
};
static unsigned long stats[ST_N];
static bool walk_check;

/* Set by check_pairs: the stream ends inside a pair. */
static bool cut_pair;

/* Walks the records of the first request as libfcgi reads them (stopping
 * where it stops: at the end of the first request's STDIN) and says whether
 * libfcgi can be trusted with them: ST_COMPARED when it can, else the
 * exclusion. Name-value pairs are checked on the PARAMS stream as a whole
 * (pairs cross records), and in each GET_VALUES record. */
static int check_pairs(const unsigned char *d, size_t n, size_t input_len, bool names_only,
                       unsigned *count)
{
    size_t i = 0;
    *count = 0;
    cut_pair = false;
    while (i < n) {
        cut_pair = true;
        uint32_t len[2];
        for (int k = 0; k < 2; k++) {
            if (i >= n)
                return ST_COMPARED; /* cut: both refuse it */
            if (d[i] & 0x80) {
                if (i + 4 > n)
                    return ST_COMPARED;
                len[k] = (uint32_t)(d[i] & 0x7f) << 24 | (uint32_t)d[i + 1] << 16 |
                         (uint32_t)d[i + 2] << 8 | d[i + 3];
                i += 4;
            } else {
                len[k] = d[i++];
            }
            /* libfcgi mallocs name + value + 2 before reading either: near
             * INT_MAX that is an abort (Malloc's ASSERT) or an OOM */
            if (len[k] > input_len)
                return ST_HUGE_LEN;
        }
        (*count)++;
        if (len[0] > n - i)
            return ST_COMPARED;
        /* envp is NAME=VALUE C strings: a '=' in the name, or a NUL in
         * either, cannot be told apart there */
        if (!names_only && memchr(d + i, '=', len[0]))
            return ST_NAME_EQ;
        if (!names_only && memchr(d + i, '\0', len[0]))
            return ST_NUL;
        i += len[0];
        if (len[1] > n - i)
            return ST_COMPARED;
        if (!names_only && memchr(d + i, '\0', len[1]))
            return ST_NUL;
        i += len[1];
        cut_pair = false;
    }
    return ST_COMPARED;
}

/* Where libfcgi stops reading before a whole request: the params it has
 * read so far were still decoded (and allocated for) as they came. */
static int stop(bool in_params, const unsigned char *params, size_t params_len, size_t size)
{
    unsigned n;
    int st = in_params ? check_pairs(params, params_len, size, false, &n) : ST_COMPARED;
    return st != ST_COMPARED ? st : ST_NO_REQUEST;
}

static int prefilter(const uint8_t *d, size_t size)
{
    enum { PRE, PARAMS, STDIN } phase = PRE;
    unsigned active = 0;
    static unsigned char *params;
    static size_t params_cap;
    size_t params_len = 0;
    size_t pos = 0;
    for (;;) {
        if (size - pos < 8)
            return stop(phase == PARAMS, params, params_len, size);
        const unsigned char *h = d + pos;
        unsigned type = h[1], id = be16(h + 2), clen = be16(h + 4), pad = h[6];
        if (h[0] != FCGI_VERSION_1)
            return stop(phase == PARAMS, params, params_len, size); /* both refuse */
        /* A record cut by the end of the input is looked at as far as it
         * goes: libfcgi acts on content as it arrives. */
        size_t avail = size - pos - 8;
        size_t have = avail < clen ? avail : clen;
        bool whole = avail >= (size_t)clen + pad;
        const unsigned char *c = h + 8;
        pos += 8 + have;
        if (whole)
            pos += pad;
        if (type == FCGI_BEGIN_REQUEST) {
            if (id == 0 || clen != 8 || have < 8)
                return stop(phase == PARAMS, params, params_len, size); /* both refuse */
            if (phase != PRE) {
                if (!whole)
                    return stop(phase == PARAMS, params, params_len, size);
                continue; /* CANT_MPX_CONN from both; its body and padding skipped */
            }
            /* codec: UNKNOWN_ROLE for all but RESPONDER, then the next
             * request; libfcgi takes AUTHORIZER and FILTER too */
            if (be16(c) != FCGI_RESPONDER)
                return ST_ROLE;
            /* libfcgi reads the body, not its padding: that is taken for the
             * next header (SetReaderType zeroes paddingLen) */
            if (pad)
                return ST_BEGIN_PAD;
            phase = PARAMS;
            active = id;
            continue;
        }
        if (id == 0) {
            unsigned n;
            /* libfcgi answers UNKNOWN_TYPE but then hands the record's
             * content to the stream being read as if it were its data; and
             * 2.4.2 leaks the Params it allocates for such a record */
            if (type != FCGI_GET_VALUES)
                return ST_MGMT;
            if (type == FCGI_GET_VALUES) {
                int st = check_pairs(c, have, size, true, &n);
                if (st != ST_COMPARED)
                    return st;
                /* its answer goes into char response[64] unchecked: past 3
                 * known names it smashes the stack */
                if (n > 3)
                    return ST_MGMT;
            }
            if (!whole)
                return stop(phase == PARAMS, params, params_len, size);
            continue;
        }
        if (id != active) {
            /* SKIP sets data->skip, reset only when skipped content runs
             * out: after an empty record it stays set and the next record's
             * content (ours) is dropped */
            if (clen == 0)
                return ST_STRAY_EMPTY;
            if (!whole)
                return stop(phase == PARAMS, params, params_len, size);
            continue;
        }
        if ((phase == PARAMS && type != FCGI_PARAMS) || (phase == STDIN && type != FCGI_STDIN))
            /* libfcgi: protocol error */
            return stop(phase == PARAMS, params, params_len, size);
        if (phase == PARAMS && clen > 0) {
            if (params_len + have > params_cap) {
                params_cap = (params_len + have) * 2;
                params = realloc(params, params_cap);
                if (!params)
                    abort();
            }
            memcpy(params + params_len, c, have);
            params_len += have;
            if (whole)
                continue;
        } else if (phase == PARAMS) {
            /* an empty record ends the stream with EOF before its padding
             * is read: libfcgi takes the padding for the next header */
            if (pad)
                return ST_EMPTY_PAD;
        }
        if (phase == PARAMS) {
            unsigned n;
            int st = check_pairs(params, params_len, size, false, &n);
            if (st != ST_COMPARED || !whole)
                return st != ST_COMPARED ? st : ST_NO_REQUEST;
            phase = STDIN;
            continue;
        }
        if (!whole)
            return stop(phase == PARAMS, params, params_len, size);
        /* An empty STDIN record's padding is left unread too, but nothing
         * of the connection is read after it here. */
        if (clen == 0)
            return ST_COMPARED;
    }
}

/* ---- libfcgi's reading ------------------------------------------------- */

static bool same_first(const struct first *f, FCGX_Request *req, const unsigned char *body,
                       size_t body_len)
{
    char **env = req->envp;
    if (!env || !env[0] || strcmp(env[0], "FCGI_ROLE=RESPONDER") != 0)
        return false;
    env++; /* libfcgi's own */
    size_t at = 0;
    for (size_t i = 0; i < f->n_params; i++, env++) {
        uint32_t nl, vl;
        memcpy(&nl, f->params + at, 4);
        const char *nm = (const char *)f->params + at + 4;
        at += 4 + nl;
        memcpy(&vl, f->params + at, 4);
        const char *v = (const char *)f->params + at + 4;
        at += 4 + vl;
        if (!*env || strlen(*env) != (size_t)nl + 1 + vl || memcmp(*env, nm, nl) != 0 ||
            (*env)[nl] != '=' || memcmp(*env + nl + 1, v, vl) != 0)
            return false;
    }
    return !*env && same(body, body_len, f->body, f->body_len);
}

static void dump(const char *what, const unsigned char *d, size_t n)
{
    fprintf(stderr, "%s (%zu bytes):", what, n);
    for (size_t i = 0; i < n && i < 4096; i++)
        fprintf(stderr, "%s%02x", i % 32 ? "" : "\n  ", d[i]);
    fprintf(stderr, "\n");
}

static void differential(const uint8_t *data, size_t size, const struct first *f)
{
    /* With FW_FUZZ_WALK_CHECK=1, ST_NO_REQUEST inputs go to libfcgi too:
     * it should refuse them; walk-wrong counts those it took (the walk
     * above is then wrong, and the comparison still runs). Off by default:
     * past where the walk stops, libfcgi may meet what it cannot read. */
    int st = prefilter(data, size);
    if (st != ST_COMPARED && (st != ST_NO_REQUEST || !walk_check)) {
        stats[st]++;
        return;
    }
    /* libfcgi reads from an fd: one end of a socketpair holding the whole
     * input, its other end shut for writing so libfcgi sees EOF after it.
     * Both ends non-blocking: libfcgi never waits, and its few writes
     * (CANT_MPX_CONN, GET_VALUES_RESULT) fail rather than block. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    int big = 4 << 20;
    if (setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(sv[1], data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (off < size) {
        stats[ST_SOCKBUF]++;
        close(sv[0]);
        close(sv[1]);
        return;
    }
    shutdown(sv[1], SHUT_WR);

    FCGX_Request req;
    FCGX_InitRequest(&req, -1, 0);
    req.ipcFd = sv[0];
    req.keepConnection = 1; /* so that Accept does not close the fd first */
    int rc = FCGX_Accept_r(&req);
    /* A protocol error at a pair boundary ends ReadParams "successfully":
     * the error stays on the stream, and reading on would parse the rest of
     * the offending record as headers. */
    if (rc == 0 && FCGX_GetError(req.in) != 0)
        rc = -1;
    static unsigned char *body;
    static size_t body_cap;
    size_t body_len = 0;
    bool ok = rc == 0;
    while (ok) {
        if (body_cap - body_len < 8192) {
            body_cap = body_cap * 2 + 8192;
            body = realloc(body, body_cap);
            if (!body)
                abort();
        }
        int n = FCGX_GetStr((char *)body + body_len, 8192, req.in);
        body_len += (size_t)n;
        if (n < 8192)
            break;
    }
    ok = ok && FCGX_GetError(req.in) == 0;

    if (!ok) {
        stats[st == ST_NO_REQUEST ? ST_NO_REQUEST : ST_LIBFCGI_ERROR]++;
    } else if (st == ST_NO_REQUEST && (!f->stdin_end || f->failed)) {
        /* the walk is wrong, and the codec is stricter where it is (it
         * waits for the padding of an empty STDIN record, libfcgi not) */
        stats[ST_WALK_WRONG]++;
    } else if ((!f->stdin_end || f->failed) && f->why == too_large) {
        /* deliberate: params past max_params (with their overhead) */
        stats[ST_CODEC_REFUSED]++;
    } else if (!f->stdin_end || f->failed || !same_first(f, &req, body, body_len)) {
        /* libfcgi read a whole request; the codec, whose only deliberate
         * refusals of such input is max_params, must read the same */
        const char *refused = f->stdin_end && !f->failed ? NULL : f->why ? f->why : "no STDIN end";
        fprintf(stderr, "record_fuzz: codec and libfcgi differ on the first request%s%s\n",
                refused ? ": the codec refused it: " : "", refused ? refused : "");
        dump("input", data, size);
        fprintf(stderr, "libfcgi params:\n");
        for (char **e = req.envp; e && *e; e++)
            fprintf(stderr, "  %s\n", *e);
        dump("libfcgi stdin", body, body_len);
        dump("codec params (u32 len, bytes)*", f->params, f->params_len);
        dump("codec stdin", f->body, f->body_len);
        abort();
    } else {
        stats[st == ST_NO_REQUEST ? ST_WALK_WRONG : ST_COMPARED]++;
    }
    /* Free without libfcgi's close: it closed the fd itself when it gave up
     * on the connection (ipcFd is then -1), else we do. */
    FCGX_Free(&req, 0); /* once Accept gave up on it, there is nothing left */
    if (req.ipcFd >= 0)
        close(req.ipcFd);
    close(sv[1]);
}

static void print_stats(void)
{
    fprintf(stderr, "record_fuzz oracle:");
    for (int i = 0; i < ST_N; i++)
        fprintf(stderr, " %s=%lu", st_names[i], stats[i]);
    fprintf(stderr, "\n");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* libfcgi installs flag-only handlers for SIGPIPE, SIGUSR1 and SIGTERM
     * where they are at default; SIGPIPE ignored keeps its hands off it. */
    signal(SIGPIPE, SIG_IGN);
    if (FCGX_Init() != 0) {
        fprintf(stderr, "FCGX_Init failed\n");
        exit(1);
    }
    const char *w = getenv("FW_FUZZ_WALK_CHECK");
    walk_check = w && *w == '1';
    const char *s = getenv("FW_FUZZ_STATS");
    if (s && *s == '1')
        atexit(print_stats);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stats[ST_INPUTS]++;
    /* The first byte is a record's version (1 in every valid stream), so the
     * variable split, the limit and what the parser keeps between requests
     * come from a hash of the input instead. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size && i < 64; i++)
        h = (h ^ data[i]) * 16777619u;
    h ^= (uint32_t)size;
    struct run_opts ref = {
        .step = size ? size : 1,
        .max_params = (h & 3) == 0 ? 512 : MAX_PARAMS_BYTES,
        .keep_bytes = (h & 4) ? 0 : 4096,
        .environ = true,
    };
    struct log want = { 0 };
    struct first f = { 0 };
    run(data, size, &ref, &want, &f);

    const size_t steps[] = { 1, 7, 8, 4096, 2 + (h >> 8) % 300 };
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        struct run_opts o = ref;
        o.step = steps[k];
        o.environ = false;
        struct log got = { 0 };
        run(data, size, &o, &got, NULL);
        if (!same(got.b, got.n, want.b, want.n)) {
            fprintf(stderr, "record_fuzz: events differ when fed %zu bytes at a time\n", steps[k]);
            dump("input", data, size);
            dump("events, whole", want.b, want.n);
            dump("events, split", got.b, got.n);
            abort();
        }
        free(got.b);
    }
    free(want.b);

    differential(data, size, &f);
    free(f.params);
    free(f.body);
    return 0;
}
