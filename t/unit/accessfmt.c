/* The access log format: the compiler's errors and their offsets, each
 * directive's output for a known request, the escaper, and the bounds. */
#include "config.h"

#include "lib/accessfmt.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static const char *names[] = { "REMOTE_ADDR",     "REMOTE_PORT",  "REQUEST_METHOD",  "REQUEST_URI",
                               "SERVER_PROTOCOL", "QUERY_STRING", "HTTP_USER_AGENT", "CONTENT_TYPE",
                               "SERVER_PORT",     "REMOTE_USER" };
static const char *values[] = { "127.0.0.1", "40000",  "POST",       "/a/b?x=1", "HTTP/1.1",
                                "x=1",       "curl/8", "text/plain", "8080",     "" };

/* Renders fmt for the request above (a POST of 5 bytes, 201, app 1234 us,
 * total 2500 us, at 2026-12-02 13:35:01.042 UTC). */
static int bind_pid; /* non-zero: fw_accessfmt_bind with it, "www" and 3 */

static char *render(const char *fmt, const char *uri)
{
    size_t off;
    char err[200];
    struct fw_accessfmt *f = fw_accessfmt_compile(fmt, &off, err, sizeof(err));
    if (!f) {
        diag("compile '%s': %s at %zu", fmt, err, off);
        return strdup("(compile failed)");
    }
    if (bind_pid)
        fw_accessfmt_bind(f, bind_pid, "www", 3);
    struct fw_accessfmt_value vals[FW_ACCESSFMT_MAX_PARAMS] = { { 0 } };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int s = fw_accessfmt_param_slot(f, names[i], strlen(names[i]));
        const char *v = i == 3 && uri ? uri : values[i];
        if (s >= 0 && !vals[s].s)
            vals[s] = (struct fw_accessfmt_value){ v, strlen(v) };
    }
    struct fw_accessfmt_request r = {
        .params = vals,
        .now = { 1764682501, 42000000 },
        .status = 201,
        .body_bytes = 5,
        .app_us = 1234,
        .total_us = 2500,
        .mount = "/a",
        .pid = 4242,
        .pool = "www",
        .generation = 3,
        .thread = 1,
    };
    struct fw_accessfmt_clock clock = { 0 };
    char *out = malloc(FW_ACCESSFMT_LINE_MAX + 1);
    size_t n = fw_accessfmt_render(f, &r, &clock, out);
    out[n] = '\0';
    fw_accessfmt_free(f);
    return out;
}

static void check(const char *fmt, const char *want)
{
    char *got = render(fmt, NULL);
    char name[160];
    snprintf(name, sizeof(name), "format '%s'", fmt);
    is_str_at(got, want, __FILE__, __LINE__, name);
    free(got);
}

