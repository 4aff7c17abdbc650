/* The apps of a pool: `apps:`, a list of {mount, script, callable,
 * application_group, own_gil}. */
#ifndef FW_CONF_APP_H
#define FW_CONF_APP_H

#include "conf/config.h"
#include "conf/reader.h"
#include "conf/schema.h"

extern const struct fw_conf_schema fw_conf_app_schema;

/* r->ev is the value of 'apps'. Appends every app read to pool->apps: mounts
 * canonical and unique within the pool, scripts absolute and readable. 0,
 * or -1 (reported). */
int fw_conf_app_read_list(struct fw_conf_reader *r, struct fw_conf_pool *pool);

/* Frees what app holds. */
void fw_conf_app_free(struct fw_conf_app *app);

#endif
