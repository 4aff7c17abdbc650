/* Listener creation and address parsing; used by the manager and by the
 * stand-alone responder. Accepting and client filtering live with their
 * callers. */
#include "config.h"

#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int parse_unix(const char *path, struct fw_sock_addr *out, char *err, size_t errlen)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
    size_t len = strlen(path);
    if (len == 0)
        return fail(err, errlen, "empty unix socket path");
    if (len >= sizeof(sun->sun_path))
        return fail(err, errlen, "unix socket path too long (%zu bytes, at most %zu): %s", len,
                    sizeof(sun->sun_path) - 1, path);
    memset(out, 0, sizeof(*out));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, len + 1);
    out->family = AF_UNIX;
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    snprintf(out->text, sizeof(out->text), "unix:%s", path);
    return 0;
}

int fw_sock_parse(const char *spec, struct fw_sock_addr *out, char *err, size_t errlen)
{
    if (strncmp(spec, "unix:", 5) == 0)
        return parse_unix(spec + 5, out, err, errlen);
    if (spec[0] == '/' || spec[0] == '.')
        return parse_unix(spec, out, err, errlen);

    char host[256];
    const char *port;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':')
            return fail(err, errlen, "bad address '%s': expected [IPv6]:PORT", spec);
        size_t hl = (size_t)(close - spec - 1);
        if (hl >= sizeof(host))
            return fail(err, errlen, "bad address '%s': host too long", spec);
        memcpy(host, spec + 1, hl);
        host[hl] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon)
            return fail(
                err, errlen,
                "bad address '%s': expected a unix path (starting with / or unix:) or HOST:PORT",
                spec);
        size_t hl = (size_t)(colon - spec);
        if (hl >= sizeof(host))
            return fail(err, errlen, "bad address '%s': host too long", spec);
        memcpy(host, spec, hl);
        host[hl] = '\0';
        port = colon + 1;
        if (strchr(host, ':'))
            return fail(err, errlen, "bad address '%s': write IPv6 addresses as [ADDR]:PORT", spec);
    }
    char *end;
    errno = 0;
    long p = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || errno || p < 1 || p > 65535)
        return fail(err, errlen, "bad address '%s': port must be 1-65535", spec);

    memset(out, 0, sizeof(*out));
    if (host[0] == '\0' || strcmp(host, "*") == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sin->sin_port = htons((uint16_t)p);
        out->family = AF_INET;
        out->len = sizeof(*sin);
    } else {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
        struct addrinfo *res = NULL;
        int rc = getaddrinfo(host, port, &hints, &res);
        if (rc != 0)
            return fail(err, errlen, "bad address '%s': %s", spec, gai_strerror(rc));
        memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
        out->len = res->ai_addrlen;
        out->family = res->ai_family;
        freeaddrinfo(res);
    }
    char buf[INET6_ADDRSTRLEN] = "";
    if (out->family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&out->ss)->sin6_addr, buf, sizeof(buf));
        snprintf(out->text, sizeof(out->text), "[%s]:%ld", buf, p);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&out->ss)->sin_addr, buf, sizeof(buf));
        snprintf(out->text, sizeof(out->text), "%s:%ld", buf, p);
    }
    return 0;
}

pid_t fw_sock_unix_owner(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path))
        return 0;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    pid_t pid = 0;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    /* A listening unix socket's peer credentials are its listener's. */
    if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        pid = cred.pid;
    close(fd);
    return pid;
}

/* A unix socket file left by a crashed run refuses connections; a live one
 * accepts. Only the stale kind may be removed. */
static int clear_unix_path(const struct fw_sock_addr *addr, char *err, size_t errlen)
{
    const char *path = ((const struct sockaddr_un *)&addr->ss)->sun_path;
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return fail(err, errlen, "%s: %s", path, strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return fail(err, errlen, "%s exists and is not a socket; refusing to replace it", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(err, errlen, "socket: %s", strerror(errno));
    int rc = connect(fd, (const struct sockaddr *)&addr->ss, addr->len);
    int saved = errno;
    close(fd);
    if (rc == 0) {
        pid_t pid = fw_sock_unix_owner(path);
        errno = EADDRINUSE;
        if (pid > 0)
            return fail(err, errlen, "%s is in use by a running server (pid %ld)", path,
                        (long)pid);
        return fail(err, errlen, "%s is in use by a running server", path);
    }
    if (saved != ECONNREFUSED)
        return fail(err, errlen, "%s: cannot tell whether it is in use: %s", path, strerror(saved));
    if (unlink(path) < 0 && errno != ENOENT)
        return fail(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
    return 0;
}

static int check_dir_mode(const char *dir, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        int saved = errno;
        fail(err, errlen, "%s: socket directory %s: %s", path, dir, strerror(saved));
        errno = saved;
        return -1;
    }
    if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
        fail(err, errlen,
             "%s: directory %s is writable by all users without the sticky bit, so "
             "anyone could replace the socket: chmod o-w or +t it",
             path, dir);
        errno = EPERM;
        return -1;
    }
    return 0;
}

int fw_sock_check_dir(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    char *real = realpath(dir, NULL);
    if (!real) {
        int saved = errno;
        fail(err, errlen, "%s: socket directory %s: %s", path, dir, strerror(saved));
        errno = saved;
        return -1;
    }
    /* Each ancestor too: renaming a directory swaps everything below it. */
    int rc = check_dir_mode("/", path, err, errlen);
    for (char *end = real; rc == 0 && end;) {
        end = strchr(end + 1, '/');
        if (end)
            *end = '\0';
        if (real[1])
            rc = check_dir_mode(real, path, err, errlen);
        if (end)
            *end = '/';
    }
    int saved = errno;
    free(real);
    errno = saved;
    return rc;
}

/* Opens path itself, never what it points to, and checks that it is still
 * the socket that was bound. Returns an O_PATH fd or -1. */
static int open_bound(const char *path, const struct fw_sock_file *bound, char *err, size_t errlen)
{
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        fail(err, errlen, "%s: %s", path, strerror(errno));
    } else if (S_ISLNK(st.st_mode)) {
        fail(err, errlen, "%s is now a symlink, not the socket that was bound; not following it",
             path);
    } else if (!S_ISSOCK(st.st_mode) || st.st_dev != bound->dev || st.st_ino != bound->ino) {
        fail(err, errlen,
             "%s is not the socket that was bound any more (replaced by %s); leaving it alone",
             path, S_ISSOCK(st.st_mode) ? "another socket" : "a file that is not a socket");
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

/* fchmod() refuses an O_PATH fd; /proc/self/fd/N leads to the very inode
 * the fd holds, whatever has the name since. */
static int chperms_fd(int fd, const char *path, int mode, uid_t uid, gid_t gid, char *err,
                      size_t errlen)
{
    if (mode >= 0) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (chmod(proc, (mode_t)mode) < 0)
            return fail(err, errlen, "%s: chmod %04o (through %s): %s", path, (unsigned)mode, proc,
                        strerror(errno));
    }
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0)
        return fail(err, errlen, "%s: chown %ld:%ld: %s", path, uid == (uid_t)-1 ? -1L : (long)uid,
                    gid == (gid_t)-1 ? -1L : (long)gid, strerror(errno));
    return 0;
}

