/* One function: a whole file into memory, or a reason why not. */
#include <config.h>

#include "conf/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fw_conf_file_read(const char *path, char **text, size_t *len, struct stat *st, char *err,
                      size_t errlen)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    /* O_NONBLOCK: opening a FIFO must not hang `fcgiwsgi -t`, and some
     * /proc files block on read. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    if (fstat(fd, st) < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "not a regular file");
        goto fail;
    }
    if (st->st_size > FW_CONF_MAX_FILE_BYTES)
        goto too_large;
    for (;;) {
        if (n == cap) {
            /* Sizes of /proc files read as 0, so grow as needed. */
            cap = cap ? cap * 2 : (size_t)st->st_size + 1;
            char *nbuf = realloc(buf, cap);
            if (!nbuf) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            buf = nbuf;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, errlen, "%s", strerror(errno));
            goto fail;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > FW_CONF_MAX_FILE_BYTES)
            goto too_large;
    }
    close(fd);
    *text = buf;
    *len = n;
    return 0;
too_large:
    snprintf(err, errlen, "larger than %d KiB: not a configuration file",
             FW_CONF_MAX_FILE_BYTES / 1024);
fail:
    free(buf);
    close(fd);
    return -1;
}
