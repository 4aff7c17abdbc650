/* The access log's format: compiled once (at config load, to check it, and
 * in each worker) into a list of ops, then rendered per request into a
 * caller's buffer without printf, every byte a peer controls escaped. It
 * knows FastCGI params only as name/value pairs and owns no fd: writing
 * lines is fcgi/access.c's business. The directives (Apache LogFormat's
 * letters where they mean the same) are listed in fcgiwsgi.yaml(5). */
#ifndef FW_ACCESSFMT_H
#define FW_ACCESSFMT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Apache's combined format plus our own times and the pool. */
#define FW_ACCESSFMT_DEFAULT                                                                       \
    "%h - %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %{app}D %D %P %{pool}w "          \
    "%{generation}w"

#define FW_ACCESSFMT_MAX_FORMAT 1024 /* bytes of format text */
#define FW_ACCESSFMT_MAX_OPS 128
#define FW_ACCESSFMT_MAX_PARAMS 32 /* distinct params one format may name */
/* A line is cut to fit this (its newline included); one field a peer
 * controls to FIELD_MAX bytes as written. A cut field ends with
 * FW_ACCESSFMT_CUT, which no peer can produce: its backslashes are \x5c. */
#define FW_ACCESSFMT_LINE_MAX 4096
#define FW_ACCESSFMT_FIELD_MAX 1024
#define FW_ACCESSFMT_CUT "\\..."

struct fw_accessfmt;

/* NULL on a bad format, with a message in err and the byte offset of the
 * bad directive in *err_offset; or on out of memory (err says so). */
struct fw_accessfmt *fw_accessfmt_compile(const char *format, size_t *err_offset, char *err,
                                          size_t errlen);
void fw_accessfmt_free(struct fw_accessfmt *f);

/* For one process: the fields that do not change (%P, %{pool}w,
 * %{generation}w) become literal text, merged with the literals around
 * them, so a line renders fewer ops. The request's own values are then
 * not read for them. */
void fw_accessfmt_bind(struct fw_accessfmt *f, long pid, const char *pool, unsigned generation);

/* The params the format needs, by slot: a request's values are looked up
 * once per request (fw_accessfmt_find_params) and passed by slot. */
size_t fw_accessfmt_n_params(const struct fw_accessfmt *f);

struct fw_accessfmt_value {
    const char *s; /* NULL: absent */
    size_t len;
};

/* The slot of a request's param by that name, or -1 if the format does
 * not show it. The caller fills a value per slot, the first of a repeated
 * name winning. */
int fw_accessfmt_param_slot(const struct fw_accessfmt *f, const char *name, size_t len);

/* A request has some 25 params and a format shows a few: a caller tests
 * each name against this mask inline (bit fw_accessfmt_name_hash() of
 * every slot) and looks up only those that pass; the lookup of every
 * param was a quarter of a line's cost. len > 0. */
uint64_t fw_accessfmt_hashes(const struct fw_accessfmt *f);
static inline unsigned fw_accessfmt_name_hash(const char *name, size_t len)
{
    return (unsigned)(len * 7 + (unsigned char)name[len - 1] * 3 + (unsigned char)name[len / 2]) &
           63;
}

/* What else a line can show. */
struct fw_accessfmt_request {
    const struct fw_accessfmt_value *params; /* by slot */
    struct timespec now;                     /* the wall clock at the response's end */
    int status;
    uint64_t body_bytes;
    int64_t app_us, total_us;
    const char *mount; /* the app's mount; NULL: "-" */
    long pid;
    const char *pool; /* NULL: "-" */
    unsigned generation;
    unsigned thread;
};

/* Per thread: the formatted local time of the last second seen. Zeroed
 * before first use. */
struct fw_accessfmt_clock {
    time_t sec;
    char clf[32]; /* [02/Dec/2026:13:35:01 +0100] */
    size_t clf_len;
    char iso[24]; /* 2026-12-02T13:35:01 */
    char off[8];  /* +01:00 */
};

/* Renders one line, newline included, into out (at least
 * FW_ACCESSFMT_LINE_MAX bytes); returns its length. */
size_t fw_accessfmt_render(const struct fw_accessfmt *f, const struct fw_accessfmt_request *r,
                           struct fw_accessfmt_clock *clock, char *out);

/* The escaper alone (for tests): s as the log writes a field of it, cut at
 * max bytes with FW_ACCESSFMT_CUT; returns the bytes written to out (which
 * holds max). Control bytes, DEL, '"', '\' and bytes that are not part of
 * well-formed UTF-8 become \xHH; well-formed UTF-8 is kept. */
size_t fw_accessfmt_escape(char *out, size_t max, const char *s, size_t len);

#endif
