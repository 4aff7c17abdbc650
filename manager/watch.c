/* File watching for recycles. Each watched path keeps a stat() signature;
 * inotify events (or, when polling, a changed signature) only say "look
 * again after a quiet moment", and a callback runs only if the signature
 * then differs. It owns one inotify fd and one timerfd in the loop; it does
 * not know pools, only the opaque data each path was registered with.
 *
 * Symlink repoints: a path is resolved component by component, like
 * realpath(3), and the directory holding every symlink met on the way is
 * watched for that link's name, as well as the directory the file itself
 * ends up in (or the deepest one that exists, for a path not there yet). So
 * `ln -sfn releases/43 current` is an IN_MOVED_TO "current" in /srv/app, seen
 * at once. After every burst the path is resolved again and the watches
 * follow it to the new release. The poll_ms stat of every path under inotify
 * stays as a safety net: for what inotify cannot report (an NFS file changed
 * by another host, a directory renamed above the first watched one) and for
 * paths whose directories could not be watched (ENOSPC, EACCES). */
#include "config.h"

#include "watch.h"

#include "lib/log.h"
#include "loop.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define DIR_EVENTS                                                                                 \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB |            \
     IN_DELETE_SELF | IN_MOVE_SELF)
#define MAX_LINKS 40 /* the kernel's limit on symlinks in one lookup */
#define BURST_CAP 10 /* a burst is cut at this many times debounce_ms */
#define DEFAULT_POLL_MS 1000

