/* A memfd per slot, one page each, so a worker can be handed exactly its
 * own. The board's size (the sum of every pool's maximum plus room for
 * surges during recycles) bounds the slots; a slot costs its fd and page
 * only while a worker holds it, and the fd only while it is being spawned. */
#include "config.h"

#include "scoreboard.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct entry {
    struct fw_slot *slot; /* the master's mapping; NULL: free */
    int fd;               /* until the worker is spawned; -1 after */
};

struct fw_scoreboard {
    struct entry *e;
    size_t n;
    size_t page;
};

static size_t slot_bytes(size_t page)
{
    return (sizeof(struct fw_slot) + page - 1) / page * page;
}

struct fw_scoreboard *fw_scoreboard_new(size_t n_slots)
{
    struct fw_scoreboard *sb = calloc(1, sizeof(*sb));
    if (!sb || !(sb->e = calloc(n_slots ? n_slots : 1, sizeof(*sb->e)))) {
        free(sb);
        return NULL;
    }
    sb->n = n_slots;
    sb->page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < n_slots; i++)
        sb->e[i].fd = -1;
    return sb;
}

static void drop(struct fw_scoreboard *sb, struct entry *e)
{
    if (e->slot)
        munmap(e->slot, slot_bytes(sb->page));
    if (e->fd >= 0)
        close(e->fd);
    e->slot = NULL;
    e->fd = -1;
}

void fw_scoreboard_free(struct fw_scoreboard *sb)
{
    if (!sb)
        return;
    for (size_t i = 0; i < sb->n; i++)
        drop(sb, &sb->e[i]);
    free(sb->e);
    free(sb);
}

