/* How many connections wait in a listening socket's accept queue, and how
 * many it may hold: what php-fpm calls "listen queue", read by the master
 * from the sockets it owns. TCP answers through TCP_INFO on the socket
 * itself; a unix socket only through the sock_diag netlink interface,
 * looked up by its inode. Neither needs privileges. */
#ifndef FW_SOCKQ_H
#define FW_SOCKQ_H

struct fw_sockq {
    unsigned queued;  /* connections accepted by the kernel, not yet by us */
    unsigned backlog; /* the most it holds before connect() fails or waits */
};

/* Fills q for the listening socket fd (AF_UNIX stream, AF_INET, AF_INET6).
 * Returns 0, or -errno: -ENOTSUP for another family or a socket that is not
 * listening, -EPROTO for a kernel answer that does not parse. Never blocks. */
int fw_sockq_read(int fd, struct fw_sockq *q);

#endif
