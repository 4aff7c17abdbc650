/* Directory names and the one-level mkdir of lib/dir.h. */
#include "config.h"

#include "dir.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

int fw_dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
    if (n + 1 > cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (!slash)
        memcpy(out, ".", 1);
    else
        memcpy(out, path, n);
    out[n] = '\0';
    return 0;
}

int fw_dir_make_for(const char *path)
{
    char dir[PATH_MAX];
    struct stat st;
    if (fw_dir_of(path, dir, sizeof(dir)) < 0)
        return -1;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        errno = ENOTDIR;
        return -1;
    }
    if (errno != ENOENT)
        return -1;
    /* chmod: a umask of 077 must not make a socket's directory one that
     * the web server cannot search. */
    if (mkdir(dir, FW_DIR_MODE) == 0)
        return chmod(dir, FW_DIR_MODE) == 0 ? 1 : -1;
    /* Another process made it meanwhile: as good. */
    return errno == EEXIST ? 0 : -1;
}
