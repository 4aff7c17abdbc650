/* The access log's batches. Each request thread renders its line straight
 * into its own buffer under its own lock (taken by nobody else but the
 * main thread's flush), and writes the buffer when the next line might
 * not fit. Measured against one write() per line, in README (Performance). */
#include "config.h"

#include "access.h"

#include "lib/accessfmt.h"
#include "lib/log.h"
#include "pyhost/gateway.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A batch: lines of at most FW_ACCESSFMT_LINE_MAX, so at least three fit;
 * a hello request's ~150 bytes make a write per hundred lines. Built with
 * -DFW_ACCESS_BATCH_BYTES=4096 it writes one line per write() (each line
 * goes out when the next one comes, or on the tick): how the README's
 * per-line figures were measured. */
#ifndef FW_ACCESS_BATCH_BYTES
#define FW_ACCESS_BATCH_BYTES (16 * 1024)
#endif
#define BATCH_BYTES FW_ACCESS_BATCH_BYTES
/* Failed writes (a full disk) are logged at most this often. */
#define WRITE_ERROR_EVERY_MS (60 * 1000)

struct fw_access_thread {
    pthread_mutex_t lock;
    struct fw_access *a;
    unsigned index;
    size_t len;
    struct fw_accessfmt_clock clock;
    struct fw_accessfmt_value vals[FW_ACCESSFMT_MAX_PARAMS];
    char buf[BATCH_BYTES];
};

struct fw_access {
    int fd;
    struct fw_accessfmt *fmt;
    const char *pool;
    unsigned generation;
    long pid;
    unsigned n_threads;
    struct fw_access_thread *threads;
    _Atomic int64_t error_logged_ms;
    atomic_ullong lost_lines;
    _Atomic int64_t wall_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
};

static int64_t ns_of(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* Two clock reads in a row: the wall clock's offset to the monotonic
 * clock, to within a read. */
static void read_wall_offset(struct fw_access *a)
{
    struct timespec mono, wall;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    atomic_store_explicit(&a->wall_offset_ns, ns_of(&wall) - ns_of(&mono), memory_order_relaxed);
}

struct fw_access *fw_access_new(int fd, const char *format, const char *pool, unsigned generation,
                                unsigned threads, char *err, size_t errlen)
{
    size_t off;
    struct fw_access *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->fmt = fw_accessfmt_compile(format ? format : FW_ACCESSFMT_DEFAULT, &off, err, errlen);
    a->threads = calloc(threads ? threads : 1, sizeof(*a->threads));
    if (!a->fmt || !a->threads) {
        if (a->fmt)
            snprintf(err, errlen, "out of memory");
        fw_accessfmt_free(a->fmt);
        free(a->threads);
        free(a);
        return NULL;
    }
    fw_accessfmt_bind(a->fmt, (long)getpid(), pool, generation);
    a->fd = fd;
    a->pool = pool;
    a->generation = generation;
    a->pid = (long)getpid();
    a->n_threads = threads ? threads : 1;
    read_wall_offset(a);
    for (unsigned i = 0; i < a->n_threads; i++) {
        pthread_mutex_init(&a->threads[i].lock, NULL);
        a->threads[i].a = a;
        a->threads[i].index = i;
    }
    return a;
}

struct fw_access_thread *fw_access_thread(struct fw_access *a, unsigned index)
{
    return a && index < a->n_threads ? &a->threads[index] : NULL;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* With t->lock held. Whole lines, one write() for all unless the kernel
 * takes part (a full disk): then the rest, and what is lost is counted. */
static void write_batch(struct fw_access_thread *t)
{
    struct fw_access *a = t->a;
    const char *p = t->buf;
    size_t left = t->len;
    while (left > 0) {
        ssize_t w = write(a->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            size_t lost = 0;
            for (size_t i = 0; i < left; i++)
                lost += p[i] == '\n';
            atomic_fetch_add(&a->lost_lines, lost);
            int64_t now = monotonic_ms(), last = atomic_load(&a->error_logged_ms);
            if ((!last || now - last >= WRITE_ERROR_EVERY_MS) &&
                atomic_compare_exchange_strong(&a->error_logged_ms, &last, now))
                fw_log_errno(FW_LOG_ERR, "writing the access log: %llu lines lost so far",
                             (unsigned long long)atomic_load(&a->lost_lines));
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    t->len = 0;
}

void fw_access_log(struct fw_access_thread *t, const struct fw_access_request *r)
{
    struct fw_access *a = t->a;
    size_t n_slots = fw_accessfmt_n_params(a->fmt), found = 0;
    uint64_t hashes = fw_accessfmt_hashes(a->fmt);
    memset(t->vals, 0, n_slots * sizeof(t->vals[0]));
    for (size_t i = 0; i < r->n_params && found < n_slots; i++) {
        const struct fw_param *p = &r->params[i];
        if (!p->name_len || !(hashes >> fw_accessfmt_name_hash(p->name, p->name_len) & 1))
            continue;
        int s = fw_accessfmt_param_slot(a->fmt, p->name, p->name_len);
        if (s >= 0 && !t->vals[s].s) {
            t->vals[s] = (struct fw_accessfmt_value){ p->value, p->value_len };
            found++;
        }
    }
    struct fw_accessfmt_request fr = {
        .params = t->vals,
        .status = r->status,
        .body_bytes = r->body_bytes,
        .app_us = r->app_us,
        .total_us = r->total_us,
        .mount = r->mount,
        .pid = a->pid,
        .pool = a->pool,
        .generation = a->generation,
        .thread = t->index,
    };
    if (r->ended_mono_us > 0) {
        int64_t ns = r->ended_mono_us * 1000 +
                     atomic_load_explicit(&a->wall_offset_ns, memory_order_relaxed);
        fr.now.tv_sec = (time_t)(ns / 1000000000);
        fr.now.tv_nsec = (long)(ns % 1000000000);
    } else {
        clock_gettime(CLOCK_REALTIME, &fr.now);
    }
    pthread_mutex_lock(&t->lock);
    if (t->len + FW_ACCESSFMT_LINE_MAX > sizeof(t->buf))
        write_batch(t);
    t->len += fw_accessfmt_render(a->fmt, &fr, &t->clock, t->buf + t->len);
    pthread_mutex_unlock(&t->lock);
}

void fw_access_flush(struct fw_access *a, bool wait)
{
    if (!a)
        return;
    read_wall_offset(a);
    for (unsigned i = 0; i < a->n_threads; i++) {
        struct fw_access_thread *t = &a->threads[i];
        if (wait)
            pthread_mutex_lock(&t->lock);
        else if (pthread_mutex_trylock(&t->lock) != 0)
            continue;
        if (t->len)
            write_batch(t);
        pthread_mutex_unlock(&t->lock);
    }
}

int fw_access_reopen(struct fw_access *a, int fd)
{
    fw_access_flush(a, true);
    return dup2(fd, a->fd) < 0 ? -1 : 0;
}

void fw_access_free(struct fw_access *a)
{
    if (!a)
        return;
    fw_access_flush(a, true);
    for (unsigned i = 0; i < a->n_threads; i++)
        pthread_mutex_destroy(&a->threads[i].lock);
    fw_accessfmt_free(a->fmt);
    free(a->threads);
    free(a);
}
