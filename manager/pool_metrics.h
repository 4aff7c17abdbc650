/* A pool's metrics in the master: workers' slot counters folded in when
 * they are reaped, exits by cause, the listen queue sampled on the tick,
 * the times the pool was at its most processes with connections waiting,
 * the recycle records. Private to the pool module (pool_types.h); what
 * status and /metrics read is in pool_info.h. */
#ifndef FW_POOL_METRICS_H
#define FW_POOL_METRICS_H

#include "pool_types.h"

/* The worker's slot read again (through the scoreboard's checks). */
void fw_pool_metrics_read(struct proc *p);
/* The worker p was reaped with wait status `status`: its last counts go
 * into the pool's totals and its exit into exits by cause. */
void fw_pool_metrics_reaped(struct fw_pool *pool, struct proc *p, int status, bool expected);
/* A recycle began (pool->generation is the new one) or ended. */
void fw_pool_metrics_recycle_began(struct fw_pool *pool, const char *why, uint32_t old_generation);
void fw_pool_metrics_recycle_ended(struct fw_pool *pool, bool ok);
/* A worker asked to be replaced (it was running): a replacement's record
 * begins if the cause is max_requests or memory_limit. It ends in
 * fw_pool_metrics_replacements_check (on every maintain) once the worker
 * accepts no more, or when it is reaped. */
void fw_pool_metrics_replacement_began(struct proc *p);
void fw_pool_metrics_replacements_check(struct fw_pool *pool);

#endif