struct sig {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

/* "This entry cares about `name` in the directory watched as wd"; wd is -1
 * once the kernel dropped that watch (IN_IGNORED). */
struct ref {
    int wd;
    char *name;
};

struct entry {
    struct entry *next;
    char *path;
    fw_watch_fn fn;
    void *data;
    struct sig settled; /* as of the last callback (or registration) */
    struct sig seen;    /* as of the last look, to tell when polling goes quiet */
    struct ref *refs;
    size_t n_refs;
    bool incomplete; /* some directory could not be watched: polled instead */
    bool dirty;      /* look again when the burst ends */
    bool fire;       /* changed: call fn when the burst ends */
};

/* One inotify watch, shared by every entry that needs its directory. */
struct dir {
    int wd;
    unsigned refs;
};

struct fw_watch {
    struct fw_loop *loop;
    unsigned debounce_ms, poll_ms;
    int inotify_fd; /* -1 when polling */
    int timer_fd;
    struct entry *entries;
    struct dir *dirs;
    size_t n_dirs, cap_dirs;
    bool burst;
    int64_t burst_start_ms, last_activity_ms, next_poll_ms;
};

/* The new set of refs for one entry while it is being resolved. */
struct resolution {
    struct ref *v;
    size_t n;
    bool incomplete;
    int err; /* why a directory could not be watched */
    char failed_dir[PATH_MAX];
};

static void sig_of(const char *path, struct sig *s)
{
    struct stat st;
    memset(s, 0, sizeof(*s));
    if (stat(path, &st) < 0)
        return;
    s->exists = true;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtime = st.st_mtim;
    s->ctime = st.st_ctim;
}

static bool sig_equal(const struct sig *a, const struct sig *b)
{
    if (a->exists != b->exists)
        return false;
    if (!a->exists)
        return true;
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static bool polled(const struct fw_watch *w, const struct entry *e)
{
    return w->inotify_fd < 0 || e->incomplete;
}

static struct dir *dir_find(struct fw_watch *w, int wd)
{
    for (size_t i = 0; i < w->n_dirs; i++)
        if (w->dirs[i].wd == wd)
            return &w->dirs[i];
    return NULL;
}

static void dir_forget(struct fw_watch *w, struct dir *d)
{
    *d = w->dirs[--w->n_dirs];
}

static void dir_release(struct fw_watch *w, int wd)
{
    struct dir *d = wd >= 0 ? dir_find(w, wd) : NULL;
    if (!d || --d->refs > 0)
        return;
    inotify_rm_watch(w->inotify_fd, wd);
    dir_forget(w, d);
}

/* Watches dir for the sake of name. Only running out of memory is an error:
 * a directory that cannot be watched makes the entry polled. */
static int add_ref(struct fw_watch *w, struct resolution *res, const char *dir, const char *name)
{
    /* Room first, so that nothing can fail once the kernel holds the watch. */
    struct ref *v = realloc(res->v, (res->n + 1) * sizeof(*v));
    if (!v)
        return -1;
    res->v = v;
    if (w->n_dirs == w->cap_dirs) {
        size_t cap = w->cap_dirs ? w->cap_dirs * 2 : 16;
        struct dir *d = realloc(w->dirs, cap * sizeof(*d));
        if (!d)
            return -1;
        w->dirs = d;
        w->cap_dirs = cap;
    }
    char *name_copy = strdup(name);
    if (!name_copy)
        return -1;
    int wd = inotify_add_watch(w->inotify_fd, dir, DIR_EVENTS | IN_ONLYDIR);
    if (wd < 0) {
        free(name_copy);
        if (!res->incomplete) {
            res->incomplete = true;
            res->err = errno;
            snprintf(res->failed_dir, sizeof(res->failed_dir), "%s", dir);
        }
        return 0;
    }
    struct dir *d = dir_find(w, wd);
    if (d)
        d->refs++;
    else
        w->dirs[w->n_dirs++] = (struct dir){ .wd = wd, .refs = 1 };
    res->v[res->n++] = (struct ref){ .wd = wd, .name = name_copy };
    return 0;
}

/* realpath(3) done by hand, to learn which directories to watch: the one
 * holding each symlink met, and the one holding the last component, or the
 * first missing one (whose creation is then the event). Returns -1 only for
 * ENOMEM and ENAMETOOLONG; any other failure just ends the walk where it
 * is, as that is where a change would show up. */
static int resolve(struct fw_watch *w, const char *path, struct resolution *res)
{
    char todo[PATH_MAX], done[PATH_MAX], spliced[PATH_MAX], target[PATH_MAX];
    size_t done_len = 0; /* done is "" for the root, else "/a/b" with no symlink in it */
    int links = 0;
    if (snprintf(todo, sizeof(todo), "%s", path) >= (int)sizeof(todo))
        goto too_long;
    done[0] = '\0';
    const char *rest = todo;
    for (;;) {
        while (*rest == '/')
            rest++;
        if (!*rest)
            return 0;
        const char *end = strchrnul(rest, '/');
        size_t len = (size_t)(end - rest);
        const char *after = end;
        while (*after == '/')
            after++;
        bool last = !*after;
        if (len == 1 && rest[0] == '.') {
            rest = end;
            continue;
        }
        if (len == 2 && rest[0] == '.' && rest[1] == '.') {
            /* done has no symlinks, so its parent is the lexical one. */
            char *slash = strrchr(done, '/');
            if (slash)
                *slash = '\0';
            done_len = strlen(done);
            rest = end;
            continue;
        }
        if (len > NAME_MAX || done_len + 1 + len >= sizeof(done))
            goto too_long;
        char name[NAME_MAX + 1];
        memcpy(name, rest, len);
        name[len] = '\0';
        const char *parent = done_len ? done : "/";
        char candidate[PATH_MAX];
        snprintf(candidate, sizeof(candidate), "%s/%s", done, name);

        struct stat st;
        if (lstat(candidate, &st) < 0)
            return add_ref(w, res, parent, name);
        if (S_ISLNK(st.st_mode)) {
            if (add_ref(w, res, parent, name) < 0)
                return -1;
            if (++links > MAX_LINKS)
                return 0;
            ssize_t n = readlink(candidate, target, sizeof(target) - 1);
            if (n < 0)
                return 0;
            target[n] = '\0';
            /* The link's target takes its place in what is left to walk; a
             * relative one starts from the link's directory (done as is). */
            if (snprintf(spliced, sizeof(spliced), "%s/%s", target, end) >= (int)sizeof(spliced))
                goto too_long;
            memcpy(todo, spliced, strlen(spliced) + 1);
            rest = todo;
            if (target[0] == '/') {
                done[0] = '\0';
                done_len = 0;
            }
            continue;
        }
        if (last || !S_ISDIR(st.st_mode))
            return add_ref(w, res, parent, name);
        memcpy(done, candidate, strlen(candidate) + 1);
        done_len = strlen(done);
        rest = end;
    }
too_long:
    errno = ENAMETOOLONG;
    return -1;
}

static void refs_release(struct fw_watch *w, struct ref *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dir_release(w, v[i].wd);
        free(v[i].name);
    }
    free(v);
}

/* (Re)computes which directories e needs watched. The new watches are taken
 * before the old ones are dropped, so a directory in both is never
 * unwatched in between. */
static int track(struct fw_watch *w, struct entry *e)
{
    struct resolution res = { 0 };
    int rc = resolve(w, e->path, &res);
    int saved_errno = errno;
    if (rc < 0 && !res.incomplete) {
        res.incomplete = true;
        res.err = saved_errno;
        snprintf(res.failed_dir, sizeof(res.failed_dir), "%s", e->path);
    }
    refs_release(w, e->refs, e->n_refs);
    e->refs = res.v;
    e->n_refs = res.n;
    if (res.incomplete && !e->incomplete) {
        errno = res.err;
        fw_log_errno(FW_LOG_WARN, "cannot watch %s for %s%s; polling it every %u ms",
                     res.failed_dir, e->path,
                     res.err == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "", w->poll_ms);
    } else if (!res.incomplete && e->incomplete) {
        fw_log(FW_LOG_INFO, "watching %s with inotify again", e->path);
    }
    e->incomplete = res.incomplete;
    errno = saved_errno;
    return rc;
}

static void arm(struct fw_watch *w)
{
    int64_t at;
    if (w->burst) {
        int64_t quiet = w->last_activity_ms + w->debounce_ms;
        int64_t cap = w->burst_start_ms + (int64_t)BURST_CAP * w->debounce_ms;
        at = quiet < cap ? quiet : cap;
    } else if (w->entries) {
        at = w->next_poll_ms;
    } else {
        at = 0; /* disarms */
    }
    /* Absolute CLOCK_MONOTONIC, the clock of fw_loop_now_ms, so the timer
     * never fires a little before the deadline it is compared with. */
    struct itimerspec its = { 0 };
    if (at > 0) {
        its.it_value.tv_sec = at / 1000;
        its.it_value.tv_nsec = (at % 1000) * 1000000;
    }
    if (timerfd_settime(w->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        fw_log_errno(FW_LOG_ERR, "arming the timer of watched files");
}

static void activity(struct fw_watch *w, int64_t now)
{
    w->last_activity_ms = now;
    if (!w->burst) {
        w->burst = true;
        w->burst_start_ms = now;
        arm(w);
    }
}

/* Polling's idea of an event: the signature moved since the last look. */
static void poll_entries(struct fw_watch *w, int64_t now, bool all)
{
    for (struct entry *e = w->entries; e; e = e->next) {
        if (!all && !polled(w, e))
            continue;
        if (w->inotify_fd >= 0 && e->incomplete)
            track(w, e);
        struct sig cur;
        sig_of(e->path, &cur);
        if (!sig_equal(&cur, &e->seen)) {
            e->seen = cur;
            e->dirty = true;
            activity(w, now);
        }
    }
}

/* Calls each (fn, data) with a changed path once. A callback may add and
 * remove entries (its own or others'), so the list is scanned afresh after
 * each call, and a data removed by an earlier callback is not called. */
static void notify(struct fw_watch *w)
{
    for (;;) {
        struct entry *e = w->entries;
        while (e && !e->fire)
            e = e->next;
        if (!e)
            return;
        fw_watch_fn fn = e->fn;
        void *data = e->data;
        /* A copy: the callback may remove the entry that holds it. */
        char path[1024];
        snprintf(path, sizeof(path), "%s", e->path);
        for (; e; e = e->next)
            if (e->fn == fn && e->data == data)
                e->fire = false;
        fn(data, path, w->last_activity_ms);
    }
}

static void settle(struct fw_watch *w, int64_t now)
{
    w->burst = false;
    w->next_poll_ms = now + w->poll_ms;
    for (struct entry *e = w->entries; e; e = e->next) {
        if (!e->dirty)
            continue;
        e->dirty = false;
        /* Any event may have been a repoint: watch where the path leads now,
         * before the stat, so a change after the stat raises an event. */
        if (w->inotify_fd >= 0)
            track(w, e);
        struct sig cur;
        sig_of(e->path, &cur);
        e->seen = cur;
        if (!sig_equal(&cur, &e->settled)) {
            e->settled = cur;
            e->fire = true;
        }
    }
    notify(w);
}

static void on_timer(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    struct fw_watch *w = data;
    uint64_t expirations;
    if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        fw_log_errno(FW_LOG_ERR, "reading the timer of watched files");
    int64_t now = fw_loop_now_ms();
    if (w->burst) {
        /* Polled paths show activity only when looked at: look now, at
         * what would be the end of the quiet time. */
        poll_entries(w, now, false);
        if (now - w->last_activity_ms >= w->debounce_ms ||
            now - w->burst_start_ms >= (int64_t)BURST_CAP * w->debounce_ms)
            settle(w, now);
    } else if (now >= w->next_poll_ms) {
        w->next_poll_ms = now + w->poll_ms;
        poll_entries(w, now, true);
    }
    arm(w);
}

static void mark_wd(struct fw_watch *w, int wd, const char *name, bool *any)
{
    for (struct entry *e = w->entries; e; e = e->next) {
        for (size_t i = 0; i < e->n_refs; i++) {
            if (e->refs[i].wd == wd && (!name || strcmp(e->refs[i].name, name) == 0)) {
                e->dirty = true;
                *any = true;
                break;
            }
        }
    }
}

static void handle_event(struct fw_watch *w, const struct inotify_event *ev, bool *any)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        /* Events were lost: any path may have changed. */
        for (struct entry *e = w->entries; e; e = e->next)
            e->dirty = true;
        if (w->entries)
            *any = true;
        return;
    }
    if (ev->mask & IN_IGNORED) {
        /* The kernel dropped the watch (directory deleted, file system
         * unmounted): its entries must resolve again. One we removed
         * ourselves is no longer in the table. */
        struct dir *d = dir_find(w, ev->wd);
        if (!d)
            return;
        mark_wd(w, ev->wd, NULL, any);
        for (struct entry *e = w->entries; e; e = e->next)
            for (size_t i = 0; i < e->n_refs; i++)
                if (e->refs[i].wd == ev->wd)
                    e->refs[i].wd = -1;
        dir_forget(w, d);
        return;
    }
    /* No name: the directory itself was moved, deleted or chmod'ed. */
    mark_wd(w, ev->wd, ev->len ? ev->name : NULL, any);
}

static void on_inotify(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    struct fw_watch *w = data;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool any = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (errno != EAGAIN)
                fw_log_errno(FW_LOG_ERR, "reading inotify events of watched files");
            break;
        }
        if (n == 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            handle_event(w, ev, &any);
            p += sizeof(*ev) + ev->len;
        }
    }
    if (any)
        activity(w, fw_loop_now_ms());
}

