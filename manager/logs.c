#include "config.h"

#include "logs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char *target;
    long group; /* for a file created at a reopen */
    struct fw_log_sink *sink;
};

struct fw_logs {
    struct entry *v;
    size_t n, cap;
};

struct fw_logs *fw_logs_new(void)
{
    return calloc(1, sizeof(struct fw_logs));
}

static void entry_free(struct entry *e)
{
    fw_log_sink_free(e->sink);
    free(e->target);
}

void fw_logs_free(struct fw_logs *logs)
{
    if (!logs)
        return;
    for (size_t i = 0; i < logs->n; i++)
        entry_free(&logs->v[i]);
    free(logs->v);
    free(logs);
}

int fw_logs_get(struct fw_logs *logs, const char *target, const char *main_target, long group,
                struct fw_log_sink **out)
{
    if (!target || (main_target && !strcmp(target, main_target))) {
        *out = NULL;
        return 0;
    }
    for (size_t i = 0; i < logs->n; i++)
        if (!strcmp(logs->v[i].target, target)) {
            *out = logs->v[i].sink;
            return 0;
        }
    if (logs->n == logs->cap) {
        size_t cap = logs->cap ? logs->cap * 2 : 4;
        struct entry *v = realloc(logs->v, cap * sizeof(*v));
        if (!v)
            return -1;
        logs->v = v;
        logs->cap = cap;
    }
    struct entry e = { .target = strdup(target), .group = group, .sink = fw_log_sink_new() };
    if (!e.target || !e.sink) {
        entry_free(&e);
        errno = ENOMEM;
        return -1;
    }
    if (fw_log_sink_open(e.sink, target, group) < 0) {
        int saved = errno;
        entry_free(&e);
        errno = saved;
        return -1;
    }
    logs->v[logs->n++] = e;
    *out = e.sink;
    return 0;
}

int fw_logs_reopen(struct fw_logs *logs)
{
    int rc = 0;
    for (size_t i = 0; i < logs->n; i++) {
        struct entry *e = &logs->v[i];
        if (fw_log_sink_open(e->sink, e->target, e->group) < 0) {
            fw_log_errno_to(e->sink, FW_LOG_ERR, "reopening log %s", e->target);
            rc = -1;
        }
    }
    return rc;
}

size_t fw_logs_count(const struct fw_logs *logs)
{
    return logs->n;
}

void fw_logs_sweep(struct fw_logs *logs, bool (*in_use)(struct fw_log_sink *sink, void *data),
                   void *data)
{
    size_t j = 0;
    for (size_t i = 0; i < logs->n; i++) {
        if (in_use(logs->v[i].sink, data))
            logs->v[j++] = logs->v[i];
        else
            entry_free(&logs->v[i]);
    }
    logs->n = j;
}
