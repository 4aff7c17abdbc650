/* The top level of a configuration file: the main file's settings,
 * `include:` and `pools:`. load.c decides which files are read. */
#ifndef FW_CONF_TOP_H
#define FW_CONF_TOP_H

#include <stdbool.h>

#include "conf/config.h"
#include "conf/pool.h"
#include "conf/reader.h"
#include "conf/schema.h"

/* An include pattern as written, kept until its file was read. */
struct fw_conf_include {
    char *pattern;
    struct fw_conf_mark mark;
};

/* What reading files adds to a load in progress. */
struct fw_conf_top {
    struct fw_config *cfg;
    struct fw_conf_errors *errs;
    struct fw_conf_pool_marks *marks; /* one per pool of cfg */
    size_t pools_cap, marks_cap;
    struct fw_conf_include *inc; /* the includes of the file just read */
    size_t n_inc, inc_cap;
    const struct fw_conf_schema *schema; /* of the file being read */
    struct fw_conf_mark pools_at;        /* the first 'pools:' value read; line 0 if none */
    struct fw_conf_mark include_at;      /* the main file's 'include:'; line 0 if none */
    /* Where the main file set these (line 0: not set), for preflight.c. */
    struct fw_conf_mark control_at, pid_file_at;
};

extern const struct fw_conf_schema fw_conf_top_schema;

/* r->ev is the root node of a file's document. Reads it into t->cfg (the
 * main file's settings only if main_file, with their defaults), appending
 * pools to t->cfg and the file's include patterns to t->inc. */
void fw_conf_top_read(struct fw_conf_reader *r, struct fw_conf_top *t, bool main_file);

#endif
