/* The metrics page (metrics.h). A family's samples are contiguous, pools
 * inside families, as both formats want; every family has HELP and TYPE
 * (promtool's lint asks for both). Label values are pool names (letters,
 * digits, '_', '.', '-': conf/top.c) and fixed words, escaped anyway. */
#include "config.h"

#include "metrics.h"

#include "pool.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = { "starting", "idle", "busy", "retiring", "stopping" };
static const char *const class_names[FW_SLOT_CLASSES] = {
    "1xx", "2xx", "3xx", "4xx", "5xx", "other"
};

struct page {
    struct fw_buf *out;
    bool om;
};

/* "# HELP name ..." and "# TYPE name type": an OpenMetrics counter's
 * family is named without _total, its samples with it. */
static void family(struct page *p, const char *name, const char *type, const char *help)
{
    bool counter = strcmp(type, "counter") == 0;
    const char *suffix = counter && !p->om ? "_total" : "";
    fw_buf_printf(p->out, "# HELP %s%s %s\n# TYPE %s%s %s\n", name, suffix, help, name, suffix,
                  type);
}

static void label_value(struct fw_buf *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fw_buf_printf(out, "\\%c", *v);
        else if (*v == '\n')
            fw_buf_puts(out, "\\n");
        else
            fw_buf_add(out, v, 1);
    }
}

static void label(struct fw_buf *out, const char *k, const char *v)
{
    fw_buf_printf(out, ",%s=\"", k);
    label_value(out, v);
    fw_buf_puts(out, "\"");
}

/* name{pool="P"[,k="v"][,k2="v2"]} */
static void sample_labels(struct page *p, const char *name, const char *suffix, const char *pool,
                          const char *k, const char *v, const char *k2, const char *v2)
{
    fw_buf_printf(p->out, "%s%s{pool=\"", name, suffix);
    label_value(p->out, pool);
    fw_buf_puts(p->out, "\"");
    if (k)
        label(p->out, k, v);
    if (k2)
        label(p->out, k2, v2);
    fw_buf_puts(p->out, "}");
}

static void sample_begin(struct page *p, const char *name, const char *suffix, const char *pool,
                         const char *k, const char *v)
{
    sample_labels(p, name, suffix, pool, k, v, NULL, NULL);
}

static void u64(struct page *p, const char *name, const char *suffix, const char *pool,
                const char *k, const char *v, uint64_t value)
{
    sample_begin(p, name, suffix, pool, k, v);
    fw_buf_printf(p->out, " %" PRIu64 "\n", value);
}

static void secs(struct page *p, const char *name, const char *suffix, const char *pool,
                 const char *k, const char *v, uint64_t us)
{
    char s[48];
    fw_metrics_seconds(s, sizeof(s), us);
    sample_begin(p, name, suffix, pool, k, v);
    fw_buf_printf(p->out, " %s\n", s);
}

