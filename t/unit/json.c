/* lib/json: what `status --json` writes reads back; hostile input (deep
 * nesting, every prefix of a document, bad escapes and surrogates, invalid
 * UTF-8, control characters, NUL bytes, huge numbers, limits on size and
 * values) is refused with the byte it stopped at, and never read past its
 * end (ASan build) or allowed to grow without bound. */
#include "config.h"

#include "lib/buf.h"
#include "lib/json.h"
#include "tap.h"

#include <stdlib.h>

static struct fw_json_doc *parse(const char *s, char *err, size_t cap)
{
    /* A copy of exactly strlen bytes, so ASan sees any read past the end. */
    size_t len = strlen(s);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, s, len);
    struct fw_json_doc *d = fw_json_parse(copy, len, NULL, err, cap);
    free(copy);
    return d;
}

static void refused(const char *s, const char *why, const char *name)
{
    char err[128];
    struct fw_json_doc *d = parse(s, err, sizeof(err));
    if (!ok(d == NULL && strstr(err, why), name))
        diag("input '%s': %s, error '%s', wanted '%s'", s, d ? "accepted" : "refused", err, why);
    fw_json_free(d);
}

static void accepted(const char *s, const char *name)
{
    char err[128];
    struct fw_json_doc *d = parse(s, err, sizeof(err));
    if (!ok(d != NULL, name))
        diag("input '%s': %s", s, err);
    fw_json_free(d);
}

static const char *status_doc =
    "{\"version\":\"0.1\",\"pid\":42,\"uptime_ms\":1234,\"config\":\"/etc/f.yaml\","
    "\"pools\":[{\"name\":\"web\",\"generation\":3,\"requests\":18446744073709551615,"
    "\"workers_by_state\":{\"starting\":0,\"idle\":1,\"busy\":1},\"stopped\":false,"
    "\"recycle\":null,\"workers\":[{\"pid\":7,\"state\":\"busy\",\"requests_now\":"
    "[{\"method\":\"GET\",\"path\":\"/a\\\\x1b\\u00e9\\ud83d\\ude00\",\"age_ms\":2500}]},"
    "{\"pid\":8,\"state\":\"idle\",\"requests_now\":[]}]},{\"name\":\"b\",\"workers\":[]}]}\n";

