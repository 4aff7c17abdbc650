/* The master process: signals through a signalfd (no code runs in a signal
 * handler), one epoll loop, pools kept at size on every tick. */
#include "config.h"

#include "manager.h"

#include "activation.h"
#include "control.h"
#include "lib/buf.h"
#include "lib/dir.h"
#include "lib/log.h"
#include "lib/syslog.h"
#include "listener.h"
#include "logs.h"
#include "loop.h"
#include "pool.h"
#include "scoreboard.h"
#include "status.h"
#include "status_http.h"
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 100
#define WATCH_DEBOUNCE_MS 300 /* an editor's save, a deploy's several files: one recycle */
#define WATCH_POLL_MS 2000
#define SCOREBOARD_MIN_SLOTS 1024
#define LOG_DEADLINE_MS 5 /* the longest a log line may hold the loop */
#define PAGE_EVERY_MS 500 /* status_path pages are this fresh */

/* A request waiting for recycles to end (restart, reload --wait, wait), or
 * for the manager's exit (shutdown --wait: no pools). */
struct waiter {
    struct fw_ctl_client *client;
    struct waiter_pool {
        struct fw_pool *pool;
        uint64_t seq; /* the recycle that answers it; 0 once answered */
    } * pools;
    size_t n_pools, n_open;
    bool failed;
    struct fw_buf text;
    struct waiter *next;
};

/* A configuration replaced by reload, kept while pools it describes (ones
 * that reload removed) still have workers finishing. */
struct old_config {
    struct fw_config *cfg;
    struct old_config *next;
};

struct manager {
    struct fw_config *cfg;
    struct fw_loop *loop;
    struct fw_scoreboard *scoreboard;
    struct fw_listeners *listeners;
    struct fw_watch *watch;
    struct fw_control *control;
    struct fw_status_http *status_http; /* status_listen; NULL if none */
    int64_t pages_at_ms;                /* status_path pages last published */
    struct fw_pool_env env;
    struct fw_pool **pools;
    size_t n_pools;
    struct fw_pool **removed; /* by reload: stopping, freed once their workers are gone */
    size_t n_removed;
    struct old_config *old_configs;
    struct waiter *waiters;
    struct waiter *exit_waiters; /* shutdown --wait */
    struct waiter *drain_waiters; /* drain --wait: a pool's seq is 1 until it is idle */
    int64_t stop_started_ms;
    int sigfd;
    struct fw_logs *logs; /* pools' own logs */
    sigset_t child_sigmask;
    int64_t started_ms;
    bool stopping;
    int exit_status;
};

/* systemd's notify protocol is one datagram; no libsystemd needed. */
static void sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0])
        return;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    size_t len = strlen(path);
    if (len >= sizeof(sun.sun_path))
        return;
    memcpy(sun.sun_path, path, len);
    if (sun.sun_path[0] == '@')
        sun.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    close(fd);
}

static void reap(struct manager *m)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        bool found = false;
        for (size_t i = 0; i < m->n_pools && !found; i++)
            found = fw_pool_reap(m->pools[i], pid, status);
        for (size_t i = 0; i < m->n_removed && !found; i++)
            found = fw_pool_reap(m->removed[i], pid, status);
        if (!found) {
            /* Perhaps a worker a template forked, whose hello is unread. */
            fw_pool_unclaimed_child(pid, status);
            fw_log(FW_LOG_DEBUG, "reaped a child no pool knows (yet): %ld", (long)pid);
        }
    }
}

static unsigned alive(const struct manager *m)
{
    unsigned n = 0;
    for (size_t i = 0; i < m->n_pools; i++)
        n += fw_pool_alive(m->pools[i]);
    for (size_t i = 0; i < m->n_removed; i++)
        n += fw_pool_alive(m->removed[i]);
    return n;
}

static struct fw_pool *find_pool(const struct manager *m, const char *name)
{
    for (size_t i = 0; i < m->n_pools; i++)
        if (strcmp(fw_pool_name(m->pools[i]), name) == 0)
            return m->pools[i];
    return NULL;
}

/* A waiter for c with room for n pools; NULL (c answered) when out of
 * memory. */
static struct waiter *waiter_new(struct fw_ctl_client *c, size_t n)
{
    struct waiter *w = calloc(1, sizeof(*w));
    if (!w || !(w->pools = calloc(n ? n : 1, sizeof(*w->pools)))) {
        free(w);
        fw_control_reply(c, FW_CTL_ERROR, "out of memory");
        return NULL;
    }
    w->client = c;
    fw_buf_init(&w->text);
    return w;
}

static void waiter_free(struct waiter *w)
{
    fw_buf_free(&w->text);
    free(w->pools);
    free(w);
}

/* seq 0: nothing to wait for in this pool (its line is in w->text). */
static void waiter_add(struct waiter *w, struct fw_pool *pool, uint64_t seq)
{
    w->pools[w->n_pools++] = (struct waiter_pool){ .pool = pool, .seq = seq };
    w->n_open += seq != 0;
}

static void settle_waiters(struct manager *m, struct fw_pool *gone);

static void waiter_start(struct manager *m, struct waiter *w)
{
    w->next = m->waiters;
    m->waiters = w;
    settle_waiters(m, NULL); /* those with nothing to wait for are done already */
}

/* Answers every waiter whose recycles have all ended. A pool that was
 * stopped or removed ends its waits (failed) whatever was queued. */
static void settle_waiters(struct manager *m, struct fw_pool *gone)
{
    struct waiter **ww = &m->waiters;
    while (*ww) {
        struct waiter *w = *ww;
        for (size_t i = 0; i < w->n_pools; i++) {
            struct waiter_pool *wp = &w->pools[i];
            if (!wp->seq)
                continue;
            if (wp->pool == gone) {
                fw_buf_printf(&w->text, "pool %s: removed by reload before its recycle ended\n",
                              fw_pool_name(wp->pool));
                w->failed = true;
            } else {
                struct fw_pool_info info;
                fw_pool_info(wp->pool, &info);
                if (info.recycles_done >= wp->seq) {
                    bool ok = info.recycles_done == wp->seq ? info.last_recycle_ok : true;
                    fw_buf_printf(&w->text, "pool %s: %s\n", info.name, info.last_recycle);
                    w->failed |= !ok;
                } else if (info.stopped) {
                    fw_buf_printf(&w->text, "pool %s: stopped before its recycle ran\n", info.name);
                    w->failed = true;
                } else {
                    continue;
                }
            }
            wp->seq = 0;
            w->n_open--;
        }
        if (w->n_open) {
            ww = &w->next;
            continue;
        }
        *ww = w->next;
        fw_control_reply(w->client,
                         fw_buf_failed(&w->text) ? FW_CTL_ERROR
                         : w->failed             ? FW_CTL_FAILED
                                                 : FW_CTL_OK,
                         fw_buf_failed(&w->text) ? "out of memory" : fw_buf_str(&w->text));
        waiter_free(w);
    }
}

