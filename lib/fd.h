/* Closing every descriptor above a fixed layout, as a child does before it
 * runs code we do not control; close_range(2) where the kernel has it (5.9),
 * one close() per open descriptor where it does not. */
#ifndef FW_FD_H
#define FW_FD_H

/* Closes every descriptor >= lowfd: close_range() if the kernel takes it,
 * else fw_fd_close_each_from(). Returns 0: Linux frees a descriptor even
 * when close() reports an error. */
int fw_fd_close_from(int lowfd);

/* The fallback, without close_range(): each descriptor listed in
 * /proc/self/fd, or every number below RLIMIT_NOFILE when /proc cannot be
 * read. Async-signal-safe (no allocation), so it may run after fork(). */
int fw_fd_close_each_from(int lowfd);

/* How many descriptors the process has open, from /proc/self/fd without
 * allocating; -1 if it cannot be read. */
long fw_fd_count(void);

#endif