static void bad(const char *fmt, size_t want_off, const char *want_err)
{
    size_t off = 999;
    char err[200] = "";
    struct fw_accessfmt *f = fw_accessfmt_compile(fmt, &off, err, sizeof(err));
    char name[160], shown[64];
    snprintf(shown, sizeof(shown), "%s", fmt);
    for (char *p = shown; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    fmt = shown;
    snprintf(name, sizeof(name), "'%s' is refused", fmt);
    ok(!f, name);
    fw_accessfmt_free(f);
    snprintf(name, sizeof(name), "'%s': the offset of the bad directive", fmt);
    is(off, want_off, name);
    snprintf(name, sizeof(name), "'%s': the message", fmt);
    ok(strstr(err, want_err) != NULL, name);
    if (!strstr(err, want_err))
        diag("got '%s', wanted it to hold '%s'", err, want_err);
}

static void escape(const char *in, size_t len, size_t max, const char *want)
{
    char out[4200];
    size_t n = fw_accessfmt_escape(out, max, in, len);
    out[n] = '\0';
    char name[160];
    snprintf(name, sizeof(name), "escape of %zu bytes (max %zu)", len, max);
    is_str_at(out, want, __FILE__, __LINE__, name);
    ok(n <= max, "within its max");
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    check("%h %{remote}p %p %l %u", "127.0.0.1 40000 8080 - -\n");
    check("%t", "[02/Dec/2025:13:35:01 +0000]\n");
    check("%{iso}t|%{msec}t", "2025-12-02T13:35:01.042+00:00|1764682501.042\n");
    check("\"%r\" %m %U%q %H", "\"POST /a/b?x=1 HTTP/1.1\" POST /a/b?x=1?x=1 HTTP/1.1\n");
    check("%s %>s %b %B", "201 201 5 5\n");
    check("%D %{app}D %T %{ms}T %{us}T %{app}T %{app_ms}T %{app_us}T",
          "2500 1234 0.002 2 2500 0.001 1 1234\n");
    check("%P %{pool}w %{generation}w %{mount}w %{thread}w", "4242 www 3 /a 1\n");
    check("%{HTTP_USER_AGENT}e|%{User-Agent}i|%{Content-Type}i|%{NOPE}e",
          "curl/8|curl/8|text/plain|-\n");
    check("100%% done\tTAB", "100% done\tTAB\n");
    /* Bound to a process, the constant fields are literals: the same line. */
    bind_pid = 777;
    check("%P %{pool}w %{generation}w %{mount}w %{thread}w", "777 www 3 /a 1\n");
    check("[%P]%h", "[777]127.0.0.1\n");
    check(FW_ACCESSFMT_DEFAULT, "127.0.0.1 - - [02/Dec/2025:13:35:01 +0000] \"POST /a/b?x=1 "
                                "HTTP/1.1\" 201 5 \"-\" \"curl/8\" 1234 2500 777 www 3\n");
    bind_pid = 0;
    check("", "\n");
    check(FW_ACCESSFMT_DEFAULT, "127.0.0.1 - - [02/Dec/2025:13:35:01 +0000] \"POST /a/b?x=1 "
                                "HTTP/1.1\" 201 5 \"-\" \"curl/8\" 1234 2500 4242 www 3\n");

    /* What a peer sends is escaped, CR, LF and the quote included. */
    char *got = render("\"%U\"", "/x\r\nINJECTED \"quoted\" back\\slash");
    is_str_at(got, "\"/x\\x0d\\x0aINJECTED \\x22quoted\\x22 back\\x5cslash\"\n", __FILE__, __LINE__,
              "CR, LF, quote and backslash in the URI");
    free(got);
    /* A huge URI is cut with the marker, and the line stays bounded. */
    char *huge = malloc(100001);
    memset(huge, 'a', 100000);
    huge[100000] = '\0';
    got = render("%U %U %U %U %U %U %s", huge);
    ok(strlen(got) <= FW_ACCESSFMT_LINE_MAX, "a line of six 100 kB URIs stays bounded");
    ok(got[strlen(got) - 1] == '\n', "and ends with its newline");
    ok(strstr(got, "a" FW_ACCESSFMT_CUT " a") != NULL, "a cut field ends with the marker");
    free(got);
    free(huge);

    escape("plain", 5, 100, "plain");
    escape("\x01\x7f", 2, 100, "\\x01\\x7f");
    escape("caf\xc3\xa9", 5, 100, "caf\xc3\xa9");               /* UTF-8 kept */
    escape("\xe2\x82\xac", 3, 100, "\xe2\x82\xac");             /* a 3-byte one */
    escape("\xf0\x9f\x98\x80", 4, 100, "\xf0\x9f\x98\x80");     /* a 4-byte one */
    escape("\xff\xc3", 2, 100, "\\xff\\xc3");                   /* not UTF-8; cut sequence */
    escape("\xc0\xaf", 2, 100, "\\xc0\\xaf");                   /* overlong '/' */
    escape("\xed\xa0\x80", 3, 100, "\\xed\\xa0\\x80");          /* a surrogate */
    escape("\xf4\x90\x80\x80", 4, 100, "\\xf4\\x90\\x80\\x80"); /* past U+10FFFF */
    escape("abcdefgh", 8, 8, "abcdefgh");                       /* fits exactly */
    escape("abcdefghi", 9, 8, "abcd" FW_ACCESSFMT_CUT);
    escape("\n\n\n", 3, 8, "\\x0a" FW_ACCESSFMT_CUT);
    escape("abc", 3, 2, "\\.");

    bad("%Z", 0, "unknown directive '%Z'");
    bad("ok %{x}Z", 3, "unknown directive '%Z'");
    bad("a %{HTTP_HOST", 2, "without its closing '}'");
    bad("end %", 4, "without its letter");
    bad("%{bad name}e", 0, "letters, digits and '_' only");
    bad("%{}e", 0, "needs a name");
    bad("x %{nope}t", 2, "%{iso}t");
    bad("%{nope}w", 0, "%{pool}w");
    bad("%{x}s", 0, "takes no {argument}");
    bad("two\x01lines", 3, "control character");
    bad("two\nlines", 3, "write one line");
    bad("%{remotely}p", 0, "%{remote}p");
    char many[FW_ACCESSFMT_MAX_FORMAT];
    memset(many, 0, sizeof(many));
    for (int i = 0; i < 40; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%%{H%d}e", i);
    bad(many, 214, "too many different params");
    char *longf = malloc(FW_ACCESSFMT_MAX_FORMAT + 10);
    memset(longf, 'x', FW_ACCESSFMT_MAX_FORMAT + 9);
    longf[FW_ACCESSFMT_MAX_FORMAT + 9] = '\0';
    bad(longf, 0, "too long");
    free(longf);
    return done_testing();
}
