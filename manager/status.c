/* Status reports. The text form is for a terminal (one block per pool, a
 * line per worker); the JSON form has the same facts, with durations in
 * ms, sizes in bytes, and points in time as ISO 8601 UTC strings with
 * milliseconds ("2026-01-31T12:00:00.250Z"). */
#include "config.h"

#include "status.h"

#include "pool.h"

#include "lib/units.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const state_names[] = { "starting", "idle", "busy", "retiring", "stopping" };

/* ISO 8601 UTC, for people and machines alike. */
static void iso_time(char *buf, size_t size, int64_t unix_ms)
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    if (unix_ms < 0 || !gmtime_r(&t, &tm)) {
        snprintf(buf, size, "?");
        return;
    }
    char day[32];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", day, (int)(unix_ms % 1000));
}

static void mib(char *buf, size_t size, uint64_t bytes)
{
    snprintf(buf, size, "%.1fM", (double)bytes / (1024.0 * 1024.0));
}

static bool worker_line(const struct fw_pool_worker_info *w, void *data)
{
    struct fw_buf *out = data;
    char age[32], rss[32];
    fw_units_format_elapsed(w->age_ms, age, sizeof(age));
    mib(rss, sizeof(rss), w->rss_bytes);
    /* A worker a template is forking has no pid until its hello. */
    char pid[24] = "-";
    if (w->pid)
        snprintf(pid, sizeof(pid), "%ld", (long)w->pid);
    fw_buf_printf(out, "    %-8s %-4" PRIu32 " %-9s %-5u %-9" PRIu64 " %-8s %-7s", pid,
                  w->generation, state_names[w->state], w->busy, w->requests, rss, age);
    if (w->n_now) {
        char for_[32];
        fw_units_format_elapsed(w->now[0].age_ms, for_, sizeof(for_));
        fw_buf_printf(out, " %s %s for %s", w->now[0].method, w->now[0].path, for_);
        if (w->n_now > 1)
            fw_buf_printf(out, " (+%u more)", w->n_now - 1);
    }
    fw_buf_puts(out, "\n");
    return true;
}

/* One line per recycle recorded, the oldest first. */
static void recycles_text(struct fw_buf *out, const struct fw_pool *pool)
{
    struct fw_pool_recycle_record r[FW_POOL_RECYCLES_KEPT];
    size_t n = fw_pool_recycles(pool, r);
    if (!n)
        return;
    fw_buf_printf(out, "  recycles (the last %zu):\n", n);
    for (size_t k = 0; k < n; k++) {
        char started[40], took[32];
        iso_time(started, sizeof(started), r[k].started_unix_ms);
        fw_units_format_elapsed(r[k].duration_ms, took, sizeof(took));
        char seq[24] = "-"; /* a worker's replacement: no recycle of the pool */
        if (r[k].seq)
            snprintf(seq, sizeof(seq), "#%" PRIu64, r[k].seq);
        fw_buf_printf(out,
                      "    %s %s %s, generation %" PRIu32 " -> %" PRIu32
                      ", started %s, %s %s, %u replaced, %" PRIu64 " failed, %" PRIu64 " cut: %s\n",
                      seq, r[k].cause,
                      r[k].running ? "RUNNING"
                      : r[k].ok    ? "ok"
                                   : "FAILED",
                      r[k].old_generation, r[k].new_generation, started,
                      r[k].running ? "for" : "took", took, r[k].replaced, r[k].failed_requests,
                      r[k].cut_requests, r[k].why);
    }
}

