/* One frame of `fcgiwsgi-ctl top`, as text, from a parsed `status --json`
 * document: a header, a line per pool, then a line per worker, the one
 * whose current request has run longest first. No terminal code here
 * (ctl_top.c draws it), so the frame is the same on a pipe. */
#ifndef FW_CTL_TOP_FRAME_H
#define FW_CTL_TOP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct fw_json;

struct fw_ctl_top_view {
    const struct fw_json *status; /* the document's root, or NULL (none yet, or gone) */
    const char *notice;           /* "" or why the frame is old or empty */
    int64_t delay_ms;
    size_t width;  /* columns; 0: lines are not cut */
    size_t height; /* lines; 0: no limit */
};

/* Lines ended by '\n', each at most width bytes (every byte printable
 * ASCII: what the master sends is shown with \xNN for anything else, so a
 * column is a byte), at most height of them, the last saying how many were
 * left out. */
void fw_ctl_top_frame(struct fw_buf *out, const struct fw_ctl_top_view *v);

#endif