int fw_sock_set_perms(const char *path, const struct fw_sock_file *bound, int mode, uid_t uid,
                      gid_t gid, char *err, size_t errlen)
{
    if (mode < 0 && uid == (uid_t)-1 && gid == (gid_t)-1)
        return 0;
    int fd = open_bound(path, bound, err, errlen);
    if (fd < 0)
        return -1;
    int rc = chperms_fd(fd, path, mode, uid, gid, err, errlen);
    close(fd);
    return rc;
}

int fw_sock_listen(const struct fw_sock_addr *addr, int backlog, int mode,
                   struct fw_sock_file *bound, char *err, size_t errlen)
{
    const char *path = ((const struct sockaddr_un *)&addr->ss)->sun_path;
    struct fw_sock_file file = { 0 };
    if (addr->family == AF_UNIX &&
        (fw_sock_check_dir(path, err, errlen) < 0 || clear_unix_path(addr, err, errlen) < 0))
        return -1;
    int fd = socket(addr->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return fail(err, errlen, "%s: socket: %s", addr->text, strerror(errno));
    int one = 1;
    if (addr->family != AF_UNIX) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (addr->family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0) {
        fail(err, errlen, "%s: bind: %s", addr->text, strerror(errno));
        goto fail;
    }
    if (addr->family == AF_UNIX) {
        /* Taken at once, so that a later chmod or chown can tell this file
         * from one renamed over it; a symlink here already is refused. */
        int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (pfd < 0 || fstat(pfd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
            fail(err, errlen, "%s: the socket file was replaced right after bind()%s%s", addr->text,
                 pfd < 0 ? ": " : "", pfd < 0 ? strerror(errno) : "");
            if (pfd >= 0)
                close(pfd);
            goto fail;
        }
        file.dev = st.st_dev;
        file.ino = st.st_ino;
        int rc = chperms_fd(pfd, path, mode, (uid_t)-1, (gid_t)-1, err, errlen);
        close(pfd);
        if (rc < 0)
            goto fail;
    }
    if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
        fail(err, errlen, "%s: listen: %s", addr->text, strerror(errno));
        goto fail;
    }
    if (bound)
        *bound = file;
    return fd;
fail:
    close(fd);
    return -1;
}

int fw_sock_is_listener(int fd)
{
    int type = 0, acc = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return errno == EBADF ? -1 : 0;
    len = sizeof(acc);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0)
        return 0;
    return type == SOCK_STREAM && acc;
}

int fw_sock_is_stream(int fd)
{
    int type = 0;
    socklen_t len = sizeof(type);
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

int fw_sock_peer_allowed(const struct sockaddr *peer, const char *const *allowed, size_t n)
{
    unsigned char addr[16];
    size_t len;
    int family = peer->sa_family;
    if (family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
        len = 4;
    } else if (family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(addr, a6->s6_addr + 12, 4);
            len = 4;
            family = AF_INET;
        } else {
            memcpy(addr, a6, 16);
            len = 16;
        }
    } else {
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char want[16];
        if (inet_pton(family, allowed[i], want) == 1 && memcmp(want, addr, len) == 0)
            return 1;
    }
    return 0;
}

void fw_sock_peer_text(const struct sockaddr *peer, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (peer->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)peer;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
        snprintf(buf, size, "%s:%u", ip, ntohs(s->sin_port));
    } else if (peer->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)peer;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
        snprintf(buf, size, "[%s]:%u", ip, ntohs(s->sin6_port));
    } else {
        snprintf(buf, size, "unix");
    }
}

int fw_sock_set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl);
}

int fw_sock_set_cloexec(int fd, int on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0)
        return -1;
    fl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
    return fcntl(fd, F_SETFD, fl);
}
