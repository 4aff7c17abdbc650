/* lib/fd: closing every descriptor above a layout, with close_range() and
 * with the fallback a kernel before 5.9 needs. */
#include "config.h"

#include "lib/fd.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static int open_at(int fd)
{
    return dup2(0, fd) == fd;
}

static void check(int (*close_from)(int), const char *how)
{
    char name[128];
    int all = open_at(19) && open_at(20) && open_at(33) && open_at(200);
    snprintf(name, sizeof(name), "%s: descriptors 19, 20, 33 and 200 opened", how);
    ok(all, name);
    snprintf(name, sizeof(name), "%s: returns 0", how);
    is(close_from(20), 0, name);
    snprintf(name, sizeof(name), "%s: 20, 33 and 200 are closed", how);
    ok(!is_open(20) && !is_open(33) && !is_open(200), name);
    snprintf(name, sizeof(name), "%s: 19 and the standard ones stay open", how);
    ok(is_open(19) && is_open(0) && is_open(1) && is_open(2), name);
    close(19);
}

/* The last resort, every number below RLIMIT_NOFILE, runs where /proc is
 * not mounted: a child in a mount namespace of its own hides it (root only). */
static void check_without_proc(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("none", "/proc", "tmpfs", 0, NULL) < 0)
            _exit(77);
        if (open("/proc/self/fd", O_RDONLY | O_DIRECTORY) >= 0)
            _exit(3);
        if (!open_at(20) || !open_at(500) || !open_at(19))
            _exit(4);
        if (fw_fd_close_each_from(20) != 0 || is_open(20) || is_open(500) || !is_open(19))
            _exit(1);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        printf("ok %d - # SKIP without /proc: needs root for a mount namespace\n", ++tap_n);
        return;
    }
    is(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0,
       "without close_range nor /proc: 20 and 500 closed, 19 open");
}

int main(void)
{
    check(fw_fd_close_each_from, "without close_range");
    check(fw_fd_close_from, "close_range or its fallback");
    check_without_proc();
    return done_testing();
}