/* drain --wait: answered when every pool it names is drained with no
 * request running and no connection open, or has been undrained or
 * removed meanwhile (failed). On every tick: the workers' slots say it. */
static void settle_drain_waiters(struct manager *m, struct fw_pool *gone)
{
    struct waiter **ww = &m->drain_waiters;
    while (*ww) {
        struct waiter *w = *ww;
        for (size_t i = 0; i < w->n_pools; i++) {
            struct waiter_pool *wp = &w->pools[i];
            const char *name = fw_pool_name(wp->pool);
            if (!wp->seq)
                continue;
            if (wp->pool == gone) {
                fw_buf_printf(&w->text, "pool %s: removed by reload before it was idle\n", name);
                w->failed = true;
            } else if (!fw_pool_drained(wp->pool)) {
                fw_buf_printf(&w->text, "pool %s: undrained before it was idle\n", name);
                w->failed = true;
            } else if (fw_pool_drain_idle(wp->pool)) {
                fw_buf_printf(&w->text,
                              "pool %s: drained: no request running, no connection open\n", name);
            } else {
                continue;
            }
            wp->seq = 0;
            w->n_open--;
        }
        if (w->n_open) {
            ww = &w->next;
            continue;
        }
        *ww = w->next;
        fw_control_reply(w->client,
                         fw_buf_failed(&w->text) ? FW_CTL_ERROR
                         : w->failed             ? FW_CTL_FAILED
                                                 : FW_CTL_OK,
                         fw_buf_failed(&w->text) ? "out of memory" : fw_buf_str(&w->text));
        waiter_free(w);
    }
}

static void on_recycled(struct fw_pool *pool, uint64_t seq, bool ok, const char *text, void *data)
{
    (void)pool;
    (void)seq;
    (void)ok;
    (void)text;
    settle_waiters(data, NULL);
}

static void begin_stop(struct manager *m, const char *why, bool now)
{
    if (m->stopping && !now)
        return;
    if (!m->stopping)
        m->stop_started_ms = fw_loop_now_ms();
    m->stopping = true;
    fw_log(FW_LOG_NOTICE, "stopping (%s): %s", why,
           now ? "workers are killed" : "workers finish their requests");
    sd_notify("STOPPING=1");
    for (size_t i = 0; i < m->n_pools; i++)
        fw_pool_stop(m->pools[i], now);
    for (size_t i = 0; i < m->n_removed; i++)
        fw_pool_stop(m->removed[i], now);
    settle_waiters(m, NULL);
    if (alive(m) == 0)
        fw_loop_stop(m->loop);
}

static bool log_is_stderr(const struct fw_config *cfg)
{
    return !cfg->log || strcmp(cfg->log, "stderr") == 0;
}

/* A pool's own log, opened with its group for a file it creates: its
 * users may read what their app logged. */
static int pool_log(struct manager *m, const struct fw_config *cfg, const struct fw_conf_pool *c,
                    struct fw_log_sink **out)
{
    long group = c->gid == (gid_t)-1 ? -1 : (long)c->gid;
    if (fw_logs_get(m->logs, c->log, cfg->log, group, out) == 0)
        return 0;
    fw_log_errno(FW_LOG_ERR, "[pool %s] cannot open its log %s", c->name, c->log);
    return -1;
}

/* Its access log, a file opened by the master (its workers may not be
 * able to create it) with the pool's group, as its log is; NULL when off.
 * Never the main log's sink, even for the same path: the access log's fd
 * is handed to workers apart from their log. */
static int pool_access(struct manager *m, const struct fw_conf_pool *c, struct fw_log_sink **out)
{
    long group = c->gid == (gid_t)-1 ? -1 : (long)c->gid;
    *out = NULL;
    if (!c->access_log || fw_logs_get(m->logs, c->access_log, NULL, group, out) == 0)
        return 0;
    fw_log_errno(FW_LOG_ERR, "[pool %s] cannot open its access log %s", c->name, c->access_log);
    return -1;
}

static bool log_in_use(struct fw_log_sink *sink, void *data)
{
    struct manager *m = data;
    for (size_t i = 0; i < m->n_pools; i++)
        if (fw_pool_log(m->pools[i]) == sink || fw_pool_access(m->pools[i]) == sink)
            return true;
    for (size_t i = 0; i < m->n_removed; i++)
        if (fw_pool_log(m->removed[i]) == sink || fw_pool_access(m->removed[i]) == sink)
            return true;
    return false;
}

/* USR1 (logrotate): the master reopens its files (and reconnects its
 * syslog sockets), and hands workers the new fds, since they may have
 * dropped the privileges needed to open them. */
static int reopen_logs(struct manager *m)
{
    const char *log = m->cfg->log;
    int rc = 0;
    if (!log_is_stderr(m->cfg) && fw_log_open(log) < 0) {
        fw_log_errno(FW_LOG_ERR, "reopening log %s", log);
        rc = -1;
    }
    if (fw_logs_reopen(m->logs) < 0)
        rc = -1;
    for (size_t i = 0; i < m->n_pools; i++)
        fw_pool_log_reopened(m->pools[i]);
    for (size_t i = 0; i < m->n_removed; i++)
        fw_pool_log_reopened(m->removed[i]);
    if (rc == 0 && (!log_is_stderr(m->cfg) || fw_logs_count(m->logs)))
        fw_log(FW_LOG_NOTICE, "log reopened");
    return rc;
}