static void metrics_text(struct fw_buf *out, const struct fw_pool *pool)
{
    struct fw_pool_metrics mx;
    fw_pool_metrics(pool, &mx);
    const uint64_t *c = mx.counts.by_class;
    fw_buf_printf(out,
                  "  requests by status: 1xx %" PRIu64 ", 2xx %" PRIu64 ", 3xx %" PRIu64
                  ", 4xx %" PRIu64 ", 5xx %" PRIu64 ", other %" PRIu64 "\n",
                  c[0], c[1], c[2], c[3], c[4], c[5]);
    fw_buf_printf(out, "  spawns %" PRIu64 ", exits:", mx.spawns);
    bool any = false;
    for (int e = 0; e < FW_POOL_EXIT_NCAUSES; e++)
        if (mx.exits[e]) {
            fw_buf_printf(out, "%s %s %" PRIu64, any ? "," : "", fw_pool_exit_name(e), mx.exits[e]);
            any = true;
        }
    fw_buf_puts(out, any ? "\n" : " none\n");
    if (mx.listen_queue_known)
        fw_buf_printf(out,
                      "  listen queue: %u waiting (peak %u, backlog %u); at the most processes "
                      "with connections waiting %" PRIu64 " time%s\n",
                      mx.listen_queue, mx.listen_queue_peak, mx.listen_backlog, mx.max_reached,
                      mx.max_reached == 1 ? "" : "s");
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
    if (i.scaled)
        fw_buf_printf(out, " (SCALED: %u configured)", i.configured_processes);
    fw_buf_printf(out, " x %u thread%s, listening on %s%s%s\n", i.threads,
                  i.threads == 1 ? "" : "s", i.listen, i.stopped ? " (STOPPED)" : "",
                  i.drained ? " (DRAINED)" : "");
    if (i.drained)
        fw_buf_printf(out, "  drained: %s; %u connection%s open\n",
                      i.drain_refusing ? "new connections are refused"
                                       : "taking the connections queued, then refusing",
                      i.connections, i.connections == 1 ? "" : "s");
    fw_buf_printf(out, "  generation %" PRIu32 ", %" PRIu64 " requests served\n", i.generation,
                  i.requests);
    metrics_text(out, pool);
    fw_buf_puts(out, "  workers:");
    for (size_t s = 0; s < sizeof(i.workers) / sizeof(i.workers[0]); s++)
        fw_buf_printf(out, "%s %u %s", s ? "," : "", i.workers[s], state_names[s]);
    fw_buf_puts(out, "\n");
    if (i.recycling) {
        char for_[32];
        fw_units_format_elapsed(i.recycle_ms, for_, sizeof(for_));
        fw_buf_printf(out, "  recycling to generation %" PRIu32 " (%s, for %s)%s\n", i.generation,
                      i.recycle_cause, for_,
                      i.recycle_queued ? "; one more recycle queued after it" : "");
    }
    fw_buf_printf(out, "  last recycle: %s\n", i.last_recycle[0] ? i.last_recycle : "none");
    if (i.last.seq) {
        char started[40], ended[40], took[32];
        iso_time(started, sizeof(started), i.last.started_unix_ms);
        iso_time(ended, sizeof(ended), i.last.ended_unix_ms);
        fw_units_format_elapsed(i.last.duration_ms, took, sizeof(took));
        fw_buf_printf(out, "    %s (%s): started %s, ended %s, took %s\n",
                      i.last.ok ? "ok" : "FAILED", i.last.cause, started, ended, took);
    }
    if (i.import_error[0])
        fw_buf_printf(out, "  import failed (requests get 500, retried): %s\n", i.import_error);
    if (i.template_pid) {
        char age[32];
        fw_units_format_elapsed(i.template_age_ms, age, sizeof(age));
        fw_buf_printf(out, "  template: pid %ld, %s, up %s", (long)i.template_pid,
                      i.template_state, age);
        if (i.templates > 1)
            fw_buf_printf(out, " (%u more kept for older generations' workers)",
                          i.templates - 1);
        fw_buf_puts(out, "\n");
    } else if (!strcmp(i.spawn, "template")) {
        fw_buf_puts(out, "  template: none now (starting, or backing off)\n");
    }
    recycles_text(out, pool);
    if (i.config_failed)
        fw_buf_puts(out, "  configuration error in the worker: not respawning until reload or "
                         "restart\n");
    if (i.crashes) {
        char wait[32], cap[48] = "";
        fw_units_format_elapsed(i.backoff_ms, wait, sizeof(wait));
        if (i.backoff_capped)
            snprintf(cap, sizeof(cap), " (no worker serves: at most %" PRId64 "s)",
                     i.backoff_capped_ms / 1000);
        fw_buf_printf(out, "  back-off: %u failure%s in a row, next spawn in %s%s: %s\n", i.crashes,
                      i.crashes == 1 ? "" : "s", wait, cap, i.backoff_reason);
    } else {
        fw_buf_puts(out, "  back-off: none\n");
    }
    fw_buf_puts(out, "    PID      GEN  STATE     BUSY  REQUESTS  RSS      AGE     REQUEST\n");
    fw_pool_each_worker(pool, worker_line, out);
}

