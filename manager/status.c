/* Status reports. The text form is for a terminal (one block per pool, a
 * line per worker); the JSON form has the same facts, with times in ms and
 * sizes in bytes. */
#include "config.h"

#include "status.h"

#include "pool.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

static const char *const state_names[] = { "starting", "idle", "busy", "retiring", "stopping" };

static void duration(char *buf, size_t size, int64_t ms)
{
    int64_t s = ms / 1000;
    if (s < 60)
        snprintf(buf, size, "%" PRId64 ".%" PRId64 "s", s, (ms % 1000) / 100);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s % 3600) / 60);
    else
        snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s % 86400) / 3600);
}

static void mib(char *buf, size_t size, uint64_t bytes)
{
    snprintf(buf, size, "%.1fM", (double)bytes / (1024.0 * 1024.0));
}

static bool worker_line(const struct fw_pool_worker_info *w, void *data)
{
    struct fw_buf *out = data;
    char age[32], rss[32];
    duration(age, sizeof(age), w->age_ms);
    mib(rss, sizeof(rss), w->rss_bytes);
    fw_buf_printf(out, "    %-8ld %-4" PRIu32 " %-9s %-5u %-9" PRIu64 " %-8s %s\n", (long)w->pid,
                  w->generation, state_names[w->state], w->busy, w->requests, rss, age);
    return true;
}

static void pool_text(struct fw_buf *out, const struct fw_pool *pool)
{
    struct fw_pool_info i;
    fw_pool_info(pool, &i);
    fw_buf_printf(out, "pool %s: ", i.name);
    if (i.min == i.max)
        fw_buf_printf(out, "%s, %u process%s", i.model, i.processes, i.processes == 1 ? "" : "es");
    else
        fw_buf_printf(out, "%s, %u..%u processes", i.model, i.min, i.max);
    fw_buf_printf(out, " x %u thread%s, listening on %s%s\n", i.threads, i.threads == 1 ? "" : "s",
                  i.listen, i.stopped ? " (STOPPED)" : "");
    fw_buf_printf(out, "  generation %" PRIu32 ", %" PRIu64 " requests served\n", i.generation,
                  i.requests);
    fw_buf_puts(out, "  workers:");
    for (size_t s = 0; s < sizeof(i.workers) / sizeof(i.workers[0]); s++)
        fw_buf_printf(out, "%s %u %s", s ? "," : "", i.workers[s], state_names[s]);
    fw_buf_puts(out, "\n");
    if (i.recycling)
        fw_buf_printf(out, "  recycling to generation %" PRIu32 "%s\n", i.generation,
                      i.recycle_queued ? "; one more recycle queued after it" : "");
    fw_buf_printf(out, "  last recycle: %s\n", i.last_recycle[0] ? i.last_recycle : "none");
    if (i.config_failed)
        fw_buf_puts(out, "  configuration error in the worker: not respawning until reload or "
                         "restart\n");
    if (i.crashes) {
        char wait[32], cap[48] = "";
        duration(wait, sizeof(wait), i.backoff_ms);
        if (i.backoff_capped)
            snprintf(cap, sizeof(cap), " (no worker serves: at most %" PRId64 "s)",
                     i.backoff_capped_ms / 1000);
        fw_buf_printf(out, "  back-off: %u failure%s in a row, next spawn in %s%s: %s\n", i.crashes,
                      i.crashes == 1 ? "" : "s", wait, cap, i.backoff_reason);
    } else {
        fw_buf_puts(out, "  back-off: none\n");
    }
    fw_buf_puts(out, "    PID      GEN  STATE     BUSY  REQUESTS  RSS      AGE\n");
    fw_pool_each_worker(pool, worker_line, out);
}

void fw_status_text(struct fw_buf *out, const struct fw_status_master *m,
                    struct fw_pool *const *pools, size_t n)
{
    char up[32];
    duration(up, sizeof(up), m->uptime_ms);
    if (m->config)
        fw_buf_printf(out, "fcgiwsgi %s, master pid %ld, up %s, config %s\n", m->version,
                      (long)m->pid, up, m->config);
    for (size_t i = 0; i < n; i++) {
        if (m->config || i)
            fw_buf_puts(out, "\n");
        pool_text(out, pools[i]);
    }
}

static bool worker_json(const struct fw_pool_worker_info *w, void *data)
{
    struct fw_buf *out = data;
    if (out->len && out->data[out->len - 1] == '}')
        fw_buf_puts(out, ",");
    fw_buf_printf(out,
                  "{\"pid\":%ld,\"generation\":%" PRIu32 ",\"state\":\"%s\",\"busy\":%u,"
                  "\"requests\":%" PRIu64 ",\"rss_bytes\":%" PRIu64 ",\"age_ms\":%" PRId64 "}",
                  (long)w->pid, w->generation, state_names[w->state], w->busy, w->requests,
                  w->rss_bytes, w->age_ms);
    return true;
}

static void pool_json(struct fw_buf *out, const struct fw_pool *pool)
{
    struct fw_pool_info i;
    fw_pool_info(pool, &i);
    fw_buf_puts(out, "{\"name\":");
    fw_buf_json_string(out, i.name);
    fw_buf_puts(out, ",\"listen\":");
    fw_buf_json_string(out, i.listen);
    fw_buf_printf(out,
                  ",\"model\":\"%s\",\"processes\":%u,\"min\":%u,\"max\":%u,\"threads\":%u,"
                  "\"generation\":%" PRIu32 ",\"requests\":%" PRIu64 ",\"stopped\":%s,",
                  i.model, i.processes, i.min, i.max, i.threads, i.generation, i.requests,
                  i.stopped ? "true" : "false");
    fw_buf_puts(out, "\"workers_by_state\":{");
    for (size_t s = 0; s < sizeof(i.workers) / sizeof(i.workers[0]); s++)
        fw_buf_printf(out, "%s\"%s\":%u", s ? "," : "", state_names[s], i.workers[s]);
    fw_buf_printf(
        out, "},\"recycling\":%s,\"recycle_queued\":%s,\"recycles\":%" PRIu64 ",\"last_recycle\":",
        i.recycling ? "true" : "false", i.recycle_queued ? "true" : "false", i.recycles);
    fw_buf_json_string(out, i.last_recycle);
    fw_buf_printf(out,
                  ",\"last_recycle_ok\":%s,\"crashes\":%u,\"backoff_ms\":%" PRId64
                  ",\"backoff_capped\":%s,\"backoff_reason\":",
                  i.last_recycle_ok ? "true" : "false", i.crashes, i.backoff_ms,
                  i.backoff_capped ? "true" : "false");
    fw_buf_json_string(out, i.backoff_reason);
    fw_buf_printf(out, ",\"config_failed\":%s,\"workers\":[", i.config_failed ? "true" : "false");
    fw_pool_each_worker(pool, worker_json, out);
    fw_buf_puts(out, "]}");
}

void fw_status_json(struct fw_buf *out, const struct fw_status_master *m,
                    struct fw_pool *const *pools, size_t n)
{
    fw_buf_printf(out, "{\"version\":");
    fw_buf_json_string(out, m->version);
    fw_buf_printf(out, ",\"pid\":%ld,\"uptime_ms\":%" PRId64 ",\"config\":", (long)m->pid,
                  m->uptime_ms);
    fw_buf_json_string(out, m->config);
    fw_buf_puts(out, ",\"pools\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            fw_buf_puts(out, ",");
        pool_json(out, pools[i]);
    }
    fw_buf_puts(out, "]}\n");
}
