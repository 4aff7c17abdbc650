/* fork(), the child's set-up, the exec of a fresh worker image, and that
 * image's start up to fw_worker_run(). */
#include "config.h"

#include "spawn.h"

#include "scoreboard.h"
#include "template.h"
#include "fcgi/page.h"
#include "fcgi/slot.h"
#include "fcgi/wconf.h"
#include "fcgi/worker.h"
#include "lib/fd.h"
#include "lib/log.h"
#include "lib/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The fd layout of a worker's image: 0 the listening socket (as FastCGI
 * expects), 1 and 2 its output pipe, then its channel, the log, its slot,
 * its settings, its pool's status page if it has status_path, its access
 * log if it has access_log (each closed otherwise); the exe fd
 * only until the exec. */
#define CHILD_LISTEN_FD 0
#define CHILD_CHANNEL_FD FW_SPAWN_CHANNEL_FD
#define CHILD_LOG_FD 4
#define CHILD_SLOT_FD 5
#define CHILD_SETTINGS_FD 6
#define CHILD_PAGE_FD 7   /* status_path only: closed otherwise */
#define CHILD_ACCESS_FD 8 /* access_log only: closed otherwise */
#define N_CHILD_FDS FW_SPAWN_N_FDS
#define CHILD_EXE_FD 9

/* The manager's own binary, opened at the first spawn: workers run the
 * image the master runs even after a package upgrade replaced the file. */
static int exe_fd = -1;

static bool in_list(gid_t g, const gid_t *list, int n)
{
    for (int i = 0; i < n; i++)
        if (list[i] == g)
            return true;
    return false;
}

/* True if the process's supplementary groups are the user's (as initgroups
 * would set them with gid as the primary group), in any order. */
static bool has_user_groups(const char *user, gid_t gid)
{
    bool same = false;
    gid_t probe;
    int n_want = 1;
    getgrouplist(user, gid, &probe, &n_want); /* sets the count it needs */
    int n_have = getgroups(0, NULL);
    gid_t *want = calloc((size_t)n_want + 1, sizeof(gid_t));
    gid_t *have = calloc((size_t)(n_have > 0 ? n_have : 0) + 1, sizeof(gid_t));
    if (!want || !have || n_have < 0 || getgrouplist(user, gid, want, &n_want) < 0 ||
        (n_have = getgroups(n_have, have)) < 0)
        goto done;
    /* The primary group grants access whether or not it is listed. */
    same = true;
    for (int i = 0; i < n_want && same; i++)
        same = want[i] == gid || in_list(want[i], have, n_have);
    for (int i = 0; i < n_have && same; i++)
        same = have[i] == gid || in_list(have[i], want, n_want);
done:
    free(want);
    free(have);
    return same;
}

/* Each call is skipped when what it would set is already so: a manager that
 * is not root may run a pool as its own user, and initgroups() needs
 * CAP_SETGID even to set the groups the process already has. */
static int drop_privileges(const struct fw_conf_pool *pool)
{
    if (!pool->user && !pool->group)
        return 0;
    if (pool->gid != (gid_t)-1) {
        gid_t rgid, egid, sgid;
        bool same_gid = getresgid(&rgid, &egid, &sgid) == 0 && rgid == pool->gid &&
                        egid == pool->gid && sgid == pool->gid;
        if (pool->user) {
            if ((!same_gid || !has_user_groups(pool->user, pool->gid)) &&
                initgroups(pool->user, pool->gid) < 0) {
                fw_log_errno(FW_LOG_ERR, "[pool %s] initgroups(%s)", pool->name, pool->user);
                return -1;
            }
        } else if (getgroups(0, NULL) != 0 && setgroups(0, NULL) < 0 && errno != EPERM) {
            fw_log_errno(FW_LOG_ERR, "[pool %s] setgroups", pool->name);
            return -1;
        }
        if (!same_gid && setgid(pool->gid) < 0) {
            fw_log_errno(FW_LOG_ERR, "[pool %s] setgid(%u)", pool->name, (unsigned)pool->gid);
            return -1;
        }
    }
    if (pool->uid != (uid_t)-1) {
        uid_t ruid, euid, suid;
        bool same_uid = getresuid(&ruid, &euid, &suid) == 0 && ruid == pool->uid &&
                        euid == pool->uid && suid == pool->uid;
        if (!same_uid && setuid(pool->uid) < 0) {
            fw_log_errno(FW_LOG_ERR, "[pool %s] setuid(%u)", pool->name, (unsigned)pool->uid);
            return -1;
        }
    }
    return 0;
}