static void on_watched_change(void *data, const char *path, int64_t changed_ms)
{
    char why[1100];
    snprintf(why, sizeof(why), "a watched file changed: %s", path);
    fw_pool_restart_changed(data, changed_ms, why);
}

/* Every app script (unless watch_scripts: false) and every `watch:` file
 * recycles its pool when it changes (editors that rename over, deploys
 * that repoint a symlink). */
static void watch_pool(struct manager *m, struct fw_pool *pool)
{
    if (!m->watch)
        return;
    const struct fw_conf_pool *c = fw_pool_conf(pool);
    for (size_t a = 0; a < c->n_apps && c->watch_scripts; a++)
        if (fw_watch_add(m->watch, c->apps[a].script, on_watched_change, pool) < 0)
            fw_log_to(fw_pool_log(pool), FW_LOG_WARN, "[pool %s] cannot watch %s", c->name,
                      c->apps[a].script);
    for (size_t f = 0; f < c->n_watch; f++)
        if (fw_watch_add(m->watch, c->watch[f], on_watched_change, pool) < 0)
            fw_log_to(fw_pool_log(pool), FW_LOG_WARN, "[pool %s] cannot watch %s", c->name,
                      c->watch[f]);
}

static void free_unused_configs(struct manager *m)
{
    if (m->n_removed)
        return;
    while (m->old_configs) {
        struct old_config *o = m->old_configs;
        m->old_configs = o->next;
        fw_conf_free(o->cfg);
        free(o);
    }
}

static void reap_removed(struct manager *m)
{
    size_t j = 0;
    for (size_t i = 0; i < m->n_removed; i++) {
        if (fw_pool_alive(m->removed[i]) == 0) {
            fw_log_to(fw_pool_log(m->removed[i]), FW_LOG_NOTICE, "[pool %s] removed",
                      fw_pool_name(m->removed[i]));
            fw_pool_free(m->removed[i]);
        } else {
            m->removed[j++] = m->removed[i];
        }
    }
    bool freed = j < m->n_removed;
    m->n_removed = j;
    if (freed)
        fw_logs_sweep(m->logs, log_in_use, m);
    free_unused_configs(m);
}

static void status_source(void *data, struct fw_status_master *sm, struct fw_pool *const **pools,
                          size_t *n);

static bool str_same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* reload: the new file is read and checked completely before anything
 * changes. Then every listening socket the new configuration needs is
 * opened (new pools, changed addresses); if one cannot be, nothing
 * changes. Only then: new pools start, removed ones stop gracefully,
 * changed ones recycle, and unchanged ones are not touched. */
