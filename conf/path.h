/* File names in the configuration: relative paths are relative to the
 * directory of the file they are written in, never to the cwd of whoever
 * runs the manager. */
#ifndef FW_CONF_PATH_H
#define FW_CONF_PATH_H

/* The absolute directory holding file (file may be relative to the cwd).
 * Symbolic links are kept as written. malloc'd; NULL if out of memory or the
 * cwd is unknown. */
char *fw_conf_path_dir(const char *file);

/* path if it is absolute, else dir/path with leading "./" dropped.
 * malloc'd; NULL if out of memory. */
char *fw_conf_path_join(const char *dir, const char *path);

/* dir with glob(3) metacharacters escaped, then "/" and pattern (or pattern
 * alone if absolute): a directory named "a[1]" must not become a pattern. */
char *fw_conf_path_glob(const char *dir, const char *pattern);

#endif
