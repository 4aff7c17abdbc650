/* Recycles: one generation replaced by the next, one recycle at a time,
 * triggers meanwhile coalescing into one more. Private to the pool module
 * (pool_types.h); fw_pool_restart in pool.h is the way in. */
#ifndef FW_POOL_RECYCLE_H
#define FW_POOL_RECYCLE_H

#include "pool_types.h"

/* A recycle is in progress while workers of an older generation remain. */
bool fw_pool_recycle_running(const struct fw_pool *pool);
/* The end of a recycle, either way: report it, and run the queued one. */
void fw_pool_recycle_finish(struct fw_pool *pool, bool ok);
/* Ends the recycle well once the old generation is stopping or gone. */
void fw_pool_recycle_check_done(struct fw_pool *pool);
/* The new generation cannot get ready: the old one keeps serving. */
void fw_pool_recycle_abort(struct fw_pool *pool, const char *why);
/* The next generation number (past any abandoned one), and "try now". */
void fw_pool_recycle_new_generation(struct fw_pool *pool);

#endif
