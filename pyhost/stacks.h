/* A Python thread's stack to the log: what an operator needs when a request
 * is interrupted or its worker given up on (uWSGI's harakiri kills without
 * it, and users are left blind). */
#ifndef FW_STACKS_H
#define FW_STACKS_H

/* The stack of one thread (its Python ident), tagged with `what`. GIL held,
 * in any interpreter. */
void fw_stacks_log_thread(unsigned long ident, const char *what);

#endif
