/* A pool's listening sockets (pool_listen.h). */
#include "config.h"

#include "pool_listen.h"

#include "lib/dir.h"
#include "lib/log.h"
#include "lib/sock.h"
#include "listener.h"
#include "loop.h"
#include "pool_drain.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A unix socket's mode and owner: listen_mode/owner/group, else 0660 and
 * the pool's user/group ((uid_t)-1/(gid_t)-1 where neither says). */
struct listen_perms {
    int mode;
    uid_t uid;
    gid_t gid;
};

static struct listen_perms listen_perms(const struct fw_conf_pool *c)
{
    return (struct listen_perms){
        .mode = c->listen_mode >= 0 ? c->listen_mode : 0660,
        .uid = c->listen_uid != (uid_t)-1 ? c->listen_uid : c->uid,
        .gid = c->listen_gid != (gid_t)-1 ? c->listen_gid : c->gid,
    };
}

/* A socket another pool holds for the same address (reload renamed the pool,
 * or gave its address to another): opening it again would find it in use.
 * Mode and owner are applied to the file the holder bound, and only to it. */
static int share_listener(struct fw_log_sink *log, struct fw_listeners *ls,
                          const struct fw_conf_pool *c, char *path, size_t path_size,
                          struct fw_sock_file *file)
{
    char from[128];
    bool path_ours;
    int fd =
        fw_listeners_share(ls, c->listen_addr.text, c->name, from, sizeof(from), file, &path_ours);
    if (fd < 0)
        return -1;
    if (c->listen_addr.family == AF_UNIX && path_ours) {
        const char *p = ((const struct sockaddr_un *)&c->listen_addr.ss)->sun_path;
        struct listen_perms lp = listen_perms(c);
        char err[512];
        snprintf(path, path_size, "%s", p);
        if (fw_sock_set_perms(p, file, lp.mode, lp.uid, lp.gid, err, sizeof(err)) < 0)
            fw_log_to(log, FW_LOG_WARN, "[pool %s] %s", c->name, err);
    }
    fw_log_to(log, FW_LOG_NOTICE,
              "[pool %s] listening on %s, the socket pool %s held (handed over)", c->name,
              c->listen_addr.text, from);
    return fd;
}

/* path receives the unix socket's path (to unlink at the end), or "", and
 * file the identity of the socket file, which a later chmod/chown needs. */
int fw_pool_listen_open(struct fw_log_sink *log, struct fw_listeners *ls,
                        const struct fw_conf_pool *c, char *path, size_t path_size,
                        struct fw_sock_file *file)
{
    char err[512];
    struct listen_perms lp = listen_perms(c);
    path[0] = '\0';
    if (ls) {
        int fd = share_listener(log, ls, c, path, path_size, file);
        if (fd >= 0 || errno != ENOENT) {
            if (fd < 0)
                fw_log_errno_to(log, FW_LOG_ERR, "[pool %s] sharing the socket on %s", c->name,
                                c->listen_addr.text);
            return fd;
        }
    }
    const char *p = c->listen_addr.family == AF_UNIX
                        ? ((const struct sockaddr_un *)&c->listen_addr.ss)->sun_path
                        : NULL;
    int made = p ? fw_dir_make_for(p) : 0;
    if (made < 0) {
        fw_log_errno_to(log, FW_LOG_ERR, "[pool %s] creating the directory of %s", c->name, p);
        return -1;
    }
    if (made)
        fw_log_to(log, FW_LOG_NOTICE, "[pool %s] created the directory of %s", c->name, p);
    int fd = fw_sock_listen(&c->listen_addr, c->listen_backlog, lp.mode, file, err, sizeof(err));
    if (fd < 0) {
        fw_log_to(log, FW_LOG_ERR, "[pool %s] %s", c->name, err);
        return -1;
    }
    if (p && fw_sock_set_perms(p, file, -1, lp.uid, lp.gid, err, sizeof(err)) < 0) {
        fw_log_to(log, FW_LOG_ERR, "[pool %s] %s", c->name, err);
        goto fail;
    }
    if (ls && fw_listeners_add(ls, c->listen_addr.text, fd, c->name, file, true) < 0) {
        fw_log_errno_to(log, FW_LOG_ERR, "[pool %s] recording its socket", c->name);
        goto fail;
    }
    if (p)
        snprintf(path, path_size, "%s", p);
    fw_log_to(log, FW_LOG_NOTICE, "[pool %s] listening on %s", c->name, c->listen_addr.text);
    return fd;
fail:
    close(fd);
    if (p)
        unlink(p);
    return -1;
}

