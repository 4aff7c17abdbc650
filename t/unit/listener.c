/* manager/listener: a socket shared between holders, and who removes a
 * unix path (the last holder only). */
#include "config.h"

#include "manager/listener.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void)
{
    struct fw_listeners *ls = fw_listeners_new();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char from[16];
    bool ours = false;
    ok(ls && fd >= 0, "a registry and a socket");
    errno = 0;
    is(fw_listeners_share(ls, "unix:/a", "new", from, sizeof(from), NULL, &ours), -1,
       "nothing to share yet");
    is(errno, ENOENT, "ENOENT: open it");
    is(fw_listeners_add(ls, "unix:/a", fd, "old-pool-with-a-long-name", NULL, true), 0,
       "recorded");
    int fd2 = fw_listeners_share(ls, "unix:/a", "new", from, sizeof(from), NULL, &ours);
    ok(fd2 >= 0 && fd2 != fd, "shared: an fd of its own");
    ok(ours, "a path we bound: the last holder removes it");
    ok(!strcmp(from, "old-pool-with-a"), "who held it, cut to the buffer");
    struct stat a, b;
    ok(fstat(fd, &a) == 0 && fstat(fd2, &b) == 0 && a.st_ino == b.st_ino, "on the same socket");
    ok(fcntl(fd2, F_GETFD) & FD_CLOEXEC, "close-on-exec");
    ok(fw_listeners_share(ls, "unix:/b", "other", from, sizeof(from), NULL, &ours) < 0,
       "no other address");
    int fd3 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    is(fw_listeners_add(ls, "unix:/sd", fd3, "activated", NULL, false), 0, "one systemd passed");
    int fd4 = fw_listeners_share(ls, "unix:/sd", "renamed", from, sizeof(from), NULL, &ours);
    ok(fd4 >= 0 && !ours, "shared, and its path stays systemd's");
    fw_listeners_drop(ls, fd4);
    fw_listeners_drop(ls, fd3);
    close(fd4);
    close(fd3);
    ok(!fw_listeners_drop(ls, fd), "the first holder lets go: not the last");
    close(fd);
    ok(fw_listeners_drop(ls, fd2), "the second: the last, it removes the path");
    close(fd2);
    ok(fw_listeners_drop(ls, 12345), "an fd never recorded (systemd's): the caller decides");
    ok(fw_listeners_drop(NULL, 3), "no registry: every holder is the last");
    fw_listeners_free(ls);
    return done_testing();
}