/* Moves each source fd to its target without one clobbering another: first
 * everything above the layout, then into place; the rest is closed (a
 * source of -1 leaves its place closed). The exe fd goes last and keeps
 * close-on-exec: it is what the child execs. */
static int arrange_fds(const int src[N_CHILD_FDS], int exe_src)
{
    int tmp[N_CHILD_FDS];
    for (int i = 0; i < N_CHILD_FDS; i++) {
        tmp[i] = src[i] < 0 ? -1 : fcntl(src[i], F_DUPFD_CLOEXEC, 16);
        if (tmp[i] < 0 && src[i] >= 0)
            return -1;
    }
    int exe = exe_src < 0 ? -1 : fcntl(exe_src, F_DUPFD_CLOEXEC, 16);
    if (exe < 0 && exe_src >= 0)
        return -1;
    /* dup2 clears close-on-exec on the target: these are inherited on purpose. */
    for (int i = 0; i < N_CHILD_FDS; i++) {
        if (tmp[i] < 0)
            close(i); /* nothing goes there: nor may anything of the master */
        else if (dup2(tmp[i], i) < 0)
            return -1;
    }
    if (exe < 0)
        return fw_fd_close_from(N_CHILD_FDS);
    if (dup3(exe, CHILD_EXE_FD, O_CLOEXEC) < 0)
        return -1;
    /* Unchecked, close_range() on a kernel before 5.9 left every fd of the
     * master open in the app. */
    return fw_fd_close_from(CHILD_EXE_FD + 1);
}

