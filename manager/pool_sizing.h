/* Dynamic and on-demand pools: how many workers they want now (sizing.h
 * decides from the scoreboard), and the master's watch on the socket while
 * an on-demand pool has no worker. Private to the pool module. */
#ifndef FW_POOL_SIZING_H
#define FW_POOL_SIZING_H

#include "pool_types.h"

/* The number of workers wanted now; stops the longest-idle one past
 * idle_timeout, one per call. */
unsigned fw_pool_sizing_target(struct fw_pool *pool, int64_t now, unsigned running);
/* workers: those alive; with none, the socket is watched for a connection. */
void fw_pool_sizing_watch_demand(struct fw_pool *pool, unsigned workers);

#endif
