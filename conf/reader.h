/* A pull reader over libyaml's events for one file: it turns libyaml's
 * errors into FILE:LINE:COLUMN messages, refuses anchors, aliases and tags,
 * and bounds nesting. It knows nothing of the schema (schema.c does). */
#ifndef FW_CONF_READER_H
#define FW_CONF_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "conf/config.h"

/* Deeper nesting is refused: no setting needs more than four levels, and
 * libyaml's own loader recurses per level (libyaml #107). */
#define FW_CONF_MAX_DEPTH 64

struct fw_conf_reader {
    yaml_parser_t parser;
    yaml_event_t ev; /* the current event, valid after fw_conf_reader_next() returned 0 */
    bool have_ev;
    bool broken;      /* no more events: libyaml failed, a limit was hit, or errors are full */
    unsigned depth;   /* open mappings and lists */
    const char *file; /* for messages; outlives the reader */
    const char *dir;  /* absolute directory of file: the base of relative paths */
    const char *text;
    size_t len;
    struct fw_conf_errors *errs;
};

/* Sets up r over text (not copied: it must outlive the reader). */
int fw_conf_reader_open(struct fw_conf_reader *r, const char *file, const char *dir,
                        const char *text, size_t len, struct fw_conf_errors *errs);
void fw_conf_reader_close(struct fw_conf_reader *r);

/* Moves to the root node of the file's one document: 1 if there is one in
 * r->ev, 0 if the file holds nothing (no document, or only a null), -1 if
 * broken. */
int fw_conf_reader_document(struct fw_conf_reader *r);

/* After the root node was read: checks that nothing follows it (a second
 * document is an error). 0, or -1. */
int fw_conf_reader_end(struct fw_conf_reader *r);

/* Moves to the next event (r->ev). 0, or -1 if there is none: the error is
 * reported and r->broken set. An alias is reported and still returned, so
 * callers skip it as a bad node. */
int fw_conf_reader_next(struct fw_conf_reader *r);

/* r->ev starts a node: read to its last event. 0, or -1 if broken. */
int fw_conf_reader_skip(struct fw_conf_reader *r);

/* In a mapping: 1 with the next key, a scalar, in r->ev; 0 at the end of the
 * mapping; -1 if broken. Other keys are reported and skipped with their
 * values. */
int fw_conf_reader_key(struct fw_conf_reader *r);

/* r->ev is a scalar with a value that is an empty plain scalar, "~" or
 * "null": YAML's null. */
bool fw_conf_reader_is_null(const struct fw_conf_reader *r);

/* "a mapping", "a list", "a string": what the current node is, for "got ...". */
const char *fw_conf_reader_kind(const struct fw_conf_reader *r);

/* s made safe for a message: at most 40 characters, control characters as
 * '?', in single quotes. Returns buf. */
const char *fw_conf_reader_quote(const char *s, char buf[64]);

struct fw_conf_mark fw_conf_reader_mark(const struct fw_conf_reader *r, yaml_mark_t m);

/* r->ev is a scalar: the mark of byte `offset` of its value, for an error
 * inside it (a format's bad directive). Plain, single- and double-quoted
 * scalars on one line are followed through their quotes and escapes; for
 * others (block scalars, folded lines) it is the scalar's own mark. */
yaml_mark_t fw_conf_reader_scalar_mark(const struct fw_conf_reader *r, size_t offset);

void fw_conf_reader_error(struct fw_conf_reader *r, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fw_conf_reader_warning(struct fw_conf_reader *r, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* At a mark kept from earlier (validation after the node was read). */
void fw_conf_mark_error(struct fw_conf_errors *errs, struct fw_conf_mark m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fw_conf_mark_warning(struct fw_conf_errors *errs, struct fw_conf_mark m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
