/* Slots in shared memory. MAP_SHARED|MAP_ANONYMOUS survives fork and needs
 * no file; the size is fixed when the manager starts (the sum of every
 * pool's maximum plus room for surges during recycles). */
#include "config.h"

#include "scoreboard.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct fw_scoreboard {
    struct fw_slot *slots;
    size_t n;
    size_t bytes;
};

struct fw_scoreboard *fw_scoreboard_new(size_t n_slots)
{
    struct fw_scoreboard *sb = calloc(1, sizeof(*sb));
    if (!sb)
        return NULL;
    sb->n = n_slots;
    sb->bytes = n_slots * sizeof(struct fw_slot);
    /* fd -1 is what MAP_ANONYMOUS asks for; cppcheck does not know that. */
    // cppcheck-suppress invalidFunctionArg
    sb->slots = mmap(NULL, sb->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sb->slots == MAP_FAILED) {
        free(sb);
        return NULL;
    }
    return sb;
}

void fw_scoreboard_free(struct fw_scoreboard *sb)
{
    if (!sb)
        return;
    munmap(sb->slots, sb->bytes);
    free(sb);
}

struct fw_slot *fw_scoreboard_claim(struct fw_scoreboard *sb)
{
    for (size_t i = 0; i < sb->n; i++) {
        struct fw_slot *s = &sb->slots[i];
        if (atomic_load(&s->state) == FW_SLOT_FREE && atomic_load(&s->pid) == 0) {
            memset((void *)s, 0, sizeof(*s));
            atomic_store(&s->state, FW_SLOT_STARTING);
            return s;
        }
    }
    return NULL;
}

void fw_scoreboard_release(struct fw_scoreboard *sb, struct fw_slot *slot)
{
    (void)sb;
    atomic_store(&slot->state, FW_SLOT_FREE);
    atomic_store(&slot->pid, 0);
}

size_t fw_scoreboard_index(const struct fw_scoreboard *sb, const struct fw_slot *slot)
{
    return (size_t)(slot - sb->slots);
}
