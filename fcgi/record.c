/* The FastCGI record codec (see record.h for the protocol in brief). Every
 * length a peer sends is checked before it is used or allocated for, and
 * every record is read whole, padding included, before the next header. */
#include "config.h"

#include "record.h"

#include <fastcgi.h>
#include <stdlib.h>
#include <string.h>

/* The name-value pair decoder's states (PARAMS and GET_VALUES content). */
enum { PAIR_NAME_LEN, PAIR_VALUE_LEN, PAIR_NAME, PAIR_VALUE };

void fw_record_parser_init(struct fw_record_parser *p, size_t max_params_bytes, unsigned max_conns,
                           unsigned max_reqs)
{
    memset(p, 0, sizeof(*p));
    /* Offsets into the params buffer are 32-bit. */
    if (max_params_bytes > UINT32_MAX / 2)
        max_params_bytes = UINT32_MAX / 2;
    p->max_params_bytes = max_params_bytes;
    p->max_conns = max_conns;
    p->max_reqs = max_reqs;
}

void fw_record_parser_free(struct fw_record_parser *p)
{
    free(p->buf);
    free(p->ix);
    p->buf = NULL;
    p->ix = NULL;
    p->buf_cap = p->ix_cap = 0;
}

static void reset_pair(struct fw_record_pair *q)
{
    q->state = PAIR_NAME_LEN;
    q->len_have = 0;
    q->name_len = q->value_len = q->field_left = 0;
}

void fw_record_parser_next(struct fw_record_parser *p, size_t keep_bytes)
{
    p->phase = FW_RECORD_IDLE;
    p->request_id = 0;
    p->keep_conn = false;
    p->buf_len = 0;
    p->n_params = 0;
    p->charged = 0;
    reset_pair(&p->param_pair);
    /* An idle kept connection should not hold a large request's params. */
    if (p->buf_cap > keep_bytes) {
        free(p->buf);
        free(p->ix);
        p->buf = NULL;
        p->ix = NULL;
        p->buf_cap = p->ix_cap = 0;
    }
}

bool fw_record_at_boundary(const struct fw_record_parser *p)
{
    return p->head_len == 0;
}

bool fw_record_mid_request(const struct fw_record_parser *p)
{
    return p->phase != FW_RECORD_IDLE || p->head_len > 0 || p->content_left > 0 ||
           p->padding_left > 0;
}

void fw_record_param(const struct fw_record_parser *p, size_t i, const char **name,
                     size_t *name_len, const char **value, size_t *value_len)
{
    const struct fw_record_span *s = &p->ix[i];
    *name = p->buf + s->name;
    *name_len = s->name_len;
    *value = p->buf + s->value;
    *value_len = s->value_len;
}

unsigned fw_record_header(unsigned char out[FW_RECORD_HEADER_LEN], unsigned type, unsigned id,
                          size_t clen)
{
    unsigned pad = (unsigned)((8 - clen % 8) % 8);
    out[0] = FCGI_VERSION_1;
    out[1] = (unsigned char)type;
    out[2] = (unsigned char)(id >> 8);
    out[3] = (unsigned char)id;
    out[4] = (unsigned char)(clen >> 8);
    out[5] = (unsigned char)clen;
    out[6] = (unsigned char)pad;
    out[7] = 0;
    return pad;
}

void fw_record_end_request(unsigned char out[16], unsigned id, uint32_t app_status,
                           unsigned protocol_status)
{
    fw_record_header(out, FCGI_END_REQUEST, id, 8);
    out[8] = (unsigned char)(app_status >> 24);
    out[9] = (unsigned char)(app_status >> 16);
    out[10] = (unsigned char)(app_status >> 8);
    out[11] = (unsigned char)app_status;
    out[12] = (unsigned char)protocol_status;
    memset(out + 13, 0, 3);
}

void fw_record_end(unsigned char out[FW_RECORD_END_LEN], unsigned id, uint32_t app_status)
{
    fw_record_header(out, FCGI_STDOUT, id, 0);
    fw_record_end_request(out + 8, id, app_status, FCGI_REQUEST_COMPLETE);
}

/* ---- events ---------------------------------------------------------- */

static void fail(struct fw_record_parser *p, struct fw_record_event *ev, const char *why)
{
    p->dead = true;
    ev->kind = FW_RECORD_ERROR;
    ev->error = why;
}

static void reply(struct fw_record_parser *p, struct fw_record_event *ev, size_t len,
                  bool close_after)
{
    ev->kind = FW_RECORD_REPLY;
    ev->data = p->reply;
    ev->len = len;
    ev->close_after = close_after;
}

static void reply_unknown_type(struct fw_record_parser *p, struct fw_record_event *ev)
{
    fw_record_header(p->reply, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, 8);
    memset(p->reply + 8, 0, 8);
    p->reply[8] = (unsigned char)p->type;
    reply(p, ev, 16, false);
}