int main(void)
{
    char err[128];
    struct fw_json_doc *d = parse(status_doc, err, sizeof(err));
    if (!ok(d != NULL, "a status document parses"))
        diag("%s", err);
    const struct fw_json *root = fw_json_root(d);
    is(fw_json_int(fw_json_get(root, "pid"), -1), 42, "pid");
    is_str(fw_json_str(fw_json_get(root, "version"), NULL), "0.1", "version");
    const struct fw_json *pools = fw_json_get(root, "pools");
    is(fw_json_len(pools), 2, "two pools");
    const struct fw_json *web = fw_json_at(pools, 0);
    is_str(fw_json_str(fw_json_get(fw_json_at(pools, 1), "name"), NULL), "b", "pool 1 by index");
    is(fw_json_int(fw_json_get(web, "requests"), -1), -1,
       "an integer past int64_t is no int64 (the default)");
    ok(fw_json_num(fw_json_get(web, "requests"), 0) > 1.8e19, "... but a number");
    is(fw_json_int(fw_json_get(fw_json_get(web, "workers_by_state"), "busy"), -1), 1,
       "nested object member");
    ok(fw_json_bool(fw_json_get(web, "stopped"), true) == false, "false");
    is(fw_json_type(fw_json_get(web, "recycle")), FW_JSON_NULL, "null");
    ok(fw_json_get(web, "missing") == NULL && fw_json_get(NULL, "x") == NULL &&
           fw_json_at(NULL, 0) == NULL && fw_json_len(fw_json_get(web, "name")) == 0,
       "missing members, NULL and wrong types read as absent");
    is(fw_json_int(fw_json_get(web, "name"), 9), 9, "a string read as an int: the default");
    const struct fw_json *w0 = fw_json_at(fw_json_get(web, "workers"), 0);
    const struct fw_json *r0 = fw_json_at(fw_json_get(w0, "requests_now"), 0);
    is_str(fw_json_str(fw_json_get(r0, "path"), NULL), "/a\\x1b\xc3\xa9\xf0\x9f\x98\x80",
           "escapes, \\u00e9 and a surrogate pair decode to UTF-8");
    is(fw_json_int(fw_json_get(r0, "age_ms"), -1), 2500, "an element's member");
    const struct fw_json *w1 = fw_json_next(fw_json_get(web, "workers"), w0);
    is(fw_json_int(fw_json_get(w1, "pid"), -1), 8, "next skips the previous sibling's subtree");
    ok(fw_json_next(fw_json_get(web, "workers"), w1) == NULL, "... and ends after the last");
    is_str(fw_json_key(fw_json_next(root, NULL)), "version", "a member's key");
    fw_json_free(d);

    /* Every prefix of the document is refused (none is whole), cleanly. */
    size_t len = strlen(status_doc) - 1, prefixes_refused = 0;
    for (size_t n = 0; n < len; n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, status_doc, n);
        struct fw_json_doc *p = fw_json_parse(copy, n, NULL, err, sizeof(err));
        prefixes_refused += p == NULL;
        fw_json_free(p);
        free(copy);
    }
    is(prefixes_refused, len, "every strict prefix is refused");

    /* What lib/buf writes, every byte value, reads back (bytes that are not
     * UTF-8 as U+FFFD, as buf.h says). */
    char all[256];
    for (int i = 1; i < 128; i++)
        all[i - 1] = (char)i;
    all[127] = '\0';
    struct fw_buf b;
    fw_buf_init(&b);
    fw_buf_json_string(&b, all);
    d = fw_json_parse(b.data, b.len, NULL, err, sizeof(err));
    is_str(fw_json_str(fw_json_root(d), NULL), all, "ASCII 1..127 round-trips through fw_buf");
    fw_json_free(d);
    fw_buf_free(&b);
    fw_buf_init(&b);
    fw_buf_json_string(&b, "a\xff\xc0\x80z");
    d = fw_json_parse(b.data, b.len, NULL, err, sizeof(err));
    is_str(fw_json_str(fw_json_root(d), NULL), "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz",
           "invalid UTF-8 written by fw_buf reads back as U+FFFD");
    fw_json_free(d);
    fw_buf_free(&b);

    accepted(" [1, -0, 0.5, -1.5e+10, 1E-3, true, false, null, \"\", {}, []] ", "all value kinds");
    accepted("1e-400", "an underflow is a number (0)");
    refused("", "expected a value", "empty input");
    refused("[1,]", "expected a value", "trailing comma");
    refused("{\"a\":1,}", "expected a key", "trailing comma in an object");
    refused("[01]", "expected ','", "leading zero");
    refused("[1.]", "bad number", "a dot without digits");
    refused("[.5]", "expected a value", "a leading dot");
    refused("[1e]", "bad number", "an exponent without digits");
    refused("[-]", "bad number", "a bare minus");
    refused("[NaN]", "expected a value", "NaN");
    refused("[1e999]", "out of range", "a number past a double");
    refused("[11111111111111111111111111111111111111111111111111111111111111111111]", "longer than",
            "a number of 68 digits");
    refused("[tru]", "bad literal", "a short literal");
    refused("{\"a\" 1}", "expected ':'", "no colon");
    refused("{1:2}", "expected a key", "a key that is no string");
    refused("[1] x", "more after the value", "garbage after the value");
    refused("[1]\n[2]", "more after the value", "two documents");
    refused("/* c */ 1", "expected a value", "a comment");
    refused("\"a\\x41\"", "bad escape", "\\x escape");
    refused("\"a\\u12x4\"", "bad \\u escape", "a short \\u escape");
    refused("\"a\\u12", "short \\u escape", "a \\u escape cut by the end");
    refused("\"\\ud800\"", "lone high surrogate", "a lone high surrogate");
    refused("\"\\ud800\\u0041\"", "lone high surrogate", "a high surrogate and no low one");
    refused("\"\\udc00\"", "lone low surrogate", "a lone low surrogate");
    refused("\"\\u0000\"", "\\u0000", "\\u0000 (it would cut the C string)");
    refused("\"a\tb\"", "control character", "a raw tab in a string");
    refused("\"a\x1b[2Jb\"", "control character", "a raw ESC in a string");
    refused("\"\xff\"", "invalid UTF-8", "byte 0xff");
    refused("\"\xc0\x80\"", "invalid UTF-8", "an overlong NUL");
    refused("\"\xe0\x80\xaf\"", "invalid UTF-8", "an overlong slash");
    refused("\"\xed\xa0\x80\"", "invalid UTF-8", "a surrogate in UTF-8");
    refused("\"\xf4\x90\x80\x80\"", "invalid UTF-8", "past U+10FFFF");
    refused("\"\xe2\x82\"", "invalid UTF-8", "a sequence cut by the quote");
    refused("\"abc", "unterminated string", "an unterminated string");
    refused("\"abc\\", "unterminated string", "a backslash at the end");
    {
        /* A NUL byte inside the input, which strlen would not see. */
        const char in[] = "[1,\0 2]";
        struct fw_json_doc *p = fw_json_parse(in, sizeof(in) - 1, NULL, err, sizeof(err));
        ok(p == NULL && strstr(err, "byte 3"), "a NUL byte in the input is refused where it is");
        fw_json_free(p);
    }

    /* Deep nesting: a million '[' stop at the depth limit, not the stack. */
    size_t deep = 1000000;
    char *many = malloc(deep);
    memset(many, '[', deep);
    d = fw_json_parse(many, deep, NULL, err, sizeof(err));
    if (!ok(d == NULL && strstr(err, "nested deeper than 32") && strstr(err, "byte 32"),
            "a million '[': refused at depth 32"))
        diag("%s", err);
    memset(many, '{', deep);
    d = fw_json_parse(many, deep, NULL, err, sizeof(err));
    ok(d == NULL, "a million '{': refused");
    for (size_t k = 0; k < 64; k++)
        many[k] = k < 32 ? '[' : ']';
    d = fw_json_parse(many, 64, NULL, err, sizeof(err));
    if (!ok(d != NULL, "32 levels are allowed"))
        diag("%s", err);
    fw_json_free(d);
    free(many);

    struct fw_json_limits lim = { .max_bytes = 16, .max_depth = 4, .max_nodes = 5 };
    d = fw_json_parse("[1,2,3,4]", 9, &lim, err, sizeof(err));
    ok(d != NULL, "five values within a limit of five");
    fw_json_free(d);
    d = fw_json_parse("[1,2,3,4,5]", 11, &lim, err, sizeof(err));
    ok(d == NULL && strstr(err, "more than 5 values"), "six values past a limit of five");
    d = fw_json_parse("[\"0123456789abc\"]", 17, &lim, err, sizeof(err));
    if (!ok(d == NULL && strstr(err, "17 bytes, more than 16"),
            "input past max_bytes is refused before it is read"))
        diag("%s", err);
    d = fw_json_parse("[[[[1]]]]", 9, &lim, err, sizeof(err));
    ok(d != NULL, "four levels within a depth limit of 4");
    fw_json_free(d);
    d = fw_json_parse("[[[[[1]]]]]", 11, &lim, err, sizeof(err));
    ok(d == NULL && strstr(err, "deeper than 4"), "five levels past it");

    /* Many values: the node array grows by doubling up to the limit. */
    size_t n = 200000;
    char *arr = malloc(2 * n + 1);
    arr[0] = '[';
    for (size_t k = 0; k < n; k++) {
        arr[1 + 2 * k] = '7';
        arr[2 + 2 * k] = k + 1 < n ? ',' : ']';
    }
    d = fw_json_parse(arr, 2 * n + 1, NULL, err, sizeof(err));
    ok(d && fw_json_len(fw_json_root(d)) == n &&
           fw_json_int(fw_json_at(fw_json_root(d), n - 1), 0) == 7,
       "an array of 200000 numbers");
    fw_json_free(d);
    free(arr);
    return done_testing();
}
