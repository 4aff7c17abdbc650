/* Whether the user a pool runs as could open what the pool names (its
 * scripts, python_path, python_home): access(2) asked as that user, in a
 * child that takes the user's groups, gid and uid, or in this process when
 * those are already ours. The kernel then weighs everything it would weigh
 * for the worker (modes, ACLs, each directory on the way), which a guess
 * from stat() would not. */
#ifndef FW_CONF_PROBE_H
#define FW_CONF_PROBE_H

#include <stddef.h>
#include <sys/types.h>

/* Paths per check, and how long a child may take (a hung network file
 * system must not hold a reload for ever). */
#define FW_CONF_PROBE_MAX 8192
#define FW_CONF_PROBE_TIMEOUT_MS 5000

struct fw_conf_probe_who {
    uid_t uid;
    gid_t gid;
    const gid_t *groups; /* supplementary groups, as the worker gets them */
    size_t n_groups;
};

struct fw_conf_probe {
    const char *path;
    int mode; /* access()'s: R_OK, R_OK | X_OK, ... */
    /* Filled in: 0 or access()'s errno; with EACCES, the length of the
     * prefix of path that names the first directory the user cannot
     * search, or 0 when it is the path itself that lacks mode. */
    int err;
    size_t blocked_len;
};

/* Fills err and blocked_len of v[0..n). 0, or -1 with errtext set when the
 * check itself could not run: fork, the credentials (a manager that is not
 * root cannot take another user's), a child past the timeout. */
int fw_conf_probe_run(const struct fw_conf_probe_who *who, struct fw_conf_probe *v, size_t n,
                      char *errtext, size_t errlen);

#endif
