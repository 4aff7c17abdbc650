/* lib/httpreq: the status server's request parser, fed what a hostile
 * client may send: every outcome is a complete head, "more please" within
 * the cap, or the status the server must answer, and it never reads past
 * the bytes given (ASan checks; each case is copied into a buffer of its
 * exact length). */
#include "config.h"

#include "lib/httpreq.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static long parse(const char *s, size_t max, struct fw_httpreq *r)
{
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    long rc = fw_httpreq_parse(copy, n, max, r);
    free(copy);
    return rc;
}

static void statuses(void)
{
    struct fw_httpreq r;
    static const struct {
        const char *in;
        long want;
        const char *name;
    } cases[] = {
        { "GET /status HTTP/1.1\r\nHost: x\r\n\r\n", 33, "a plain GET: its head's length" },
        { "GET /ping HTTP/1.0\r\n\r\n", 22, "HTTP/1.0 needs no Host" },
        { "GET /ping HTTP/1.1\nHost: x\n\n", 28, "bare LF line ends" },
        { "GET /status HTTP/1.1\r\nHost: x\r\n", 0, "no empty line yet: more" },
        { "GET /sta", 0, "a request line cut short: more" },
        { "", 0, "nothing yet: more" },
        { "GET /ping HTTP/1.1\r\n\r\n", -400, "HTTP/1.1 without Host: 400" },
        { "GET /ping HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -400, "two Hosts: 400" },
        { "GET /ping HTTP/2.0\r\nHost: a\r\n\r\n", -505, "HTTP/2.0: 505" },
        { "GET /ping HTTP/1.2\r\nHost: a\r\n\r\n", -505, "HTTP/1.2: 505" },
        { "GET /ping HTTX/1.1\r\nHost: a\r\n\r\n", -400, "not HTTP: 400" },
        { "GET /ping HTTP/1.1 \r\nHost: a\r\n\r\n", -400, "a space after the version: 400" },
        { "GET  /ping HTTP/1.1\r\nHost: a\r\n\r\n", -400, "two spaces: 400" },
        { "GET http://x/ping HTTP/1.1\r\nHost: a\r\n\r\n", -400, "absolute-form: 400" },
        { "GET * HTTP/1.1\r\nHost: a\r\n\r\n", -400, "asterisk-form: 400" },
        { "G(T /ping HTTP/1.1\r\nHost: a\r\n\r\n", -400, "a method with a separator: 400" },
        { "VERYLONGMETHODNAME /ping HTTP/1.1\r\nHost: a\r\n\r\n", -501,
          "a method longer than any: 501" },
        { "GET /pi\x01ng HTTP/1.1\r\nHost: a\r\n\r\n", -400, "a control byte in the target: 400" },
        { "GET /pi\xffng HTTP/1.1\r\nHost: a\r\n\r\n", -400,
          "a byte past ASCII in the target: 400" },
        { "GET /ping HTTP/1.1\r\nHost : a\r\n\r\n", -400, "a space before the colon: 400" },
        { "GET /ping HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", -400, "obs-fold: 400" },
        { "GET /ping HTTP/1.1\r\nHost: a\x01\r\n\r\n", -400, "a control byte in a value: 400" },
        { "GET /ping HTTP/1.1\r\nHost: a\rb\r\n\r\n", -400, "a lone CR: 400" },
        { "GET /ping HTTP/1.1\r\nnocolon\r\n\r\n", -400, "a header without a colon: 400" },
        { "GET /ping HTTP/1.1\r\n: x\r\nHost: a\r\n\r\n", -400, "an empty header name: 400" },
        { "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.0\r\n\r\n", -400, "many empty lines first: 400" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        is(parse(cases[i].in, 8192, &r), cases[i].want, cases[i].name);
}

static void limits(void)
{
    struct fw_httpreq r;
    char *big = malloc(20000);
    /* A target of exactly the most, then one more. */
    for (int extra = 0; extra < 2; extra++) {
        size_t t = FW_HTTPREQ_TARGET_MAX + (size_t)extra;
        int n = sprintf(big, "GET /");
        memset(big + n, 'a', t - 1);
        n += (int)t - 1;
        n += sprintf(big + n, " HTTP/1.0\r\n\r\n");
        long rc = fw_httpreq_parse(big, (size_t)n, 8192, &r);
        if (extra)
            is(rc, -414, "a target one past the most: 414");
        else
            is(rc, n, "a target of the most: parsed");
    }
    /* A head that never ends, at the cap and past it. */
    int n = sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(big + n, 'b', 20000 - (size_t)n);
    is(fw_httpreq_parse(big, 8191, 8192, &r), 0, "a head below the cap without its end: more");
    is(fw_httpreq_parse(big, 8192, 8192, &r), -431, "at the cap without its end: 431");
    is(fw_httpreq_parse(big, 20000, 8192, &r), -431, "past the cap: 431, reading only the cap");
    /* Too many headers. */
    n = sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int h = 0; h < FW_HTTPREQ_HEADERS_MAX; h++)
        n += sprintf(big + n, "X%d: y\r\n", h);
    n += sprintf(big + n, "\r\n");
    is(fw_httpreq_parse(big, (size_t)n, 8192, &r), -431, "65 headers: 431");
    free(big);
}

static void fields(void)
{
    struct fw_httpreq r;
    const char *s = "HEAD /status?json HTTP/1.1\r\nhOsT: x\r\n"
                    "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n\r\n";
    ok(parse(s, 8192, &r) > 0, "HEAD with a query and Accept: parsed");
    is_str(r.method, "HEAD", "the method");
    is_str(r.path, "/status", "the path, without the query");
    is_str(r.query, "json", "the query");
    ok(r.http11, "HTTP/1.1");
    ok(r.accept_openmetrics && r.accept_text_plain, "both media types named in Accept");
    parse("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain ; version=0.0.4\r\n\r\n", 8192,
          &r);
    ok(!r.accept_openmetrics && r.accept_text_plain, "Accept: text/plain alone");
    parse("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plainx, */*\r\n\r\n", 8192, &r);
    ok(!r.accept_openmetrics && !r.accept_text_plain, "text/plainx is not text/plain");
    parse("GET /a?b?c HTTP/1.0\r\n\r\n", 8192, &r);
    is_str(r.query, "b?c", "the query is all after the first '?'");
}

/* Every prefix of a valid request, and every byte of it flipped: never a
 * read past the end (ASan), never a "complete" shorter than the head. */
static void prefixes(void)
{
    const char *s = "GET /metrics?x HTTP/1.1\r\nHost: h\r\nAccept: text/plain\r\n\r\n";
    size_t n = strlen(s);
    bool fine = true;
    struct fw_httpreq r;
    for (size_t len = 0; len < n; len++) {
        char *copy = malloc(len ? len : 1);
        memcpy(copy, s, len);
        if (fw_httpreq_parse(copy, len, 8192, &r) > 0)
            fine = false;
        free(copy);
    }
    ok(fine, "no prefix of a request is taken as complete");
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < 256; v += 7) {
            char *copy = malloc(n);
            memcpy(copy, s, n);
            copy[i] = (char)v;
            long rc = fw_httpreq_parse(copy, n, 8192, &r);
            if (rc > (long)n)
                fine = false;
            free(copy);
        }
    ok(fine, "bytes changed anywhere: an answer within the bytes given");
}

int main(void)
{
    statuses();
    limits();
    fields();
    prefixes();
    done_testing();
}
