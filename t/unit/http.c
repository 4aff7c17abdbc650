/* lib/http: canned responses. */
#include "config.h"

#include "lib/http.h"
#include "tap.h"

int main(void)
{
    char buf[512];
    size_t n = fw_http_error_response(413, buf, sizeof(buf));
    ok(n == strlen(buf), "length returned");
    ok(strncmp(buf, "Status: 413 Content Too Large\r\n", 31) == 0, "status line");
    ok(strstr(buf, "Content-Length: 22\r\n\r\n413 Content Too Large\n") != NULL,
       "length matches the body");
    is_str(fw_http_reason(431), "Request Header Fields Too Large", "431 reason");
    is_str(fw_http_reason(299), "Unknown", "unknown status");
    char small[16];
    n = fw_http_error_response(500, small, sizeof(small));
    is(n, 15, "truncated to the buffer");
    return done_testing();
}
