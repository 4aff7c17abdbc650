/* One request is interrupted at a time: while one is being unwound, others
 * past the limit wait their turn. A slow request (slowlog_timeout) gets its
 * stack logged once per call and runs on; the dump is the interrupter's
 * work too, since it needs the GIL. A call that holds the GIL makes every
 * other thread's call run long too, and the one to blame is the one that
 * has run longest, not the first in index order. */
#include "config.h"

#include "watchdog.h"

#include "conn.h"
#include "lib/log.h"
#include "pyhost/callclock.h"
#include "pyhost/interp.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RESULT_NONE = -2 };

struct watched {
    struct fw_conn_thread *_Atomic ct;
    /* The main thread's. */
    bool pending;    /* an interrupt was asked for call `number` */
    bool slow_asked; /* a stack was asked for call `slow_number` */
    uint64_t slow_number;
    bool stuck;
    bool answer_due; /* stuck, and its 504 not written yet */
    uint64_t number;
    int64_t asked_ms;
    /* Shared with the interrupter, under the lock. */
    bool ask;
    int result; /* RESULT_NONE, or what fw_callclock_interrupt returned */
    int64_t raised_ms;
    char what[224]; /* method and URI, for its log lines */
    bool ask_stack;
    uint64_t stack_number;
    char stack_what[224];
};

struct fw_watchdog {
    uint64_t timeout_ms; /* 0: no request_timeout */
    uint64_t slowlog_ms; /* 0: no slow log */
    unsigned n;
    struct watched *w;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool quit;
    bool started;
    atomic_bool attached; /* the interrupter has its Python thread state */
    pthread_t tid;
};

static void *interrupter(void *arg)
{
    struct fw_watchdog *wd = arg;
    struct fw_pythread *py = fw_interp_thread_attach();
    atomic_store(&wd->attached, true);
    if (!py)
        fw_log(FW_LOG_ERR, "request_timeout: out of memory; requests cannot be interrupted");
    pthread_mutex_lock(&wd->lock);
    while (!wd->quit) {
        struct watched *e = NULL, *slow = NULL;
        for (unsigned i = 0; i < wd->n && !e; i++)
            if (wd->w[i].ask)
                e = &wd->w[i];
        for (unsigned i = 0; i < wd->n && !e && !slow; i++)
            if (wd->w[i].ask_stack)
                slow = &wd->w[i];
        if (slow) {
            slow->ask_stack = false;
            struct fw_conn_thread *ct = atomic_load(&slow->ct);
            uint64_t number = slow->stack_number;
            char what[sizeof(slow->stack_what) + 16];
            snprintf(what, sizeof(what), "slow request %s", slow->stack_what);
            pthread_mutex_unlock(&wd->lock);
            if (py && ct)
                fw_callclock_log_stack(py, fw_conn_clock(ct), number, what);
            pthread_mutex_lock(&wd->lock);
            continue;
        }
        if (!e) {
            pthread_cond_wait(&wd->cond, &wd->lock);
            continue;
        }
        e->ask = false;
        struct fw_conn_thread *ct = atomic_load(&e->ct);
        uint64_t number = e->number;
        char what[sizeof(e->what)];
        memcpy(what, e->what, sizeof(what));
        pthread_mutex_unlock(&wd->lock);
        int rc = py && ct ? fw_callclock_interrupt(py, fw_conn_clock(ct), number, what) : -1;
        pthread_mutex_lock(&wd->lock);
        e->result = rc;
        e->raised_ms = fw_callclock_now_ms();
    }
    pthread_mutex_unlock(&wd->lock);
    fw_interp_thread_detach(py);
    return NULL;
}

struct fw_watchdog *fw_watchdog_new(uint64_t request_timeout_ms, uint64_t slowlog_timeout_ms,
                                    unsigned n_threads)
{
    struct fw_watchdog *wd = calloc(1, sizeof(*wd));
    if (!wd || !(wd->w = calloc(n_threads, sizeof(*wd->w)))) {
        free(wd);
        fw_log(FW_LOG_ERR, "out of memory setting up request_timeout");
        return NULL;
    }
    wd->timeout_ms = request_timeout_ms;
    wd->slowlog_ms = slowlog_timeout_ms;
    wd->n = n_threads;
    pthread_mutex_init(&wd->lock, NULL);
    pthread_cond_init(&wd->cond, NULL);
    int rc = pthread_create(&wd->tid, NULL, interrupter, wd);
    if (rc != 0) {
        errno = rc;
        fw_log_errno(FW_LOG_ERR, "starting the request_timeout thread");
        fw_watchdog_free(wd);
        return NULL;
    }
    wd->started = true;
    fw_interp_wait_attached(&wd->attached);
    return wd;
}

void fw_watchdog_free(struct fw_watchdog *wd)
{
    if (!wd)
        return;
    if (wd->started) {
        pthread_mutex_lock(&wd->lock);
        wd->quit = true;
        pthread_cond_signal(&wd->cond);
        pthread_mutex_unlock(&wd->lock);
        pthread_join(wd->tid, NULL);
    }
    pthread_cond_destroy(&wd->cond);
    pthread_mutex_destroy(&wd->lock);
    free(wd->w);
    free(wd);
}