void fw_watch_catch_up(struct fw_watch *w)
{
    if (w && w->inotify_fd >= 0)
        on_inotify(w->loop, w->inotify_fd, EPOLLIN, w);
}

struct fw_watch *fw_watch_new(struct fw_loop *loop, unsigned debounce_ms, unsigned poll_ms,
                              bool force_polling)
{
    struct fw_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->loop = loop;
    w->debounce_ms = debounce_ms;
    w->poll_ms = poll_ms ? poll_ms : DEFAULT_POLL_MS;
    w->inotify_fd = -1;
    w->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (w->timer_fd < 0 || fw_loop_add(loop, w->timer_fd, EPOLLIN, on_timer, w) < 0)
        goto fail;
    if (!force_polling) {
        w->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (w->inotify_fd < 0) {
            /* ENOSYS in some sandboxes, EMFILE at max_user_instances. */
            fw_log_errno(FW_LOG_WARN, "inotify unavailable; polling watched files every %u ms",
                         w->poll_ms);
        } else if (fw_loop_add(loop, w->inotify_fd, EPOLLIN, on_inotify, w) < 0) {
            goto fail;
        }
    }
    return w;
fail:;
    int saved_errno = errno;
    if (w->timer_fd >= 0) {
        fw_loop_del(loop, w->timer_fd);
        close(w->timer_fd);
    }
    if (w->inotify_fd >= 0)
        close(w->inotify_fd);
    free(w);
    errno = saved_errno;
    return NULL;
}

