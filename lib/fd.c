/* Closing the descriptors a child must not inherit. The layout below lowfd
 * is the caller's business. */
#include "config.h"

#include "fd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* Calls fn for each open descriptor >= lowfd but the directory's own, read
 * from /proc/self/fd with getdents64 into a stack buffer: opendir()
 * allocates, which a child of a threaded process must not do (and a
 * periodic count would keep doing). Closing while reading is safe: the
 * directory's offsets are fd numbers. */
static int each_listed(int lowfd, void (*fn)(int fd, void *arg), void *arg)
{
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    char buf[4096];
    ssize_t n;
    while ((n = getdents64(dir, buf, sizeof(buf))) > 0) {
        for (ssize_t off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            char *end;
            long fd = strtol(d->d_name, &end, 10);
            if (*end == '\0' && end != d->d_name && fd >= lowfd && fd != dir)
                fn((int)fd, arg);
        }
    }
    int saved = errno;
    close(dir);
    if (n < 0) {
        errno = saved;
        return -1;
    }
    return 0;
}

static void close_one(int fd, void *arg)
{
    (void)arg;
    close(fd);
}

static void count_one(int fd, void *arg)
{
    (void)fd;
    (*(size_t *)arg)++;
}

long fw_fd_count(void)
{
    size_t n = 0;
    return each_listed(0, count_one, &n) == 0 ? (long)n : -1;
}

int fw_fd_close_each_from(int lowfd)
{
    if (each_listed(lowfd, close_one, NULL) == 0)
        return 0;
    /* No /proc (a chroot, a container without it): every possible number. */
    struct rlimit rl;
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                   ? (long)rl.rlim_cur
                   : sysconf(_SC_OPEN_MAX);
    if (max < 0)
        max = 1L << 20;
    for (long fd = lowfd; fd < max; fd++)
        close((int)fd);
    return 0;
}

int fw_fd_close_from(int lowfd)
{
    /* ENOSYS before Linux 5.9; EPERM from a seccomp filter that predates it. */
    if (close_range((unsigned)lowfd, ~0U, 0) == 0)
        return 0;
    return fw_fd_close_each_from(lowfd);
}
