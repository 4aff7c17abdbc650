/* The scoreboard: one struct fw_slot (fcgi/slot.h) per worker, each a page
 * in a memfd of its own, made when the slot is claimed. The master maps
 * every slot; a worker is exec'd with its own slot's fd and nothing else of
 * the board, so an app can neither write nor read another worker's slot.
 * The master claims and frees slots by its own books, never by what a slot
 * says, and what a worker wrote is untrusted: the master reads it through
 * the checks below. */
#ifndef FW_SCOREBOARD_H
#define FW_SCOREBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fcgi/slot.h"

struct fw_scoreboard;

struct fw_scoreboard *fw_scoreboard_new(size_t n_slots);
void fw_scoreboard_free(struct fw_scoreboard *sb);

/* A free slot, zeroed and marked STARTING, or NULL if all are in use. */
struct fw_slot *fw_scoreboard_claim(struct fw_scoreboard *sb);
void fw_scoreboard_release(struct fw_scoreboard *sb, struct fw_slot *slot);

size_t fw_scoreboard_index(const struct fw_scoreboard *sb, const struct fw_slot *slot);

/* The slot's memfd (one page), for the worker being spawned; the master
 * keeps it open only until fw_scoreboard_spawned. */
int fw_scoreboard_fd(const struct fw_scoreboard *sb, const struct fw_slot *slot);
void fw_scoreboard_spawned(struct fw_scoreboard *sb, const struct fw_slot *slot);

/* In the worker: maps its slot from that fd (and closes it). NULL on failure. */
struct fw_slot *fw_scoreboard_map_fd(int fd);

/* The master's reads. busy at most max_busy; the start of the oldest
 * request only if it lies between the worker's start and now (the
 * master's own clock), else 0; requests never below what was seen before
 * (*seen is the caller's, per worker), so a worker can only add to its own
 * figures; the error text copied with its length bounded. */
uint32_t fw_scoreboard_busy(const struct fw_slot *s, uint32_t max_busy);
int64_t fw_scoreboard_oldest_start_ms(const struct fw_slot *s, int64_t started_ms, int64_t now_ms);
uint64_t fw_scoreboard_requests(const struct fw_slot *s, uint64_t *seen);
uint64_t fw_scoreboard_rss_bytes(const struct fw_slot *s);
/* Connections the worker says it holds, at most 65536 (its fd table). */
uint32_t fw_scoreboard_conns(const struct fw_slot *s);
/* The error text the worker put in its slot, NUL-terminated within cap,
 * with control bytes other than newline replaced by '?'. */
void fw_scoreboard_error(const struct fw_slot *s, char *out, size_t cap);

/* A worker's metrics counters as the master believes them. Each is taken
 * from the slot only if it did not go down since *seen (the caller's, per
 * worker) and is plausible for the worker's life: at most a million
 * requests a second per thread, at most `threads` microseconds of app or
 * busy time per microsecond lived. Otherwise the value seen before stays:
 * a worker lying about itself can neither make its pool's totals go
 * backwards nor run them up past what its threads could do. */
struct fw_scoreboard_counts {
    uint64_t by_class[FW_SLOT_CLASSES];
    uint64_t app_us, busy_us;
    uint64_t bucket[FW_SLOT_BUCKETS_MAX + 1];
};
void fw_scoreboard_counts(const struct fw_slot *s, struct fw_scoreboard_counts *seen,
                          unsigned threads, int64_t lived_ms);
/* What the worker said before asking to retire; FW_SLOT_RETIRE_NONE if
 * nothing it may say. */
enum fw_slot_retire fw_scoreboard_retire(const struct fw_slot *s);
/* Before the spawn: the histogram bounds the worker counts by (at most
 * FW_SLOT_BUCKETS_MAX, ascending). */
void fw_scoreboard_set_buckets(struct fw_slot *s, const uint64_t *le_us, size_t n);

/* A request a worker's thread says it serves, as fit to print: every byte
 * outside printable ASCII, and the backslash and the double quote, as
 * \xNN; a method of anything but letters, digits, '-' and '_' is "?". */
struct fw_scoreboard_request {
    char method[FW_SLOT_METHOD_MAX];
    char path[FW_SLOT_PATH_MAX * 4];
    int64_t age_ms;
};
/* Entry i (< FW_SLOT_REQUESTS_MAX): false when it serves nothing, when the
 * copy was torn by a write (three tries), or when its start lies outside
 * [started_ms, now_ms]. */
bool fw_scoreboard_request(const struct fw_slot *s, unsigned i, int64_t started_ms, int64_t now_ms,
                           struct fw_scoreboard_request *out);

#endif
