/* Every Python thread's stack, in every interpreter, to the log: what an
 * operator needs before a stuck worker is killed (uWSGI's harakiri kills
 * without it, and users are left blind). */
#ifndef FW_STACKS_H
#define FW_STACKS_H

struct fw_pythread;

/* t is the calling thread's Python state; the GIL must not be held. Blocks
 * until it gets the GIL: a thread spinning in C code without releasing it
 * stalls this (the manager kills the worker then). */
void fw_stacks_log(struct fw_pythread *t, const char *why);

#endif
