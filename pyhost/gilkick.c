/* See gilkick.h for why. A waiting thread takes the GIL in its
 * interpreter, which after 5 ms sets that interpreter's drop request, and
 * gives it back at once. */
#include "config.h"

#include "gilkick.h"

#include "interp.h"
#include "lib/log.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#if PY_VERSION_HEX < 0x030D0000

struct kicker {
    PyInterpreterState *state;
    pthread_t tid;
    bool started;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool quit;
static struct kicker kickers[FW_INTERP_MAX];
static atomic_int n_kickers;              /* registered interpreters */
static atomic_int running[FW_INTERP_MAX]; /* threads in a call there */
static atomic_int waiting;                /* threads asking for the GIL */

static bool wanted(int index)
{
    return atomic_load(&waiting) > 0 && atomic_load(&running[index]) > 0;
}

static void *kick(void *arg)
{
    struct kicker *k = arg;
    int index = (int)(k - kickers);
    PyThreadState *ts = PyThreadState_New(k->state);
    if (!ts) {
        fw_log(FW_LOG_ERR, "out of memory starting a GIL helper thread");
        return NULL;
    }
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!quit && !wanted(index))
            pthread_cond_wait(&cond, &lock);
        if (quit)
            break;
        pthread_mutex_unlock(&lock);
        PyEval_RestoreThread(ts);
        PyEval_SaveThread();
        /* Let the waiter have it; and no more than one round a ms. */
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
        pthread_mutex_lock(&lock);
    }
    pthread_mutex_unlock(&lock);
    PyEval_RestoreThread(ts);
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent();
    return NULL;
}

static void start(int index)
{
    struct kicker *k = &kickers[index];
    if (k->started || !k->state)
        return;
    int rc = pthread_create(&k->tid, NULL, kick, k);
    if (rc != 0) {
        errno = rc;
        fw_log_errno(FW_LOG_WARN, "starting a GIL helper thread");
        return;
    }
    k->started = true;
}

void fw_gilkick_add(int index, void *interp_state)
{
    if (index < 0 || index >= FW_INTERP_MAX)
        return;
    pthread_mutex_lock(&lock);
    kickers[index].state = interp_state;
    if (index >= atomic_load(&n_kickers))
        atomic_store(&n_kickers, index + 1);
    if (!quit && atomic_load(&n_kickers) > 1)
        for (int i = 0; i < atomic_load(&n_kickers); i++)
            start(i);
    pthread_mutex_unlock(&lock);
}

bool fw_gilkick_want(int index)
{
    int n = atomic_load(&n_kickers);
    if (n < 2)
        return false;
    bool others = false;
    for (int i = 0; i < n && !others; i++)
        others = i != index && atomic_load(&running[i]) > 0;
    if (!others)
        return false;
    atomic_fetch_add(&waiting, 1);
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    return true;
}

void fw_gilkick_taken(int index, bool asked)
{
    if (asked)
        atomic_fetch_sub(&waiting, 1);
    if (index >= 0 && index < FW_INTERP_MAX)
        atomic_fetch_add(&running[index], 1);
}

void fw_gilkick_left(int index)
{
    if (index >= 0 && index < FW_INTERP_MAX)
        atomic_fetch_sub(&running[index], 1);
}

void fw_gilkick_stop(void)
{
    pthread_mutex_lock(&lock);
    quit = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < atomic_load(&n_kickers); i++)
        if (kickers[i].started) {
            pthread_join(kickers[i].tid, NULL);
            kickers[i].started = false;
        }
}

#else

void fw_gilkick_add(int index, void *interp_state)
{
    (void)index;
    (void)interp_state;
}

bool fw_gilkick_want(int index)
{
    (void)index;
    return false;
}

void fw_gilkick_taken(int index, bool asked)
{
    (void)index;
    (void)asked;
}

void fw_gilkick_left(int index)
{
    (void)index;
}

void fw_gilkick_stop(void)
{
}

#endif
