/* manager/ctl_top_frame: what a frame of fcgiwsgi-ctl top says, from a
 * status document: workers sorted by how long their request has run
 * (idle last, ties by pool and pid), every byte outside printable ASCII
 * escaped wherever it comes from (a pool name, a path, the version),
 * lines cut at the width and frames at the height, and documents of the
 * wrong shape shown as absent rather than trusted. */
#include "config.h"

#include "lib/buf.h"
#include "lib/json.h"
#include "manager/ctl_top_frame.h"
#include "tap.h"

#include <stdlib.h>

static char *frame(const char *json, size_t width, size_t height, const char *notice)
{
    char err[128];
    struct fw_json_doc *d = json ? fw_json_parse(json, strlen(json), NULL, err, sizeof(err)) : NULL;
    if (json && !d)
        diag("bad test input: %s", err);
    struct fw_ctl_top_view v = { .status = fw_json_root(d),
                                 .notice = notice,
                                 .delay_ms = 1000,
                                 .width = width,
                                 .height = height };
    struct fw_buf b;
    fw_buf_init(&b);
    fw_ctl_top_frame(&b, &v);
    fw_json_free(d);
    char *s = strdup(fw_buf_str(&b));
    fw_buf_free(&b);
    return s;
}

/* Line n (0-based) of text, in a static buffer. */
static const char *line_of(const char *text, int n)
{
    static char buf[4096];
    const char *p = text;
    while (n-- > 0 && p && (p = strchr(p, '\n')))
        p++;
    if (!p || !*p)
        return "";
    size_t len = strcspn(p, "\n");
    snprintf(buf, sizeof(buf), "%.*s", (int)len, p);
    return buf;
}

static int first_worker_line(const char *text)
{
    for (int n = 0; n < 100; n++)
        if (strstr(line_of(text, n), "PID POOL"))
            return n + 1;
    return -1;
}

static const char *doc =
    "{\"version\":\"0.1\",\"pid\":42,\"uptime_ms\":65000,\"pools\":["
    "{\"name\":\"web\",\"generation\":2,\"requests\":10,\"workers_by_state\":{\"idle\":1,\"busy\":"
    "2},"
    "\"metrics\":{\"listen_queue\":{\"waiting\":3,\"peak\":9,\"backlog\":128}},\"workers\":["
    "{\"pid\":11,\"state\":\"idle\",\"requests\":1,\"rss_bytes\":1048576,\"requests_now\":[]},"
    "{\"pid\":12,\"state\":\"busy\",\"requests\":2,\"requests_now\":[{\"method\":\"GET\","
    "\"path\":\"/short\",\"age_ms\":100}]},"
    "{\"pid\":13,\"state\":\"busy\",\"requests\":3,\"requests_now\":[{\"method\":\"POST\","
    "\"path\":\"/long\",\"age_ms\":75000},{\"method\":\"GET\",\"path\":\"/x\",\"age_ms\":5}]}]},"
    "{\"name\":\"a\\u001b[2Jb\\u00e9\",\"stopped\":true,\"listen_queue\":4,\"workers\":["
    "{\"pid\":5,\"state\":\"idle\",\"requests_now\":[]}]}]}";

int main(void)
{
    char *f = frame(doc, 0, 0, "");
    int w = first_worker_line(f);
    ok(w > 0, "a workers' header");
    ok(strstr(line_of(f, w), "      13 web") && strstr(line_of(f, w), "1m15s") &&
           strstr(line_of(f, w), "POST /long (+1 more)"),
       "the longest busy first: its age, its request and how many more");
    ok(strstr(line_of(f, w + 1), "      12 web") && strstr(line_of(f, w + 1), "0.1s"),
       "then the shorter one");
    ok(strstr(line_of(f, w + 2), "      11 web") && strstr(line_of(f, w + 3), "       5 a"),
       "then those serving nothing, by pool order");
    ok(strstr(f, "a\\x1b[2Jb\\xc3\\xa9 ") != NULL, "a pool name's ESC and UTF-8 bytes as \\xNN");
    ok(strchr(f, '\x1b') == NULL, "no raw ESC anywhere");
    ok(strstr(f, "stopped") != NULL, "a stopped pool says so");
    ok(strstr(f, "    3/9") != NULL && strstr(f, "      4\n") != NULL,
       "metrics.listen_queue as {waiting, peak}, and a plain number");
    ok(strstr(line_of(f, 0), "master pid 42, up 1m05s") != NULL, "the header");
    for (const char *p = f; *p; p++)
        if (*p == ' ' && p[1] == '\n') {
            ok(0, "no trailing spaces");
            break;
        }
    free(f);

    f = frame(doc, 30, 0, NULL);
    size_t longest = 0, lines = 0;
    for (const char *p = f; *p; lines++) {
        size_t n = strcspn(p, "\n");
        longest = n > longest ? n : longest;
        p += n + (p[n] == '\n');
    }
    ok(longest <= 30 && lines >= 9, "width 30: every line cut to 30");
    ok(strstr(f, "a\\x1b[2Jb\\xc3\\xa9") || strstr(f, "a\\x1b[2J"),
       "... an escape counts its width");
    free(f);

    f = frame(doc, 80, 5, "");
    int n = 0;
    for (const char *p = f; *p; p++)
        n += *p == '\n';
    is(n, 5, "height 5: five lines");
    ok(strstr(line_of(f, 4), "more lines") != NULL, "... the last says how many more");
    free(f);

    f = frame(NULL, 80, 0, "retrying: no control socket");
    ok(strstr(f, "retrying: no control socket") && !strstr(f, "POOL"),
       "no status: the header and the notice only");
    free(f);

    /* Wrong shapes: nothing is trusted to be what it should. */
    const char *odd[] = {
        "[]",
        "{\"pools\":{}}",
        "{\"pools\":[1,\"x\",null,[]]}",
        "{\"pools\":[{\"name\":7,\"workers\":{\"pid\":1}}]}",
        "{\"pools\":[{\"workers\":[{\"pid\":\"x\",\"requests_now\":{\"a\":1}},"
        "{\"requests_now\":[{\"method\":1,\"path\":[],\"age_ms\":-5}]}]}]}",
        "{\"pid\":1e300,\"uptime_ms\":-9223372036854775808,\"pools\":[{\"workers_by_state\":[]}]}",
    };
    for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
        f = frame(odd[k], 80, 0, "");
        ok(f && strstr(f, "q quits"), "an oddly shaped document is drawn");
        free(f);
    }
    return done_testing();
}
