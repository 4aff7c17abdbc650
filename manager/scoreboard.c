/* Slots in a memfd, one page each: a page is what a child can keep mapped
 * alone. The size is fixed when the manager starts (the sum of every pool's
 * maximum plus room for surges during recycles); untouched pages cost
 * nothing. */
#include "config.h"

#include "scoreboard.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct fw_scoreboard {
    unsigned char *base;
    size_t n;
    size_t stride; /* sizeof(struct fw_slot), rounded up to a page */
    int fd;
    bool *used; /* the master's books */
};

struct fw_scoreboard *fw_scoreboard_new(size_t n_slots)
{
    struct fw_scoreboard *sb = calloc(1, sizeof(*sb));
    if (!sb)
        return NULL;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    sb->n = n_slots;
    sb->stride = (sizeof(struct fw_slot) + page - 1) / page * page;
    sb->used = calloc(n_slots ? n_slots : 1, sizeof(*sb->used));
    sb->fd = memfd_create("fcgiwsgi-scoreboard", MFD_CLOEXEC);
    if (!sb->used || sb->fd < 0 || ftruncate(sb->fd, (off_t)(n_slots * sb->stride)) < 0)
        goto fail;
    sb->base = mmap(NULL, n_slots * sb->stride, PROT_READ | PROT_WRITE, MAP_SHARED, sb->fd, 0);
    if (sb->base == MAP_FAILED)
        goto fail;
    return sb;
fail:
    if (sb->fd >= 0)
        close(sb->fd);
    free(sb->used);
    free(sb);
    return NULL;
}

void fw_scoreboard_free(struct fw_scoreboard *sb)
{
    if (!sb)
        return;
    if (sb->base)
        munmap(sb->base, sb->n * sb->stride);
    if (sb->fd >= 0)
        close(sb->fd);
    free(sb->used);
    free(sb);
}

static struct fw_slot *at(const struct fw_scoreboard *sb, size_t i)
{
    return (struct fw_slot *)(sb->base + i * sb->stride);
}

struct fw_slot *fw_scoreboard_claim(struct fw_scoreboard *sb)
{
    for (size_t i = 0; i < sb->n; i++) {
        if (sb->used[i])
            continue;
        sb->used[i] = true;
        struct fw_slot *s = at(sb, i);
        memset((void *)s, 0, sizeof(*s));
        atomic_store(&s->state, FW_SLOT_STARTING);
        return s;
    }
    return NULL;
}

void fw_scoreboard_release(struct fw_scoreboard *sb, struct fw_slot *slot)
{
    size_t i = fw_scoreboard_index(sb, slot);
    if (i < sb->n) {
        sb->used[i] = false;
        atomic_store(&slot->state, FW_SLOT_FREE);
    }
}

size_t fw_scoreboard_index(const struct fw_scoreboard *sb, const struct fw_slot *slot)
{
    return (size_t)((const unsigned char *)slot - sb->base) / sb->stride;
}

struct fw_slot *fw_scoreboard_isolate(struct fw_scoreboard *sb, struct fw_slot *slot)
{
    size_t i = fw_scoreboard_index(sb, slot);
    void *own = mmap(NULL, sb->stride, PROT_READ | PROT_WRITE, MAP_SHARED, sb->fd,
                     (off_t)(i * sb->stride));
    if (own == MAP_FAILED)
        return NULL;
    munmap(sb->base, sb->n * sb->stride);
    close(sb->fd);
    sb->base = NULL;
    sb->fd = -1;
    return own;
}

uint32_t fw_scoreboard_busy(const struct fw_slot *s, uint32_t max_busy)
{
    uint32_t b = atomic_load(&s->busy);
    return b < max_busy ? b : max_busy;
}

int64_t fw_scoreboard_oldest_start_ms(const struct fw_slot *s, int64_t started_ms, int64_t now_ms)
{
    int64_t t = atomic_load(&s->oldest_start_ms);
    return t >= started_ms && t <= now_ms ? t : 0;
}

uint64_t fw_scoreboard_requests(const struct fw_slot *s, uint64_t *seen)
{
    uint64_t r = atomic_load(&s->requests);
    if (r > *seen)
        *seen = r;
    return *seen;
}

uint64_t fw_scoreboard_rss_bytes(const struct fw_slot *s)
{
    return atomic_load(&s->rss_bytes);
}

void fw_scoreboard_error(const struct fw_slot *s, char *out, size_t cap)
{
    if (!cap)
        return;
    size_t n = strnlen(s->error, sizeof(s->error));
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s->error, n);
    out[n] = '\0';
}
