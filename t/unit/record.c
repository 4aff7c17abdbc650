/* Unit tests of fcgi/record: requests as nginx sends them, fed whole and
 * one byte at a time, every refusal the codec answers, and its limits. */
#include "config.h"

#include "fcgi/record.h"
#include "tap.h"

#include <fastcgi.h>
#include <stdlib.h>
#include <string.h>

struct stream {
    unsigned char b[1 << 20];
    size_t n;
};

static void rec(struct stream *s, unsigned type, unsigned id, const void *content, size_t clen,
                unsigned pad)
{
    unsigned char *h = s->b + s->n;
    h[0] = 1;
    h[1] = (unsigned char)type;
    h[2] = (unsigned char)(id >> 8);
    h[3] = (unsigned char)id;
    h[4] = (unsigned char)(clen >> 8);
    h[5] = (unsigned char)clen;
    h[6] = (unsigned char)pad;
    h[7] = 0;
    s->n += 8;
    if (clen)
        memcpy(s->b + s->n, content, clen);
    s->n += clen;
    memset(s->b + s->n, 0xAA, pad); /* padding is never looked at */
    s->n += pad;
}

static void begin(struct stream *s, unsigned id, unsigned role, bool keep)
{
    unsigned char body[8] = { (unsigned char)(role >> 8), (unsigned char)role, keep ? 1 : 0 };
    rec(s, FCGI_BEGIN_REQUEST, id, body, 8, 0);
}

static size_t pair(unsigned char *out, const char *name, size_t nl, const char *value, size_t vl)
{
    size_t n = 0;
    if (nl < 128) {
        out[n++] = (unsigned char)nl;
    } else {
        out[n++] = (unsigned char)(0x80 | nl >> 24);
        out[n++] = (unsigned char)(nl >> 16);
        out[n++] = (unsigned char)(nl >> 8);
        out[n++] = (unsigned char)nl;
    }
    if (vl < 128) {
        out[n++] = (unsigned char)vl;
    } else {
        out[n++] = (unsigned char)(0x80 | vl >> 24);
        out[n++] = (unsigned char)(vl >> 16);
        out[n++] = (unsigned char)(vl >> 8);
        out[n++] = (unsigned char)vl;
    }
    memcpy(out + n, name, nl);
    memcpy(out + n + nl, value, vl);
    return n + nl + vl;
}

/* What one parse of a whole stream produced. */
struct result {
    int begins, params_done, stdin_end, aborts, replies, errors, too_large;
    size_t n_params;
    char params[4096];
    unsigned char body[70000];
    size_t body_len;
    unsigned char replies_buf[4096];
    size_t replies_len;
    const char *error;
};

static void run(struct fw_record_parser *p, const unsigned char *b, size_t n, size_t step,
                struct result *r)
{
    memset(r, 0, sizeof(*r));
    size_t pos = 0;
    while (pos < n) {
        size_t len = n - pos < step ? n - pos : step;
        size_t used = 0;
        for (;;) {
            struct fw_record_event ev;
            size_t k = fw_record_parse(p, b + pos + used, len - used, &ev);
            used += k;
            switch (ev.kind) {
            case FW_RECORD_NONE: break;
            case FW_RECORD_BEGIN: r->begins++; break;
            case FW_RECORD_PARAMS_DONE:
                r->params_done++;
                r->n_params = p->n_params;
                for (size_t i = 0; i < p->n_params; i++) {
                    const char *nm, *v;
                    size_t nl, vl;
                    fw_record_param(p, i, &nm, &nl, &v, &vl);
                    size_t at = strlen(r->params);
                    snprintf(r->params + at, sizeof(r->params) - at, "%.*s=%.*s;", (int)nl, nm,
                             (int)vl, v);
                }
                break;
            case FW_RECORD_STDIN:
                memcpy(r->body + r->body_len, ev.data, ev.len);
                r->body_len += ev.len;
                break;
            case FW_RECORD_STDIN_END:
                r->stdin_end++;
                fw_record_parser_next(p, 4096);
                break;
            case FW_RECORD_ABORT:
                r->aborts++;
                fw_record_parser_next(p, 4096);
                break;
            case FW_RECORD_REPLY:
                r->replies++;
                memcpy(r->replies_buf + r->replies_len, ev.data, ev.len);
                r->replies_len += ev.len;
                break;
            case FW_RECORD_TOO_LARGE: r->too_large++; return;
            case FW_RECORD_ERROR:
                r->errors++;
                r->error = ev.error;
                return;
            }
            if (used == len && ev.kind == FW_RECORD_NONE)
                break;
        }
        pos += len;
    }
}

