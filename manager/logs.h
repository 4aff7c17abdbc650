/* The master's logs: the main one (lib/log's, from the top-level `log:`)
 * and one sink per other target that a pool's `log:` names, shared by the
 * pools that name the same one, reopened together on USR1 and closed once
 * no pool (nor a removed one still finishing) uses it. */
#ifndef FW_MANAGER_LOGS_H
#define FW_MANAGER_LOGS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/log.h"

struct fw_logs;

struct fw_logs *fw_logs_new(void);
void fw_logs_free(struct fw_logs *logs);

/* The sink for a pool's target: *out = NULL (the main log) if target is
 * NULL or main_target, else the sink already open for it or a new one (a
 * file it creates gets group, unless -1). 0, or -1 with errno (nothing
 * changed). */
int fw_logs_get(struct fw_logs *logs, const char *target, const char *main_target, long group,
                struct fw_log_sink **out);

/* Reopens every pool target (USR1); 0, or -1 if one failed (logged; that
 * one keeps its old file). */
int fw_logs_reopen(struct fw_logs *logs);
/* How many pool targets are open (for reopen-logs' answer). */
size_t fw_logs_count(const struct fw_logs *logs);

/* Closes the sinks for which in_use(sink, data) is false. */
void fw_logs_sweep(struct fw_logs *logs, bool (*in_use)(struct fw_log_sink *sink, void *data),
                   void *data);

#endif