static int reload(struct manager *m, struct fw_buf *out, struct waiter *w)
{
    struct fw_conf_errors errs = { 0 };
    struct fw_config *cfg = fw_conf_load_preflight(m->cfg->path, &errs);
    /* The same lines as `fcgiwsgi -t` prints. */
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (f) {
        fw_conf_errors_print(&errs, f);
        fclose(f);
        fw_buf_add(out, text, text_len);
        free(text);
    }
    fw_conf_errors_free(&errs);
    if (!cfg) {
        fw_buf_printf(out, "%s: not reloaded; the running configuration is unchanged\n",
                      m->cfg->path);
        return -1;
    }
    size_t n = cfg->n_pools;
    struct fw_pool **pools = calloc(n ? n : 1, sizeof(*pools));
    bool *added = calloc(n ? n : 1, sizeof(*added));
    bool *changed = calloc(n ? n : 1, sizeof(*changed));
    struct fw_pool **removed =
        realloc(m->removed, (m->n_removed + m->n_pools + 1) * sizeof(*removed));
    struct old_config *old = calloc(1, sizeof(*old));
    struct fw_log_sink **logs = calloc(n ? n : 1, sizeof(*logs));
    struct fw_log_sink **access = calloc(n ? n : 1, sizeof(*access));
    if (removed)
        m->removed = removed;
    struct waiter_pool *waits = w ? calloc(n ? n : 1, sizeof(*waits)) : NULL;
    if (!pools || !added || !changed || !removed || !old || !logs || !access || (w && !waits)) {
        fw_buf_puts(out, "out of memory; not reloaded\n");
        goto fail;
    }
    size_t made = 0;
    for (size_t i = 0; i < n; i++, made++) {
        const struct fw_conf_pool *c = &cfg->pools[i];
        if (pool_log(m, cfg, c, &logs[i]) < 0) {
            fw_buf_printf(out, "pool %s: cannot open its log %s (see the log); not reloaded\n",
                          c->name, c->log);
            goto undo;
        }
        if (pool_access(m, c, &access[i]) < 0) {
            fw_buf_printf(out,
                          "pool %s: cannot open its access log %s (see the log); not reloaded\n",
                          c->name, c->access_log);
            goto undo;
        }
        pools[i] = find_pool(m, c->name);
        if (!pools[i]) {
            if (!(pools[i] = fw_pool_new(c, &m->env, -1, logs[i]))) {
                fw_buf_printf(out, "pool %s: cannot listen on %s (see the log); not reloaded\n",
                              c->name, c->listen_addr.text);
                goto undo;
            }
            added[i] = true;
            fw_pool_set_access(pools[i], access[i]);
        } else if (!fw_conf_pool_equal(fw_pool_conf(pools[i]), c)) {
            changed[i] = true;
            if (fw_pool_prepare_listen(pools[i], c) < 0) {
                fw_buf_printf(out, "pool %s: cannot listen on %s (see the log); not reloaded\n",
                              c->name, c->listen_addr.text);
                made++;
                goto undo;
            }
        }
    }

    /* Committed from here on. */
    fw_watch_catch_up(m->watch); /* a deploy's change then a reload: one recycle */
    if (w) {
        free(w->pools);
        w->pools = waits;
    }
    if (strcmp(cfg->control, m->cfg->control) != 0 || cfg->control_gid != m->cfg->control_gid)
        fw_buf_printf(out, "warning: control and control_group changes take effect at the next "
                           "start, not at reload\n");
    if (!str_same(cfg->status_listen, m->cfg->status_listen) ||
        cfg->status_listen_mode != m->cfg->status_listen_mode ||
        cfg->status_uid != m->cfg->status_uid || cfg->status_gid != m->cfg->status_gid) {
        /* Closed first: the new one may want the same address. */
        fw_status_http_free(m->status_http);
        m->status_http =
            cfg->status_listen ? fw_status_http_new(m->loop, cfg, status_source, m) : NULL;
        if (cfg->status_listen && !m->status_http)
            fw_buf_printf(out,
                          "warning: status_listen %s: cannot listen (see the log); no status "
                          "server until a reload that can\n",
                          cfg->status_addr.text);
        else
            fw_buf_printf(out, "status_listen: %s%s\n", cfg->status_listen ? "now on " : "closed",
                          cfg->status_listen ? cfg->status_addr.text : "");
    }
    if (!(cfg->pid_file == m->cfg->pid_file ||
          (cfg->pid_file && m->cfg->pid_file && !strcmp(cfg->pid_file, m->cfg->pid_file))))
        fw_buf_printf(out, "warning: a pid_file change takes effect at the next start\n");
    bool log_changed = strcmp(cfg->log ? cfg->log : "stderr", m->cfg->log ? m->cfg->log : "stderr");
    int level = cfg->log_level ? fw_log_level_parse(cfg->log_level) : FW_LOG_NOTICE;
    bool level_changed = level >= 0 && level != (int)fw_log_get_level();
    if (level >= 0)
        fw_log_set_level((enum fw_log_level)level);

    for (size_t i = 0; i < m->n_pools; i++) {
        bool kept = false;
        for (size_t j = 0; j < n && !kept; j++)
            kept = pools[j] == m->pools[i];
        if (kept)
            continue;
        fw_buf_printf(out, "pool %s: removed (its workers finish their requests)\n",
                      fw_pool_name(m->pools[i]));
        fw_watch_remove_all(m->watch, m->pools[i]);
        fw_pool_stop(m->pools[i], false);
        settle_waiters(m, m->pools[i]);
        settle_drain_waiters(m, m->pools[i]);
        m->removed[m->n_removed++] = m->pools[i];
    }
    for (size_t i = 0; i < n; i++) {
        const struct fw_conf_pool *c = &cfg->pools[i];
        if (added[i]) {
            fw_buf_printf(out, "pool %s: added, listening on %s\n", c->name, c->listen_addr.text);
            fw_pool_maintain(pools[i]);
            watch_pool(m, pools[i]);
        } else if (changed[i]) {
            bool stopped = fw_pool_stopped(pools[i]);
            fw_buf_printf(out, "pool %s: changed, %s\n", c->name,
                          stopped ? "stopped (it applies at `start`)" : "recycling");
            fw_watch_remove_all(m->watch, pools[i]);
            fw_pool_reconfigure(pools[i], c);
            fw_pool_set_log(pools[i], logs[i]);
            fw_pool_set_access(pools[i], access[i]);
            watch_pool(m, pools[i]);
            if (!stopped && w)
                waiter_add(w, pools[i],
                           fw_pool_restart(pools[i], FW_POOL_CAUSE_RELOAD,
                                           "reload changed its configuration"));
            else if (!stopped)
                fw_pool_restart(pools[i], FW_POOL_CAUSE_RELOAD, "reload changed its configuration");
        } else {
            fw_pool_reconfigure(pools[i], c); /* the same, from the new file */
            /* Its log may now be the main log's, or no longer. */
            fw_pool_set_log(pools[i], logs[i]);
            fw_pool_set_access(pools[i], access[i]);
            struct fw_pool_info info;
            fw_pool_info(pools[i], &info);
            if (info.config_failed) {
                /* Its workers exited with a configuration error: something
                 * outside this file (a user, a path) may be fixed now. */
                fw_buf_printf(out,
                              "pool %s: unchanged, but its workers had a configuration "
                              "error: starting them again\n",
                              c->name);
                uint64_t seq = fw_pool_restart(pools[i], FW_POOL_CAUSE_RELOAD,
                                               "reload after a configuration error");
                if (w)
                    waiter_add(w, pools[i], seq);
            } else {
                fw_buf_printf(out, "pool %s: unchanged\n", c->name);
            }
        }
    }
    free(m->pools);
    m->pools = pools;
    m->n_pools = n;
    old->cfg = m->cfg;
    old->next = m->old_configs;
    m->old_configs = old;
    m->cfg = cfg;
    if (log_changed && reopen_logs(m) < 0)
        fw_buf_printf(out, "warning: cannot open the new log %s; still logging to the old one\n",
                      cfg->log);
    if (log_changed && !fw_syslog_target_path(old->cfg->log) != !fw_syslog_target_path(cfg->log))
        fw_buf_printf(out, "warning: the log changed between syslog and a file: running workers "
                           "of pools without a log of their own keep the old one until they are "
                           "replaced (restart them)\n");
    fw_logs_sweep(m->logs, log_in_use, m);
    free(logs);
    free(access);
    if (level_changed) {
        for (size_t i = 0; i < m->n_pools; i++)
            fw_pool_set_log_level(m->pools[i], (enum fw_log_level)level);
        fw_buf_printf(out, "log_level: now %s, in the running workers too\n",
                      cfg->log_level ? cfg->log_level : "notice");
    }
    free_unused_configs(m);
    free(added);
    free(changed);
    fw_log(FW_LOG_NOTICE, "configuration reloaded from %s", cfg->path);
    return 0;

undo:
    for (size_t i = 0; i < made; i++) {
        if (added[i])
            fw_pool_free(pools[i]);
        else if (changed[i])
            fw_pool_cancel_listen(pools[i]);
    }
    fw_logs_sweep(m->logs, log_in_use, m); /* the ones opened for this reload */
fail:
    free(waits);
    free(logs);
    free(access);
    free(pools);
    free(added);
    free(changed);
    free(old);
    fw_conf_free(cfg);
    return -1;
}

/* wait (reload --wait): the answer comes when every recycle the reload
 * started has ended, and says how each went. */
