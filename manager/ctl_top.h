/* fcgiwsgi-ctl top: a refreshing terminal view of `status --json`. */
#ifndef FW_CTL_TOP_H
#define FW_CTL_TOP_H

#include <stdbool.h>
#include <stdint.h>

/* Checks "top [--delay SECONDS] [POOL]" (saying what is wrong on stderr);
 * fills the delay and the pool (NULL: all) if the pointers are given. */
bool fw_ctl_top_args(int argc, char **argv, int64_t *delay_ms, const char **pool);

/* Runs it against the control socket at path until q, Ctrl-C or a signal
 * (one frame when stdout is no terminal); returns the exit status: that of
 * the first status request if it failed (as for `status`), else 0. A
 * status request waits at most timeout_s (0: for ever). */
int fw_ctl_top(const char *path, int argc, char **argv, int timeout_s);

#endif