void fw_status_text(struct fw_buf *out, const struct fw_status_master *m,
                    struct fw_pool *const *pools, size_t n)
{
    char up[32];
    fw_units_format_elapsed(m->uptime_ms, up, sizeof(up));
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
                  "\"requests\":%" PRIu64 ",\"rss_bytes\":%" PRIu64 ",\"pss_bytes\":%" PRIu64
                  ",\"age_ms\":%" PRId64 ",\"connections\":%u,\"requests_now\":[",
                  (long)w->pid, w->generation, state_names[w->state], w->busy, w->requests,
                  w->rss_bytes, w->memory.pss_bytes, w->age_ms, w->connections);
    for (unsigned r = 0; r < w->n_now; r++) {
        fw_buf_puts(out, r ? ",{\"method\":" : "{\"method\":");
        fw_buf_json_string(out, w->now[r].method);
        fw_buf_puts(out, ",\"path\":");
        fw_buf_json_string(out, w->now[r].path);
        fw_buf_printf(out, ",\"age_ms\":%" PRId64 "}", w->now[r].age_ms);
    }
    fw_buf_puts(out, "]}");
    return true;
}

static void recycles_json(struct fw_buf *out, const struct fw_pool *pool)
{
    struct fw_pool_recycle_record r[FW_POOL_RECYCLES_KEPT];
    size_t n = fw_pool_recycles(pool, r);
    fw_buf_puts(out, "\"recycles_kept\":[");
    for (size_t k = 0; k < n; k++) {
        char started[40], ended[40] = "";
        iso_time(started, sizeof(started), r[k].started_unix_ms);
        if (!r[k].running)
            iso_time(ended, sizeof(ended), r[k].ended_unix_ms);
        fw_buf_printf(out, "%s{\"seq\":%" PRIu64 ",\"cause\":\"%s\",\"why\":", k ? "," : "",
                      r[k].seq, r[k].cause);
        fw_buf_json_string(out, r[k].why);
        fw_buf_printf(out,
                      ",\"started\":\"%s\",\"ended\":%s%s%s,\"duration_ms\":%" PRId64
                      ",\"old_generation\":%" PRIu32 ",\"new_generation\":%" PRIu32
                      ",\"outcome\":\"%s\",\"replaced\":%u,\"failed_requests\":%" PRIu64
                      ",\"cut_requests\":%" PRIu64 "}",
                      started, r[k].running ? "" : "\"", r[k].running ? "null" : ended,
                      r[k].running ? "" : "\"", r[k].duration_ms, r[k].old_generation,
                      r[k].new_generation,
                      r[k].running ? "running"
                      : r[k].ok    ? "ok"
                                   : "failed",
                      r[k].replaced, r[k].failed_requests, r[k].cut_requests);
    }
    fw_buf_puts(out, "],");
}