static void do_reload(struct manager *m, struct fw_ctl_client *c, const char *who, bool wait)
{
    struct fw_buf out;
    fw_buf_init(&out);
    struct waiter *w = c && wait ? waiter_new(c, 0) : NULL;
    if (c && wait && !w)
        return;
    fw_log(FW_LOG_NOTICE, "reloading %s (%s)", m->cfg->path, who);
    int rc = reload(m, &out, w);
    if (rc < 0)
        fw_log_block(FW_LOG_ERR, "reload failed", fw_buf_str(&out), out.len);
    else
        fw_log_block(FW_LOG_NOTICE, "reload", fw_buf_str(&out), out.len);
    if (w && rc == 0) {
        fw_buf_add(&w->text, fw_buf_str(&out), out.len);
        waiter_start(m, w);
    } else {
        if (w)
            waiter_free(w);
        if (c)
            fw_control_reply(c, rc < 0 ? FW_CTL_FAILED : FW_CTL_OK, fw_buf_str(&out));
    }
    fw_buf_free(&out);
}

static void on_signal(struct fw_loop *loop, int fd, uint32_t events, void *data)
{
    (void)events;
    struct manager *m = data;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD: reap(m); break;
        case SIGTERM:
        case SIGINT:
        case SIGQUIT: begin_stop(m, strsignal((int)si.ssi_signo), false); break;
        case SIGUSR1: reopen_logs(m); break;
        case SIGHUP:
            if (!m->stopping)
                do_reload(m, NULL, "SIGHUP", false);
            break;
        case SIGUSR2:
            fw_watch_catch_up(m->watch);
            for (size_t i = 0; i < m->n_pools; i++)
                fw_pool_restart(m->pools[i], FW_POOL_CAUSE_SIGNAL, "SIGUSR2");
            break;
        }
    }
    if (m->stopping && alive(m) == 0)
        fw_loop_stop(loop);
}

static void master_facts(const struct manager *m, struct fw_status_master *sm);

/* status_path: each such pool's status, text and JSON, where its workers
 * read it (pool.h), twice a second: workers answer from it without
 * asking the master, whatever the request rate. */
static void publish_pages(struct manager *m)
{
    int64_t now = fw_loop_now_ms();
    if (now - m->pages_at_ms < PAGE_EVERY_MS)
        return;
    m->pages_at_ms = now;
    for (size_t i = 0; i < m->n_pools; i++) {
        struct fw_pool *pool = m->pools[i];
        if (!fw_pool_has_page(pool))
            continue;
        struct fw_status_master sm, bare = { 0 };
        master_facts(m, &sm);
        struct fw_buf text, json;
        fw_buf_init(&text);
        fw_buf_init(&json);
        fw_status_text(&text, &bare, &pool, 1); /* the pool's block alone */
        fw_status_json(&json, &sm, &pool, 1);
        if (!fw_buf_failed(&text) && !fw_buf_failed(&json))
            fw_pool_publish_page(pool, fw_buf_str(&text), text.len, fw_buf_str(&json), json.len);
        fw_buf_free(&text);
        fw_buf_free(&json);
    }
}

static void on_tick(struct fw_loop *loop, void *data)
{
    struct manager *m = data;
    for (size_t i = 0; i < m->n_pools; i++)
        fw_pool_maintain(m->pools[i]);
    for (size_t i = 0; i < m->n_removed; i++)
        fw_pool_maintain(m->removed[i]);
    reap_removed(m);
    settle_drain_waiters(m, NULL);
    for (size_t i = 0; i < m->n_pools; i++)
        fw_pool_sample(m->pools[i]);
    publish_pages(m);
    if (m->control)
        fw_control_tick(m->control);
    fw_status_http_tick(m->status_http);
    if (m->stopping && alive(m) == 0)
        fw_loop_stop(loop);
}

/* restart POOL... | --all: answered when every recycle has ended. */
static void reply_no_pool(struct fw_ctl_client *c, const char *name)
{
    char msg[300];
    snprintf(msg, sizeof(msg), "no pool named '%s'", name);
    fw_control_reply(c, FW_CTL_NO_POOL, msg);
}

static void cmd_restart(struct manager *m, struct fw_ctl_client *c, int argc, char **argv)
{
    bool all = argc == 2 && strcmp(argv[1], "--all") == 0;
    if (argc < 2 || (all && argc != 2)) {
        fw_control_reply(c, FW_CTL_USAGE, "usage: restart POOL... | --all");
        return;
    }
    size_t n = all ? m->n_pools : (size_t)argc - 1;
    for (size_t i = 0; i < n; i++)
        if (!all && !find_pool(m, argv[i + 1])) {
            reply_no_pool(c, argv[i + 1]);
            return;
        }
    struct waiter *w = waiter_new(c, n);
    if (!w)
        return;
    char why[128];
    snprintf(why, sizeof(why), "fcgiwsgi-ctl restart by %s", fw_control_peer(c));
    fw_watch_catch_up(m->watch);
    for (size_t i = 0; i < n; i++) {
        struct fw_pool *pool = all ? m->pools[i] : find_pool(m, argv[i + 1]);
        uint64_t seq = fw_pool_restart(pool, FW_POOL_CAUSE_RESTART, why);
        if (!seq) {
            fw_buf_printf(&w->text, "pool %s: stopped; start it first\n", fw_pool_name(pool));
            w->failed = true;
        }
        waiter_add(w, pool, seq);
    }
    waiter_start(m, w);
}

/* wait POOL...: until the recycle running now (and the one queued behind
 * it) has ended; at once when none runs. */
static void cmd_wait(struct manager *m, struct fw_ctl_client *c, int argc, char **argv)
{
    if (argc < 2) {
        fw_control_reply(c, FW_CTL_USAGE, "usage: wait POOL...");
        return;
    }
    for (int i = 1; i < argc; i++)
        if (!find_pool(m, argv[i])) {
            reply_no_pool(c, argv[i]);
            return;
        }
    struct waiter *w = waiter_new(c, (size_t)argc - 1);
    if (!w)
        return;
    for (int i = 1; i < argc; i++) {
        struct fw_pool *pool = find_pool(m, argv[i]);
        struct fw_pool_info info;
        fw_pool_info(pool, &info);
        uint64_t seq = 0;
        if (info.recycling)
            seq = info.recycles + (info.recycle_queued ? 1 : 0);
        else
            fw_buf_printf(&w->text, "pool %s: no recycle running\n", info.name);
        waiter_add(w, pool, seq);
    }
    waiter_start(m, w);
}

