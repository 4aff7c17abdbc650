/* The directory a file of ours lives in (a unix socket, the log, the pid
 * file): its name, and creating it at start. One rule for all of them, the
 * one the control socket always had: the last level is created (root's,
 * mode 0755) if its parent exists; deeper trees are the operator's, since
 * guessing owners and modes for them would be guessing wrong. */
#ifndef FW_DIR_H
#define FW_DIR_H

#include <stddef.h>
#include <sys/types.h>

/* The mode a created directory gets (before the umask). */
#define FW_DIR_MODE 0755

/* The directory part of path ("." if none, "/" for "/x") into out. 0, or -1
 * if it does not fit (errno ENAMETOOLONG). */
int fw_dir_of(const char *path, char *out, size_t cap);

/* Makes the directory holding path if it is missing and its own parent
 * exists. 1 if it was created, 0 if it was there, -1 with errno (ENOENT:
 * its parent is missing too). */
int fw_dir_make_for(const char *path);

#endif
