/* Users and groups by name, for `user`, `group`, `listen_owner`,
 * `listen_group` and `control_group`. */
#ifndef FW_CONF_ACCOUNT_H
#define FW_CONF_ACCOUNT_H

#include <sys/types.h>

#include "conf/config.h"

/* Looks name up in the password database: *uid, and *gid (if not NULL) its
 * primary group. 0, or -1 with an error reported at m. */
int fw_conf_account_user(struct fw_conf_errors *errs, const char *name, struct fw_conf_mark m,
                         uid_t *uid, gid_t *gid);

/* Looks name up in the group database. 0, or -1 with an error at m. */
int fw_conf_account_group(struct fw_conf_errors *errs, const char *name, struct fw_conf_mark m,
                          gid_t *gid);

#endif