static size_t put_value(unsigned char *out, const char *name, unsigned value)
{
    char digits[12];
    size_t nd = 0;
    do
        digits[sizeof(digits) - ++nd] = (char)('0' + value % 10);
    while ((value /= 10) > 0);
    size_t nl = strlen(name);
    out[0] = (unsigned char)nl;
    out[1] = (unsigned char)nd;
    memcpy(out + 2, name, nl);
    memcpy(out + 2 + nl, digits + sizeof(digits) - nd, nd);
    return 2 + nl + nd;
}

/* Each variable we know is answered once, however often it was asked;
 * the others are left out, as the spec says. */
static void reply_values(struct fw_record_parser *p, struct fw_record_event *ev)
{
    unsigned char *body = p->reply + FW_RECORD_HEADER_LEN;
    size_t n = 0;
    if (p->gv_asked & 1)
        n += put_value(body + n, FCGI_MAX_CONNS, p->max_conns);
    if (p->gv_asked & 2)
        n += put_value(body + n, FCGI_MAX_REQS, p->max_reqs);
    if (p->gv_asked & 4)
        n += put_value(body + n, FCGI_MPXS_CONNS, 0);
    unsigned pad = fw_record_header(p->reply, FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID, n);
    memset(body + n, 0, pad);
    reply(p, ev, FW_RECORD_HEADER_LEN + n + pad, false);
}

/* ---- name-value pairs -------------------------------------------------- */

/* Makes room for a param whose lengths are now known; false when it would
 * pass max_params (checked before anything is allocated). */
static bool start_param(struct fw_record_parser *p)
{
    const struct fw_record_pair *q = &p->param_pair;
    size_t cost = (size_t)q->name_len + q->value_len + FW_RECORD_PARAM_OVERHEAD;
    if (cost > p->max_params_bytes - p->charged)
        return false;
    p->charged += cost;
    size_t need = p->buf_len + q->name_len + q->value_len + 2;
    if (need > p->buf_cap) {
        size_t cap = p->buf_cap ? p->buf_cap * 2 : 2048;
        if (cap < need)
            cap = need;
        if (cap > p->max_params_bytes && need <= p->max_params_bytes)
            cap = p->max_params_bytes;
        char *b = realloc(p->buf, cap);
        if (!b)
            return false;
        p->buf = b;
        p->buf_cap = cap;
    }
    if (p->n_params == p->ix_cap) {
        size_t cap = p->ix_cap ? p->ix_cap * 2 : 64;
        struct fw_record_span *ix = realloc(p->ix, cap * sizeof(*ix));
        if (!ix)
            return false;
        p->ix = ix;
        p->ix_cap = cap;
    }
    struct fw_record_span *s = &p->ix[p->n_params];
    s->name = (uint32_t)p->buf_len;
    s->name_len = q->name_len;
    s->value = (uint32_t)(p->buf_len + q->name_len + 1);
    s->value_len = q->value_len;
    return true;
}

static void gv_name_done(struct fw_record_parser *p)
{
    const struct fw_record_pair *q = &p->gv_pair;
    if (q->name_len >= sizeof(p->gv_name))
        return;
    p->gv_name[q->name_len] = '\0';
    if (strcmp(p->gv_name, FCGI_MAX_CONNS) == 0)
        p->gv_asked |= 1;
    else if (strcmp(p->gv_name, FCGI_MAX_REQS) == 0)
        p->gv_asked |= 2;
    else if (strcmp(p->gv_name, FCGI_MPXS_CONNS) == 0)
        p->gv_asked |= 4;
}

/* Moves past fields that are complete (including empty ones). */
static void settle(struct fw_record_parser *p, struct fw_record_pair *q)
{
    bool gv = q == &p->gv_pair;
    while (q->field_left == 0) {
        if (q->state == PAIR_NAME) {
            if (gv)
                gv_name_done(p);
            else
                p->buf[p->ix[p->n_params].name + q->name_len] = '\0';
            q->state = PAIR_VALUE;
            q->field_left = q->value_len;
        } else if (q->state == PAIR_VALUE) {
            if (!gv) {
                p->buf[p->ix[p->n_params].value + q->value_len] = '\0';
                p->buf_len += (size_t)q->name_len + q->value_len + 2;
                p->n_params++;
            }
            reset_pair(q);
            return;
        } else {
            return;
        }
    }
}

/* Decodes pair bytes of the current record's content. Returns bytes used;
 * sets *too_large when a param would pass max_params. */
