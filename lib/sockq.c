/* Listen-queue depth. The netlink exchange is one request and one reply:
 * sock_diag answers inside sendto(), so the reply is read without waiting,
 * and everything in it is length-checked before use, as the kernel's reply
 * format is only as trustworthy as our reading of it. */
#include <config.h>

#include "lib/sockq.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdalign.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TCP_STATE_LISTEN 10 /* include/net/tcp_states.h, not exported */

static int tcp_queue(int fd, struct fw_sockq *q)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
        return -errno;
    /* On a listener the kernel reports its accept queue in these two. */
    if (len < offsetof(struct tcp_info, tcpi_sacked) + sizeof(ti.tcpi_sacked) ||
        ti.tcpi_state != TCP_STATE_LISTEN)
        return -ENOTSUP;
    q->queued = ti.tcpi_unacked;
    q->backlog = ti.tcpi_sacked;
    return 0;
}

/* The UNIX_DIAG_RQLEN attribute of one unix_diag_msg, or -EPROTO. */
static int parse_unix_reply(const unsigned char *buf, size_t n, ino_t ino, struct fw_sockq *q)
{
    if (n < sizeof(struct nlmsghdr))
        return -EPROTO;
    struct nlmsghdr h;
    memcpy(&h, buf, sizeof(h));
    if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > n)
        return -EPROTO;
    if (h.nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr e;
        if (h.nlmsg_len < NLMSG_LENGTH(sizeof(e)))
            return -EPROTO;
        memcpy(&e, buf + NLMSG_HDRLEN, sizeof(e));
        return e.error < 0 ? e.error : -EPROTO;
    }
    if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY || h.nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
        return -EPROTO;
    struct unix_diag_msg msg;
    memcpy(&msg, buf + NLMSG_HDRLEN, sizeof(msg));
    if (msg.udiag_ino != ino)
        return -EPROTO;
    if (msg.udiag_state != TCP_STATE_LISTEN)
        return -ENOTSUP;
    size_t off = NLMSG_LENGTH(sizeof(msg));
    off = NLMSG_ALIGN(off);
    while (off + sizeof(struct nlattr) <= h.nlmsg_len) {
        struct nlattr a;
        memcpy(&a, buf + off, sizeof(a));
        if (a.nla_len < sizeof(a) || a.nla_len > h.nlmsg_len - off)
            return -EPROTO;
        if (a.nla_type == UNIX_DIAG_RQLEN) {
            struct unix_diag_rqlen rq;
            if (a.nla_len < NLA_HDRLEN + sizeof(rq))
                return -EPROTO;
            memcpy(&rq, buf + off + NLA_HDRLEN, sizeof(rq));
            /* For a listener: pending connections, and its backlog. */
            q->queued = rq.udiag_rqueue;
            q->backlog = rq.udiag_wqueue;
            return 0;
        }
        off += NLA_ALIGN(a.nla_len);
    }
    return -EPROTO;
}

static int unix_queue(int fd, struct fw_sockq *q)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return -errno;
    struct {
        struct nlmsghdr h;
        struct unix_diag_req r;
    } req;
    memset(&req, 0, sizeof(req));
    req.h.nlmsg_len = sizeof(req);
    req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.h.nlmsg_flags = NLM_F_REQUEST;
    req.h.nlmsg_seq = 1;
    req.r.sdiag_family = AF_UNIX;
    req.r.udiag_states = 1U << TCP_STATE_LISTEN;
    req.r.udiag_ino = (__u32)st.st_ino;
    req.r.udiag_show = UDIAG_SHOW_RQLEN;
    req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    int rc;
    if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
        rc = -errno;
    } else {
        alignas(struct nlmsghdr) unsigned char buf[1024];
        ssize_t n = recv(nl, buf, sizeof(buf), MSG_DONTWAIT);
        rc = n < 0 ? -errno : parse_unix_reply(buf, (size_t)n, st.st_ino, q);
    }
    close(nl);
    return rc;
}

int fw_sockq_read(int fd, struct fw_sockq *q)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(q, 0, sizeof(*q));
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    switch (ss.ss_family) {
    case AF_INET:
    case AF_INET6:
        return tcp_queue(fd, q);
    case AF_UNIX:
        return unix_queue(fd, q);
    default:
        return -ENOTSUP;
    }
}