/* The settings of this worker alone, for the image it execs. */
static int settings_fd(const struct fw_spawn_request *req)
{
    const struct fw_conf_pool *pool = req->pool;
    struct fw_worker_app *apps = calloc(pool->n_apps + 1, sizeof(*apps));
    if (!apps)
        return -1;
    for (size_t i = 0; i < pool->n_apps; i++) {
        apps[i].script = pool->apps[i].script;
        apps[i].callable = pool->apps[i].callable;
        /* A forked process keeps only the main interpreter (conf/pool.c
         * lets a template pool have no other). */
        apps[i].group = req->template ? "%{GLOBAL}" : pool->apps[i].application_group;
        apps[i].mount = pool->apps[i].mount;
        apps[i].own_gil = pool->apps[i].own_gil;
    }
    struct fw_worker_config wc = {
        .threads = pool->threads,
        .apps = apps,
        .n_apps = pool->n_apps,
        .max_body_bytes = pool->max_body_bytes,
        .max_params_bytes = pool->max_params_bytes,
        .keepalive_timeout_ms = pool->keepalive_timeout_ms,
        .client_timeout_ms = pool->client_timeout_ms,
        .rlimit_nofile = pool->rlimit_nofile,
        .multiprocess = fw_conf_pool_multiprocess(pool),
        .preload = pool->preload,
        .host = { .python_home = pool->python_home,
                  .python_path = (const char *const *)pool->python_path,
                  .n_python_path = pool->n_python_path },
        .max_requests = req->max_requests,
        .allowed_clients = (const char *const *)pool->allowed_clients,
        .n_allowed_clients = pool->n_allowed_clients,
        .memory_limit_bytes = pool->memory_limit_bytes,
        .request_timeout_ms = pool->request_timeout_ms,
        .slowlog_timeout_ms = pool->slowlog_timeout_ms,
        .graceful_timeout_ms = pool->graceful_timeout_ms,
        .pool = pool->name,
        .generation = req->generation,
        .drained = req->drained,
        .ping_path = pool->ping_path,
        .status_path = pool->status_path,
        .access_log = req->access_fd >= 0,
        .access_format = pool->access_format,
    };
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "pool %s pid %ld", pool->name, (long)getpid());
    struct fw_wconf_extra extra = { .log_level = (int)fw_log_get_level(),
                                    .log_prefix = prefix,
                                    .log_syslog = req->log_syslog,
                                    .log_facility = fw_log_syslog_facility() };
    size_t len = 0;
    unsigned char *buf = fw_wconf_encode(&wc, &extra, &len);
    free(apps);
    int fd = buf ? memfd_create("fcgiwsgi-settings", MFD_CLOEXEC) : -1;
    size_t done = 0;
    while (fd >= 0 && done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n <= 0) {
            close(fd);
            fd = -1;
        } else {
            done += (size_t)n;
        }
    }
    free(buf);
    if (fd >= 0 && lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* NAME=VALUE, malloc'd (the child execs right after: nothing is freed). */
static char *pair(const char *name, const char *value)
{
    char *s = malloc(strlen(name) + strlen(value) + 2);
    if (s)
        sprintf(s, "%s=%s", name, value);
    return s;
}

static bool kept_from_manager(const char *entry)
{
    /* The locale, and our own sanitizer settings (test builds). */
    return strncmp(entry, "LANG=", 5) == 0 || strncmp(entry, "LANGUAGE=", 9) == 0 ||
           strncmp(entry, "LC_", 3) == 0 || strncmp(entry, "ASAN_OPTIONS=", 13) == 0 ||
           strncmp(entry, "UBSAN_OPTIONS=", 14) == 0 || strncmp(entry, "LSAN_OPTIONS=", 13) == 0;
}

/* The worker's environment: with clear_env (the default) the pool user's
 * HOME, USER, LOGNAME, SHELL and a PATH, the manager's locale, then env:;
 * else the manager's environment with env: on top (php-fpm's clear_env,
 * the same default). NULL on out of memory. */
static char **worker_environ(const struct fw_conf_pool *pool, const struct passwd *pw)
{
    extern char **environ;
    size_t n = 0;
    for (char **e = environ; *e; e++)
        n++;
    char **out = calloc(n + pool->n_env + 8, sizeof(*out));
    if (!out)
        return NULL;
    size_t k = 0;
    if (pool->clear_env) {
        if (pw) {
            out[k++] = pair("HOME", pw->pw_dir);
            out[k++] = pair("USER", pw->pw_name);
            out[k++] = pair("LOGNAME", pw->pw_name);
            out[k++] = pair("SHELL", pw->pw_shell && pw->pw_shell[0] ? pw->pw_shell : "/bin/sh");
        }
        out[k++] = pair("PATH", getuid() == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                                "/sbin:/bin"
                                              : "/usr/local/bin:/usr/bin:/bin");
        for (char **e = environ; *e; e++)
            if (kept_from_manager(*e))
                out[k++] = *e;
    } else {
        for (char **e = environ; *e; e++)
            out[k++] = *e;
    }
    /* env: wins: a later entry of the same name replaces an earlier one. */
    for (size_t i = 0; i < pool->n_env; i++) {
        size_t len = strlen(pool->env[i].name);
        size_t j = 0;
        while (j < k &&
               !(out[j] && strncmp(out[j], pool->env[i].name, len) == 0 && out[j][len] == '='))
            j++;
        out[j == k ? k++ : j] = pair(pool->env[i].name, pool->env[i].value);
    }
    for (size_t i = 0; i < k; i++)
        if (!out[i])
            return NULL;
    return out;
}

/* rlimit_core: and rlimit_nofile: past the hard limit. Before the
 * credentials change: raising a hard limit takes CAP_SYS_RESOURCE, which a
 * pool with `user:` has lost after it ("raising RLIMIT_NOFILE to 512 (hard
 * limit 256): Operation not permitted" under a root manager). The worker
 * still sets its own soft limit (fcgi/accept.c), and the default (the hard
 * limit, at most 65536) needs no raise. */
static void set_up_limits(const struct fw_conf_pool *pool)
{
    struct rlimit nf;
    if (pool->rlimit_nofile && getrlimit(RLIMIT_NOFILE, &nf) == 0 && nf.rlim_max != RLIM_INFINITY &&
        (rlim_t)pool->rlimit_nofile > nf.rlim_max) {
        /* Without CAP_SYS_RESOURCE (a container's root) this fails, and
         * the worker's own attempt says so. */
        struct rlimit set = { nf.rlim_cur, (rlim_t)pool->rlimit_nofile };
        (void)setrlimit(RLIMIT_NOFILE, &set);
    }
    if (pool->rlimit_core_bytes != UINT64_MAX) {
        struct rlimit rl;
        getrlimit(RLIMIT_CORE, &rl);
        rlim_t want = (rlim_t)pool->rlimit_core_bytes;
        struct rlimit set = { want, want > rl.rlim_max ? want : rl.rlim_max };
        if (setrlimit(RLIMIT_CORE, &set) < 0) {
            set.rlim_max = rl.rlim_max;
            set.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
            if (setrlimit(RLIMIT_CORE, &set) < 0)
                fw_log_errno(FW_LOG_WARN, "rlimit_core");
        }
    }
}

/* umask:, the working directory. After the credentials change: chdir must
 * work as the pool's user. */
static int set_up_process(const struct fw_conf_pool *pool, const struct passwd *pw)
{
    if (pool->umask >= 0)
        umask((mode_t)pool->umask);
    const char *dir = pool->chdir;
    if (!dir)
        dir = pw && pw->pw_dir && access(pw->pw_dir, X_OK) == 0 ? pw->pw_dir : "/";
    if (chdir(dir) < 0) {
        fw_log_errno(FW_LOG_ERR, "chdir %s", dir);
        return -1;
    }
    return 0;
}

/* The log on the child's fd: the pool's file (or stderr) or its syslog
 * socket, shared with the master (one connect() serves all). Workers
 * write their own lines, not through the master: a worker never waits on
 * the master, the master's loop carries none of their traffic, and the
 * syslog line names the worker's own pid. */
static void use_log(const char *syslog_path)
{
    if (syslog_path)
        fw_log_use_syslog_fd(CHILD_LOG_FD, syslog_path);
    else
        fw_log_set_fd(CHILD_LOG_FD);
}

/* The forked child: it holds the whole configuration (the master's memory)
 * only until it execs a fresh image of the manager's binary with this
 * worker's settings, fds and slot, so the app's address space has nothing
 * of the other pools, and an ASLR layout of its own. */
static void child(const struct fw_spawn_request *req, int out_fd, int channel_fd, pid_t master)
{
    const struct fw_conf_pool *pool = req->pool;
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "pool %s pid %ld", pool->name, (long)getpid());
    fw_log_set_prefix(prefix);
    /* Why this worker dies, if it dies before it is ready, for the
     * master's back-off reason: its slot is shared with the master. */
    fw_log_keep_errors(req->slot->error, sizeof(req->slot->error));
    int settings = settings_fd(req);
    int slot_fd = fw_scoreboard_fd(req->scoreboard, req->slot);
    if (settings < 0 || slot_fd < 0) {
        fw_log_errno(FW_LOG_ERR, "preparing the worker's settings");
        _exit(FW_EXIT_INIT);
    }
    const int src[N_CHILD_FDS] = { req->listen_fd, out_fd,       out_fd,
                                   channel_fd,     req->log_fd,  slot_fd,
                                   settings,       req->page_fd, req->access_fd };
    if (arrange_fds(src, exe_fd) < 0) {
        fw_log_errno(FW_LOG_ERR, "arranging file descriptors");
        _exit(FW_EXIT_INIT);
    }
    use_log(req->log_syslog);
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL);
    sigprocmask(SIG_SETMASK, req->child_sigmask, NULL);
    set_up_limits(pool);
    if (drop_privileges(pool) < 0)
        _exit(FW_EXIT_CONFIG);
    /* After the credentials change, which clears it; exec keeps it. The
     * master going away must not leave orphans serving an old config. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        _exit(FW_EXIT_FAILURE);
    struct passwd pwbuf, *pw = NULL;
    char pwtext[4096];
    if (getpwuid_r(geteuid(), &pwbuf, pwtext, sizeof(pwtext), &pw) != 0)
        pw = NULL;
    if (set_up_process(pool, pw) < 0)
        _exit(FW_EXIT_CONFIG);
    char **envp = worker_environ(pool, pw);
    if (!envp) {
        fw_log(FW_LOG_ERR, "out of memory building the worker's environment");
        _exit(FW_EXIT_INIT);
    }
    /* argv[0] is what ps shows. */
    char title[160];
    snprintf(title, sizeof(title), "fcgiwsgi: pool %s gen %u", pool->name, req->generation);
    if (req->template)
        snprintf(title, sizeof(title), "fcgiwsgi: pool %s gen %u template", pool->name,
                 req->generation);
    char *argv[] = { title, (char *)(req->template ? FW_SPAWN_TEMPLATE_ARG : FW_SPAWN_WORKER_ARG),
                     NULL };
    syscall(SYS_execveat, CHILD_EXE_FD, "", argv, envp, AT_EMPTY_PATH);
    fw_log_errno(FW_LOG_ERR, "exec of the worker image");
    _exit(FW_EXIT_INIT);
}

