/* fcgiwsgi-ctl: sends one command to the master over its control socket
 * (manager/control.h has the protocol), prints the answer, and exits with
 * the status the master chose, or with its own when the master cannot be
 * reached. */
#include "config.h"

#include "conf/config.h"
#include "manager/control.h"
#include "manager/ctl_conn.h"
#include "manager/ctl_top.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET FW_CONF_DEFAULT_CONTROL
#define DEFAULT_CONFIG FW_CONF_DEFAULT_FILE
#define DEFAULT_TIMEOUT_S 600

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fcgiwsgi-ctl [-s SOCKET | -c CONFIG] [-t SECONDS] COMMAND [ARGS]\n"
            "Controls a running fcgiwsgi manager.\n"
            "\n"
            "Commands:\n"
            "  status [POOL] [--json] [--check]\n"
            "                           pools, workers, generations, last recycle, back-off;\n"
            "                           --check: exit 1 if a pool has no ready worker, is\n"
            "                           backing off, or its last recycle failed\n"
            "  restart POOL... | --all  rolling recycle; returns when it has ended, and fails\n"
            "                           with the reason (e.g. the import error) if the new\n"
            "                           generation could not get ready\n"
            "  reload [--wait]          re-read the configuration and apply the changes;\n"
            "                           --wait: return when the recycles it started have\n"
            "                           ended, and fail if one did\n"
            "  wait POOL...             return when the recycle running now has ended (at\n"
            "                           once if none), and fail if it did\n"
            "  scale POOL N             a fixed pool's number of processes, until reload\n"
            "  stop POOL / start POOL   stop a pool's workers gracefully / start them again\n"
            "  drain POOL... [--wait]   out of a load balancer's rotation: the TCP listener\n"
            "                           refuses new connections, requests in flight and\n"
            "                           kept connections finish, workers stay up; --wait:\n"
            "                           return when none is left\n"
            "  undrain POOL...          listen again\n"
            "  reopen-logs              after log rotation (as SIGUSR1)\n"
            "  top [--delay SECONDS] [POOL]\n"
            "                           a live view of pools and workers, the longest busy\n"
            "                           first, every SECONDS (default 1, 0.1 to 3600); q or\n"
            "                           Ctrl-C quits; one frame when stdout is no terminal\n"
            "  shutdown [--now] [--wait]\n"
            "                           stop the manager (--now: do not wait for requests);\n"
            "                           --wait: return when it has stopped, and fail if\n"
            "                           workers had to be cut at graceful_timeout\n"
            "\n"
            "Options:\n"
            "  -s, --socket PATH   the control socket\n"
            "  -c, --config FILE   take the socket from this configuration's `control:`\n"
            "                      (default: " DEFAULT_CONFIG "'s if it is\n"
            "                      readable, else " DEFAULT_SOCKET ")\n"
            "  -t, --timeout SECS  give up waiting for the answer, or for what the command\n"
            "                      waits for (default %d; 0: never)\n"
            "  -h, --help, -v, --version\n"
            "\n"
            "Exit status: 0 done; 1 the command failed; 2 usage; 3 no such pool;\n"
            "4 no control socket; 5 the manager is not running; 6 permission denied;\n"
            "7 other errors (timeout, lost connection).\n",
            DEFAULT_TIMEOUT_S);
}

struct options {
    const char *socket;
    const char *config;
    int timeout_s;
};

/* The command and its argument count, checked here so that a typo does not
 * need a running manager to be reported. */
static bool valid_command(int argc, char **argv)
{
    const char *c = argv[0];
    if (!strcmp(c, "status"))
        return argc <= 4;
    if (!strcmp(c, "restart"))
        return argc >= 2;
    if (!strcmp(c, "reload"))
        return argc == 1 || (argc == 2 && !strcmp(argv[1], "--wait"));
    if (!strcmp(c, "reopen-logs"))
        return argc == 1;
    if (!strcmp(c, "top"))
        return fw_ctl_top_args(argc, argv, NULL, NULL);
    if (!strcmp(c, "wait"))
        return argc >= 2;
    if (!strcmp(c, "scale"))
        return argc == 3;
    if (!strcmp(c, "stop") || !strcmp(c, "start"))
        return argc == 2;
    if (!strcmp(c, "drain") || !strcmp(c, "undrain")) {
        int pools = 0;
        bool wait = false;
        for (int i = 1; i < argc; i++) {
            if (!strcmp(argv[i], "--wait") && !wait && !strcmp(c, "drain"))
                wait = true;
            else if (argv[i][0] == '-')
                return false;
            else
                pools++;
        }
        return pools > 0;
    }
    if (!strcmp(c, "shutdown")) {
        bool now = false, wait = false;
        for (int i = 1; i < argc; i++) {
            if (!strcmp(argv[i], "--now") && !now)
                now = true;
            else if (!strcmp(argv[i], "--wait") && !wait)
                wait = true;
            else
                return false;
        }
        return true;
    }
    return false;
}

/* Only `control:`: a broken pool file must not keep the operator from the
 * manager (whose reload then reports it with its position). */