static size_t pairs(struct fw_record_parser *p, struct fw_record_pair *q, const unsigned char *d,
                    size_t n, bool *too_large)
{
    bool gv = q == &p->gv_pair;
    size_t i = 0;
    while (i < n) {
        if (q->state == PAIR_NAME_LEN || q->state == PAIR_VALUE_LEN) {
            uint32_t len;
            if (q->len_have == 0 && !(d[i] & 0x80)) {
                len = d[i++];
            } else {
                /* A length with the high bit set takes four bytes, 31 bits. */
                while (q->len_have < 4 && i < n)
                    q->len_bytes[q->len_have++] = d[i++];
                if (q->len_have < 4)
                    break;
                len = (uint32_t)(q->len_bytes[0] & 0x7f) << 24 | (uint32_t)q->len_bytes[1] << 16 |
                      (uint32_t)q->len_bytes[2] << 8 | q->len_bytes[3];
                q->len_have = 0;
            }
            if (q->state == PAIR_NAME_LEN) {
                q->name_len = len;
                q->state = PAIR_VALUE_LEN;
                continue;
            }
            q->value_len = len;
            if (!gv && !start_param(p)) {
                *too_large = true;
                return i;
            }
            q->state = PAIR_NAME;
            q->field_left = q->name_len;
            settle(p, q);
            continue;
        }
        size_t take = n - i < q->field_left ? n - i : q->field_left;
        if (gv) {
            uint32_t at = q->name_len - q->field_left;
            if (q->state == PAIR_NAME && q->name_len < sizeof(p->gv_name))
                memcpy(p->gv_name + at, d + i, take);
        } else {
            const struct fw_record_span *s = &p->ix[p->n_params];
            uint32_t at = q->state == PAIR_NAME ? s->name + (q->name_len - q->field_left)
                                                : s->value + (q->value_len - q->field_left);
            memcpy(p->buf + at, d + i, take);
        }
        q->field_left -= (uint32_t)take;
        i += take;
        settle(p, q);
    }
    return i;
}

static bool pair_boundary(const struct fw_record_pair *q)
{
    return q->state == PAIR_NAME_LEN && q->len_have == 0;
}

/* ---- records ----------------------------------------------------------- */

/* A record's header is complete: decide what its content is for. Returns
 * true when it produced an event. */
static bool on_header(struct fw_record_parser *p, struct fw_record_event *ev)
{
    const unsigned char *h = p->head;
    p->type = h[1];
    p->id = (unsigned)h[2] << 8 | h[3];
    p->content_left = (size_t)h[4] << 8 | h[5];
    p->padding_left = h[6];
    p->skip = false;
    if (h[0] != FCGI_VERSION_1) {
        fail(p, ev, "unsupported FastCGI version");
        return true;
    }
    if (p->type == FCGI_BEGIN_REQUEST) {
        if (p->id == FCGI_NULL_REQUEST_ID) {
            fail(p, ev, "BEGIN_REQUEST with request id 0");
            return true;
        }
        if (p->content_left != 8) {
            fail(p, ev, "BEGIN_REQUEST whose body is not 8 bytes");
            return true;
        }
        if (p->phase != FW_RECORD_IDLE) {
            /* We never multiplex: refuse the second request, keep the first. */
            p->skip = true;
            fw_record_end_request(p->reply, p->id, 0, FCGI_CANT_MPX_CONN);
            reply(p, ev, 16, false);
            ev->error = "a second request on the connection (we do not multiplex)";
            return true;
        }
        p->begin_have = 0;
        return false;
    }
    if (p->id == FCGI_NULL_REQUEST_ID) {
        if (p->type != FCGI_GET_VALUES) {
            p->skip = true;
            reply_unknown_type(p, ev);
            return true;
        }
        p->gv_asked = 0;
        reset_pair(&p->gv_pair);
        return false;
    }
    if (p->type == 0 || p->type > FCGI_MAXTYPE) {
        p->skip = true;
        reply_unknown_type(p, ev);
        return true;
    }
    if (p->phase == FW_RECORD_IDLE || p->id != p->request_id) {
        /* A record of a request that has ended (or was refused), such as a
         * late ABORT_REQUEST: dropped. */
        p->skip = true;
        return false;
    }
    switch (p->type) {
    case FCGI_ABORT_REQUEST: return false;        /* reported at its end */
    case FCGI_DATA: p->skip = true; return false; /* for the filter role only */
    case FCGI_PARAMS:
        if (p->phase != FW_RECORD_IN_PARAMS)
            fail(p, ev, "PARAMS after the params ended");
        return p->dead;
    case FCGI_STDIN:
        if (p->phase == FW_RECORD_IN_PARAMS)
            fail(p, ev, "STDIN before the params ended");
        else if (p->phase == FW_RECORD_INPUT_DONE)
            fail(p, ev, "STDIN after its end");
        return p->dead;
    default: fail(p, ev, "a record type a web server does not send"); return true;
    }
}

/* The record's content and padding are all read. Returns true with an
 * event. */
