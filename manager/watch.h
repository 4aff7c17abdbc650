/* Watching app scripts and `watch:` files so a pool recycles when they
 * change: inotify on the directories a path runs through (so rename-over,
 * delete and recreate, and a repointed release symlink are all seen), with a
 * debounce, and stat polling where inotify is unavailable or a watch cannot
 * be added. It decides when something changed; what to do about it (which
 * pool to recycle) is the caller's. */
#ifndef FW_WATCH_H
#define FW_WATCH_H

#include <stdbool.h>
#include <stdint.h>

struct fw_loop;
struct fw_watch;

/* Called once per debounced burst of changes to any path registered with this data.
 * path: the first of (fn, data)'s files that changed, for the log; changed_ms: when the
 * burst's last event was seen (fw_loop_now_ms's clock; for a polled path, when the poll
 * saw it), so the caller can tell whether something it started later already has the
 * change. */
typedef void (*fw_watch_fn)(void *data, const char *path, int64_t changed_ms);

/* debounce_ms: quiet time after the last event before paths are compared (a
 * burst is cut at 10 x debounce_ms however busy it is). poll_ms: how often
 * every path is stat()ed: the whole mechanism when polling, a safety net
 * under inotify (0 means 1000). force_polling: no inotify at all (tests;
 * file systems inotify cannot see, such as NFS changed from another host).
 * NULL on error (errno set). */
struct fw_watch *fw_watch_new(struct fw_loop *loop, unsigned debounce_ms, unsigned poll_ms,
                              bool force_polling);

/* Not from inside an fw_watch_fn. */
void fw_watch_free(struct fw_watch *w);

/* Watches path (a file; it need not exist yet). A change is: content or metadata write completed
 * (IN_CLOSE_WRITE, IN_ATTRIB for touch), the file replaced by rename, deleted, created, or the path
 * now resolving to another file (symlink anywhere in it repointed) — detected by comparing (st_dev,
 * st_ino, st_mtime with ns, st_size, st_ctime) of stat(path) before and after, so a burst of events
 * that ends with the same file unchanged triggers nothing. Returns 0 or -1.
 * A relative path is taken from the current directory at the time of the
 * call. A path that cannot be watched with inotify (ENOSPC, EACCES) is
 * polled every poll_ms instead, with a warning logged. */
int fw_watch_add(struct fw_watch *w, const char *path, fw_watch_fn fn, void *data);

/* Reads the inotify events the kernel has queued, now: a change made before
 * this call then has a changed_ms no later than now, even when its event
 * and the caller's own wake-up came in the same turn of the loop (call it
 * before starting what the change should be covered by). w may be NULL. */
void fw_watch_catch_up(struct fw_watch *w);

/* Stops watching every path registered with data (a pool going away). */
void fw_watch_remove_all(struct fw_watch *w, void *data);

#endif
