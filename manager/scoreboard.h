/* The scoreboard: one struct fw_slot (fcgi/slot.h) per worker that can
 * exist, in one shared anonymous mapping made before any fork. The master
 * claims and frees slots and writes pid, generation and state at spawn and
 * exit; each worker writes the rest of its own slot. This header says who
 * may touch it: the manager through these calls, a worker through the slot
 * pointer it was forked with. */
#ifndef FW_SCOREBOARD_H
#define FW_SCOREBOARD_H

#include <stddef.h>

#include "fcgi/slot.h"

struct fw_scoreboard;

struct fw_scoreboard *fw_scoreboard_new(size_t n_slots);
void fw_scoreboard_free(struct fw_scoreboard *sb);

/* A free slot, zeroed and marked STARTING, or NULL if all are in use. */
struct fw_slot *fw_scoreboard_claim(struct fw_scoreboard *sb);
void fw_scoreboard_release(struct fw_scoreboard *sb, struct fw_slot *slot);

size_t fw_scoreboard_index(const struct fw_scoreboard *sb, const struct fw_slot *slot);

#endif