/* The path goes with the socket's last holder: a pool that handed its
 * socket over leaves it to the taker. */
void fw_pool_listen_close(struct fw_pool *pool, int *fd, char *path)
{
    bool last = true;
    if (*fd >= 0) {
        last = fw_listeners_drop(pool->env.listeners, *fd);
        close(*fd);
    }
    *fd = -1;
    if (path[0] && last)
        unlink(path);
    path[0] = '\0';
}

void fw_pool_listen_close_old(struct fw_pool *pool)
{
    fw_pool_listen_close(pool, &pool->old_listen_fd, pool->old_unix_path);
}

int fw_pool_prepare_listen(struct fw_pool *pool, const struct fw_conf_pool *conf)
{
    fw_pool_listen_close(pool, &pool->pending_fd, pool->pending_unix_path);
    if (strcmp(pool->conf->listen_addr.text, conf->listen_addr.text) == 0)
        return 0;
    pool->pending_fd =
        fw_pool_listen_open(pool->log, pool->env.listeners, conf, pool->pending_unix_path,
                            sizeof(pool->pending_unix_path), &pool->pending_file);
    return pool->pending_fd < 0 ? -1 : 0;
}

void fw_pool_cancel_listen(struct fw_pool *pool)
{
    fw_pool_listen_close(pool, &pool->pending_fd, pool->pending_unix_path);
}

void fw_pool_reconfigure(struct fw_pool *pool, const struct fw_conf_pool *conf)
{
    if (pool->pending_fd >= 0) {
        if (pool->watching_listen) {
            fw_loop_del(pool->env.loop, pool->listen_fd);
            pool->watching_listen = false;
        }
        fw_pool_listen_close_old(pool); /* from an earlier reload whose recycle failed */
        pool->old_listen_fd = pool->listen_fd;
        memcpy(pool->old_unix_path, pool->unix_path, sizeof(pool->unix_path));
        pool->listen_fd = pool->pending_fd;
        memcpy(pool->unix_path, pool->pending_unix_path, sizeof(pool->unix_path));
        pool->unix_file = pool->pending_file;
        pool->pending_fd = -1;
        pool->pending_unix_path[0] = '\0';
        /* A recycle running now started its workers on the old socket: if
         * it ends well and the one queued behind it fails, they still
         * serve there. */
        pool->old_listen_seq = pool->recycle_seq + 1;
        /* Drained, the new address does not take connections either. */
        if (fw_pool_drain_spawn_drained(pool))
            fw_pool_drain_apply(pool, pool->listen_fd);
    } else if (pool->unix_path[0] &&
               (conf->listen_mode != pool->conf->listen_mode ||
                conf->listen_uid != pool->conf->listen_uid ||
                conf->listen_gid != pool->conf->listen_gid || conf->uid != pool->conf->uid ||
                conf->gid != pool->conf->gid)) {
        struct listen_perms lp = listen_perms(conf);
        char err[512];
        if (fw_sock_set_perms(pool->unix_path, &pool->unix_file, lp.mode, lp.uid, lp.gid, err,
                              sizeof(err)) < 0)
            fw_log_to(pool->log, FW_LOG_ERR, "[pool %s] listen_mode/owner not applied: %s",
                      conf->name, err);
    }
    /* Counts by other bounds would be mislabelled: the histogram starts
     * again (a counter reset, as Prometheus knows them). */
    if (conf->n_metrics_buckets != pool->conf->n_metrics_buckets ||
        memcmp(conf->metrics_buckets_us, pool->conf->metrics_buckets_us,
               conf->n_metrics_buckets * sizeof(conf->metrics_buckets_us[0])) != 0)
        memset(pool->done_counts.bucket, 0, sizeof(pool->done_counts.bucket));
    if (conf->processes != pool->conf->processes || conf->pm != pool->conf->pm)
        pool->processes = conf->processes;
    pool->conf = conf;
}