/* Read-only, of the size the master made (and sealed), or NULL. */
const struct fw_page *fw_spawn_map_page(void)
{
    int fd = CHILD_PAGE_FD;
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size == FW_PAGE_BYTES)
        p = mmap(NULL, FW_PAGE_BYTES, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

/* A worker or template image's start: its settings, log and slot from the
 * fds the child left. 0, or an enum fw_exit value. */
static int image_setup(struct fw_wconf *w)
{
    /* Until the settings say whether fd 4 is a syslog socket: a line now
     * can only be about settings that did not arrive. */
    fw_log_set_fd(CHILD_LOG_FD);
    struct stat st;
    unsigned char *buf = NULL;
    char err[160] = "";
    if (fstat(CHILD_SETTINGS_FD, &st) < 0 || st.st_size <= 0 ||
        (uint64_t)st.st_size > FW_WCONF_MAX_BYTES || !(buf = malloc((size_t)st.st_size)) ||
        pread(CHILD_SETTINGS_FD, buf, (size_t)st.st_size, 0) != st.st_size) {
        fw_log_errno(FW_LOG_ERR, "reading the worker's settings");
        return FW_EXIT_INIT;
    }
    close(CHILD_SETTINGS_FD);
    int rc = fw_wconf_decode(buf, (size_t)st.st_size, w, err, sizeof(err));
    free(buf);
    if (rc < 0) {
        fw_log(FW_LOG_ERR, "%s", err);
        return FW_EXIT_INIT;
    }
    if (w->extra.log_prefix)
        fw_log_set_prefix(w->extra.log_prefix);
    fw_log_set_syslog("fcgiwsgi", w->extra.log_facility);
    use_log(w->extra.log_syslog);
    fw_log_set_level((enum fw_log_level)w->extra.log_level);
    w->cfg.slot = fw_scoreboard_map_fd(CHILD_SLOT_FD);
    if (!w->cfg.slot) {
        fw_log_errno(FW_LOG_ERR, "mapping the worker's slot");
        fw_wconf_free(w);
        return FW_EXIT_INIT;
    }
    /* Until fw_worker_run() says it is ready (see child()). */
    fw_log_keep_errors(w->cfg.slot->error, sizeof(w->cfg.slot->error));
    if (w->cfg.status_path && !(w->cfg.page = fw_spawn_map_page()))
        fw_log_errno(FW_LOG_WARN, "mapping the pool's status page: status_path answers 503");
    w->cfg.listen_fd = CHILD_LISTEN_FD;
    w->cfg.channel_fd = CHILD_CHANNEL_FD;
    w->cfg.log_fd = CHILD_LOG_FD;
    w->cfg.access_fd = w->cfg.access_log ? CHILD_ACCESS_FD : -1;
    return 0;
}

int fw_spawn_worker_main(void)
{
    struct fw_wconf w;
    int rc = image_setup(&w);
    if (rc)
        return rc;
    rc = fw_worker_run(&w.cfg);
    fw_wconf_free(&w);
    return rc;
}

int fw_spawn_template_main(char **argv)
{
    struct fw_wconf w;
    int rc = image_setup(&w);
    if (rc)
        return rc;
    rc = fw_template_run(&w, argv);
    fw_wconf_free(&w);
    return rc;
}



int fw_spawn_pair_open(struct fw_spawn_pair *sp, int type, bool passcred, char *err,
                       size_t errlen)
{
    int one = 1;
    sp->chan[0] = sp->chan[1] = sp->pipe[0] = sp->pipe[1] = -1;
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sp->chan) < 0 ||
        (passcred && setsockopt(sp->chan[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) ||
        pipe2(sp->pipe, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "socketpair/pipe: %s", strerror(errno));
        fw_spawn_pair_close(sp);
        return -1;
    }
    return 0;
}

void fw_spawn_pair_close(struct fw_spawn_pair *sp)
{
    for (int i = 0; i < 2; i++) {
        if (sp->chan[i] >= 0)
            close(sp->chan[i]);
        if (sp->pipe[i] >= 0)
            close(sp->pipe[i]);
        sp->chan[i] = sp->pipe[i] = -1;
    }
}

void fw_spawn_pair_handover(struct fw_spawn_pair *sp, const struct fw_spawn_request *req,
                            pid_t pid, struct fw_spawned *out)
{
    struct stat st;
    out->child_ino = fstat(sp->chan[1], &st) == 0 ? (uint64_t)st.st_ino : 0;
    close(sp->chan[1]);
    close(sp->pipe[1]);
    fw_scoreboard_spawned(req->scoreboard, req->slot);
    fw_sock_set_nonblock(sp->chan[0], 1);
    fw_sock_set_nonblock(sp->pipe[0], 1);
    out->pid = pid;
    out->channel_fd = sp->chan[0];
    out->output_fd = sp->pipe[0];
}

int fw_spawn_worker(const struct fw_spawn_request *req, struct fw_spawned *out, char *err,
                    size_t errlen)
{
    struct fw_spawn_pair sp;
    if (fw_spawn_pair_open(&sp, req->template ? SOCK_SEQPACKET : SOCK_STREAM, false, err,
                           errlen) < 0)
        return -1;
    if (exe_fd < 0 && (exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "opening /proc/self/exe: %s", strerror(errno));
        fw_spawn_pair_close(&sp);
        return -1;
    }
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        fw_spawn_pair_close(&sp);
        return -1;
    }
    if (pid == 0) {
        close(sp.chan[0]);
        close(sp.pipe[0]);
        child(req, sp.pipe[1], sp.chan[1], master);
    }
    fw_spawn_pair_handover(&sp, req, pid, out);
    return 0;
}