void fw_metrics_seconds(char *buf, size_t size, uint64_t us)
{
    int n = snprintf(buf, size, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
    if (n <= 0 || (size_t)n >= size)
        return;
    char *end = buf + n - 1;
    while (*end == '0')
        *end-- = '\0';
    if (*end == '.')
        *end = '\0';
}

struct snap {
    struct fw_pool_info info;
    struct fw_pool_metrics mx;
};

struct worker_page {
    struct page *p;
    const char *pool;
    const char *name;
    int what; /* 0 rss, 1 pss, 2 requests */
};

static bool worker_sample(const struct fw_pool_worker_info *w, void *data)
{
    struct worker_page *wp = data;
    if (!w->pid)
        return true; /* being forked: no pid to name it by, nor anything to count yet */
    char pid[24];
    snprintf(pid, sizeof(pid), "%ld", (long)w->pid);
    uint64_t v = wp->what == 0   ? w->memory.rss_bytes
                 : wp->what == 1 ? w->memory.pss_bytes
                                 : w->requests;
    u64(wp->p, wp->name, wp->what == 2 ? "_total" : "", wp->pool, "pid", pid, v);
    return true;
}

static void workers(struct page *p, struct fw_pool *const *pools, const struct snap *snaps,
                    size_t n, const char *name, const char *type, const char *help, int what)
{
    family(p, name, type, help);
    for (size_t i = 0; i < n; i++) {
        struct worker_page wp = { p, snaps[i].info.name, name, what };
        fw_pool_each_worker(pools[i], worker_sample, &wp);
    }
}

static void histogram(struct page *p, const struct snap *snaps, size_t n)
{
    const char *name = "fcgiwsgi_pool_request_duration_seconds";
    family(p, name, "histogram",
           "Time the app took per request (the WSGI call and its iteration, without waits on "
           "the web server), by the pool's metrics_buckets.");
    for (size_t i = 0; i < n; i++) {
        const struct fw_pool_metrics *mx = &snaps[i].mx;
        uint64_t cum = 0;
        for (size_t b = 0; b < mx->n_buckets && b < FW_SLOT_BUCKETS_MAX; b++) {
            char le[48];
            cum += mx->counts.bucket[b];
            fw_metrics_seconds(le, sizeof(le), mx->bucket_le_us[b]);
            /* OpenMetrics wants a float's canonical form in le: "1.0". */
            if (p->om && !strchr(le, '.'))
                strcat(le, ".0");
            u64(p, name, "_bucket", snaps[i].info.name, "le", le, cum);
        }
        for (size_t b = mx->n_buckets; b <= FW_SLOT_BUCKETS_MAX; b++)
            cum += mx->counts.bucket[b];
        u64(p, name, "_bucket", snaps[i].info.name, "le", "+Inf", cum);
        u64(p, name, "_count", snaps[i].info.name, NULL, NULL, cum);
        secs(p, name, "_sum", snaps[i].info.name, NULL, NULL, mx->counts.app_us);
    }
}

/* One family of one number per pool. */
#define PER_POOL(NAME, TYPE, HELP, EXPR)                                                           \
    do {                                                                                           \
        family(&p, (NAME), (TYPE), (HELP));                                                        \
        for (size_t i = 0; i < n; i++) {                                                           \
            const struct fw_pool_info *in = &snaps[i].info;                                        \
            const struct fw_pool_metrics *mx = &snaps[i].mx;                                       \
            (void)in;                                                                              \
            (void)mx;                                                                              \
            u64(&p, (NAME), strcmp((TYPE), "counter") == 0 ? "_total" : "", in->name, NULL, NULL,  \
                (uint64_t)(EXPR));                                                                 \
        }                                                                                          \
    } while (0)

void fw_metrics_render(struct fw_buf *out, const struct fw_status_master *m,
                       struct fw_pool *const *pools, size_t n, bool openmetrics)
{
    struct page p = { out, openmetrics };
    struct snap snaps_small[8];
    struct snap *snaps = n <= 8 ? snaps_small : calloc(n, sizeof(*snaps));
    if (!snaps) {
        out->failed = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        fw_pool_info(pools[i], &snaps[i].info);
        fw_pool_metrics(pools[i], &snaps[i].mx);
    }
    char up[48];
    fw_metrics_seconds(up, sizeof(up), (uint64_t)(m->uptime_ms > 0 ? m->uptime_ms : 0) * 1000);
    fw_buf_printf(out,
                  "# HELP fcgiwsgi_master_uptime_seconds Time since the master started.\n"
                  "# TYPE fcgiwsgi_master_uptime_seconds gauge\n"
                  "fcgiwsgi_master_uptime_seconds %s\n",
                  up);

    family(&p, "fcgiwsgi_pool_workers", "gauge", "Worker processes by state.");
    for (size_t i = 0; i < n; i++)
        for (size_t s = 0; s < sizeof(state_names) / sizeof(state_names[0]); s++)
            u64(&p, "fcgiwsgi_pool_workers", "", snaps[i].info.name, "state", state_names[s],
                snaps[i].info.workers[s]);
    PER_POOL("fcgiwsgi_pool_processes_max", "gauge",
             "The most worker processes the pool runs (fixed: its processes).", in->max);
    PER_POOL("fcgiwsgi_pool_threads", "gauge", "Request threads per worker.", in->threads);

    family(&p, "fcgiwsgi_pool_requests", "counter",
           "Requests finished, by the class of the HTTP status answered (other: none sent).");
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < FW_SLOT_CLASSES; c++)
            u64(&p, "fcgiwsgi_pool_requests", "_total", snaps[i].info.name, "code", class_names[c],
                snaps[i].mx.counts.by_class[c]);
    histogram(&p, snaps, n);
    family(&p, "fcgiwsgi_pool_busy_seconds", "counter",
           "Time request threads spent on requests, from their params to the response's end.");
    for (size_t i = 0; i < n; i++)
        secs(&p, "fcgiwsgi_pool_busy_seconds", "_total", snaps[i].info.name, NULL, NULL,
             snaps[i].mx.counts.busy_us);

    PER_POOL("fcgiwsgi_pool_listen_queue", "gauge",
             "Connections waiting in the listening socket's accept queue (sampled every 100 ms).",
             mx->listen_queue);
    PER_POOL("fcgiwsgi_pool_listen_queue_peak", "gauge",
             "The most connections seen waiting in the accept queue since the master started.",
             mx->listen_queue_peak);
    PER_POOL("fcgiwsgi_pool_listen_backlog", "gauge",
             "The most connections the accept queue holds.", mx->listen_backlog);
    PER_POOL("fcgiwsgi_pool_max_processes_reached", "counter",
             "Times the pool was at its most processes, none idle, with connections waiting.",
             mx->max_reached);
    PER_POOL("fcgiwsgi_pool_connections", "gauge",
             "FastCGI connections the workers hold (served, kept or waiting).", in->connections);

    PER_POOL("fcgiwsgi_pool_spawns", "counter", "Worker processes started.", mx->spawns);
    family(&p, "fcgiwsgi_pool_exits", "counter", "Worker processes that exited, by cause.");
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < FW_POOL_EXIT_NCAUSES; c++)
            u64(&p, "fcgiwsgi_pool_exits", "_total", snaps[i].info.name, "cause",
                fw_pool_exit_name((enum fw_pool_exit)c), snaps[i].mx.exits[c]);
    PER_POOL("fcgiwsgi_pool_cut_requests", "counter",
             "Requests still running when their worker was killed or had to cut them.",
             mx->cut_requests);
    PER_POOL("fcgiwsgi_pool_crashes_in_a_row", "gauge",
             "Start-up crashes in a row (the back-off's count).", in->crashes);
    family(&p, "fcgiwsgi_pool_backoff_seconds", "gauge",
           "Time until the back-off lets the next worker start (0: none).");
    for (size_t i = 0; i < n; i++)
        secs(&p, "fcgiwsgi_pool_backoff_seconds", "", snaps[i].info.name, NULL, NULL,
             (uint64_t)snaps[i].info.backoff_ms * 1000);

    PER_POOL("fcgiwsgi_pool_generation", "gauge", "The generation serving (or being started).",
             in->generation);
    family(&p, "fcgiwsgi_pool_generation_start_timestamp_seconds", "gauge",
           "When the current generation became the serving one (Unix time).");
    for (size_t i = 0; i < n; i++)
        secs(&p, "fcgiwsgi_pool_generation_start_timestamp_seconds", "", snaps[i].info.name, NULL,
             NULL, (uint64_t)snaps[i].mx.generation_since_unix_ms * 1000);
    PER_POOL("fcgiwsgi_pool_stopped", "gauge", "1 if the pool was stopped (fcgiwsgi-ctl stop).",
             in->stopped);
    PER_POOL("fcgiwsgi_pool_drained", "gauge", "1 if the pool is drained (fcgiwsgi-ctl drain).",
             in->drained);
    PER_POOL("fcgiwsgi_pool_recycling", "gauge", "1 while a recycle runs.", in->recycling);

    family(&p, "fcgiwsgi_pool_recycles", "counter", "Recycles that ended, by cause and outcome.");
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < FW_POOL_NCAUSES; c++)
            for (int ok = 1; ok >= 0; ok--) {
                sample_labels(&p, "fcgiwsgi_pool_recycles", "_total", snaps[i].info.name, "cause",
                              fw_pool_cause_name((enum fw_pool_cause)c), "outcome",
                              ok ? "ok" : "failed");
                fw_buf_printf(out, " %" PRIu64 "\n", snaps[i].mx.recycles_by[c][ok]);
            }
    PER_POOL("fcgiwsgi_pool_recycle_failed_requests", "counter",
             "Requests answered 5xx while a recycle ran, over every recycle.",
             mx->recycle_failed_requests);
    PER_POOL("fcgiwsgi_pool_recycle_cut_requests", "counter",
             "Requests cut while a recycle ran, over every recycle.", mx->recycle_cut_requests);
    family(&p, "fcgiwsgi_pool_last_recycle_duration_seconds", "gauge",
           "How long the last recycle that ended took (0: none yet).");
    for (size_t i = 0; i < n; i++)
        secs(&p, "fcgiwsgi_pool_last_recycle_duration_seconds", "", snaps[i].info.name, NULL, NULL,
             (uint64_t)snaps[i].info.last.duration_ms * 1000);

    workers(&p, pools, snaps, n, "fcgiwsgi_worker_rss_bytes", "gauge",
            "A worker's resident memory (the kernel's smaps_rollup; 0 until first read).", 0);
    workers(&p, pools, snaps, n, "fcgiwsgi_worker_pss_bytes", "gauge",
            "A worker's proportional share of memory (shared pages divided among their users).", 1);
    workers(&p, pools, snaps, n, "fcgiwsgi_worker_requests", "counter",
            "Requests a worker has finished.", 2);
    if (p.om)
        fw_buf_puts(out, "# EOF\n");
    if (snaps != snaps_small)
        free(snaps);
}
