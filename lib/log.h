/* The one logger of every fcgiwsgi process: a line is formatted into one
 * buffer and written with a single write(), so lines from many processes and
 * threads never interleave, and with every control byte but TAB of the
 * message written as \xHH, so that nothing a peer sent (a URI, a header an
 * app logs, a file name) can start a line of its own or hide one. It owns
 * the log fd and the per-process prefix; it does not know pools or workers
 * beyond the prefix text it is given. */
#ifndef FW_LOG_H
#define FW_LOG_H

#include <stdbool.h>

#include <errno.h>
#include <stddef.h>

enum fw_log_level {
    FW_LOG_ERR,
    FW_LOG_WARN,
    FW_LOG_NOTICE,
    FW_LOG_INFO,
    FW_LOG_DEBUG,
};

/* Log to fd (not closed by us) with blocking writes; lines above max_level
 * are dropped. It also ends the deadline mode below (a worker forked from
 * the master calls it, and must not keep the master's mode or its fd). */
void fw_log_set_fd(int fd);

/* The deadline mode, for a process whose loop must never wait on its log
 * (the master): a line that cannot be written within deadline_ms is dropped
 * and counted; after one miss, lines are tried without waiting until one
 * goes out, and that one is preceded by "N log lines dropped (log not
 * writable)". Other processes sharing the log's file description (workers
 * given the same stderr) keep their blocking writes: log.c never changes the
 * flags of a shared description (see log.c). Applies to the current fd and
 * to any later fw_log_open. */
void fw_log_set_deadline(int deadline_ms);
void fw_log_set_level(enum fw_log_level max_level);
/* While on, err and warn lines also go to stderr when the log is elsewhere:
 * what stops a start must reach the terminal or systemd's status. */
void fw_log_set_stderr_too(bool on);
enum fw_log_level fw_log_get_level(void);
/* Parse "err".."debug"; -1 if unknown. */
int fw_log_level_parse(const char *name);

/* Text put in brackets after the level on every line, e.g. "pool blog pid 12".
 * Set once per process before threads start. */
void fw_log_set_prefix(const char *prefix);

/* Open (or reopen, for USR1) an append-mode log file and make it current.
 * On failure the old fd stays and -1 is returned with errno set. */
int fw_log_open(const char *path);

void fw_log_write(enum fw_log_level level, const char *func, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Write text that may hold several lines; each line gets the full prefix plus
 * `tag`, and the whole block goes out in one write(). For tracebacks and app
 * output; a CR ending a line (CRLF) is dropped, other controls escaped. */
void fw_log_block(enum fw_log_level level, const char *tag, const char *text, size_t len);

#define fw_log(level, ...) fw_log_write((level), __func__, 0, __VA_ARGS__)
#define fw_log_errno(level, ...) fw_log_write((level), __func__, errno, __VA_ARGS__)

#endif
