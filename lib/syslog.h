/* The syslog wire format and its socket, for lib/log.c: RFC 3164 lines
 * ("<PRI>Mmm dd hh:mm:ss ident[pid]: message", what rsyslog and journald
 * take on /dev/log) sent as datagrams on a unix socket. syslog(3) is not
 * used: it blocks when /dev/log is a full stream socket (the master must
 * never wait on its log), and it holds one connection per process where a
 * worker shares the master's. */
#ifndef FW_SYSLOG_H
#define FW_SYSLOG_H

#include <stddef.h>
#include <sys/types.h>

#define FW_SYSLOG_DEFAULT_PATH "/dev/log"
#define FW_SYSLOG_DATAGRAM_MAX 8192 /* rsyslog's default maxMessageSize; longer lines are split */

/* The socket path of a log target: "syslog" is /dev/log, "syslog:PATH" is
 * PATH; NULL if target names no syslog ("stderr", a file). */
const char *fw_syslog_target_path(const char *target);

/* A facility's code (LOG_DAEMON...) from its name ("daemon", "user",
 * "local0".."local7"), or -1. */
int fw_syslog_facility_parse(const char *name);
const char *fw_syslog_facility_name(int facility);

/* "<PRI>Mmm dd hh:mm:ss ident[pid]: " for facility and severity (LOG_ERR...)
 * at time t, in local time as syslog(3) writes it (receivers usually stamp
 * the time of arrival anyway); month names are fixed, not the locale's.
 * Returns its length (cut to size - 1). */
size_t fw_syslog_head(char *buf, size_t size, int facility, int severity, const char *ident,
                      pid_t pid, time_t t);

/* A unix datagram socket (close-on-exec), connected to path if it can be;
 * -1 with errno if no socket could be made. */
int fw_syslog_socket(const char *path);
/* (Re)connects fd to path: 0, or -1 with errno (ENOENT: no daemon yet). */
int fw_syslog_connect(int fd, const char *path);

#endif
