/* `control:` alone, for fcgiwsgi-ctl -c: the main file's top-level mapping
 * is walked with libyaml's events, every other value skipped unread, so a
 * broken pool file, a bad include or a typo elsewhere in the main file does
 * not keep an operator from the running manager. */
#include <config.h>

#include "conf/config.h"
#include "conf/path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Far past any real file's nesting; a hostile one stops here. */
#define MAX_DEPTH 64

char *fw_conf_control_path(const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open it", file);
        return NULL;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_file(&p, f);
    char *value = NULL;
    int depth = 0;
    bool expect_key = false, want_value = false, done = false, failed = false;
    /* At depth 1 (the top mapping) events alternate: a key, then its value,
     * a scalar or a whole collection (which ends back at depth 1). */
    while (!done && !failed) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            snprintf(err, errlen, "%s:%zu:%zu: %s", file, p.problem_mark.line + 1,
                     p.problem_mark.column + 1, p.problem ? p.problem : "YAML error");
            failed = true;
            break;
        }
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (want_value) {
                snprintf(err, errlen, "%s: 'control' must be a path", file);
                failed = true;
            } else if (++depth > MAX_DEPTH) {
                snprintf(err, errlen, "%s: nested too deeply", file);
                failed = true;
            }
            expect_key = depth == 1 && ev.type == YAML_MAPPING_START_EVENT;
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            done = --depth == 0;
            expect_key = depth == 1;
            break;
        case YAML_SCALAR_EVENT:
            if (depth != 1)
                break;
            if (want_value) {
                value = strdup((const char *)ev.data.scalar.value);
                done = true;
            } else if (expect_key) {
                want_value = !strcmp((const char *)ev.data.scalar.value, "control");
                expect_key = false;
            } else {
                expect_key = true;
            }
            break;
        case YAML_STREAM_END_EVENT: done = true; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    fclose(f);
    if (failed) {
        free(value);
        return NULL;
    }
    if (!value)
        return strdup(FW_CONF_DEFAULT_CONTROL);
    char *dir = fw_conf_path_dir(file);
    char *path = dir && value[0] ? fw_conf_path_join(dir, value) : NULL;
    free(dir);
    free(value);
    if (!path)
        snprintf(err, errlen, "%s: 'control' is empty, or out of memory", file);
    return path;
}