static void master_facts(const struct manager *m, struct fw_status_master *sm)
{
    *sm = (struct fw_status_master){
        .pid = getpid(),
        .uptime_ms = fw_loop_now_ms() - m->started_ms,
        .config = m->cfg->path,
        .version = PACKAGE_VERSION,
    };
}

/* The status server's pages show what `status` shows, from the same code. */
static void status_source(void *data, struct fw_status_master *sm, struct fw_pool *const **pools,
                          size_t *n)
{
    struct manager *m = data;
    master_facts(m, sm);
    *pools = m->pools;
    *n = m->n_pools;
}

static void cmd_status(struct manager *m, struct fw_ctl_client *c, int argc, char **argv)
{
    bool json = false, check = false;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--check") == 0)
            check = true;
        else if (!only && argv[i][0] != '-')
            only = argv[i];
        else {
            fw_control_reply(c, FW_CTL_USAGE, "usage: status [POOL] [--json] [--check]");
            return;
        }
    }
    struct fw_pool *one = only ? find_pool(m, only) : NULL;
    if (only && !one) {
        reply_no_pool(c, only);
        return;
    }
    struct fw_status_master sm;
    master_facts(m, &sm);
    struct fw_buf out;
    fw_buf_init(&out);
    struct fw_pool *const *pools = one ? &one : m->pools;
    size_t n = one ? 1 : m->n_pools;
    if (json)
        fw_status_json(&out, &sm, pools, n);
    else
        fw_status_text(&out, &sm, pools, n);
    /* With --json the exit status alone says it: the output stays one
     * document. */
    bool bad = check && fw_status_check(json ? NULL : &out, pools, n);
    fw_control_reply(c,
                     fw_buf_failed(&out) ? FW_CTL_ERROR
                     : bad               ? FW_CTL_FAILED
                                         : FW_CTL_OK,
                     fw_buf_failed(&out) ? "out of memory" : fw_buf_str(&out));
    fw_buf_free(&out);
}

/* scale, stop, start: one pool each. */
static void cmd_pool(struct manager *m, struct fw_ctl_client *c, int argc, char **argv)
{
    bool scale = strcmp(argv[0], "scale") == 0;
    char msg[512];
    if (argc != (scale ? 3 : 2)) {
        snprintf(msg, sizeof(msg), "usage: %s POOL%s", argv[0], scale ? " N" : "");
        fw_control_reply(c, FW_CTL_USAGE, msg);
        return;
    }
    struct fw_pool *pool = find_pool(m, argv[1]);
    if (!pool) {
        reply_no_pool(c, argv[1]);
        return;
    }
    fw_log_to(fw_pool_log(pool), FW_LOG_NOTICE, "[pool %s] %s by %s", argv[1], argv[0],
              fw_control_peer(c));
    if (scale) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(argv[2], &end, 10);
        if (errno || *end || end == argv[2] || v < 1 || v > 4096 || argv[2][0] == '-') {
            fw_control_reply(c, FW_CTL_USAGE, "scale: N must be a number from 1 to 4096");
            return;
        }
        if (fw_pool_scale(pool, (unsigned)v) < 0) {
            snprintf(msg, sizeof(msg),
                     "pool %s is dynamic: scale applies to fixed pools (change min/max and "
                     "reload)",
                     argv[1]);
            fw_control_reply(c, FW_CTL_FAILED, msg);
            return;
        }
        snprintf(msg, sizeof(msg), "pool %s: %lu process%s", argv[1], v, v == 1 ? "" : "es");
    } else if (strcmp(argv[0], "stop") == 0) {
        if (fw_pool_stopped(pool)) {
            snprintf(msg, sizeof(msg), "pool %s: already stopped", argv[1]);
        } else {
            fw_pool_stop(pool, false);
            settle_waiters(m, NULL);
            snprintf(msg, sizeof(msg),
                     "pool %s: stopping; its workers finish their requests, and no new ones "
                     "start until `start %s`",
                     argv[1], argv[1]);
        }
    } else {
        if (!fw_pool_stopped(pool)) {
            snprintf(msg, sizeof(msg), "pool %s: already running", argv[1]);
        } else {
            fw_pool_start(pool);
            snprintf(msg, sizeof(msg), "pool %s: starting", argv[1]);
        }
    }
    fw_control_reply(c, FW_CTL_OK, msg);
}

/* drain POOL... [--wait] / undrain POOL...: a host out of (and back into)
 * a load balancer's rotation (pool.h says what it does). */
static void cmd_drain(struct manager *m, struct fw_ctl_client *c, int argc, char **argv)
{
    bool undrain = strcmp(argv[0], "undrain") == 0, wait = false;
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        if (!undrain && strcmp(argv[i], "--wait") == 0 && !wait) {
            wait = true;
        } else if (argv[i][0] == '-') {
            n = 0;
            break;
        } else if (!find_pool(m, argv[i])) {
            reply_no_pool(c, argv[i]);
            return;
        } else {
            n++;
        }
    }
    if (!n) {
        fw_control_reply(c, FW_CTL_USAGE,
                         undrain ? "usage: undrain POOL..." : "usage: drain POOL... [--wait]");
        return;
    }
    struct waiter *w = waiter_new(c, n);
    if (!w)
        return;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        struct fw_pool *pool = find_pool(m, argv[i]);
        char err[512];
        bool was = fw_pool_drained(pool);
        fw_log_to(fw_pool_log(pool), FW_LOG_NOTICE, "[pool %s] %s by %s", argv[i], argv[0],
                  fw_control_peer(c));
        int rc = undrain ? fw_pool_undrain(pool, err, sizeof(err))
                         : fw_pool_drain(pool, err, sizeof(err));
        const char *addr = fw_pool_conf(pool)->listen_addr.text;
        if (rc < 0) {
            fw_buf_printf(&w->text, "%s\n", err);
            w->failed = true;
        } else if (undrain) {
            fw_buf_printf(&w->text, was ? "pool %s: undrained: listening on %s again\n"
                                        : "pool %s: not drained (listening on %s)\n",
                          argv[i], addr);
        } else if (!wait) {
            struct fw_pool_info info;
            fw_pool_info(pool, &info);
            fw_buf_printf(&w->text,
                          "pool %s: %sdrained: %s refuses new connections; %u connection%s "
                          "still open\n",
                          argv[i], was ? "already " : "", addr, info.connections,
                          info.connections == 1 ? "" : "s");
        }
        waiter_add(w, pool, wait && rc == 0 ? 1 : 0);
    }
    w->next = m->drain_waiters;
    m->drain_waiters = w;
    settle_drain_waiters(m, NULL);
}