struct fw_slot *fw_scoreboard_claim(struct fw_scoreboard *sb)
{
    for (size_t i = 0; i < sb->n; i++) {
        struct entry *e = &sb->e[i];
        if (e->slot)
            continue;
        e->fd = memfd_create("fcgiwsgi-slot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (e->fd < 0)
            return NULL;
        /* A worker cannot grow or shrink its slot under the master. */
        void *p = MAP_FAILED;
        if (ftruncate(e->fd, (off_t)slot_bytes(sb->page)) == 0 &&
            fcntl(e->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
            p = mmap(NULL, slot_bytes(sb->page), PROT_READ | PROT_WRITE, MAP_SHARED, e->fd, 0);
        if (p == MAP_FAILED) {
            close(e->fd);
            e->fd = -1;
            return NULL;
        }
        e->slot = p;
        atomic_store(&e->slot->state, FW_SLOT_STARTING);
        return e->slot;
    }
    return NULL;
}

static struct entry *find(const struct fw_scoreboard *sb, const struct fw_slot *slot)
{
    for (size_t i = 0; i < sb->n; i++)
        if (sb->e[i].slot == slot)
            return &sb->e[i];
    return NULL;
}

void fw_scoreboard_release(struct fw_scoreboard *sb, struct fw_slot *slot)
{
    struct entry *e = find(sb, slot);
    if (e)
        drop(sb, e);
}

size_t fw_scoreboard_index(const struct fw_scoreboard *sb, const struct fw_slot *slot)
{
    struct entry *e = find(sb, slot);
    return e ? (size_t)(e - sb->e) : sb->n;
}

int fw_scoreboard_fd(const struct fw_scoreboard *sb, const struct fw_slot *slot)
{
    struct entry *e = find(sb, slot);
    return e ? e->fd : -1;
}

void fw_scoreboard_spawned(struct fw_scoreboard *sb, const struct fw_slot *slot)
{
    struct entry *e = find(sb, slot);
    if (e && e->fd >= 0) {
        close(e->fd);
        e->fd = -1;
    }
}

struct fw_slot *fw_scoreboard_map_fd(int fd)
{
    size_t bytes = slot_bytes((size_t)sysconf(_SC_PAGESIZE));
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size == bytes)
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

uint32_t fw_scoreboard_busy(const struct fw_slot *s, uint32_t max_busy)
{
    uint32_t b = atomic_load(&s->busy);
    return b < max_busy ? b : max_busy;
}

uint32_t fw_scoreboard_conns(const struct fw_slot *s)
{
    uint32_t n = atomic_load(&s->conns);
    return n < 65536 ? n : 65536;
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
    /* The worker wrote it, and it goes into status text, restart's answer
     * and log lines: lines stay lines, other control bytes (a terminal's
     * escapes, a CR that rewrites a line) do not pass. */
    for (char *c = out; *c; c++)
        if (((unsigned char)*c < 0x20 && *c != '\n') || *c == 0x7f)
            *c = '?';
}

static void take(uint64_t v, uint64_t *seen, uint64_t max)
{
    if (v > *seen && v <= max)
        *seen = v;
}

void fw_scoreboard_counts(const struct fw_slot *s, struct fw_scoreboard_counts *seen,
                          unsigned threads, int64_t lived_ms)
{
    uint64_t t = threads ? threads : 1;
    uint64_t ms = lived_ms > 0 ? (uint64_t)lived_ms + 1 : 1;
    /* Both fit: threads <= 1024 and a life far below 2^40 ms. */
    uint64_t max_requests = t * ms * 1000, max_us = t * ms * 1000;
    for (size_t i = 0; i < FW_SLOT_CLASSES; i++)
        take(atomic_load(&s->by_class[i]), &seen->by_class[i], max_requests);
    for (size_t i = 0; i <= FW_SLOT_BUCKETS_MAX; i++)
        take(atomic_load(&s->bucket[i]), &seen->bucket[i], max_requests);
    take(atomic_load(&s->app_us), &seen->app_us, max_us);
    take(atomic_load(&s->busy_us), &seen->busy_us, max_us);
}

enum fw_slot_retire fw_scoreboard_retire(const struct fw_slot *s)
{
    int r = atomic_load(&s->retire);
    return r >= FW_SLOT_RETIRE_NONE && r <= FW_SLOT_RETIRE_FDS ? (enum fw_slot_retire)r
                                                               : FW_SLOT_RETIRE_NONE;
}

void fw_scoreboard_set_buckets(struct fw_slot *s, const uint64_t *le_us, size_t n)
{
    if (n > FW_SLOT_BUCKETS_MAX)
        n = FW_SLOT_BUCKETS_MAX;
    memcpy(s->bucket_le_us, le_us, n * sizeof(*le_us));
    s->n_buckets = (uint32_t)n;
}

/* Bytes that print as themselves, in a terminal and in a JSON string. */
static bool plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '\\' && c != '"';
}

static void escape(char *out, size_t cap, const char *in, size_t in_max)
{
    size_t o = 0;
    for (size_t i = 0; i < in_max && in[i] && o + 5 <= cap; i++) {
        unsigned char c = (unsigned char)in[i];
        if (plain(c))
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    out[o] = '\0';
}

static bool token(const char *m, size_t max)
{
    size_t n = strnlen(m, max);
    if (n == 0 || n == max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)m[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

bool fw_scoreboard_request(const struct fw_slot *s, unsigned i, int64_t started_ms, int64_t now_ms,
                           struct fw_scoreboard_request *out)
{
    if (i >= FW_SLOT_REQUESTS_MAX)
        return false;
    const struct fw_slot_request *r = &s->now[i];
    char method[FW_SLOT_METHOD_MAX], path[FW_SLOT_PATH_MAX];
    for (int tries = 0; tries < 3; tries++) {
        uint32_t before = atomic_load_explicit(&r->seq, memory_order_acquire);
        if (before & 1)
            continue;
        int64_t start = atomic_load_explicit(&r->start_ms, memory_order_relaxed);
        memcpy(method, r->method, sizeof(method));
        memcpy(path, r->path, sizeof(path));
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&r->seq, memory_order_relaxed) != before)
            continue;
        if (!start || start < started_ms || start > now_ms)
            return false;
        if (token(method, sizeof(method)))
            memcpy(out->method, method, sizeof(method));
        else
            snprintf(out->method, sizeof(out->method), "?");
        escape(out->path, sizeof(out->path), path, sizeof(path));
        out->age_ms = now_ms - start;
        return true;
    }
    return false;
}
