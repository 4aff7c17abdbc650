/* libFuzzer target for lib/json and the frame fcgiwsgi-ctl top draws from
 * what it parsed (manager/ctl_top_frame): any bytes either fail with a
 * message or give a tree whose every value is reachable and in bounds,
 * and a frame whose lines are printable ASCII within the width. */
#include "config.h"

#include "lib/buf.h"
#include "lib/json.h"
#include "manager/ctl_top_frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t walk(const struct fw_json *v, unsigned depth)
{
    if (depth > 40)
        abort(); /* the depth limit is 32 */
    size_t n = 1;
    size_t count = 0;
    for (const struct fw_json *c = fw_json_next(v, NULL); c; c = fw_json_next(v, c)) {
        if (fw_json_type(v) == FW_JSON_OBJECT && !fw_json_key(c))
            abort();
        if (fw_json_type(c) == FW_JSON_STRING && !fw_json_str(c, NULL))
            abort();
        n += walk(c, depth + 1);
        count++;
    }
    if (count != fw_json_len(v))
        abort();
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    struct fw_json_limits lim = { .max_bytes = 1 << 20, .max_depth = 32, .max_nodes = 1 << 16 };
    struct fw_json_doc *d = fw_json_parse((const char *)data, size, &lim, err, sizeof(err));
    if (!d) {
        if (!err[0])
            abort();
        return 0;
    }
    if (walk(fw_json_root(d), 0) > lim.max_nodes)
        abort();
    struct fw_ctl_top_view v = {
        .status = fw_json_root(d), .notice = "", .delay_ms = 1000, .width = 40, .height = 50
    };
    struct fw_buf b;
    fw_buf_init(&b);
    fw_ctl_top_frame(&b, &v);
    size_t col = 0;
    for (size_t i = 0; i < b.len; i++) {
        unsigned char c = (unsigned char)b.data[i];
        if (c == '\n') {
            col = 0;
            continue;
        }
        if (c < 0x20 || c > 0x7E || ++col > 40)
            abort();
    }
    fw_buf_free(&b);
    fw_json_free(d);
    return 0;
}