static void nginx_request(struct stream *s, unsigned id, bool keep, const char *body)
{
    begin(s, id, FCGI_RESPONDER, keep);
    unsigned char pp[512];
    size_t n = 0;
    n += pair(pp + n, "REQUEST_METHOD", 14, "POST", 4);
    n += pair(pp + n, "REQUEST_URI", 11, "/x?y=1", 6);
    n += pair(pp + n, "EMPTY", 5, "", 0);
    rec(s, FCGI_PARAMS, id, pp, n, (unsigned)((8 - n % 8) % 8));
    rec(s, FCGI_PARAMS, id, NULL, 0, 0);
    if (body && *body)
        rec(s, FCGI_STDIN, id, body, strlen(body), 3);
    rec(s, FCGI_STDIN, id, NULL, 0, 0);
}

static struct stream s;
static struct result r;

static void test_request(void)
{
    struct fw_record_parser p;
    size_t steps[] = { 1, 3, 8, 9, 1 << 20 };
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        s.n = 0;
        nginx_request(&s, 1, true, "hello body");
        nginx_request(&s, 2, true, "");
        fw_record_parser_init(&p, 1 << 20, 4, 4);
        run(&p, s.b, s.n, steps[k], &r);
        char name[64];
        snprintf(name, sizeof(name), "two kept requests, fed %zu bytes at a time", steps[k]);
        ok(r.begins == 2 && r.params_done == 2 && r.stdin_end == 2 && r.errors == 0, name);
        is_str(r.params,
               "REQUEST_METHOD=POST;REQUEST_URI=/x?y=1;EMPTY=;REQUEST_METHOD=POST;REQUEST_URI=/"
               "x?y=1;EMPTY=;",
               "params of both, in order");
        is_str((char *)r.body, "hello body", "body");
        ok(!fw_record_mid_request(&p), "idle after the second");
        fw_record_parser_free(&p);
    }
}

static void test_get_values(void)
{
    struct fw_record_parser p;
    fw_record_parser_init(&p, 1 << 20, 7, 3);
    unsigned char pp[65535];
    size_t n = 0;
    while (n + 17 < 65000)
        n += pair(pp + n, FCGI_MAX_CONNS, 14, "", 0);
    n += pair(pp + n, "FCGI_NOT_A_THING", 16, "", 0);
    n += pair(pp + n, FCGI_MPXS_CONNS, 15, "x", 1);
    n += pair(pp + n, FCGI_MAX_REQS, 13, "", 0);
    s.n = 0;
    rec(&s, FCGI_GET_VALUES, 0, pp, n, 0);
    run(&p, s.b, s.n, 1 << 20, &r);
    is(r.replies, 1, "GET_VALUES of thousands of names: one answer");
    unsigned char want[8 + 80];
    size_t wn = 8;
    wn += pair(want + wn, FCGI_MAX_CONNS, 14, "7", 1);
    wn += pair(want + wn, FCGI_MAX_REQS, 13, "3", 1);
    wn += pair(want + wn, FCGI_MPXS_CONNS, 15, "0", 1);
    size_t clen = wn - 8, pad = (8 - clen % 8) % 8;
    memset(want + wn, 0, pad);
    fw_record_header(want, FCGI_GET_VALUES_RESULT, 0, clen);
    is(r.replies_len, (long long)(wn + pad), "answer length (padded to 8)");
    ok(memcmp(r.replies_buf, want, wn + pad) == 0, "each name once, padding zeroed");
    fw_record_parser_free(&p);
}

