/* A pool's listening sockets: opening (or taking over another pool's for
 * the same address), permissions, and the move to another address at
 * reload. Private to the pool module (pool_types.h). */
#ifndef FW_POOL_LISTEN_H
#define FW_POOL_LISTEN_H

#include "pool_types.h"

struct fw_listeners;

/* path receives the unix socket's path (to unlink at the end), or "", and
 * file the identity of the socket file. -1 on error (logged to log). */
int fw_pool_listen_open(struct fw_log_sink *log, struct fw_listeners *ls,
                        const struct fw_conf_pool *c, char *path, size_t path_size,
                        struct fw_sock_file *file);
/* Closes *fd (sets it to -1); the path is unlinked by its last holder. */
void fw_pool_listen_close(struct fw_pool *pool, int *fd, char *path);
/* The socket a reload moved the pool away from. */
void fw_pool_listen_close_old(struct fw_pool *pool);

#endif
