/* An HTTP/1.x request head, parsed from bytes a peer sent: the request
 * line and the few headers a status server needs (Host, Accept). Pure and
 * bounded: it keeps nothing past its fixed fields, reads at most the
 * caller's buffer, and every byte is checked (RFC 9112's grammar, strictly:
 * no obs-fold, no whitespace before a colon, no control bytes). Leaf: libc
 * only. */
#ifndef FW_HTTPREQ_H
#define FW_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>

#define FW_HTTPREQ_METHOD_MAX 16
#define FW_HTTPREQ_TARGET_MAX 1024 /* longer: 414 */
#define FW_HTTPREQ_HEADERS_MAX 64  /* more: 431 */

struct fw_httpreq {
    char method[FW_HTTPREQ_METHOD_MAX];
    char path[FW_HTTPREQ_TARGET_MAX + 1];  /* the target up to '?', as sent (not decoded) */
    char query[FW_HTTPREQ_TARGET_MAX + 1]; /* after '?', or "" */
    bool http11;                           /* else HTTP/1.0 */
    /* Accept names these media types (parameters and q aside). */
    bool accept_openmetrics, accept_text_plain;
};

/* Parses buf[0..len). Returns the head's length (through the empty line)
 * when it is complete, 0 when more bytes may complete it (and len is below
 * max_head), or the HTTP status to answer with, negated: -400 (malformed,
 * a HTTP/1.1 request without exactly one Host), -414 (target too long),
 * -431 (head past max_head, or too many headers), -505 (another version),
 * -501 (a method longer than any we know). */
long fw_httpreq_parse(const char *buf, size_t len, size_t max_head, struct fw_httpreq *out);

#endif
