/* The FastCGI 1.0 wire format, as a pure codec: bytes in, events out, and
 * the records a responder sends. No I/O and no allocation past the limits
 * the caller sets, so this is where the protocol can be read and fuzzed.
 *
 * A connection carries records of 8-byte headers (version 1, type, request
 * id, content length, padding length), then content, then padding. A
 * request is BEGIN_REQUEST, a stream of PARAMS ended by an empty PARAMS
 * record, a stream of STDIN ended by an empty STDIN record; the responder
 * answers with STDOUT records, an empty STDOUT, and END_REQUEST. Records
 * with request id 0 are management records (GET_VALUES) and may come at any
 * time. We never multiplex: one request at a time per connection. */
#ifndef FW_RECORD_H
#define FW_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_RECORD_HEADER_LEN 8
#define FW_RECORD_CONTENT_MAX 65535
/* The largest content that needs no padding: a multiple of 8. */
#define FW_RECORD_STDOUT_MAX 65528
/* What each param costs against max_params on top of its name and value:
 * our index entry and the environ's, so the limit bounds memory, not only
 * bytes (10 million empty params are 20 MB on the wire and would be far
 * more in memory). */
#define FW_RECORD_PARAM_OVERHEAD 64

enum fw_record_event_kind {
    FW_RECORD_NONE,        /* every byte given was consumed: feed more */
    FW_RECORD_BEGIN,       /* a request began: request_id, keep_conn */
    FW_RECORD_PARAMS_DONE, /* the params are complete: fw_record_param() */
    FW_RECORD_STDIN,       /* body bytes: data, len (pointing into the caller's buffer) */
    FW_RECORD_STDIN_END,   /* the body is complete; the request's input is over */
    FW_RECORD_ABORT,       /* the web server aborted the active request */
    FW_RECORD_REPLY,       /* send data, len to the peer (a management answer or a
                            * refusal, which error then names); close_after: then
                            * close the connection */
    FW_RECORD_TOO_LARGE,   /* params past max_params: answer 431 and close */
    FW_RECORD_ERROR,       /* a protocol error (error says which): close */
};

struct fw_record_event {
    enum fw_record_event_kind kind;
    unsigned request_id;
    bool keep_conn;
    bool close_after;
    const unsigned char *data;
    size_t len;
    const char *error;
};

/* Where a request is; FW_RECORD_IDLE between requests. */
enum fw_record_phase {
    FW_RECORD_IDLE,
    FW_RECORD_IN_PARAMS,
    FW_RECORD_IN_STDIN,
    FW_RECORD_INPUT_DONE, /* stdin ended; the response is being written */
};

/* Where a param's name and value are in the parser's buffer. */
struct fw_record_span {
    uint32_t name, name_len, value, value_len;
};

struct fw_record_parser {
    /* settings */
    size_t max_params_bytes;
    unsigned max_conns, max_reqs; /* answered to FCGI_GET_VALUES */

    /* the record being read */
    unsigned char head[FW_RECORD_HEADER_LEN];
    unsigned head_len;
    unsigned type, id;
    size_t content_left, padding_left;
    bool skip;              /* content is dropped (stray, refused, unknown) */
    bool dead;              /* after ERROR or TOO_LARGE */
    unsigned char begin[8]; /* a BEGIN_REQUEST body as it arrives */
    unsigned begin_have;

    /* the request */
    enum fw_record_phase phase;
    unsigned request_id;
    bool keep_conn;

    /* name-value pairs being decoded: the params' and a GET_VALUES
     * record's apart, since a management record may come between two
     * PARAMS records, in the middle of a pair */
    struct fw_record_pair {
        unsigned char len_bytes[4];
        unsigned len_have;
        unsigned state;
        uint32_t name_len, value_len, field_left;
    } param_pair, gv_pair;

    /* params: names and values, each NUL-terminated, and their index */
    char *buf;
    size_t buf_len, buf_cap;
    struct fw_record_span *ix;
    size_t n_params, ix_cap;
    size_t charged; /* against max_params_bytes */

    /* FCGI_GET_VALUES: names asked so far (short ones only; ours are) */
    char gv_name[16];
    unsigned gv_asked; /* bits: 1 MAX_CONNS, 2 MAX_REQS, 4 MPXS_CONNS */

    /* the reply an event hands out */
    unsigned char reply[128];
};

void fw_record_parser_init(struct fw_record_parser *p, size_t max_params_bytes, unsigned max_conns,
                           unsigned max_reqs);
/* Frees what the params took; the parser can be initialised again. */
void fw_record_parser_free(struct fw_record_parser *p);
/* After a request's response: ready for the next one on the connection.
 * Keeps at most keep_bytes of the params buffer for it. */
void fw_record_parser_next(struct fw_record_parser *p, size_t keep_bytes);

/* Consumes bytes from buf until an event or the end of buf; returns how
 * many it consumed and fills *ev (FW_RECORD_NONE when it consumed all and
 * has nothing to say). After ERROR or TOO_LARGE it consumes nothing more.
 * STDIN data and REPLY data stay valid until the next call. */
size_t fw_record_parse(struct fw_record_parser *p, const unsigned char *buf, size_t len,
                       struct fw_record_event *ev);

/* The i-th param of a request after PARAMS_DONE (until _next or _free):
 * name and value, each followed by a NUL (they may contain NULs too). */
void fw_record_param(const struct fw_record_parser *p, size_t i, const char **name,
                     size_t *name_len, const char **value, size_t *value_len);

/* True between two records: the next byte is a record's first. */
bool fw_record_at_boundary(const struct fw_record_parser *p);

/* True when the parser holds part of a request (in its params), so the
 * connection may not be dropped as idle. */
bool fw_record_mid_request(const struct fw_record_parser *p);

/* Record builders. A header for content of clen bytes (<= 65535) with the
 * padding to a multiple of 8; returns the padding length, whose bytes the
 * caller writes as zeros. */
unsigned fw_record_header(unsigned char out[FW_RECORD_HEADER_LEN], unsigned type, unsigned id,
                          size_t clen);
/* The end of a response: an empty STDOUT, then END_REQUEST. 24 bytes. */
#define FW_RECORD_END_LEN 24
void fw_record_end(unsigned char out[FW_RECORD_END_LEN], unsigned id, uint32_t app_status);
/* END_REQUEST alone (16 bytes) with a protocol status. */
void fw_record_end_request(unsigned char out[16], unsigned id, uint32_t app_status,
                           unsigned protocol_status);

#endif
