/* A pool's status page (pool_page.h, fcgi/page.h). The memfd is sealed
 * against growing and shrinking, so a mapping never faults past its end,
 * and against any write but through the master's mapping (made before the
 * seal); a worker gets a descriptor opened O_RDONLY through /proc/self/fd. */
#include "config.h"

#include "pool_page.h"

#include "fcgi/page.h"
#include "lib/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int make(struct fw_pool *pool)
{
    int fd = memfd_create("fcgiwsgi-page", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    void *p = MAP_FAILED;
    if (fd >= 0 && ftruncate(fd, FW_PAGE_BYTES) == 0 &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0)
        p = mmap(NULL, FW_PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    /* After the master's own mapping: no one can map it writable or write
     * it any more, a worker that reopens /proc/self/fd/7 read-write
     * included (a memfd's mode lets it). */
    if (p != MAP_FAILED && fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0) {
        munmap(p, FW_PAGE_BYTES);
        p = MAP_FAILED;
    }
    if (p == MAP_FAILED) {
        fw_log_errno_to(pool->log, FW_LOG_ERR, "[pool %s] making its status page",
                        pool->conf->name);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    pool->page_fd = fd;
    pool->page = p;
    return 0;
}

int fw_pool_page_fd_for_worker(struct fw_pool *pool)
{
    if (!pool->conf->status_path || (!pool->page && make(pool) < 0))
        return -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", pool->page_fd);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fw_log_errno_to(pool->log, FW_LOG_ERR, "[pool %s] opening its status page for a worker",
                        pool->conf->name);
    return fd;
}

void fw_pool_publish_page(struct fw_pool *pool, const char *text, size_t text_len, const char *json,
                          size_t json_len)
{
    if (!pool->page)
        return;
    struct fw_page *pg = pool->page;
    if (text_len > FW_PAGE_DATA_MAX)
        text_len = FW_PAGE_DATA_MAX;
    if (json_len > FW_PAGE_DATA_MAX - text_len)
        json_len = 0; /* a cut JSON document is no document */
    uint32_t seq = atomic_load_explicit(&pg->seq, memory_order_relaxed);
    atomic_store_explicit(&pg->seq, seq | 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(pg->data, text, text_len);
    memcpy(pg->data + text_len, json, json_len);
    atomic_store_explicit(&pg->text_len, (uint32_t)text_len, memory_order_relaxed);
    atomic_store_explicit(&pg->json_len, (uint32_t)json_len, memory_order_relaxed);
    atomic_store_explicit(&pg->seq, (seq | 1) + 1, memory_order_release);
}

bool fw_pool_has_page(const struct fw_pool *pool)
{
    return pool->page != NULL;
}

void fw_pool_page_free(struct fw_pool *pool)
{
    if (pool->page)
        munmap(pool->page, FW_PAGE_BYTES);
    if (pool->page_fd >= 0)
        close(pool->page_fd);
    pool->page = NULL;
    pool->page_fd = -1;
}
