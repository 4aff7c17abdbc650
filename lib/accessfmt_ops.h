/* The compiled format's layout, shared by lib/accessfmt.c (the compiler)
 * and lib/accessfmt_render.c (the renderer) and nobody else: the module's
 * interface is lib/accessfmt.h. */
#ifndef FW_ACCESSFMT_OPS_H
#define FW_ACCESSFMT_OPS_H

#include "accessfmt.h"

#include <stdint.h>

enum op_kind {
    OP_LIT,
    OP_PARAM, /* "-" when absent or empty */
    OP_QUERY, /* "?" QUERY_STRING, or nothing */
    OP_REQUEST_LINE,
    OP_STATUS,
    OP_BYTES_CLF, /* "-" for 0 */
    OP_BYTES,
    OP_TOTAL_US,
    OP_TOTAL_MS,
    OP_TOTAL_S,
    OP_APP_US,
    OP_APP_MS,
    OP_APP_S,
    OP_PID,
    OP_POOL,
    OP_GENERATION,
    OP_MOUNT,
    OP_THREAD,
    OP_TIME_CLF,
    OP_TIME_ISO,
    OP_TIME_MSEC,
};

struct op {
    enum op_kind kind;
    unsigned short a, b, c; /* OP_LIT: offset, length; params: slots */
};

/* Room for the literals fw_accessfmt_bind makes (the constant fields and
 * the literals around them); past it a field stays as it was. */
#define BOUND_MAX 2048

struct slot {
    char name[72];
    size_t len;
    unsigned hash;
};

struct fw_accessfmt {
    struct op ops[FW_ACCESSFMT_MAX_OPS];
    size_t n_ops;
    struct slot slots[FW_ACCESSFMT_MAX_PARAMS];
    size_t n_slots;
    uint64_t hashes;         /* bit hash(name) of every slot: most params miss here */
    signed char by_hash[64]; /* the last slot of each hash (-1: none), then */
    signed char same_hash[FW_ACCESSFMT_MAX_PARAMS]; /* the one before it */
    /* The literals: the format's own, then what fw_accessfmt_bind wrote. */
    char text[FW_ACCESSFMT_MAX_FORMAT + 1 + BOUND_MAX];
    size_t text_len;
};

#endif
