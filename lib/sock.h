/* Socket helpers for listeners: parse "HOST:PORT", "[v6]:PORT" or a unix
 * path, and create a listening socket without stealing a live one. They do
 * not log: errors go into the caller's buffer (redis anet.c style). */
#ifndef FW_SOCK_H
#define FW_SOCK_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct fw_sock_addr {
    int family; /* AF_UNIX, AF_INET or AF_INET6 */
    socklen_t len;
    struct sockaddr_storage ss;
    char text[128]; /* canonical form for logs */
};

/* "unix:/p", "/p", "./p" (unix); "1.2.3.4:80", "[::1]:80", "localhost:80",
 * "*:80" or ":80" (any IPv4). */
int fw_sock_parse(const char *spec, struct fw_sock_addr *out, char *err, size_t errlen);

/* The file bind() created for a unix listener, as found right after it:
 * whoever can write its directory can put something else under its name. */
struct fw_sock_file {
    dev_t dev;
    ino_t ino;
};

/* Bound, listening, O_NONBLOCK and FD_CLOEXEC. For a unix path, the
 * directories must pass fw_sock_check_dir(), a stale socket file is
 * replaced, and a live one (something accepts on it) or a non-socket file is
 * an error; mode < 0 keeps the umask's mode, and bound (may be NULL)
 * receives the socket file's identity. Returns the fd or -1. */
int fw_sock_listen(const struct fw_sock_addr *addr, int backlog, int mode,
                   struct fw_sock_file *bound, char *err, size_t errlen);

/* 0 if no directory on the way to the unix socket path (symlinks resolved)
 * is writable by every user without the sticky bit: in one, anyone can
 * rename something of theirs over the socket. Else -1, errno set (ENOENT if
 * a directory does not exist yet) and err says which directory. */
int fw_sock_check_dir(const char *path, char *err, size_t errlen);

/* Sets the mode (mode < 0: unchanged) and owner ((uid_t)-1 / (gid_t)-1:
 * unchanged) of the socket file bind() created, and only if path still
 * names it: a symlink or any other file there now is an error, never
 * followed. */
int fw_sock_set_perms(const char *path, const struct fw_sock_file *bound, int mode, uid_t uid,
                      gid_t gid, char *err, size_t errlen);

/* 1 if fd is a listening stream socket, 0 if not, -1 if fd is not open. */
int fw_sock_is_listener(int fd);
/* 1 if fd is a stream socket (listening or not), else 0. */
int fw_sock_is_stream(int fd);

/* 1 if the peer's IP is one of the numeric addresses in allowed (IPv4 peers
 * on an IPv6 socket arrive as ::ffff:a.b.c.d and match a.b.c.d), else 0.
 * Unix peers always match. */
int fw_sock_peer_allowed(const struct sockaddr *peer, const char *const *allowed, size_t n);

/* The peer's address as text, for logs. */
void fw_sock_peer_text(const struct sockaddr *peer, char *buf, size_t size);

int fw_sock_set_nonblock(int fd, int on);
int fw_sock_set_cloexec(int fd, int on);

/* The pid of the process listening on the unix socket path, or 0 (none,
 * or not a socket anyone accepts on). */
pid_t fw_sock_unix_owner(const char *path);

#endif
