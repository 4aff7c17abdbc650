/* A Python thread's stack to the log: what an operator needs when a request
 * is interrupted or its worker given up on (uWSGI's harakiri kills without
 * it, and users are left blind). */
#ifndef FW_STACKS_H
#define FW_STACKS_H

#include "lib/log.h"

/* The stack of one thread (its Python ident), tagged with `what`, at
 * `level`, as it runs in the current interpreter: the GIL held is that
 * interpreter's (a thread in another one is "no Python frame" here). */
void fw_stacks_log_thread(unsigned long ident, enum fw_log_level level, const char *what);

#endif
