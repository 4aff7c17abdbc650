/* The control socket that fcgiwsgi-ctl talks to: a unix stream socket, mode
 * 0600 (0660 with control_group), and every peer checked with SO_PEERCRED:
 * root, the manager's own user, or a member of control_group; anyone else
 * is answered with a refusal and logged.
 *
 * The protocol, one request per connection: the client sends its
 * arguments, each ended by '\n', then an empty line. The master answers
 * with a first line holding the exit status for fcgiwsgi-ctl (enum
 * fw_ctl_status), then free text, and closes. A request may wait for a
 * long time (restart waits for the recycle to end). */
#ifndef FW_CONTROL_H
#define FW_CONTROL_H

#include <sys/types.h>

/* fcgiwsgi-ctl's exit statuses; the master sends the first four. */
enum fw_ctl_status {
    FW_CTL_OK = 0,
    FW_CTL_FAILED = 1,      /* the command ran and failed (a recycle, a reload) */
    FW_CTL_USAGE = 2,       /* bad command line or request */
    FW_CTL_NO_POOL = 3,     /* no such pool */
    FW_CTL_NO_SOCKET = 4,   /* the control socket does not exist */
    FW_CTL_NOT_RUNNING = 5, /* it exists but no master accepts on it */
    FW_CTL_DENIED = 6,      /* not allowed (file permissions or the peer check) */
    FW_CTL_ERROR = 7,       /* anything else: timeout, broken connection, bad answer */
};

#define FW_CTL_REQUEST_MAX 4096
#define FW_CTL_ARGS_MAX 16

struct fw_loop;
struct fw_control;
struct fw_ctl_client;

/* argv[0] is the command; argc >= 1. The handler must call
 * fw_control_reply exactly once for c, now or later. */
typedef void (*fw_control_fn)(struct fw_ctl_client *c, int argc, char **argv, void *data);

/* Creates the parent directory if missing (0755), replaces a stale socket,
 * refuses a live one. group (gid_t)-1: none. NULL on error (logged). */
struct fw_control *fw_control_new(struct fw_loop *loop, const char *path, gid_t group,
                                  fw_control_fn fn, void *data);
/* Drops clients still waiting (without an answer) and removes the socket. */
void fw_control_free(struct fw_control *ctl);

/* Clients that sent nothing complete in time are dropped; call it on each
 * tick. */
void fw_control_tick(struct fw_control *ctl);

/* Ends the request: status line, text, close. c must not be used after. */
void fw_control_reply(struct fw_ctl_client *c, enum fw_ctl_status status, const char *text);

/* "uid 1000 pid 4242", for log lines. */
const char *fw_control_peer(const struct fw_ctl_client *c);

#endif
