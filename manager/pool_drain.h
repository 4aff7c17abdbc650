/* Draining a pool: its listener stops taking connections, so that a load
 * balancer's next connect is refused and goes to another host at once,
 * while requests in flight and kept connections finish; its workers stay
 * up, so undrain is immediate. Private to the pool module (pool_types.h);
 * pool.h has the way in (fw_pool_drain, fw_pool_undrain). */
#ifndef FW_POOL_DRAIN_H
#define FW_POOL_DRAIN_H

#include "pool_types.h"

/* A socket the pool starts to use while drained (a reload moved it to
 * another address) is shut too. */
void fw_pool_drain_apply(struct fw_pool *pool, int fd);
/* What a new worker is told: the listener is shut, accept nothing. */
bool fw_pool_drain_spawn_drained(const struct fw_pool *pool);
/* fw_pool_free's part. */
void fw_pool_drain_free(struct fw_pool *pool);

#endif
