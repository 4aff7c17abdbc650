/* The control socket's server side: accept, check the peer, read one
 * request, hand it to the manager, write the answer (buffered, EPOLLOUT
 * when the client reads slowly) and close. */
#include "config.h"

#include "control.h"

#include "lib/dir.h"
#include "lib/log.h"
#include "lib/sock.h"
#include "loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13; older headers lack it */
#endif

#define READ_DEADLINE_MS 5000   /* to send a whole request */
#define WRITE_DEADLINE_MS 10000 /* to take a whole answer */
#define PEER_GROUPS_MAX 256

struct fw_ctl_client {
    struct fw_control *ctl;
    int fd;
    bool dispatched; /* the manager has it; no more reading */
    bool denied;     /* refused by the peer check: answered once its request is read */
    char in[FW_CTL_REQUEST_MAX];
    size_t in_len;
    char *out;
    size_t out_len, out_off;
    int64_t deadline_ms; /* reading or writing; 0 while the manager has it */
    char peer[64];
    struct fw_ctl_client *prev, *next;
};

struct fw_control {
    struct fw_loop *loop;
    int fd;
    char *path;
    gid_t group;
    fw_control_fn fn;
    void *data;
    struct fw_ctl_client *clients;
};

static void client_free(struct fw_ctl_client *c)
{
    if (c->fd >= 0) {
        fw_loop_del(c->ctl->loop, c->fd);
        close(c->fd);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        c->ctl->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->out);
    free(c);
}

/* Writes what it can; true when the client is finished with (freed). */
static bool flush(struct fw_ctl_client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        if (n <= 0) {
            /* The client went away (ctl killed); nothing to tell. */
            fw_log(FW_LOG_INFO, "control: %s left before the answer was sent", c->peer);
            break;
        }
        c->out_off += (size_t)n;
    }
    client_free(c);
    return true;
}

static void on_writable(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)fd;
    (void)events;
    flush(data);
}

void fw_control_reply(struct fw_ctl_client *c, enum fw_ctl_status status, const char *text)
{
    size_t tlen = strlen(text);
    bool nl = tlen == 0 || text[tlen - 1] != '\n';
    c->out = malloc(tlen + 16);
    if (!c->out) {
        client_free(c);
        return;
    }
    c->out_len = (size_t)snprintf(c->out, 16, "%d\n", (int)status);
    memcpy(c->out + c->out_len, text, tlen);
    c->out_len += tlen;
    if (nl && tlen)
        c->out[c->out_len++] = '\n';
    if (!flush(c)) {
        c->deadline_ms = fw_loop_now_ms() + WRITE_DEADLINE_MS;
        if (fw_loop_add(c->ctl->loop, c->fd, EPOLLOUT, on_writable, c) < 0)
            client_free(c);
    }
}

const char *fw_control_peer(const struct fw_ctl_client *c)
{
    return c->peer;
}

/* The request is complete when it ends with an empty line. Returns true
 * if it was, and c was handed on (it may be freed already). */
static bool try_dispatch(struct fw_ctl_client *c)
{
    bool empty = c->in_len == 1 && c->in[0] == '\n';
    if (!empty && (c->in_len < 2 || c->in[c->in_len - 1] != '\n' || c->in[c->in_len - 2] != '\n'))
        return false;
    char *argv[FW_CTL_ARGS_MAX + 1];
    int argc = 0;
    char *p = c->in;
    c->in[c->in_len - 1] = '\0';
    while (*p && argc < FW_CTL_ARGS_MAX) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        argv[argc++] = p;
        if (!nl)
            break;
        p = nl + 1;
    }
    argv[argc] = NULL;
    c->dispatched = true;
    c->deadline_ms = 0;
    fw_loop_del(c->ctl->loop, c->fd);
    if (c->denied)
        fw_control_reply(c, FW_CTL_DENIED,
                         "permission denied: only root, the manager's user and members of "
                         "control_group may control fcgiwsgi");
    else if (argc == 0 || *p)
        fw_control_reply(c, FW_CTL_USAGE, argc ? "too many arguments" : "empty request");
    else
        c->ctl->fn(c, argc, argv, c->ctl->data);
    return true;
}

static void on_readable(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)events;
    struct fw_ctl_client *c = data;
    for (;;) {
        if (c->in_len == sizeof(c->in)) {
            fw_log(FW_LOG_WARN, "control: %s sent a request over %zu bytes", c->peer,
                   sizeof(c->in));
            c->dispatched = true;
            fw_loop_del(c->ctl->loop, fd);
            fw_control_reply(c, FW_CTL_USAGE, "request too long");
            return;
        }
        ssize_t n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            client_free(c);
            return;
        }
        c->in_len += (size_t)n;
        if (try_dispatch(c))
            return;
    }
}

