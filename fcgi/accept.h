/* A worker taking connections from its listening socket: allowed_clients,
 * and file descriptors. Near the fd limit the oldest waiting connections
 * are closed to make room (nginx does the same with its idle keepalive
 * connections), so a flood of connections that never send a byte cannot
 * lock normal requests out; when accept() fails for want of fds and there
 * is nothing to close (the app holds them), accepting pauses and the
 * worker should ask for its replacement. Either is logged at most once
 * per FW_ACCEPT_LOG_MS, with a count. */
#ifndef FW_ACCEPT_H
#define FW_ACCEPT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fw_conn;
struct fw_conn_settings;
struct fw_waitset;

#define FW_ACCEPT_LOG_MS 10000
#define FW_ACCEPT_PAUSE_MS 250

struct fw_accept {
    int listen_fd;
    struct fw_waitset *ws;
    const struct fw_conn_settings *conn_settings;
    const char *const *allowed_clients;
    size_t n_allowed_clients;
    size_t fd_limit;                 /* RLIMIT_NOFILE */
    int64_t counted_ms;              /* main thread: when open fds were last counted */
    _Atomic int64_t paused_until_ms; /* 0: not paused */
    atomic_bool starved;             /* accept failed with nothing to close */
    _Atomic int64_t logged_ms;
    atomic_ulong shed, failed; /* since the last log line */
};

/* Raises RLIMIT_NOFILE's soft limit to `wanted` (0: the hard limit, at
 * most 65536: the waitset keeps a table entry per possible fd). Returns the
 * limit in force. */
size_t fw_accept_raise_nofile(uint64_t wanted);

void fw_accept_init(struct fw_accept *a, int listen_fd, struct fw_waitset *ws,
                    const struct fw_conn_settings *cs, const char *const *allowed, size_t n_allowed);

/* A request thread saw the listener readable. Returns the adopted
 * connection, or NULL: none was there, it was refused, or fds ran out. */
struct fw_conn *fw_accept_one(struct fw_accept *a, bool stopping);

/* Main thread, on its tick: resumes accepting after a pause (unless
 * stopping). Returns true once after accept starved: the worker should ask
 * for a replacement. */
bool fw_accept_tick(struct fw_accept *a, int64_t now_ms, bool stopping);

#endif
