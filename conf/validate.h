/* Checks that need more than one setting, or more than one pool, and so
 * run after everything was read. */
#ifndef FW_CONF_VALIDATE_H
#define FW_CONF_VALIDATE_H

#include "conf/config.h"
#include "conf/pool.h"

/* A log target (a file's directory must exist; a syslog socket should,
 * else a warning): reports at mark. m.line 0 (a default) is checked too. */
void fw_conf_check_log(struct fw_conf_errors *errs, struct fw_conf_mark mark, const char *target);

/* marks[i] are where pool i's settings were written. Reports to errs. */
void fw_conf_validate(const struct fw_config *cfg, const struct fw_conf_pool_marks *marks,
                      struct fw_conf_errors *errs);

#endif
