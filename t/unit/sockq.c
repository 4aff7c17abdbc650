/* lib/sockq: a listener's accept queue, read while real clients wait in it:
 * a unix socket (sock_diag) and TCP on 127.0.0.1 and ::1 (TCP_INFO). */
#include "config.h"

#include "lib/sockq.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BACKLOG 7
#define CLIENTS 3

static void check(int lfd, const struct sockaddr *sa, socklen_t salen, const char *what)
{
    char name[160];
    struct fw_sockq q;
    snprintf(name, sizeof(name), "%s: an empty queue reads 0 of %d", what, BACKLOG);
    int rc = fw_sockq_read(lfd, &q);
    if (!ok(rc == 0 && q.queued == 0 && q.backlog == BACKLOG, name))
        diag("rc %d (%s), queued %u, backlog %u", rc, strerror(-rc), q.queued, q.backlog);
    int c[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        c[i] = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c[i] < 0 || connect(c[i], sa, salen) < 0)
            diag("client %d: %s", i, strerror(errno));
    }
    snprintf(name, sizeof(name), "%s: %d clients waiting read %d", what, CLIENTS, CLIENTS);
    rc = fw_sockq_read(lfd, &q);
    if (!ok(rc == 0 && q.queued == CLIENTS && q.backlog == BACKLOG, name))
        diag("rc %d, queued %u, backlog %u", rc, q.queued, q.backlog);
    int a = accept(lfd, NULL, NULL);
    snprintf(name, sizeof(name), "%s: one accepted, %d left", what, CLIENTS - 1);
    rc = fw_sockq_read(lfd, &q);
    ok(a >= 0 && rc == 0 && q.queued == CLIENTS - 1, name);
    if (a >= 0)
        close(a);
    for (int i = 0; i < CLIENTS; i++)
        close(c[i]);
}

int main(void)
{
    char dir[] = "/tmp/fw-sockq.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/l.sock", dir);
    int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ok(u >= 0 && bind(u, (struct sockaddr *)&sun, sizeof(sun)) == 0 && listen(u, BACKLOG) == 0,
       "a unix listener");
    check(u, (struct sockaddr *)&sun, sizeof(sun), "unix");

    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);
    int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ok(t >= 0 && bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(t, BACKLOG) == 0 &&
           getsockname(t, (struct sockaddr *)&sin, &len) == 0,
       "a TCP listener on 127.0.0.1");
    check(t, (struct sockaddr *)&sin, sizeof(sin), "tcp");

    struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    len = sizeof(s6);
    int t6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (t6 >= 0 && bind(t6, (struct sockaddr *)&s6, sizeof(s6)) == 0 && listen(t6, BACKLOG) == 0 &&
        getsockname(t6, (struct sockaddr *)&s6, &len) == 0)
        check(t6, (struct sockaddr *)&s6, sizeof(s6), "tcp6");
    else
        diag("no ::1 here (%s): skipping tcp6", strerror(errno));

    struct fw_sockq q;
    int notl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    is(fw_sockq_read(notl, &q), -ENOTSUP, "a unix socket that does not listen: -ENOTSUP");
    int tc = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    is(fw_sockq_read(tc, &q), -ENOTSUP, "a TCP socket that does not listen: -ENOTSUP");
    int dg = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ok(fw_sockq_read(dg, &q) < 0, "a datagram socket: an error");
    ok(fw_sockq_read(-1, &q) == -EBADF, "a bad fd: -EBADF");
    close(notl), close(tc), close(dg), close(u), close(t);
    if (t6 >= 0)
        close(t6);
    unlink(sun.sun_path);
    rmdir(dir);
    return done_testing();
}
