/* The master's listening sockets by address, so that a reload can give the
 * socket one pool holds to another (a pool renamed, an address passed on)
 * instead of opening it anew, which finds it in use. Each holder has an fd
 * of its own on the one socket (the kernel's queue is shared, so nothing is
 * refused while the holders change); a unix socket's path is removed by its
 * last holder. It opens and removes nothing itself: pool.c does. */
#ifndef FW_LISTENER_H
#define FW_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

struct fw_listeners;
struct fw_sock_file;

struct fw_listeners *fw_listeners_new(void);
/* Every fd must have been dropped by then; none is closed here. */
void fw_listeners_free(struct fw_listeners *ls);

/* fd is holder's socket on addr (the address's text, as configured); file
 * (may be NULL) the unix socket's bound file, which a later chmod/chown must
 * check (see fw_sock_set_perms); path_ours is false for one systemd passed,
 * whose path is not ours to remove. -1 on ENOMEM. */
int fw_listeners_add(struct fw_listeners *ls, const char *addr, int fd, const char *holder,
                     const struct fw_sock_file *file, bool path_ours);

/* A new fd (close-on-exec) on the socket already open for addr, recorded for
 * holder; from receives the name of a pool that holds it, file (may be
 * NULL) its bound file, path_ours what fw_listeners_add was told. -1 if no
 * socket is open for addr (errno ENOENT), or on a dup or ENOMEM failure. */
int fw_listeners_share(struct fw_listeners *ls, const char *addr, const char *holder, char *from,
                       size_t from_size, struct fw_sock_file *file, bool *path_ours);

/* fd's holder lets go (and closes it): true if no other fd is left on its
 * socket, or fd was never recorded: then a unix path is the caller's to
 * remove. */
bool fw_listeners_drop(struct fw_listeners *ls, int fd);

#endif