static char *socket_from_config(const char *path)
{
    char err[512] = "";
    char *sock = fw_conf_control_path(path, err, sizeof(err));
    if (!sock)
        fprintf(stderr,
                "fcgiwsgi-ctl: %s\nfcgiwsgi-ctl: cannot take the control socket from %s "
                "(use -s SOCKET)\n",
                err, path);
    return sock;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the whole answer; returns the status it names. */
static int read_answer(int fd, int timeout_s)
{
    struct fw_ctl_answer a = { 0 };
    char err[256];
    int64_t deadline = timeout_s ? now_ms() + (int64_t)timeout_s * 1000 : 0;
    int rc;
    for (;;) {
        int64_t left = deadline ? deadline - now_ms() : 60000;
        if (left <= 0) {
            fw_ctl_answer_free(&a);
            fprintf(stderr,
                    "fcgiwsgi-ctl: no answer within %d s (the manager goes on with the command)\n",
                    timeout_s);
            return FW_CTL_ERROR;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, (int)(left > 60000 ? 60000 : left)) <= 0)
            continue;
        if ((rc = fw_ctl_answer_read(&a, fd, err, sizeof(err))) != 0)
            break;
    }
    const char *text;
    int status = rc < 0 ? -1 : fw_ctl_answer_status(&a, &text, err, sizeof(err));
    if (status < 0) {
        fprintf(stderr, "fcgiwsgi-ctl: %s\n", err);
        fw_ctl_answer_free(&a);
        return FW_CTL_ERROR;
    }
    fputs(text, status == 0 ? stdout : stderr);
    fw_ctl_answer_free(&a);
    return status;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "socket", required_argument, NULL, 's' },  { "config", required_argument, NULL, 'c' },
        { "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'v' },       { NULL, 0, NULL, 0 },
    };
    struct options o = { .timeout_s = DEFAULT_TIMEOUT_S };
    int c;
    /* "+": options end at the command, so "status --json" reaches the master. */
    while ((c = getopt_long(argc, argv, "+s:c:t:hv", longopts, NULL)) != -1) {
        switch (c) {
        case 's': o.socket = optarg; break;
        case 'c': o.config = optarg; break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || v > 86400) {
                fprintf(stderr, "fcgiwsgi-ctl: bad timeout '%s'\n", optarg);
                return FW_CTL_USAGE;
            }
            o.timeout_s = (int)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        case 'v':
            printf("fcgiwsgi-ctl %s\nlibyaml %s\n", PACKAGE_VERSION, fw_conf_yaml_version());
            return 0;
        default: usage(stderr); return FW_CTL_USAGE;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 1 || !valid_command(argc, argv)) {
        if (argc >= 1)
            fprintf(stderr, "fcgiwsgi-ctl: unknown command or wrong arguments: %s\n", argv[0]);
        usage(stderr);
        return FW_CTL_USAGE;
    }
    if (o.socket && o.config) {
        fputs("fcgiwsgi-ctl: -s and -c are alternatives\n", stderr);
        return FW_CTL_USAGE;
    }
    size_t total = 2;
    for (int i = 0; i < argc; i++) {
        if (!argv[i][0] || strchr(argv[i], '\n')) {
            fputs("fcgiwsgi-ctl: an argument is empty or has a newline\n", stderr);
            return FW_CTL_USAGE;
        }
        total += strlen(argv[i]) + 1;
    }
    if (argc > FW_CTL_ARGS_MAX || total > FW_CTL_REQUEST_MAX) {
        fputs("fcgiwsgi-ctl: too many or too long arguments\n", stderr);
        return FW_CTL_USAGE;
    }
    char *from_config = NULL;
    const char *path = o.socket;
    if (!path && o.config) {
        if (!(from_config = socket_from_config(o.config)))
            return FW_CTL_USAGE;
        path = from_config;
    }
    if (!path && !o.config && access(DEFAULT_CONFIG, R_OK) == 0) {
        /* The installed configuration may move the socket: follow it as -c
         * would, so that the unit's reload and logrotate's reopen-logs need
         * no option. A broken main file does not stop us: say so, try the
         * default. */
        char err[512] = "";
        if (!(from_config = fw_conf_control_path(DEFAULT_CONFIG, err, sizeof(err))))
            fprintf(stderr, "fcgiwsgi-ctl: %s; trying %s\n", err, DEFAULT_SOCKET);
        path = from_config;
    }
    if (!path)
        path = DEFAULT_SOCKET;
    if (!strcmp(argv[0], "top")) {
        int status = fw_ctl_top(path, argc, argv, o.timeout_s);
        free(from_config);
        return status;
    }
    char err[512];
    int fd = fw_ctl_connect(path, err, sizeof(err));
    free(from_config);
    if (fd < 0) {
        fprintf(stderr, "fcgiwsgi-ctl: %s\n", err);
        return -fd;
    }
    char req[FW_CTL_REQUEST_MAX + 2];
    size_t len = fw_ctl_request(req, sizeof(req), argc, argv);
    int status;
    if (fw_ctl_send(fd, req, len) < 0) {
        /* A refused peer may be answered and closed before it finishes sending. */
        status = read_answer(fd, o.timeout_s);
    } else {
        shutdown(fd, SHUT_WR);
        status = read_answer(fd, o.timeout_s);
    }
    close(fd);
    return status;
}
