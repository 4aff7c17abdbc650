/* The one logger of every fcgiwsgi process: a line is formatted into one
 * buffer and written with a single write(), so lines from many processes and
 * threads never interleave, and with every control byte but TAB of the
 * message written as \xHH, so that nothing a peer sent (a URI, a header an
 * app logs, a file name) can start a line of its own or hide one. It owns
 * the log fds (or syslog sockets) and the per-process prefix; it does not
 * know pools or workers beyond the prefix text it is given. */
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

/* Where lines go: a file, stderr (any fd) or a syslog socket, with the
 * deadline mode's state of its own. Every process has its main log, where
 * fw_log() writes; the master has one more per pool with a `log:` of its
 * own, where its lines about that pool go (fw_log_to). */
struct fw_log_sink;

struct fw_log_sink *fw_log_main(void);

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
 * flags of a shared description (see log.c). Applies to every sink, now and
 * later opened. A syslog socket is always written this way: in a process
 * without the deadline mode (a worker), a full socket is waited for
 * FW_LOG_SYSLOG_WAIT_MS at most, so a stuck syslog daemon costs a worker
 * that long once, not once per line. */
void fw_log_set_deadline(int deadline_ms);
#define FW_LOG_SYSLOG_WAIT_MS 1000
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
/* For syslog lines: the ident (default "fcgiwsgi") and the facility
 * (LOG_DAEMON by default). Set before threads start. */
void fw_log_set_syslog(const char *ident, int facility);
int fw_log_syslog_facility(void);

/* Makes target the main log: "stderr", "syslog" (/dev/log), "syslog:PATH"
 * (another syslog socket) or the path of a file, opened in append mode;
 * the same target again reopens the file (USR1) or reconnects the socket.
 * On failure the old target stays and -1 is returned with errno set. */
int fw_log_open(const char *target);

/* A sink of its own (closed by fw_log_sink_free), and opening a target in
 * it as fw_log_open does; a file it creates gets mode 0640 and, unless
 * group is -1, that group (a pool's log: its users may read it, not erase
 * it). */
struct fw_log_sink *fw_log_sink_new(void);
int fw_log_sink_open(struct fw_log_sink *s, const char *target, long group);
void fw_log_sink_free(struct fw_log_sink *s);
/* The fd a child is to inherit to write to the same target: the file, 2,
 * or the syslog socket (shared: one connect() serves everyone); -1 if none. */
int fw_log_sink_fd(const struct fw_log_sink *s);
/* The syslog socket path if the sink is a syslog one, else NULL. */
const char *fw_log_sink_syslog_path(const struct fw_log_sink *s);
/* Makes the main log the syslog socket fd (inherited: not closed by us),
 * reconnected to path when the daemon went away; ends the deadline mode
 * as fw_log_set_fd does. */
void fw_log_use_syslog_fd(int fd, const char *path);

/* While buf is set (not NULL), the message of each err line, or, while
 * there was none, of each warn line, is also copied into buf (cap bytes,
 * NUL-terminated, cut to fit, control bytes as '?'): the last error of a
 * worker that dies starting, where the master can read it (its scoreboard
 * slot). Tracebacks and app output count by their last line. NULL stops
 * it; setting it empties buf. */
void fw_log_keep_errors(char *buf, size_t cap);

void fw_log_write(enum fw_log_level level, const char *func, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same to sink s (NULL: the main log). */
void fw_log_write_to(struct fw_log_sink *s, enum fw_log_level level, const char *func, int errnum,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Write text that may hold several lines; each line gets the full prefix plus
 * `tag`, and the whole block goes out in one write() (to syslog: one
 * datagram a line). For tracebacks and app output; a CR ending a line
 * (CRLF) is dropped, other controls escaped. */
void fw_log_block(enum fw_log_level level, const char *tag, const char *text, size_t len);
void fw_log_block_to(struct fw_log_sink *s, enum fw_log_level level, const char *tag,
                     const char *text, size_t len);

#define fw_log(level, ...) fw_log_write((level), __func__, 0, __VA_ARGS__)
#define fw_log_errno(level, ...) fw_log_write((level), __func__, errno, __VA_ARGS__)
#define fw_log_to(sink, level, ...) fw_log_write_to((sink), (level), __func__, 0, __VA_ARGS__)
#define fw_log_errno_to(sink, level, ...)                                                          \
    fw_log_write_to((sink), (level), __func__, errno, __VA_ARGS__)

#endif
