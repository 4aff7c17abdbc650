/* Forking one worker. The child never returns into master code: it moves
 * its fds to the fixed layout (listen socket on 0 as FastCGI expects,
 * output pipe on 1 and 2, master channel on 3, log on 4, access log on 8),
 * closes the rest,
 * restores signals, drops privileges, and calls the same worker entry point
 * as fcgiwsgi-responder, then _exit()s with its status. */
#ifndef FW_SPAWN_H
#define FW_SPAWN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf/config.h"

struct fw_scoreboard;
struct fw_slot;
struct fw_page;

struct fw_spawn_request {
    const struct fw_conf_pool *pool;
    int listen_fd;
    int log_fd;
    const char *log_syslog; /* log_fd is a syslog socket to reconnect to this path; or NULL */
    int access_fd;          /* the pool's access log; -1: none */
    struct fw_scoreboard *scoreboard;
    struct fw_slot *slot;
    uint64_t max_requests; /* jittered */
    unsigned generation;
    bool drained; /* the pool is drained: the worker accepts nothing until told */
    int page_fd;  /* status_path: its pool's page, read-only (fcgi/page.h); -1: none */
    const sigset_t *child_sigmask;
    /* The pool's template (template.h) rather than a worker: its image's
     * argument, a SOCK_SEQPACKET channel, and every app in the main
     * interpreter. */
    bool template;
};

struct fw_spawned {
    pid_t pid;
    int channel_fd;     /* master's end: messages from the worker */
    int output_fd;      /* master's end: the worker's stdout and stderr */
    uint64_t child_ino; /* the inode of the channel's other end, the child's */
};

/* A new child's channel and output pipe, before it has them: [0] the
 * master's ends, [1] the child's. A template's worker's are made here too
 * and sent to the template (pool_template.c). */
struct fw_spawn_pair {
    int chan[2];
    int pipe[2];
};

/* type: SOCK_STREAM or SOCK_SEQPACKET; passcred: the master's end gets
 * SO_PASSCRED before the child can write. 0, or -1 with err set and
 * nothing left open. */
int fw_spawn_pair_open(struct fw_spawn_pair *sp, int type, bool passcred, char *err,
                       size_t errlen);
/* Once the child (or the template) has its ends: closes them here, marks
 * the slot spawned and fills out with the master's ends and pid. */
void fw_spawn_pair_handover(struct fw_spawn_pair *sp, const struct fw_spawn_request *req,
                            pid_t pid, struct fw_spawned *out);
void fw_spawn_pair_close(struct fw_spawn_pair *sp);

/* The argument that makes the manager's binary a worker image. */
#define FW_SPAWN_WORKER_ARG "--worker"
/* And a pool's template image (template.h). */
#define FW_SPAWN_TEMPLATE_ARG "--template"

/* 0, or -1 with err filled. */
int fw_spawn_worker(const struct fw_spawn_request *req, struct fw_spawned *out, char *err,
                    size_t errlen);

/* The worker image's main (argv[1] is FW_SPAWN_WORKER_ARG): its settings,
 * fds and slot are where the child left them. Returns an exit status. */
int fw_spawn_worker_main(void);
/* The same for a template image (argv[1] is FW_SPAWN_TEMPLATE_ARG). */
int fw_spawn_template_main(char **argv);

/* The worker fd layout (a template's forked worker places its fds there
 * too, manager/template.c): 0 listen, 1 and 2 output, 3 channel, 4 log, 5
 * slot, 6 settings, 7 page, 8 access. */
#define FW_SPAWN_N_FDS 9
#define FW_SPAWN_CHANNEL_FD 3

/* The pool's status page from the layout's fd (closed), read-only; NULL
 * on failure (logged by the caller). */
const struct fw_page *fw_spawn_map_page(void);

#endif