/* shutdown [--now] [--wait]: also while stopping, to escalate to --now or
 * to wait; --wait is answered when the manager is about to exit (every
 * worker gone), with its exit status. */
static void cmd_shutdown(struct manager *m, struct fw_ctl_client *c, int argc, char **argv)
{
    bool now = false, wait = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--now") == 0 && !now)
            now = true;
        else if (strcmp(argv[i], "--wait") == 0 && !wait)
            wait = true;
        else {
            fw_control_reply(c, FW_CTL_USAGE, "usage: shutdown [--now] [--wait]");
            return;
        }
    }
    if (m->stopping && !now && !wait) {
        fw_control_reply(c, FW_CTL_FAILED, "the manager is shutting down");
        return;
    }
    char why[128];
    snprintf(why, sizeof(why), "fcgiwsgi-ctl shutdown by %s", fw_control_peer(c));
    if (wait) {
        struct waiter *w = waiter_new(c, 0);
        if (!w)
            return;
        w->next = m->exit_waiters;
        m->exit_waiters = w;
    } else {
        fw_control_reply(c, FW_CTL_OK,
                         now ? "shutting down now: workers are killed"
                             : "shutting down: workers finish their requests first");
    }
    begin_stop(m, why, now);
}

/* shutdown --wait: the last word before the control socket closes. */
static void answer_exit_waiters(struct manager *m, int status, unsigned cut)
{
    while (m->exit_waiters) {
        struct waiter *w = m->exit_waiters;
        m->exit_waiters = w->next;
        fw_buf_printf(&w->text, "fcgiwsgi (pid %ld) stopped in %lld ms: %s\n", (long)getpid(),
                      (long long)(fw_loop_now_ms() - m->stop_started_ms),
                      cut ? "workers had to be cut at graceful_timeout"
                          : "every worker finished its requests");
        if (cut)
            fw_buf_printf(&w->text, "%u worker%s cut: their requests were lost\n", cut,
                          cut == 1 ? "" : "s");
        fw_control_reply(w->client,
                         fw_buf_failed(&w->text) ? FW_CTL_ERROR
                         : status                ? FW_CTL_FAILED
                                                 : FW_CTL_OK,
                         fw_buf_failed(&w->text) ? "out of memory" : fw_buf_str(&w->text));
        waiter_free(w);
    }
}