static bool in_group(int fd, gid_t group, gid_t primary)
{
    if (primary == group)
        return true;
    gid_t groups[PEER_GROUPS_MAX];
    socklen_t len = sizeof(groups);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
        return false;
    for (size_t i = 0; i < len / sizeof(gid_t); i++)
        if (groups[i] == group)
            return true;
    return false;
}

static void on_accept(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    (void)events;
    struct fw_control *ctl = data;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                fw_log_errno(FW_LOG_WARN, "control: accept");
            return;
        }
        struct fw_ctl_client *c = calloc(1, sizeof(*c));
        if (!c) {
            close(cfd);
            continue;
        }
        c->ctl = ctl;
        c->fd = cfd;
        c->next = ctl->clients;
        if (ctl->clients)
            ctl->clients->prev = c;
        ctl->clients = c;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        bool allowed = false;
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
            snprintf(c->peer, sizeof(c->peer), "uid %u pid %ld", (unsigned)cred.uid,
                     (long)cred.pid);
            allowed = cred.uid == 0 || cred.uid == geteuid() ||
                      (ctl->group != (gid_t)-1 && in_group(cfd, ctl->group, cred.gid));
        } else {
            snprintf(c->peer, sizeof(c->peer), "an unknown peer");
        }
        if (!allowed) {
            fw_log(FW_LOG_WARN,
                   "control: refused %s: only root, the manager's user and members of "
                   "control_group may use the control socket",
                   c->peer);
            /* Answered after its request is read: closing with unread
             * data would reset the connection before it sees why. */
            c->denied = true;
        }
        c->deadline_ms = fw_loop_now_ms() + READ_DEADLINE_MS;
        if (fw_loop_add(loop, cfd, EPOLLIN, on_readable, c) < 0)
            client_free(c);
    }
}

struct fw_control *fw_control_new(struct fw_loop *loop, const char *path, gid_t group,
                                  fw_control_fn fn, void *data)
{
    struct fw_sock_addr addr;
    char err[512];
    if (fw_sock_parse(path, &addr, err, sizeof(err)) < 0 || addr.family != AF_UNIX) {
        fw_log(FW_LOG_ERR, "control socket %s: %s", path,
               addr.family != AF_UNIX ? "not a unix socket path" : err);
        return NULL;
    }
    int made = fw_dir_make_for(path);
    if (made < 0) {
        fw_log_errno(FW_LOG_ERR, "control socket %s: creating its directory", path);
        return NULL;
    }
    if (made)
        fw_log(FW_LOG_NOTICE, "created the directory of the control socket %s", path);
    struct fw_sock_file bound;
    int fd = fw_sock_listen(&addr, 64, group != (gid_t)-1 ? 0660 : 0600, &bound, err, sizeof(err));
    if (fd < 0) {
        pid_t owner = errno == EADDRINUSE ? fw_sock_unix_owner(path) : 0;
        if (owner > 0)
            fw_log(FW_LOG_ERR, "fcgiwsgi is already running (pid %ld): %s is its control socket",
                   (long)owner, path);
        else
            fw_log(FW_LOG_ERR, "control socket: %s", err);
        return NULL;
    }
    /* On the file that was bound only: chown(path) would follow a symlink
     * renamed over it, giving the group whatever file it points to. */
    if (fw_sock_set_perms(path, &bound, -1, (uid_t)-1, group, err, sizeof(err)) < 0) {
        fw_log(FW_LOG_ERR, "control socket: group %u: %s", (unsigned)group, err);
        close(fd);
        unlink(path);
        return NULL;
    }
    struct fw_control *ctl = calloc(1, sizeof(*ctl));
    if (!ctl || !(ctl->path = strdup(path)) || fw_loop_add(loop, fd, EPOLLIN, on_accept, ctl) < 0) {
        fw_log_errno(FW_LOG_ERR, "control socket %s", path);
        if (ctl)
            free(ctl->path);
        free(ctl);
        close(fd);
        unlink(path);
        return NULL;
    }
    ctl->loop = loop;
    ctl->fd = fd;
    ctl->group = group;
    ctl->fn = fn;
    ctl->data = data;
    fw_log(FW_LOG_INFO, "control socket %s", path);
    return ctl;
}

void fw_control_tick(struct fw_control *ctl)
{
    int64_t now = fw_loop_now_ms();
    struct fw_ctl_client *c = ctl->clients;
    while (c) {
        struct fw_ctl_client *next = c->next;
        if (c->deadline_ms && now > c->deadline_ms) {
            fw_log(FW_LOG_INFO, "control: dropping %s: too slow", c->peer);
            client_free(c);
        }
        c = next;
    }
}

void fw_control_free(struct fw_control *ctl)
{
    if (!ctl)
        return;
    while (ctl->clients)
        client_free(ctl->clients);
    fw_loop_del(ctl->loop, ctl->fd);
    close(ctl->fd);
    unlink(ctl->path);
    free(ctl->path);
    free(ctl);
}
