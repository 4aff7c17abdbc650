/* Socket helpers for listeners: parse "HOST:PORT", "[v6]:PORT" or a unix
 * path, and create a listening socket without stealing a live one. They do
 * not log: errors go into the caller's buffer (redis anet.c style). */
#ifndef FW_SOCK_H
#define FW_SOCK_H

#include <stddef.h>
#include <sys/socket.h>

struct fw_sock_addr {
    int family; /* AF_UNIX, AF_INET or AF_INET6 */
    socklen_t len;
    struct sockaddr_storage ss;
    char text[128]; /* canonical form for logs */
};

/* "unix:/p", "/p", "./p" (unix); "1.2.3.4:80", "[::1]:80", "localhost:80",
 * "*:80" or ":80" (any IPv4). */
int fw_sock_parse(const char *spec, struct fw_sock_addr *out, char *err, size_t errlen);

/* Bound, listening, O_NONBLOCK and FD_CLOEXEC. For a unix path, a stale socket
 * file is replaced; a live one (something accepts on it) or a non-socket file
 * is an error. mode < 0 keeps the umask's mode. Returns the fd or -1. */
int fw_sock_listen(const struct fw_sock_addr *addr, int backlog, int mode, char *err,
                   size_t errlen);

/* 1 if fd is a listening stream socket, 0 if not, -1 if fd is not open. */
int fw_sock_is_listener(int fd);

/* 1 if the peer's IP is one of the numeric addresses in allowed (IPv4 peers
 * on an IPv6 socket arrive as ::ffff:a.b.c.d and match a.b.c.d), else 0.
 * Unix peers always match. */
int fw_sock_peer_allowed(const struct sockaddr *peer, const char *const *allowed, size_t n);

/* The peer's address as text, for logs. */
void fw_sock_peer_text(const struct sockaddr *peer, char *buf, size_t size);

int fw_sock_set_nonblock(int fd, int on);
int fw_sock_set_cloexec(int fd, int on);

#endif
