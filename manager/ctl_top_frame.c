/* fw_ctl_top_frame (ctl_top_frame.h). Everything shown comes from the
 * master's JSON and passes through one function, line(), which escapes
 * and cuts it: a pool name or a path can neither move the cursor nor
 * wrap a line. */
#include "config.h"

#include "ctl_top_frame.h"

#include "lib/json.h"
#include "lib/units.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const states[] = { "starting", "idle", "busy", "retiring", "stopping" };
#define N_STATES (sizeof(states) / sizeof(states[0]))

/* One line of the frame: escaped (\xNN outside printable ASCII), cut at
 * width, ended by '\n'. */
__attribute__((format(printf, 3, 4))) static void line(struct fw_buf *out, size_t width,
                                                       const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    size_t cols = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        char esc[5];
        size_t n = 1;
        if (*p < 0x20 || *p > 0x7E)
            n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *p);
        else
            esc[0] = (char)*p;
        if (width && cols + n > width)
            break;
        fw_buf_add(out, esc, n);
        cols += n;
    }
    while (out->len && out->data[out->len - 1] == ' ' && cols--)
        out->len--;
    fw_buf_add(out, "\n", 1);
}

static int64_t member_int(const struct fw_json *o, const char *key)
{
    return fw_json_int(fw_json_get(o, key), 0);
}

static bool member_true(const struct fw_json *o, const char *key)
{
    return fw_json_bool(fw_json_get(o, key), false);
}

/* The one word an operator looks for first. */
static const char *pool_state(const struct fw_json *p)
{
    const struct fw_json *by = fw_json_get(p, "workers_by_state");
    if (member_true(p, "stopped"))
        return "stopped";
    if (member_true(p, "config_failed"))
        return "config-error";
    if (member_int(p, "crashes") > 0 || member_int(p, "backoff_ms") > 0)
        return "backoff";
    if (member_int(by, "idle") + member_int(by, "busy") == 0)
        return "down";
    if (member_true(p, "drained"))
        return "drained";
    if (member_true(p, "recycling"))
        return "recycling";
    return "running";
}

/* The pool's `metrics.listen_queue` when the master reports it (an object
 * with the connections waiting now and the peak; null when unknown), or a
 * plain number. */
static void queue_text(char *buf, size_t size, const struct fw_json *p)
{
    const struct fw_json *q = fw_json_get(fw_json_get(p, "metrics"), "listen_queue");
    if (fw_json_type(q) != FW_JSON_OBJECT)
        q = fw_json_get(p, "listen_queue");
    if (fw_json_type(q) == FW_JSON_OBJECT) {
        int64_t now = fw_json_int(fw_json_get(q, "waiting"), -1),
                peak = fw_json_int(fw_json_get(q, "peak"), -1);
        if (now >= 0 && peak >= 0)
            snprintf(buf, size, "%" PRId64 "/%" PRId64, now, peak);
        else if (now >= 0)
            snprintf(buf, size, "%" PRId64, now);
        else
            snprintf(buf, size, "-");
    } else if (fw_json_int(q, -1) >= 0) {
        snprintf(buf, size, "%" PRId64, fw_json_int(q, 0));
    } else {
        snprintf(buf, size, "-");
    }
}

struct row {
    const struct fw_json *pool, *worker;
    int64_t busy_ms; /* the oldest current request's age; -1: none */
    size_t pool_index;
    int64_t pid;
};

/* Longest busy first; those serving nothing last, by pool and pid. */
static int row_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->busy_ms != y->busy_ms)
        return x->busy_ms > y->busy_ms ? -1 : 1;
    if (x->pool_index != y->pool_index)
        return x->pool_index < y->pool_index ? -1 : 1;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

static void header(struct fw_buf *out, const struct fw_ctl_top_view *v)
{
    const struct fw_json *s = v->status;
    char up[32], every[32], clock[16] = "";
    time_t t = time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
    fw_units_format_elapsed(v->delay_ms, every, sizeof(every));
    if (s) {
        fw_units_format_elapsed(member_int(s, "uptime_ms"), up, sizeof(up));
        line(out, v->width, "fcgiwsgi %s, master pid %" PRId64 ", up %s   %s   every %s, q quits",
             fw_json_str(fw_json_get(s, "version"), "?"), member_int(s, "pid"), up, clock, every);
    } else {
        line(out, v->width, "fcgiwsgi   %s   every %s, q quits", clock, every);
    }
    line(out, v->width, "%s", v->notice ? v->notice : "");
}