static void on_command(struct fw_ctl_client *c, int argc, char **argv, void *data)
{
    struct manager *m = data;
    const char *cmd = argv[0];
    fw_log(FW_LOG_INFO, "control: %s from %s", cmd, fw_control_peer(c));
    if (strcmp(cmd, "shutdown") == 0) {
        cmd_shutdown(m, c, argc, argv);
    } else if (m->stopping && strcmp(cmd, "status") != 0) {
        fw_control_reply(c, FW_CTL_FAILED, "the manager is shutting down");
    } else if (strcmp(cmd, "status") == 0) {
        cmd_status(m, c, argc, argv);
    } else if (strcmp(cmd, "restart") == 0) {
        cmd_restart(m, c, argc, argv);
    } else if (strcmp(cmd, "wait") == 0) {
        cmd_wait(m, c, argc, argv);
    } else if (strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0) {
        cmd_drain(m, c, argc, argv);
    } else if (strcmp(cmd, "scale") == 0 || strcmp(cmd, "stop") == 0 || strcmp(cmd, "start") == 0) {
        cmd_pool(m, c, argc, argv);
    } else if (strcmp(cmd, "reload") == 0 &&
               (argc == 1 || (argc == 2 && strcmp(argv[1], "--wait") == 0))) {
        do_reload(m, c, fw_control_peer(c), argc == 2);
    } else if (strcmp(cmd, "reopen-logs") == 0 && argc == 1) {
        if (reopen_logs(m) < 0)
            fw_control_reply(c, FW_CTL_FAILED, "cannot reopen a log (see the old log)");
        else
            fw_control_reply(c, FW_CTL_OK,
                             !log_is_stderr(m->cfg) || fw_logs_count(m->logs)
                                 ? "log reopened"
                                 : "logging to stderr: nothing to reopen");
    } else {
        char msg[300];
        snprintf(msg, sizeof(msg), "unknown command or arguments: %s", cmd);
        fw_control_reply(c, FW_CTL_USAGE, msg);
    }
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

/* Room for every pool's workers, surges during recycles, and pools that a
 * reload adds: the mapping is only virtual until slots are used. */
static size_t scoreboard_slots(const struct fw_config *cfg)
{
    size_t slots = 0;
    for (size_t i = 0; i < cfg->n_pools; i++)
        slots += cfg->pools[i].processes;
    slots *= 4;
    return slots < SCOREBOARD_MIN_SLOTS ? SCOREBOARD_MIN_SLOTS : slots;
}

static int setup(struct manager *m)
{
    struct fw_config *cfg = m->cfg;
    int level = cfg->log_level ? fw_log_level_parse(cfg->log_level) : -1;
    if (level >= 0)
        fw_log_set_level((enum fw_log_level)level);
    /* A log nobody reads (a stuck journald, a pipe to a dead pager) must not
     * hold the loop: signals, the control socket and respawns go on, and the
     * log says afterwards how many lines it lost. Workers keep blocking
     * writes to their copy of the log (lib/log.c says how both can hold). */
    fw_log_set_deadline(LOG_DEADLINE_MS);
    fw_log_set_syslog("fcgiwsgi", cfg->log_facility);
    if (!(m->logs = fw_logs_new()))
        return -1;
    if (!log_is_stderr(cfg)) {
        if (fw_log_open(cfg->log) < 0) {
            fw_log_errno(FW_LOG_ERR, "cannot open log %s", cfg->log);
            return -1;
        }
        /* Until the start is done: a second manager, a port in use. */
        fw_log_set_stderr_too(true);
    }
    sigset_t mask;
    sigemptyset(&mask);
    int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&mask, sigs[i]);
    if (sigprocmask(SIG_BLOCK, &mask, &m->child_sigmask) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    m->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (m->sigfd < 0) {
        fw_log_errno(FW_LOG_ERR, "creating the signal fd");
        return -1;
    }
    m->loop = fw_loop_new(TICK_MS, on_tick, m);
    if (!m->loop || fw_loop_add(m->loop, m->sigfd, EPOLLIN, on_signal, m) < 0) {
        fw_log_errno(FW_LOG_ERR, "creating the event loop");
        return -1;
    }
    /* A second manager on the same control socket is refused here, before
     * it touches any pool's socket. */
    m->control = fw_control_new(m->loop, cfg->control, cfg->control_gid, on_command, m);
    if (!m->control)
        return -1;
    if (cfg->status_listen &&
        !(m->status_http = fw_status_http_new(m->loop, cfg, status_source, m)))
        return -1;
    /* Like the sockets' and the logs' (lib/dir.h); a failure shows in the
     * write that follows. */
    if (cfg->pid_file && fw_dir_make_for(cfg->pid_file) > 0)
        fw_log(FW_LOG_NOTICE, "created the directory of the pid file %s", cfg->pid_file);
    if (cfg->pid_file && write_pid_file(cfg->pid_file) < 0) {
        fw_log_errno(FW_LOG_ERR, "cannot write pid file %s", cfg->pid_file);
        return -1;
    }
    size_t slots = scoreboard_slots(cfg);
    m->scoreboard = fw_scoreboard_new(slots);
    if (!m->scoreboard) {
        fw_log_errno(FW_LOG_ERR, "creating the scoreboard (%zu slots)", slots);
        return -1;
    }
    m->pools = calloc(cfg->n_pools ? cfg->n_pools : 1, sizeof(*m->pools));
    m->listeners = fw_listeners_new();
    if (!m->pools || !m->listeners)
        return -1;
    m->env = (struct fw_pool_env){
        .loop = m->loop,
        .scoreboard = m->scoreboard,
        .listeners = m->listeners,
        .child_sigmask = &m->child_sigmask,
        .on_recycled = on_recycled,
        .restart_join_ms = WATCH_DEBOUNCE_MS,
        .data = m,
    };
    return 0;
}

int fw_manager_run(struct fw_config *cfg)
{
    struct manager m = { .cfg = cfg, .sigfd = -1, .exit_status = 0 };
    fw_log_set_prefix("");
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    m.started_ms = fw_loop_now_ms();
    int status = 1;
    unsigned cut = 0;
    bool pid_written = false;
    if (setup(&m) < 0)
        goto out;
    pid_written = cfg->pid_file != NULL;
    /* Workers a pool's template forks (spawn: template) come back to us
     * when their intermediate parent exits: they are ours to reap. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        fw_log_errno(FW_LOG_WARN, "PR_SET_CHILD_SUBREAPER: spawn: template cannot work");
    struct fw_activation *activation = fw_activation_collect();
    for (size_t i = 0; i < cfg->n_pools; i++) {
        int fd = activation ? fw_activation_take(activation, cfg->pools[i].name,
                                                 &cfg->pools[i].listen_addr)
                            : -1;
        struct fw_log_sink *log = NULL, *access = NULL;
        m.pools[i] = pool_log(&m, cfg, &cfg->pools[i], &log) < 0 ||
                             pool_access(&m, &cfg->pools[i], &access) < 0
                         ? NULL
                         : fw_pool_new(&cfg->pools[i], &m.env, fd, log);
        if (m.pools[i])
            fw_pool_set_access(m.pools[i], access);
        if (!m.pools[i]) {
            fw_activation_finish(activation);
            goto out;
        }
        m.n_pools++;
    }
    fw_activation_finish(activation);
    for (size_t i = 0; i < m.n_pools; i++)
        fw_pool_maintain(m.pools[i]);
    m.watch = fw_watch_new(m.loop, WATCH_DEBOUNCE_MS, WATCH_POLL_MS, false);
    if (!m.watch)
        fw_log(FW_LOG_ERR, "cannot watch files: pools will not recycle on changes");
    for (size_t i = 0; i < m.n_pools; i++)
        watch_pool(&m, m.pools[i]);
    fw_log(FW_LOG_NOTICE, "fcgiwsgi %s started: %zu pools", PACKAGE_VERSION, m.n_pools);
    fw_log_set_stderr_too(false);
    sd_notify("READY=1\nSTATUS=running");
    if (fw_loop_run(m.loop) == 0)
        status = 0;
    for (size_t i = 0; i < m.n_pools; i++)
        cut += fw_pool_cut(m.pools[i]);
    if (cut) {
        /* A supervisor must see that requests were lost in the stop. */
        fw_log(FW_LOG_WARN, "stopped: %u worker%s had to be cut at graceful_timeout", cut,
               cut == 1 ? "" : "s");
        status = 1;
    } else {
        fw_log(FW_LOG_NOTICE, "stopped");
    }
out:
    answer_exit_waiters(&m, status, cut);
    while (m.waiters) {
        struct waiter *w = m.waiters;
        m.waiters = w->next;
        waiter_free(w);
    }
    fw_status_http_free(m.status_http);
    fw_control_free(m.control);
    fw_watch_free(m.watch);
    for (size_t i = 0; i < m.n_pools; i++)
        fw_pool_free(m.pools[i]);
    for (size_t i = 0; i < m.n_removed; i++)
        fw_pool_free(m.removed[i]);
    m.n_removed = 0;
    free(m.removed);
    free(m.pools);
    free_unused_configs(&m);
    fw_listeners_free(m.listeners);
    fw_scoreboard_free(m.scoreboard);
    fw_loop_free(m.loop);
    if (m.sigfd >= 0)
        close(m.sigfd);
    fw_logs_free(m.logs);
    if (pid_written)
        unlink(m.cfg->pid_file);
    fw_conf_free(m.cfg);
    return status;
}