static void metrics_json(struct fw_buf *out, const struct fw_pool *pool)
{
    static const char *const classes[FW_SLOT_CLASSES] = {
        "1xx", "2xx", "3xx", "4xx", "5xx", "other"
    };
    struct fw_pool_metrics mx;
    fw_pool_metrics(pool, &mx);
    fw_buf_puts(out, "\"metrics\":{\"requests_by_status\":{");
    for (int c = 0; c < FW_SLOT_CLASSES; c++)
        fw_buf_printf(out, "%s\"%s\":%" PRIu64, c ? "," : "", classes[c], mx.counts.by_class[c]);
    fw_buf_printf(
        out, "},\"app_us\":%" PRIu64 ",\"busy_us\":%" PRIu64 ",\"spawns\":%" PRIu64 ",\"exits\":{",
        mx.counts.app_us, mx.counts.busy_us, mx.spawns);
    for (int e = 0; e < FW_POOL_EXIT_NCAUSES; e++)
        fw_buf_printf(out, "%s\"%s\":%" PRIu64, e ? "," : "", fw_pool_exit_name(e), mx.exits[e]);
    fw_buf_printf(out,
                  "},\"cut_requests\":%" PRIu64 ",\"max_processes_reached\":%" PRIu64
                  ",\"listen_queue\":",
                  mx.cut_requests, mx.max_reached);
    if (mx.listen_queue_known)
        fw_buf_printf(out, "{\"waiting\":%u,\"peak\":%u,\"backlog\":%u}", mx.listen_queue,
                      mx.listen_queue_peak, mx.listen_backlog);
    else
        fw_buf_puts(out, "null");
    fw_buf_puts(out, ",\"request_duration_buckets\":[");
    uint64_t cum = 0;
    for (size_t b = 0; b < mx.n_buckets; b++) {
        cum += mx.counts.bucket[b];
        fw_buf_printf(out, "%s{\"le_us\":%" PRIu64 ",\"count\":%" PRIu64 "}", b ? "," : "",
                      mx.bucket_le_us[b], cum);
    }
    for (size_t b = mx.n_buckets; b <= FW_SLOT_BUCKETS_MAX; b++)
        cum += mx.counts.bucket[b];
    fw_buf_printf(out, "],\"requests_counted\":%" PRIu64 "}", cum);
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
                  "\"configured_processes\":%u,\"scaled\":%s,"
                  "\"generation\":%" PRIu32 ",\"requests\":%" PRIu64 ",\"stopped\":%s,"
                  "\"drained\":%s,\"drain_refusing\":%s,\"connections\":%u,",
                  i.model, i.processes, i.min, i.max, i.threads, i.configured_processes,
                  i.scaled ? "true" : "false", i.generation, i.requests,
                  i.stopped ? "true" : "false", i.drained ? "true" : "false",
                  i.drain_refusing ? "true" : "false", i.connections);
    fw_buf_puts(out, "\"workers_by_state\":{");
    for (size_t s = 0; s < sizeof(i.workers) / sizeof(i.workers[0]); s++)
        fw_buf_printf(out, "%s\"%s\":%u", s ? "," : "", state_names[s], i.workers[s]);
    fw_buf_printf(out, "},\"recycling\":%s,\"recycle\":", i.recycling ? "true" : "false");
    if (i.recycling) {
        char started[40];
        iso_time(started, sizeof(started), i.recycle_started_unix_ms);
        fw_buf_printf(out, "{\"cause\":\"%s\",\"started\":\"%s\",\"running_ms\":%" PRId64 "}",
                      i.recycle_cause, started, i.recycle_ms);
    } else {
        fw_buf_puts(out, "null");
    }
    fw_buf_printf(out, ",\"recycle_queued\":%s,\"recycles\":%" PRIu64 ",\"last_recycle\":",
                  i.recycle_queued ? "true" : "false", i.recycles);
    if (i.last.seq) {
        char started[40], ended[40];
        iso_time(started, sizeof(started), i.last.started_unix_ms);
        iso_time(ended, sizeof(ended), i.last.ended_unix_ms);
        fw_buf_printf(out,
                      "{\"seq\":%" PRIu64 ",\"cause\":\"%s\",\"started\":\"%s\",\"ended\":\"%s\","
                      "\"duration_ms\":%" PRId64 ",\"ok\":%s,\"error\":",
                      i.last.seq, i.last.cause, started, ended, i.last.duration_ms,
                      i.last.ok ? "true" : "false");
        if (i.last.ok)
            fw_buf_puts(out, "null");
        else
            fw_buf_json_string(out, i.last_recycle);
        fw_buf_puts(out, ",\"text\":");
        fw_buf_json_string(out, i.last_recycle);
        struct fw_pool_recycle_record r[FW_POOL_RECYCLES_KEPT];
        size_t n = fw_pool_recycles(pool, r);
        while (n && r[n - 1].seq != i.last.seq)
            n--;
        if (n) {
            const struct fw_pool_recycle_record *l = &r[n - 1];
            fw_buf_printf(out,
                          ",\"old_generation\":%" PRIu32 ",\"new_generation\":%" PRIu32
                          ",\"failed_requests\":%" PRIu64 ",\"cut_requests\":%" PRIu64 ",\"why\":",
                          l->old_generation, l->new_generation, l->failed_requests,
                          l->cut_requests);
            fw_buf_json_string(out, l->why);
        }
        fw_buf_puts(out, "}");
    } else {
        fw_buf_puts(out, "null");
    }
    fw_buf_printf(
        out, ",\"crashes\":%u,\"backoff_ms\":%" PRId64 ",\"backoff_capped\":%s,\"backoff_reason\":",
        i.crashes, i.backoff_ms, i.backoff_capped ? "true" : "false");
    fw_buf_json_string(out, i.backoff_reason);
    fw_buf_printf(out,
                  ",\"config_failed\":%s,\"import_error\":", i.config_failed ? "true" : "false");
    fw_buf_json_string(out, i.import_error);
    fw_buf_printf(out, ",\"spawn\":\"%s\",\"template\":", i.spawn);
    if (i.template_pid)
        fw_buf_printf(out, "{\"pid\":%ld,\"state\":\"%s\",\"age_ms\":%" PRId64 "}",
                      (long)i.template_pid, i.template_state, i.template_age_ms);
    else
        fw_buf_puts(out, "null");
    fw_buf_printf(out, ",\"templates\":%u,", i.templates);
    recycles_json(out, pool);
    metrics_json(out, pool);
    fw_buf_puts(out, ",\"workers\":[");
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