static void test_refusals(void)
{
    struct fw_record_parser p;
    fw_record_parser_init(&p, 1 << 20, 1, 1);
    s.n = 0;
    rec(&s, 77, 0, "abc", 3, 5);
    run(&p, s.b, s.n, 1, &r);
    ok(r.replies == 1 && r.replies_buf[1] == FCGI_UNKNOWN_TYPE && r.replies_buf[8] == 77,
       "unknown management type: UNKNOWN_TYPE");

    s.n = 0;
    begin(&s, 5, FCGI_AUTHORIZER, true);
    unsigned char pp[64];
    size_t n = pair(pp, "A", 1, "B", 1);
    rec(&s, FCGI_PARAMS, 5, pp, n, 0);
    rec(&s, FCGI_PARAMS, 5, NULL, 0, 0);
    nginx_request(&s, 6, true, "z");
    run(&p, s.b, s.n, 1 << 20, &r);
    ok(r.replies == 1 && r.replies_buf[1] == FCGI_END_REQUEST &&
           r.replies_buf[12] == FCGI_UNKNOWN_ROLE,
       "authorizer role: END_REQUEST UNKNOWN_ROLE");
    ok(r.begins == 1 && r.stdin_end == 1 && r.errors == 0,
       "its params are dropped, the next is served");

    fw_record_parser_next(&p, 0);
    s.n = 0;
    begin(&s, 1, FCGI_RESPONDER, true);
    begin(&s, 2, FCGI_RESPONDER, true);
    rec(&s, FCGI_PARAMS, 1, NULL, 0, 0);
    rec(&s, FCGI_STDIN, 1, NULL, 0, 0);
    run(&p, s.b, s.n, 1 << 20, &r);
    ok(r.replies == 1 && r.replies_buf[3] == 2 && r.replies_buf[12] == FCGI_CANT_MPX_CONN,
       "second BEGIN_REQUEST: CANT_MPX_CONN for its id");
    ok(r.stdin_end == 1 && r.errors == 0, "the first request goes on");

    fw_record_parser_next(&p, 0);
    s.n = 0;
    nginx_request(&s, 1, true, "");
    s.b[0] = 2;
    run(&p, s.b, s.n, 1 << 20, &r);
    ok(r.errors == 1, "version 2: protocol error");
    fw_record_parser_free(&p);

    const char *bad[] = { "id0", "stdin-first", "pair-cut" };
    for (size_t k = 0; k < 3; k++) {
        fw_record_parser_init(&p, 1 << 20, 1, 1);
        s.n = 0;
        begin(&s, k == 0 ? 0 : 1, FCGI_RESPONDER, false);
        if (k == 1)
            rec(&s, FCGI_STDIN, 1, "x", 1, 0);
        if (k == 2) {
            rec(&s, FCGI_PARAMS, 1,
                "\x05\x01"
                "AB",
                4, 0);
            rec(&s, FCGI_PARAMS, 1, NULL, 0, 0);
        }
        run(&p, s.b, s.n, 1 << 20, &r);
        ok(r.errors == 1, bad[k]);
        fw_record_parser_free(&p);
    }
}

static void test_abort_and_strays(void)
{
    struct fw_record_parser p;
    fw_record_parser_init(&p, 1 << 20, 1, 1);
    s.n = 0;
    begin(&s, 1, FCGI_RESPONDER, true);
    rec(&s, FCGI_ABORT_REQUEST, 1, NULL, 0, 0);
    rec(&s, FCGI_PARAMS, 1,
        "\x01\x01"
        "AB",
        4, 4);                           /* stray: the request ended */
    rec(&s, FCGI_STDIN, 9, "zzz", 3, 0); /* stray: never began */
    nginx_request(&s, 1, true, "ok");
    run(&p, s.b, s.n, 2, &r);
    ok(r.aborts == 1 && r.begins == 2 && r.stdin_end == 1 && r.errors == 0,
       "abort in the params, strays dropped, the next request whole");
    is_str((char *)r.body, "ok", "its body");
    fw_record_parser_free(&p);
}

