/* Where a worker's connections wait while no thread serves them: one epoll
 * set shared by the request threads, holding the listening socket, a stop
 * event, and every connection that is new, kept between requests, or part
 * way through its params, each with its deadline (keepalive_timeout for an
 * idle kept connection, client_timeout for a request that has not arrived
 * whole). Any free thread takes whichever is ready, so no connection pins
 * a thread while its peer is silent. */
#ifndef FW_WAITSET_H
#define FW_WAITSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fw_conn;
struct fw_waitset;

/* listen_level: the listener stays armed (one request thread); otherwise it
 * is one-shot and re-armed after each accept. */
struct fw_waitset *fw_waitset_new(int listen_fd, bool listen_level, uint64_t keepalive_timeout_ms,
                                  uint64_t client_timeout_ms);
/* Closes every connection still waiting. */
void fw_waitset_free(struct fw_waitset *ws);

int fw_waitset_listen(struct fw_waitset *ws);
void fw_waitset_unlisten(struct fw_waitset *ws);
void fw_waitset_rearm_listen(struct fw_waitset *ws);
/* Makes fw_waitset_next return STOP in every thread from now on. */
void fw_waitset_stop(struct fw_waitset *ws);

enum fw_waitset_event {
    FW_WAITSET_CONN,   /* *conn is the caller's until it parks or closes it */
    FW_WAITSET_LISTEN, /* the listener is readable: accept */
    FW_WAITSET_STOP,
};
enum fw_waitset_event fw_waitset_next(struct fw_waitset *ws, struct fw_conn **conn);

/* A new connection, held by the caller. -1 (the caller closes it) when its
 * fd is past the table (RLIMIT_NOFILE at start). */
int fw_waitset_adopt(struct fw_waitset *ws, struct fw_conn *c);
/* Waits for c to be readable. partial: a request has begun (or none has
 * ever arrived): its deadline is client_timeout from when it began, kept
 * across parks; otherwise keepalive_timeout from now. */
void fw_waitset_park(struct fw_waitset *ws, struct fw_conn *c, bool partial);

/* Closes waiting connections past their deadline and, when stopping
 * (since stop_ms), kept ones that have been idle a while with nothing to
 * read, and those whose request does not come soon enough (see
 * waitset.c). Returns how many still wait. */
size_t fw_waitset_sweep(struct fw_waitset *ws, int64_t now_ms, bool stopping, int64_t stop_ms);
size_t fw_waitset_waiting(struct fw_waitset *ws);

/* Out of file descriptors: closes up to n waiting connections, oldest
 * first, those whose request has not come whole before idle kept ones.
 * Returns how many it closed. */
size_t fw_waitset_shed(struct fw_waitset *ws, size_t n);

#endif