static bool on_record_end(struct fw_record_parser *p, struct fw_record_event *ev)
{
    p->head_len = 0;
    if (p->type == FCGI_BEGIN_REQUEST && !p->skip) {
        unsigned role = (unsigned)p->begin[0] << 8 | p->begin[1];
        bool keep = p->begin[2] & FCGI_KEEP_CONN;
        if (role != FCGI_RESPONDER) {
            fw_record_end_request(p->reply, p->id, 0, FCGI_UNKNOWN_ROLE);
            reply(p, ev, 16, !keep);
            ev->error = role == FCGI_AUTHORIZER ? "role AUTHORIZER is not supported"
                        : role == FCGI_FILTER   ? "role FILTER is not supported"
                                                : "an unknown role is not supported";
            return true;
        }
        p->phase = FW_RECORD_IN_PARAMS;
        p->request_id = p->id;
        p->keep_conn = keep;
        reset_pair(&p->param_pair);
        ev->kind = FW_RECORD_BEGIN;
        ev->request_id = p->id;
        ev->keep_conn = keep;
        return true;
    }
    if (p->id == FCGI_NULL_REQUEST_ID && p->type == FCGI_GET_VALUES) {
        if (!pair_boundary(&p->gv_pair)) {
            fail(p, ev, "GET_VALUES ends inside a name-value pair");
            return true;
        }
        reply_values(p, ev);
        return true;
    }
    if (p->skip || p->id != p->request_id)
        return false;
    if (p->type == FCGI_ABORT_REQUEST) {
        ev->kind = FW_RECORD_ABORT;
        ev->request_id = p->id;
        return true;
    }
    if (p->type == FCGI_PARAMS && p->head[4] == 0 && p->head[5] == 0) {
        if (!pair_boundary(&p->param_pair)) {
            fail(p, ev, "the params end inside a name-value pair");
            return true;
        }
        p->phase = FW_RECORD_IN_STDIN;
        ev->kind = FW_RECORD_PARAMS_DONE;
        ev->request_id = p->id;
        return true;
    }
    if (p->type == FCGI_STDIN && p->head[4] == 0 && p->head[5] == 0) {
        p->phase = FW_RECORD_INPUT_DONE;
        ev->kind = FW_RECORD_STDIN_END;
        ev->request_id = p->id;
        return true;
    }
    return false;
}

size_t fw_record_parse(struct fw_record_parser *p, const unsigned char *buf, size_t len,
                       struct fw_record_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (p->dead)
        return 0;
    size_t pos = 0;
    while (pos < len) {
        if (p->head_len < FW_RECORD_HEADER_LEN) {
            size_t take = FW_RECORD_HEADER_LEN - p->head_len;
            if (take > len - pos)
                take = len - pos;
            memcpy(p->head + p->head_len, buf + pos, take);
            p->head_len += (unsigned)take;
            pos += take;
            if (p->head_len < FW_RECORD_HEADER_LEN)
                break;
            if (on_header(p, ev)) {
                if (p->content_left == 0 && p->padding_left == 0)
                    p->head_len = 0; /* an answer was the whole of it */
                return pos;
            }
            if (p->content_left == 0 && p->padding_left == 0 && on_record_end(p, ev))
                return pos;
            continue;
        }
        if (p->content_left > 0) {
            size_t take = len - pos < p->content_left ? len - pos : p->content_left;
            const unsigned char *d = buf + pos;
            if (p->skip) {
                /* nothing to keep */
            } else if (p->type == FCGI_STDIN) {
                p->content_left -= take;
                ev->kind = FW_RECORD_STDIN;
                ev->request_id = p->id;
                ev->data = d;
                ev->len = take;
                if (p->content_left == 0 && p->padding_left == 0)
                    p->head_len = 0; /* a STDIN record with data ends silently */
                return pos + take;
            } else if (p->type == FCGI_BEGIN_REQUEST) {
                memcpy(p->begin + p->begin_have, d, take);
                p->begin_have += (unsigned)take;
            } else if (p->type == FCGI_PARAMS || p->type == FCGI_GET_VALUES) {
                bool too_large = false;
                struct fw_record_pair *q = p->type == FCGI_PARAMS ? &p->param_pair : &p->gv_pair;
                size_t used = pairs(p, q, d, take, &too_large);
                if (too_large) {
                    p->dead = true;
                    ev->kind = FW_RECORD_TOO_LARGE;
                    ev->request_id = p->request_id;
                    return pos + used;
                }
            }
            p->content_left -= take;
            pos += take;
            if (p->content_left == 0 && p->padding_left == 0 && on_record_end(p, ev))
                return pos;
            continue;
        }
        size_t take = len - pos < p->padding_left ? len - pos : p->padding_left;
        p->padding_left -= take;
        pos += take;
        if (p->padding_left == 0 && on_record_end(p, ev))
            return pos;
    }
    return pos;
}
