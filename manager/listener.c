/* Which listening fds the master holds, for which address and which pool.
 * A handful of rows: a linear table. */
#include "config.h"

#include "listener.h"

#include "lib/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct row {
    char *addr;
    char *holder;
    int fd;
    struct fw_sock_file file; /* a unix socket's bound file; zero otherwise */
    bool path_ours;           /* false: systemd passed it, its path is not ours to remove */
};

struct fw_listeners {
    struct row *rows;
    size_t n, cap;
};

struct fw_listeners *fw_listeners_new(void)
{
    return calloc(1, sizeof(struct fw_listeners));
}

void fw_listeners_free(struct fw_listeners *ls)
{
    if (!ls)
        return;
    for (size_t i = 0; i < ls->n; i++) {
        free(ls->rows[i].addr);
        free(ls->rows[i].holder);
    }
    free(ls->rows);
    free(ls);
}

int fw_listeners_add(struct fw_listeners *ls, const char *addr, int fd, const char *holder,
                     const struct fw_sock_file *file, bool path_ours)
{
    if (ls->n == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 8;
        struct row *rows = realloc(ls->rows, cap * sizeof(*rows));
        if (!rows)
            return -1;
        ls->rows = rows;
        ls->cap = cap;
    }
    struct row r = { strdup(addr), strdup(holder), fd, { 0 }, path_ours };
    if (file)
        r.file = *file;
    if (!r.addr || !r.holder) {
        free(r.addr);
        free(r.holder);
        errno = ENOMEM;
        return -1;
    }
    ls->rows[ls->n++] = r;
    return 0;
}

int fw_listeners_share(struct fw_listeners *ls, const char *addr, const char *holder, char *from,
                       size_t from_size, struct fw_sock_file *file, bool *path_ours)
{
    for (size_t i = 0; i < ls->n; i++) {
        if (strcmp(ls->rows[i].addr, addr) != 0)
            continue;
        int fd = fcntl(ls->rows[i].fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            return -1;
        snprintf(from, from_size, "%s", ls->rows[i].holder);
        if (file)
            *file = ls->rows[i].file;
        *path_ours = ls->rows[i].path_ours;
        if (fw_listeners_add(ls, addr, fd, holder, &ls->rows[i].file, *path_ours) < 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    errno = ENOENT;
    return -1;
}

bool fw_listeners_drop(struct fw_listeners *ls, int fd)
{
    if (!ls)
        return true;
    for (size_t i = 0; i < ls->n; i++) {
        if (ls->rows[i].fd != fd)
            continue;
        char *addr = ls->rows[i].addr;
        free(ls->rows[i].holder);
        ls->rows[i] = ls->rows[--ls->n];
        bool last = true;
        for (size_t j = 0; j < ls->n && last; j++)
            last = strcmp(ls->rows[j].addr, addr) != 0;
        free(addr);
        return last;
    }
    return true;
}
