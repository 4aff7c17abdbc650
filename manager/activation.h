/* systemd socket activation: listening sockets passed from fd 3 with
 * LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES. Each pool adopts the one named
 * like it (FileDescriptorName= in the .socket unit), or else the one bound
 * to its listen address. Adopted sockets are systemd's: never unlinked. */
#ifndef FW_ACTIVATION_H
#define FW_ACTIVATION_H

#include "lib/sock.h"

struct fw_activation;

/* Reads and unsets LISTEN_* (workers must not see them). Never NULL unless
 * out of memory; empty when the process was not socket-activated. */
struct fw_activation *fw_activation_collect(void);

/* The inherited socket for this pool, or -1. Each is handed out once. */
int fw_activation_take(struct fw_activation *a, const char *pool_name,
                       const struct fw_sock_addr *addr);

/* Closes (and logs) inherited sockets no pool took; frees a. */
void fw_activation_finish(struct fw_activation *a);

#endif
