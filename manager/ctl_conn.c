/* fcgiwsgi-ctl's side of the control socket (ctl_conn.h). Connect errors
 * are named for what an operator should check: the path, the manager, the
 * permissions. */
#include "config.h"

#include "ctl_conn.h"

#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int fw_ctl_connect(const char *path, char *err, size_t errcap)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errcap, "socket path too long: %s", path);
        return -FW_CTL_USAGE;
    }
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errcap, "socket: %s", strerror(errno));
        return -FW_CTL_ERROR;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
        return fd;
    int e = errno;
    close(fd);
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        snprintf(err, errcap,
                 "no control socket at %s: is fcgiwsgi running with this `control:` path?", path);
        return -FW_CTL_NO_SOCKET;
    case ECONNREFUSED:
        snprintf(err, errcap,
                 "nothing accepts on %s: the manager is not running (the socket is left over)",
                 path);
        return -FW_CTL_NOT_RUNNING;
    case EACCES:
    case EPERM:
        snprintf(err, errcap,
                 "permission denied on %s: run as root, as the manager's user or as a member of "
                 "its control_group",
                 path);
        return -FW_CTL_DENIED;
    default: snprintf(err, errcap, "connecting to %s: %s", path, strerror(e)); return -FW_CTL_ERROR;
    }
}

size_t fw_ctl_request(char *out, size_t cap, int argc, char *const *argv)
{
    size_t len = 0;
    for (int i = 0; i < argc && len < cap; i++) {
        int n = snprintf(out + len, cap - len, "%s\n", argv[i]);
        if (n < 0)
            break;
        len += (size_t)n;
    }
    if (len + 1 < cap)
        out[len++] = '\n';
    return len;
}

int fw_ctl_send(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fw_ctl_answer_read(struct fw_ctl_answer *a, int fd, char *err, size_t errcap)
{
    if (a->len + 4096 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8192;
        if (cap > FW_CTL_ANSWER_MAX + 1) {
            snprintf(err, errcap, "the answer is longer than %u bytes", FW_CTL_ANSWER_MAX);
            return -1;
        }
        char *nb = realloc(a->data, cap);
        if (!nb) {
            snprintf(err, errcap, "out of memory");
            return -1;
        }
        a->data = nb;
        a->cap = cap;
    }
    ssize_t n = recv(fd, a->data + a->len, a->cap - a->len - 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n < 0) {
        snprintf(err, errcap, "reading the answer: %s", strerror(errno));
        return -1;
    }
    if (n == 0) {
        a->data[a->len] = '\0';
        return 1;
    }
    a->len += (size_t)n;
    return 0;
}

int fw_ctl_answer_status(const struct fw_ctl_answer *a, const char **text, char *err, size_t errcap)
{
    char *nl = a->len ? memchr(a->data, '\n', a->len) : NULL;
    char *end = NULL;
    long status = nl ? strtol(a->data, &end, 10) : -1;
    if (!nl || end != nl || end == a->data || status < 0 || status > 99) {
        snprintf(err, errcap, "the manager closed the connection without an answer%s",
                 a->len ? " it understood" : " (is it shutting down?)");
        return -1;
    }
    *text = nl + 1;
    return (int)status;
}

void fw_ctl_answer_free(struct fw_ctl_answer *a)
{
    free(a->data);
    a->data = NULL;
    a->len = a->cap = 0;
}
