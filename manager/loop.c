/* epoll loop in the manner of redis ae.c, smaller: handlers live in a table
 * indexed by fd, and a handler removed during dispatch is never called again
 * in that round (its entry is cleared before the next event is looked at). */
#include "config.h"

#include "loop.h"

#include "lib/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct handler {
    fw_loop_fd_fn fn;
    void *data;
    uint64_t serial; /* tells a re-added fd from the removed one */
};

struct fw_loop {
    int epfd;
    struct handler *handlers;
    size_t n_handlers;
    uint64_t serial;
    unsigned tick_ms;
    fw_loop_tick_fn tick;
    void *tick_data;
    int64_t next_tick_ms;
    int stop;
};

int64_t fw_loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct fw_loop *fw_loop_new(unsigned tick_ms, fw_loop_tick_fn tick, void *tick_data)
{
    struct fw_loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }
    loop->tick_ms = tick_ms;
    loop->tick = tick;
    loop->tick_data = tick_data;
    return loop;
}

void fw_loop_free(struct fw_loop *loop)
{
    if (!loop)
        return;
    close(loop->epfd);
    free(loop->handlers);
    free(loop);
}

int fw_loop_add(struct fw_loop *loop, int fd, uint32_t events, fw_loop_fd_fn fn, void *data)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    if ((size_t)fd >= loop->n_handlers) {
        size_t n = loop->n_handlers ? loop->n_handlers : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct handler *h = realloc(loop->handlers, n * sizeof(*h));
        if (!h)
            return -1;
        memset(h + loop->n_handlers, 0, (n - loop->n_handlers) * sizeof(*h));
        loop->handlers = h;
        loop->n_handlers = n;
    }
    struct handler *h = &loop->handlers[fd];
    h->fn = fn;
    h->data = data;
    h->serial = ++loop->serial;
    struct epoll_event ev = { .events = events, .data.u64 = (h->serial << 32) | (uint32_t)fd };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        h->fn = NULL;
        return -1;
    }
    return 0;
}

void fw_loop_del(struct fw_loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->n_handlers || !loop->handlers[fd].fn)
        return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    loop->handlers[fd].fn = NULL;
    loop->handlers[fd].data = NULL;
}

void fw_loop_stop(struct fw_loop *loop)
{
    loop->stop = 1;
}

int fw_loop_run(struct fw_loop *loop)
{
    struct epoll_event events[64];
    loop->next_tick_ms = fw_loop_now_ms() + loop->tick_ms;
    while (!loop->stop) {
        int64_t now = fw_loop_now_ms();
        int timeout = loop->next_tick_ms > now ? (int)(loop->next_tick_ms - now) : 0;
        int n = epoll_wait(loop->epfd, events, 64, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fw_log_errno(FW_LOG_ERR, "event loop: epoll_wait");
            return -1;
        }
        for (int i = 0; i < n && !loop->stop; i++) {
            int fd = (int)(uint32_t)events[i].data.u64;
            uint64_t serial = events[i].data.u64 >> 32;
            if ((size_t)fd >= loop->n_handlers)
                continue;
            struct handler *h = &loop->handlers[fd];
            /* Removed (or removed and re-added) by an earlier callback. */
            if (!h->fn || (h->serial & 0xffffffffu) != serial)
                continue;
            h->fn(loop, fd, events[i].events, h->data);
        }
        now = fw_loop_now_ms();
        if (now >= loop->next_tick_ms) {
            loop->next_tick_ms = now + loop->tick_ms;
            if (loop->tick)
                loop->tick(loop, loop->tick_data);
        }
    }
    return 0;
}