static void entry_free(struct fw_watch *w, struct entry *e)
{
    refs_release(w, e->refs, e->n_refs);
    free(e->path);
    free(e);
}

void fw_watch_free(struct fw_watch *w)
{
    if (!w)
        return;
    while (w->entries) {
        struct entry *e = w->entries;
        w->entries = e->next;
        entry_free(w, e);
    }
    if (w->inotify_fd >= 0) {
        fw_loop_del(w->loop, w->inotify_fd);
        close(w->inotify_fd);
    }
    fw_loop_del(w->loop, w->timer_fd);
    close(w->timer_fd);
    free(w->dirs);
    free(w);
}

static char *absolute(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return NULL;
    size_t n = strlen(cwd) + 1 + strlen(path) + 1;
    char *abs = malloc(n);
    if (abs)
        snprintf(abs, n, "%s/%s", cwd, path);
    return abs;
}

int fw_watch_add(struct fw_watch *w, const char *path, fw_watch_fn fn, void *data)
{
    if (!path || !*path || !fn) {
        errno = EINVAL;
        return -1;
    }
    struct entry *e = calloc(1, sizeof(*e));
    if (!e)
        return -1;
    e->fn = fn;
    e->data = data;
    e->path = absolute(path);
    if (!e->path)
        goto fail;
    if (strlen(e->path) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        goto fail;
    }
    /* Watches first, then the stat: a change in between is an event. */
    if (w->inotify_fd >= 0 && track(w, e) < 0 && errno != ENAMETOOLONG)
        goto fail;
    sig_of(e->path, &e->settled);
    e->seen = e->settled;
    struct entry **tail = &w->entries;
    while (*tail)
        tail = &(*tail)->next;
    *tail = e;
    if (!w->burst && w->entries == e) {
        w->next_poll_ms = fw_loop_now_ms() + w->poll_ms;
        arm(w);
    }
    return 0;
fail:;
    int saved_errno = errno;
    entry_free(w, e);
    errno = saved_errno;
    return -1;
}

void fw_watch_remove_all(struct fw_watch *w, void *data)
{
    struct entry **link = &w->entries;
    while (*link) {
        struct entry *e = *link;
        if (e->data == data) {
            *link = e->next;
            entry_free(w, e);
        } else {
            link = &e->next;
        }
    }
    if (!w->entries && !w->burst)
        arm(w);
}
