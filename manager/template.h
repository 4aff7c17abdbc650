/* spawn: template. A pool's template is a process of the worker image that
 * starts Python, imports the pool's apps in the main interpreter, and then
 * only forks workers when the master asks: each is ready as soon as it is
 * forked, and shares the template's memory until it writes to it. The
 * master still never runs Python: the template is its child, like a
 * worker, and what it says is as untrusted as what a worker says.
 *
 * The master (pool_template.c) sends a fork request on the template's
 * channel, a SOCK_SEQPACKET socket so that each request and its fds arrive
 * as one record. The template forks twice: the intermediate exits at once,
 * and the worker, reparented to the master (PR_SET_CHILD_SUBREAPER), is
 * the master's child like any other. Its first message on its channel is
 * FW_WORKER_MSG_HELLO, which carries its pid in the kernel's credentials:
 * that is how the master learns it, not from the template's word. */
#ifndef FW_TEMPLATE_H
#define FW_TEMPLATE_H

#include <stdint.h>

struct fw_wconf;

#define FW_TEMPLATE_MSG_FORK 'N'
/* Template to master, one per fork request once it has forked (or failed
 * to): a template that takes requests and answers none is stuck. */
#define FW_TEMPLATE_MSG_FORKED 'K'

/* The payload of a fork request, followed by the fds as SCM_RIGHTS in the
 * order below, page and access only when flagged. */
struct fw_template_fork {
    char kind; /* FW_TEMPLATE_MSG_FORK */
    uint8_t drained;
    uint8_t has_page;
    uint8_t has_access;
    uint32_t startup_timeout_ms; /* the worker kills itself past this before its hello; 0: never */
    uint64_t max_requests; /* already jittered */
};

enum fw_template_fd {
    FW_TEMPLATE_FD_LISTEN,
    FW_TEMPLATE_FD_OUTPUT,
    FW_TEMPLATE_FD_CHANNEL,
    FW_TEMPLATE_FD_LOG,
    FW_TEMPLATE_FD_SLOT,
    FW_TEMPLATE_FD_PAGE,
    FW_TEMPLATE_FD_ACCESS,
    FW_TEMPLATE_NFDS
};

/* The template image's main, once spawn.c has set up its settings, log and
 * slot: imports, says READY or LOAD_FAILED, and forks until told to stop
 * (SIGTERM, or the master's end of the channel closing). In a forked
 * worker it never returns: the worker exits from inside. Returns an enum
 * fw_exit value. argv is the image's, whose text the workers retitle. */
int fw_template_run(struct fw_wconf *w, char **argv);

#endif