void fw_watchdog_watch(struct fw_watchdog *wd, unsigned i, struct fw_conn_thread *ct)
{
    if (wd && i < wd->n)
        atomic_store(&wd->w[i].ct, ct);
}

static int64_t app_ms(struct watched *e, int64_t now, uint64_t *number)
{
    struct fw_conn_thread *ct = atomic_load(&e->ct);
    return ct ? fw_callclock_app_ms(fw_conn_clock(ct), now, number) : -1;
}

/* An interrupt asked for earlier: has its call ended, or run out of time? */
static void follow_up(struct fw_watchdog *wd, struct watched *e, int64_t now)
{
    uint64_t number = 0;
    int64_t ms = app_ms(e, now, &number);
    if (ms < 0 || number != e->number) {
        fw_log(FW_LOG_NOTICE, "%s: unwound after RequestTimeout", e->what);
        e->pending = false;
        return;
    }
    pthread_mutex_lock(&wd->lock);
    int result = e->result;
    int64_t raised_ms = e->raised_ms;
    pthread_mutex_unlock(&wd->lock);
    const char *why = NULL;
    if (result != 1 && now - e->asked_ms > FW_WATCHDOG_DELIVER_MS)
        why = result == RESULT_NONE ? "the exception could not be raised: C code holds the GIL"
                                    : "the exception could not be raised";
    else if (result == 1 && now - raised_ms > FW_WATCHDOG_UNWIND_MS)
        why = "it did not unwind: blocked in C code (time.sleep, a socket, a driver?)";
    if (!why)
        return;
    e->stuck = true;
    e->answer_due = true;
    fw_log(FW_LOG_ERR,
           "%s: stuck for %lld ms of app time; %s: answering 504, and this worker "
           "stops (its other requests get graceful_timeout)",
           e->what, (long long)ms, why);
}

void fw_watchdog_answer(struct fw_watchdog *wd)
{
    for (unsigned i = 0; wd && i < wd->n; i++) {
        struct watched *e = &wd->w[i];
        if (!e->answer_due)
            continue;
        e->answer_due = false;
        uint64_t number = 0;
        if (app_ms(e, fw_callclock_now_ms(), &number) >= 0 && number == e->number)
            fw_conn_emergency(atomic_load(&e->ct), 504);
    }
}

/* Each call past slowlog_timeout, once: a line now, its stack from the
 * interrupter. */
static void slow_check(struct fw_watchdog *wd, int64_t now)
{
    for (unsigned i = 0; i < wd->n; i++) {
        struct watched *e = &wd->w[i];
        uint64_t number = 0;
        int64_t ms = e->stuck ? -1 : app_ms(e, now, &number);
        if (ms <= (int64_t)wd->slowlog_ms || (e->slow_asked && e->slow_number == number))
            continue;
        e->slow_asked = true;
        e->slow_number = number;
        pthread_mutex_lock(&wd->lock);
        e->ask_stack = true;
        e->stack_number = number;
        snprintf(e->stack_what, sizeof(e->stack_what), "%.200s", fw_conn_uri(atomic_load(&e->ct)));
        pthread_cond_signal(&wd->cond);
        pthread_mutex_unlock(&wd->lock);
        fw_log(FW_LOG_WARN,
               "%s: slow: the app has run for %lld ms, past slowlog_timeout "
               "(%llu ms); its stack follows",
               e->stack_what, (long long)ms, (unsigned long long)wd->slowlog_ms);
    }
}

unsigned fw_watchdog_check(struct fw_watchdog *wd, int64_t now)
{
    if (!wd)
        return 0;
    if (wd->slowlog_ms)
        slow_check(wd, now);
    if (!wd->timeout_ms)
        return 0;
    unsigned stuck = 0;
    bool pending = false;
    for (unsigned i = 0; i < wd->n; i++) {
        struct watched *e = &wd->w[i];
        if (e->pending && !e->stuck)
            follow_up(wd, e, now);
        stuck += e->stuck;
        pending |= e->pending && !e->stuck;
    }
    if (pending)
        return stuck;
    struct watched *worst = NULL;
    int64_t worst_ms = (int64_t)wd->timeout_ms;
    uint64_t worst_number = 0;
    for (unsigned i = 0; i < wd->n; i++) {
        struct watched *e = &wd->w[i];
        uint64_t number = 0;
        int64_t ms = e->stuck ? -1 : app_ms(e, now, &number);
        if (ms > worst_ms) {
            worst = e;
            worst_ms = ms;
            worst_number = number;
        }
    }
    if (!worst)
        return stuck;
    pthread_mutex_lock(&wd->lock);
    worst->pending = true;
    worst->number = worst_number;
    worst->asked_ms = now;
    snprintf(worst->what, sizeof(worst->what), "%.200s", fw_conn_uri(atomic_load(&worst->ct)));
    worst->result = RESULT_NONE;
    worst->ask = true;
    pthread_cond_signal(&wd->cond);
    pthread_mutex_unlock(&wd->lock);
    fw_log(FW_LOG_ERR,
           "%s: the app has run for %lld ms, past request_timeout (%llu ms): raising "
           "fcgiwsgi.RequestTimeout in its thread",
           worst->what, (long long)worst_ms, (unsigned long long)wd->timeout_ms);
    return stuck;
}