bool fw_status_check(struct fw_buf *out, struct fw_pool *const *pools, size_t n)
{
    bool bad = false;
    for (size_t i = 0; i < n; i++) {
        struct fw_pool_info info;
        fw_pool_info(pools[i], &info);
        if (info.stopped)
            continue;
        const char *why = NULL;
        char failed[128];
        if (info.workers[FW_POOL_WORKER_IDLE] + info.workers[FW_POOL_WORKER_BUSY] == 0) {
            why = "no ready worker";
        } else if (info.backoff_ms > 0) {
            why = "backing off after crashes";
        } else if (info.last.seq && !info.last.ok) {
            char ended[40];
            iso_time(ended, sizeof(ended), info.last.ended_unix_ms);
            snprintf(failed, sizeof(failed), "its last recycle failed (%s, ended %s)",
                     info.last.cause, ended);
            why = failed;
        }
        if (why && out)
            fw_buf_printf(out, "check: pool %s: %s\n", info.name, why);
        bad |= why != NULL;
    }
    return bad;
}

bool fw_status_ping(struct fw_buf *out, struct fw_pool *const *pools, size_t n)
{
    bool bad = false;
    for (size_t i = 0; i < n; i++) {
        struct fw_pool_info info;
        fw_pool_info(pools[i], &info);
        if (info.stopped)
            continue;
        unsigned ready = info.workers[FW_POOL_WORKER_IDLE] + info.workers[FW_POOL_WORKER_BUSY] +
                         info.workers[FW_POOL_WORKER_RETIRING];
        if (info.drained)
            fw_buf_printf(out, "pool %s: drained\n", info.name);
        else if (!ready)
            fw_buf_printf(out, "pool %s: no ready worker%s\n", info.name,
                          info.crashes ? " (backing off after crashes)" : "");
        else
            continue;
        bad = true;
    }
    return bad;
}
