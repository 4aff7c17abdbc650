/* Reading a configuration file into memory, with the limits a file that
 * people write never reaches. */
#ifndef FW_CONF_FILE_H
#define FW_CONF_FILE_H

#include <stddef.h>
#include <sys/stat.h>

/* Larger files are refused: a configuration is a few KiB, and the limit
 * bounds what a mistaken include (a log, a binary) can cost. */
#define FW_CONF_MAX_FILE_BYTES (1024 * 1024)

/* Reads path (a regular file, at most FW_CONF_MAX_FILE_BYTES) into a
 * malloc'd buffer, without blocking on a FIFO or a device. 0, or -1 with
 * the reason in err. st gets the file's identity. */
int fw_conf_file_read(const char *path, char **text, size_t *len, struct stat *st, char *err,
                      size_t errlen);

#endif
