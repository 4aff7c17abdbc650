/* Adding to the error list that config.h hands out. Private to conf/: the
 * rest of fcgiwsgi only reads the list (config.h). */
#ifndef FW_CONF_ERRORS_H
#define FW_CONF_ERRORS_H

#include <stdarg.h>
#include <stdbool.h>

#include "conf/config.h"

/* Entries kept per list: a file of garbage must not produce a million
 * messages (compilers stop too). Errors past it are only counted. */
#define FW_CONF_MAX_ERRORS 100

/* Appends "file:line:column: message"; line 0 means the whole file, file NULL
 * no file. Never fails: what cannot be stored is counted in n_dropped. */
void fw_conf_errors_add(struct fw_conf_errors *errs, const char *file, unsigned line,
                        unsigned column, bool warning, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void fw_conf_errors_addv(struct fw_conf_errors *errs, const char *file, unsigned line,
                         unsigned column, bool warning, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

/* Orders the entries from index `from` on by file (in the order of files),
 * line and column, keeping the order of entries at one position: the
 * checks that run last (across pools) then read in place. */
void fw_conf_errors_sort(struct fw_conf_errors *errs, size_t from, char *const *files,
                         size_t n_files);

/* True once the list is full: readers stop early then, and count the rest
 * of their file as one more error. */
bool fw_conf_errors_full(const struct fw_conf_errors *errs);

#endif