static void test_limits(void)
{
    struct fw_record_parser p;
    fw_record_parser_init(&p, 4096, 1, 1);
    s.n = 0;
    begin(&s, 1, FCGI_RESPONDER, false);
    /* 0x40000000 + 0x40000000: refused at the lengths, nothing allocated */
    unsigned char huge[8] = { 0xC0, 0, 0, 0, 0xC0, 0, 0, 0 };
    rec(&s, FCGI_PARAMS, 1, huge, 8, 0);
    run(&p, s.b, s.n, 1 << 20, &r);
    ok(r.too_large == 1 && p.buf_cap == 0,
       "name and value of 1 GiB each: too large, no allocation");
    fw_record_parser_free(&p);

    fw_record_parser_init(&p, 4096, 1, 1);
    s.n = 0;
    begin(&s, 1, FCGI_RESPONDER, false);
    unsigned char empties[2000];
    memset(empties, 0, sizeof(empties));
    rec(&s, FCGI_PARAMS, 1, empties, sizeof(empties), 0);
    run(&p, s.b, s.n, 1 << 20, &r);
    ok(r.too_large == 1 && p.n_params <= 4096 / FW_RECORD_PARAM_OVERHEAD,
       "1000 empty params: too large past the limit");
    ok(p.buf_cap <= 4096, "buffer within max_params");
    fw_record_parser_free(&p);

    fw_record_parser_init(&p, 1 << 20, 1, 1);
    s.n = 0;
    begin(&s, 1, FCGI_RESPONDER, false);
    unsigned char pp[300];
    char v[200];
    memset(v, 'v', sizeof(v));
    size_t n = pair(pp, "N\0UL", 4, v, sizeof(v));
    /* a pair split across two records, the split inside its value length */
    rec(&s, FCGI_PARAMS, 1, pp, 6, 0);
    rec(&s, FCGI_PARAMS, 1, pp + 6, n - 6, 1);
    rec(&s, FCGI_PARAMS, 1, NULL, 0, 7);
    rec(&s, FCGI_STDIN, 1, NULL, 0, 7);
    run(&p, s.b, s.n, 1 << 20, &r);
    ok(r.params_done == 1 && r.n_params == 1 && r.stdin_end == 1, "a pair across records");
    ok(!fw_record_mid_request(&p), "padding of the empty records read (not taken for a header)");
    fw_record_parser_free(&p);
}

/* A management record may come at any time, even between two PARAMS
 * records that split a pair (found by t/fuzz/record_fuzz: the pair was
 * lost, or its value's bytes taken for a new param). */
static void test_get_values_inside_a_pair(void)
{
    struct fw_record_parser p;
    fw_record_parser_init(&p, 1 << 20, 1, 1);
    s.n = 0;
    begin(&s, 1, FCGI_RESPONDER, false);
    rec(&s, FCGI_PARAMS, 1,
        "\x01\x05"
        "AB",
        4, 4);
    unsigned char gv[32];
    size_t n = pair(gv, FCGI_MAX_CONNS, 14, "", 0);
    rec(&s, FCGI_GET_VALUES, 0, gv, n, 0);
    rec(&s, FCGI_PARAMS, 1,
        "\x01\x01xy"
        "\x01\x01"
        "Cd",
        8, 0);
    rec(&s, FCGI_PARAMS, 1, NULL, 0, 0);
    rec(&s, FCGI_STDIN, 1, NULL, 0, 0);
    run(&p, s.b, s.n, 1 << 20, &r);
    ok(r.replies == 1 && r.errors == 0 && r.stdin_end == 1, "GET_VALUES inside a pair: answered");
    is_str(r.params, "A=B\x01\x01xy;C=d;", "and the pair it interrupted is whole");
    fw_record_parser_free(&p);
}

int main(void)
{
    test_request();
    test_get_values();
    test_refusals();
    test_abort_and_strays();
    test_limits();
    test_get_values_inside_a_pair();
    return done_testing();
}