static void pools(struct fw_buf *out, const struct fw_ctl_top_view *v, const struct fw_json *ps)
{
    line(out, v->width, "%-16s %-12s %5s %5s %5s %5s %6s %5s %10s %7s", "POOL", "STATE", "GEN",
         "START", "IDLE", "BUSY", "RETIRE", "STOP", "REQUESTS", "QUEUE");
    for (const struct fw_json *p = fw_json_next(ps, NULL); p; p = fw_json_next(ps, p)) {
        const struct fw_json *by = fw_json_get(p, "workers_by_state");
        char queue[48];
        queue_text(queue, sizeof(queue), p);
        int64_t n[N_STATES];
        for (size_t k = 0; k < N_STATES; k++)
            n[k] = member_int(by, states[k]);
        line(out, v->width,
             "%-16s %-12s %5" PRId64 " %5" PRId64 " %5" PRId64 " %5" PRId64 " %6" PRId64
             " %5" PRId64 " %10" PRId64 " %7s",
             fw_json_str(fw_json_get(p, "name"), "?"), pool_state(p), member_int(p, "generation"),
             n[0], n[1], n[2], n[3], n[4], member_int(p, "requests"), queue);
    }
}

static void worker_line(struct fw_buf *out, size_t width, const struct row *r)
{
    const struct fw_json *now = fw_json_get(r->worker, "requests_now"), *first = fw_json_at(now, 0);
    char age[32], rss[32], req[1800] = "", more[32] = "";
    fw_units_format_elapsed(r->busy_ms, age, sizeof(age));
    snprintf(rss, sizeof(rss), "%.1fM",
             (double)member_int(r->worker, "rss_bytes") / (1024.0 * 1024.0));
    if (first)
        snprintf(req, sizeof(req), "%s %s", fw_json_str(fw_json_get(first, "method"), "?"),
                 fw_json_str(fw_json_get(first, "path"), "?"));
    if (fw_json_len(now) > 1)
        snprintf(more, sizeof(more), " (+%zu more)", fw_json_len(now) - 1);
    line(out, width, "%8" PRId64 " %-16s %4" PRId64 " %-9s %9s %10" PRId64 " %8s  %s%s", r->pid,
         fw_json_str(fw_json_get(r->pool, "name"), "?"), member_int(r->worker, "generation"),
         fw_json_str(fw_json_get(r->worker, "state"), "?"), age, member_int(r->worker, "requests"),
         rss, req, more);
}

static void workers(struct fw_buf *out, const struct fw_ctl_top_view *v, const struct fw_json *ps)
{
    size_t n = 0, i = 0, k = 0;
    for (const struct fw_json *p = fw_json_next(ps, NULL); p; p = fw_json_next(ps, p))
        n += fw_json_len(fw_json_get(p, "workers"));
    struct row *rows = n ? calloc(n, sizeof(*rows)) : NULL;
    if (n && !rows) {
        line(out, v->width, "(out of memory)");
        return;
    }
    for (const struct fw_json *p = fw_json_next(ps, NULL); p; p = fw_json_next(ps, p), k++) {
        const struct fw_json *ws = fw_json_get(p, "workers");
        for (const struct fw_json *w = fw_json_next(ws, NULL); w; w = fw_json_next(ws, w)) {
            const struct fw_json *first = fw_json_at(fw_json_get(w, "requests_now"), 0);
            rows[i] = (struct row){ .pool = p,
                                    .worker = w,
                                    .pool_index = k,
                                    .pid = member_int(w, "pid"),
                                    .busy_ms = fw_json_int(fw_json_get(first, "age_ms"), -1) };
            i++;
        }
    }
    if (n) /* qsort(NULL, 0) is undefined (UBSan, t/fuzz/json_fuzz) */
        qsort(rows, n, sizeof(*rows), row_cmp);
    line(out, v->width, "%8s %-16s %4s %-9s %9s %10s %8s  %s", "PID", "POOL", "GEN", "STATE",
         "BUSY FOR", "REQUESTS", "RSS", "REQUEST");
    for (i = 0; i < n; i++)
        worker_line(out, v->width, &rows[i]);
    free(rows);
}

void fw_ctl_top_frame(struct fw_buf *out, const struct fw_ctl_top_view *v)
{
    struct fw_buf all;
    fw_buf_init(&all);
    header(&all, v);
    const struct fw_json *ps = fw_json_get(v->status, "pools");
    if (v->status) {
        pools(&all, v, ps);
        line(&all, v->width, "%s", "");
        workers(&all, v, ps);
    }
    const char *text = fw_buf_str(&all);
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    if (!v->height || lines <= v->height) {
        fw_buf_puts(out, text);
    } else {
        const char *p = text;
        for (size_t k = 0; k + 1 < v->height; k++)
            p = strchr(p, '\n') + 1;
        fw_buf_add(out, text, (size_t)(p - text));
        line(out, v->width, "... %zu more lines (a taller window shows them)",
             lines - (v->height - 1));
    }
    if (fw_buf_failed(&all))
        fw_buf_puts(out, "(out of memory)\n");
    fw_buf_free(&all);
}
