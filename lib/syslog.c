#include "config.h"

#include "syslog.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

const char *fw_syslog_target_path(const char *target)
{
    if (!target || strncmp(target, "syslog", 6) != 0)
        return NULL;
    if (target[6] == '\0')
        return FW_SYSLOG_DEFAULT_PATH;
    return target[6] == ':' ? target + 7 : NULL;
}

static const struct {
    const char *name;
    int code;
} facilities[] = {
    { "daemon", LOG_DAEMON }, { "user", LOG_USER },     { "local0", LOG_LOCAL0 },
    { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
    { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 },
    { "local7", LOG_LOCAL7 },
};

int fw_syslog_facility_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
        if (strcmp(name, facilities[i].name) == 0)
            return facilities[i].code;
    return -1;
}

const char *fw_syslog_facility_name(int facility)
{
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
        if (facilities[i].code == facility)
            return facilities[i].name;
    return NULL;
}

size_t fw_syslog_head(char *buf, size_t size, int facility, int severity, const char *ident,
                      pid_t pid, time_t t)
{
    static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    if (!localtime_r(&t, &tm))
        memset(&tm, 0, sizeof(tm));
    int n = snprintf(buf, size, "<%d>%s %2d %02d:%02d:%02d %s[%ld]: ", facility | severity,
                     months[tm.tm_mon >= 0 && tm.tm_mon < 12 ? tm.tm_mon : 0], tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ident, (long)pid);
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

int fw_syslog_connect(int fd, const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    return connect(fd, (struct sockaddr *)&sa, sizeof(sa));
}

int fw_syslog_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int saved = errno;
    (void)fw_syslog_connect(fd, path); /* an absent daemon is retried when a line is sent */
    errno = saved;
    return fd;
}
