/* lib/buf: growth across many appends, printf, and JSON string escaping
 * (control characters, quotes, valid and invalid UTF-8), which status
 * --json relies on for pool names, paths and tracebacks. */
#include "config.h"

#include "lib/buf.h"
#include "tap.h"

#include <stdlib.h>

static void json_is(const char *in, const char *want, const char *name)
{
    struct fw_buf b;
    fw_buf_init(&b);
    fw_buf_json_string(&b, in);
    is_str(fw_buf_str(&b), want, name);
    fw_buf_free(&b);
}

int main(void)
{
    struct fw_buf b;
    fw_buf_init(&b);
    is_str(fw_buf_str(&b), "", "an empty buffer reads as \"\"");
    for (int i = 0; i < 10000; i++)
        fw_buf_printf(&b, "%d,", i % 10);
    is(b.len, 20000, "10000 appends: every byte kept across growth");
    ok(!fw_buf_failed(&b), "no failure");
    ok(strncmp(fw_buf_str(&b), "0,1,2,3,", 8) == 0 && b.data[b.len] == '\0',
       "content and terminating NUL");
    fw_buf_free(&b);
    is(b.len, 0, "free resets");

    fw_buf_init(&b);
    fw_buf_puts(&b, "abc");
    fw_buf_add(&b, "defgh", 2);
    fw_buf_printf(&b, "[%s:%u]", "x", 42u);
    is_str(fw_buf_str(&b), "abcde[x:42]", "puts, add with a length, printf");
    fw_buf_free(&b);

    json_is("plain", "\"plain\"", "plain text");
    json_is("", "\"\"", "empty string");
    json_is(NULL, "\"\"", "NULL is an empty string");
    json_is("a\"b\\c", "\"a\\\"b\\\\c\"", "quote and backslash escaped");
    json_is("l1\nl2\tx", "\"l1\\nl2\\tx\"", "newline and tab");
    json_is("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"", "other control characters as \\u");
    json_is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
            "valid UTF-8 (2, 3, 4 bytes) passes through");
    json_is("a\xff"
            "b",
            "\"a\\ufffdb\"", "an invalid byte becomes U+FFFD");
    json_is("\xc3", "\"\\ufffd\"", "a truncated sequence at the end");
    json_is("\xc0\xaf", "\"\\ufffd\\ufffd\"", "an overlong encoding is refused");
    json_is("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"", "a UTF-16 surrogate is refused");
    json_is("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", "past U+10FFFF is refused");
    return done_testing();
}
