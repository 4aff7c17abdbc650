/* A pool's status page for its workers (fcgi/page.h): made when the pool
 * first needs it (status_path set), written by the master, handed to each
 * worker read-only. Private to the pool module (pool_types.h); the
 * manager publishes through pool.h. */
#ifndef FW_POOL_PAGE_H
#define FW_POOL_PAGE_H

#include "pool_types.h"

/* A new read-only descriptor of the page for a worker being spawned (the
 * caller closes it), or -1 when the pool has no status_path or the page
 * cannot be made (logged). */
int fw_pool_page_fd_for_worker(struct fw_pool *pool);
void fw_pool_page_free(struct fw_pool *pool);

#endif
