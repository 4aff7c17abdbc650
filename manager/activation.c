/* LISTEN_FDS parsing (sd_listen_fds(3) semantics, without libsystemd). */
#include "config.h"

#include "activation.h"

#include "lib/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FIRST_FD 3

struct inherited {
    int fd;
    char name[256];
    struct sockaddr_storage addr;
    socklen_t len;
    bool taken;
};

struct fw_activation {
    struct inherited *v;
    size_t n;
};

static long env_long(const char *name)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return (*end || errno) ? -1 : v;
}

struct fw_activation *fw_activation_collect(void)
{
    struct fw_activation *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    long pid = env_long("LISTEN_PID");
    long n = env_long("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    char *names_copy = names ? strdup(names) : NULL;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    /* For another process (a parent that forgot to unset them): not ours. */
    if (pid != (long)getpid() || n <= 0 || n > 1024) {
        free(names_copy);
        return a;
    }
    a->v = calloc((size_t)n, sizeof(*a->v));
    if (!a->v) {
        free(names_copy);
        free(a);
        return NULL;
    }
    char *save = NULL, *tok = names_copy ? strtok_r(names_copy, ":", &save) : NULL;
    for (long i = 0; i < n; i++) {
        struct inherited *in = &a->v[a->n];
        in->fd = FIRST_FD + (int)i;
        if (tok) {
            snprintf(in->name, sizeof(in->name), "%s", tok);
            tok = strtok_r(NULL, ":", &save);
        }
        in->len = sizeof(in->addr);
        if (fw_sock_is_listener(in->fd) != 1 ||
            getsockname(in->fd, (struct sockaddr *)&in->addr, &in->len) < 0) {
            fw_log(FW_LOG_WARN, "inherited fd %d (%s) is not a listening socket; ignored", in->fd,
                   in->name[0] ? in->name : "unnamed");
            continue;
        }
        fw_sock_set_cloexec(in->fd, 1);
        a->n++;
    }
    free(names_copy);
    fw_log(FW_LOG_NOTICE, "socket activation: %zu listening sockets inherited", a->n);
    return a;
}

static bool same_address(const struct inherited *in, const struct fw_sock_addr *addr)
{
    if (in->addr.ss_family != addr->family)
        return false;
    if (addr->family == AF_UNIX) {
        const struct sockaddr_un *x = (const struct sockaddr_un *)&in->addr;
        const struct sockaddr_un *y = (const struct sockaddr_un *)&addr->ss;
        return strcmp(x->sun_path, y->sun_path) == 0;
    }
    return in->len == addr->len && memcmp(&in->addr, &addr->ss, addr->len) == 0;
}

int fw_activation_take(struct fw_activation *a, const char *pool_name,
                       const struct fw_sock_addr *addr)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < a->n; i++) {
            struct inherited *in = &a->v[i];
            if (in->taken)
                continue;
            if (pass == 0 ? strcmp(in->name, pool_name) == 0 : same_address(in, addr)) {
                in->taken = true;
                fw_log(FW_LOG_NOTICE, "[pool %s] adopted inherited socket fd %d (%s)", pool_name,
                       in->fd, pass == 0 ? "by name" : "by address");
                return in->fd;
            }
        }
    }
    return -1;
}

void fw_activation_finish(struct fw_activation *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        if (!a->v[i].taken) {
            fw_log(FW_LOG_WARN, "inherited socket fd %d (%s) matches no pool; closed", a->v[i].fd,
                   a->v[i].name[0] ? a->v[i].name : "unnamed");
            close(a->v[i].fd);
        }
    }
    free(a->v);
    free(a);
}
