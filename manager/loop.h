/* The master's event loop: epoll over file descriptors with callbacks, and
 * one periodic tick for every deadline (spawn back-off, graceful timeouts,
 * startup and request timeouts). A callback may remove any fd, including
 * the one being dispatched. No library beyond libc. */
#ifndef FW_LOOP_H
#define FW_LOOP_H

#include <stdint.h>

struct fw_loop;

typedef void (*fw_loop_fd_fn)(struct fw_loop *loop, int fd, uint32_t events, void *data);
typedef void (*fw_loop_tick_fn)(struct fw_loop *loop, void *data);

struct fw_loop *fw_loop_new(unsigned tick_ms, fw_loop_tick_fn tick, void *tick_data);
void fw_loop_free(struct fw_loop *loop);

/* events: EPOLLIN etc. Returns 0 or -1 (errno set). */
int fw_loop_add(struct fw_loop *loop, int fd, uint32_t events, fw_loop_fd_fn fn, void *data);
void fw_loop_del(struct fw_loop *loop, int fd);

/* Runs until fw_loop_stop. Returns 0, or -1 if epoll failed. */
int fw_loop_run(struct fw_loop *loop);
void fw_loop_stop(struct fw_loop *loop);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t fw_loop_now_ms(void);

#endif
