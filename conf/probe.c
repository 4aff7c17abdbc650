/* access(2) as another user. The child is forked from a process that may be
 * the running master (at reload): it only changes its credentials, calls
 * access() and writes fixed-size answers, kept in memory allocated before
 * the fork, into a pipe; then it _exit()s. It never returns into our code. */
#include <config.h>

#include "conf/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct answer {
    int32_t err;
    uint32_t blocked_len;
};

/* What the child says first: 0, or the step that failed and its errno. */
struct header {
    int32_t step;
    int32_t err;
};
enum { STEP_OK, STEP_SETGROUPS, STEP_SETGID, STEP_SETUID };
static const char *const step_names[] = { "", "setgroups", "setgid", "setuid" };

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* access() with the effective ids: in the child they equal the real ones;
 * in-process they are what the worker would have. */
static int can(const char *path, int mode)
{
    return faccessat(AT_FDCWD, path, mode, AT_EACCESS) == 0 ? 0 : errno;
}

/* The first directory on path that cannot be searched: each prefix ending
 * before a '/', "/" itself first. */
static size_t blocked_at(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strnlen(path, sizeof(buf));
    if (len >= sizeof(buf))
        return 0;
    memcpy(buf, path, len + 1);
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '/' || i + 1 == len)
            continue;
        size_t plen = i ? i : 1;
        char saved = buf[plen];
        buf[plen] = '\0';
        int err = can(buf, X_OK);
        buf[plen] = saved;
        if (err == EACCES)
            return plen;
    }
    return 0;
}

static void answer_all(const struct fw_conf_probe *v, size_t n, struct answer *out)
{
    for (size_t i = 0; i < n; i++) {
        int err = can(v[i].path, v[i].mode);
        out[i] = (struct answer){ err, err == EACCES ? (uint32_t)blocked_at(v[i].path) : 0 };
    }
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void child(int fd, const struct fw_conf_probe_who *who, const struct fw_conf_probe *v,
                  size_t n, struct answer *out)
{
    struct header h = { STEP_OK, 0 };
    if (geteuid() == 0 && setgroups(who->n_groups, who->groups) < 0)
        h = (struct header){ STEP_SETGROUPS, errno };
    else if (setresgid(who->gid, who->gid, who->gid) < 0)
        h = (struct header){ STEP_SETGID, errno };
    else if (setresuid(who->uid, who->uid, who->uid) < 0)
        h = (struct header){ STEP_SETUID, errno };
    if (h.step == STEP_OK)
        answer_all(v, n, out);
    if (write_all(fd, &h, sizeof(h)) < 0 ||
        (h.step == STEP_OK && write_all(fd, out, n * sizeof(*out)) < 0))
        _exit(1);
    _exit(0);
}

/* Reads len bytes by the deadline. 0, or -1 (short: the child died, or
 * is too slow). */
static int read_by(int fd, void *buf, size_t len, int64_t deadline_ms)
{
    char *p = buf;
    while (len) {
        int64_t left = deadline_ms - now_ms();
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (left <= 0)
            return -1;
        int rc = poll(&pfd, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        ssize_t r = read(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

/* A child still running here is killed, and waited for a moment only: one
 * stuck in a dead NFS mount may not go, and is then reaped by whoever reaps
 * (the master's loop logs it as an unknown child). */
static void finish(pid_t pid, bool kill_it)
{
    if (kill_it)
        kill(pid, SIGKILL);
    for (int i = 0; i < 50; i++) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

int fw_conf_probe_run(const struct fw_conf_probe_who *who, struct fw_conf_probe *v, size_t n,
                      char *errtext, size_t errlen)
{
    if (n > FW_CONF_PROBE_MAX) {
        snprintf(errtext, errlen, "more than %d paths to check", FW_CONF_PROBE_MAX);
        return -1;
    }
    struct answer *out = calloc(n ? n : 1, sizeof(*out));
    int pfd[2] = { -1, -1 }, rc = -1;
    if (!out) {
        snprintf(errtext, errlen, "out of memory");
        return -1;
    }
    if (who->uid == geteuid() && who->gid == getegid()) {
        answer_all(v, n, out);
        rc = 0;
        goto done;
    }
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        snprintf(errtext, errlen, "pipe: %s", strerror(errno));
        goto done;
    }
    int64_t deadline = now_ms() + FW_CONF_PROBE_TIMEOUT_MS;
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(errtext, errlen, "fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        close(pfd[0]);
        child(pfd[1], who, v, n, out);
    }
    close(pfd[1]);
    pfd[1] = -1;
    struct header h;
    if (read_by(pfd[0], &h, sizeof(h), deadline) < 0) {
        snprintf(errtext, errlen, "the check as uid %ld did not answer within %d ms",
                 (long)who->uid, FW_CONF_PROBE_TIMEOUT_MS);
        finish(pid, true);
        goto done;
    }
    if (h.step != STEP_OK) {
        int step = h.step > 0 && h.step <= STEP_SETUID ? h.step : STEP_SETUID;
        snprintf(errtext, errlen, "cannot take uid %ld, gid %ld (%s: %s)", (long)who->uid,
                 (long)who->gid, step_names[step], strerror(h.err));
        finish(pid, false);
        goto done;
    }
    if (read_by(pfd[0], out, n * sizeof(*out), deadline) < 0) {
        snprintf(errtext, errlen, "the check as uid %ld did not finish within %d ms",
                 (long)who->uid, FW_CONF_PROBE_TIMEOUT_MS);
        finish(pid, true);
        goto done;
    }
    finish(pid, false);
    rc = 0;
done:
    /* What came from the child is bounded here: blocked_len lies inside
     * the path, or counts as the path itself. */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        v[i].err = out[i].err;
        v[i].blocked_len = out[i].blocked_len < strlen(v[i].path) ? out[i].blocked_len : 0;
    }
    for (int i = 0; i < 2; i++)
        if (pfd[i] >= 0)
            close(pfd[i]);
    free(out);
    return rc;
}
