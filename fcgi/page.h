/* A pool's status page (status_path) as the master publishes it for the
 * pool's workers: a memfd of FW_PAGE_BYTES the master writes (the page's
 * text, then its JSON) and each worker maps read-only, so a worker answers
 * status_path without asking the master and sees its own pool only. The
 * master rewrites it on its tick; seq is odd while it writes (a seqlock),
 * and a worker keeps a copy only if seq was even and unchanged around it.
 * A worker still checks every length against the mapping's size. */
#ifndef FW_PAGE_H
#define FW_PAGE_H

#include <stdatomic.h>
#include <stdint.h>

#define FW_PAGE_BYTES (256 * 1024)

struct fw_page {
    _Atomic uint32_t seq; /* 0: nothing published yet */
    _Atomic uint32_t text_len, json_len;
    uint32_t reserved;
    char data[]; /* text_len bytes of text, then json_len bytes of JSON */
};

#define FW_PAGE_DATA_MAX (FW_PAGE_BYTES - sizeof(struct fw_page))

#endif
