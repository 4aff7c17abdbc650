/* manager/scoreboard: slots are claimed zeroed and STARTING by the
 * master's own books (whatever a slot says), a full board says so,
 * released slots are reused; a worker is handed one page (its slot's
 * memfd, sealed against growing) and what it writes there the parent
 * reads; the master's reads check what a worker wrote. */
#include "config.h"

#include "manager/scoreboard.h"
#include "tap.h"

#include <sys/stat.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    struct fw_scoreboard *sb = fw_scoreboard_new(3);
    ok(sb != NULL, "a board of 3 slots");
    struct fw_slot *a = fw_scoreboard_claim(sb), *b = fw_scoreboard_claim(sb),
                   *c = fw_scoreboard_claim(sb);
    ok(a && b && c && a != b && b != c && a != c, "three distinct slots");
    is(atomic_load(&a->state), FW_SLOT_STARTING, "a claimed slot is STARTING");
    is(atomic_load(&a->requests), 0, "and zeroed");
    ok(fw_scoreboard_claim(sb) == NULL, "a fourth claim: the board is full");
    is(fw_scoreboard_index(sb, c), 2, "index of the third slot");

    atomic_store(&b->requests, 99);
    fw_scoreboard_release(sb, b);
    struct fw_slot *again = fw_scoreboard_claim(sb);
    ok(again != NULL, "a released slot can be claimed again");
    is(fw_scoreboard_index(sb, again), 1, "(the same index)");
    is(atomic_load(&again->requests), 0, "on a fresh page: zeroed");

    /* A worker's forged "free" marks do not free anything. */
    memset((void *)c, 0, sizeof(*c));
    ok(fw_scoreboard_claim(sb) == NULL, "a slot zeroed by its worker is still in use");

    /* What a worker is handed: its slot's fd, one page, sealed. */
    int fd = fw_scoreboard_fd(sb, a);
    ok(fd >= 0, "a claimed slot has an fd for the worker");
    struct stat st;
    ok(fstat(fd, &st) == 0 && st.st_size == sysconf(_SC_PAGESIZE), "of one page");
    ok(ftruncate(fd, 1 << 20) < 0, "that the worker cannot grow");
    pid_t pid = fork();
    if (pid == 0) {
        struct fw_slot *own = fw_scoreboard_map_fd(dup(fd));
        if (!own)
            _exit(2);
        atomic_store(&own->requests, 7);
        atomic_store(&own->busy, 1);
        snprintf(own->error, sizeof(own->error), "SyntaxError: invalid syntax");
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a child maps its slot from the fd");
    is(atomic_load(&a->requests), 7, "its writes are seen by the parent (requests)");
    is(atomic_load(&a->busy), 1, "(busy)");
    is_str(a->error, "SyntaxError: invalid syntax", "(the error text for a failed recycle)");
    fw_scoreboard_spawned(sb, a);
    is(fw_scoreboard_fd(sb, a), -1, "the master closes the fd once the worker is spawned");

    /* The master's checked reads. */
    atomic_store(&a->busy, 1000000);
    is(fw_scoreboard_busy(a, 4), 4, "busy is at most the threads");
    atomic_store(&a->oldest_start_ms, 1);
    is(fw_scoreboard_oldest_start_ms(a, 5000, 9000), 0, "a start before the worker's: ignored");
    atomic_store(&a->oldest_start_ms, 99999);
    is(fw_scoreboard_oldest_start_ms(a, 5000, 9000), 0, "a start in the future: ignored");
    atomic_store(&a->oldest_start_ms, 6000);
    is(fw_scoreboard_oldest_start_ms(a, 5000, 9000), 6000, "a plausible start is taken");
    uint64_t seen = 0;
    atomic_store(&a->requests, 10);
    is(fw_scoreboard_requests(a, &seen), 10, "requests");
    atomic_store(&a->requests, 3);
    is(fw_scoreboard_requests(a, &seen), 10, "a counter that went down is not believed");
    memset(a->error, 'x', sizeof(a->error));
    char err[64];
    fw_scoreboard_error(a, err, sizeof(err));
    is(strlen(err), sizeof(err) - 1, "an error text without its NUL is cut to the buffer");
    /* Metrics counters: taken when they go up within what the threads
     * could do, else the value cnt before stays. */
    struct fw_scoreboard_counts cnt;
    memset(&cnt, 0, sizeof(cnt));
    atomic_store(&a->by_class[1], 10);
    atomic_store(&a->app_us, 5000);
    fw_scoreboard_counts(a, &cnt, 2, 1000);
    ok(cnt.by_class[1] == 10 && cnt.app_us == 5000, "counts that went up are taken");
    atomic_store(&a->by_class[1], 3);
    fw_scoreboard_counts(a, &cnt, 2, 1000);
    is(cnt.by_class[1], 10, "a counter that went down: the higher one stays");
    atomic_store(&a->by_class[1], 1ULL << 62);
    atomic_store(&a->app_us, 3000000);
    atomic_store(&a->bucket[FW_SLOT_BUCKETS_MAX], UINT64_MAX);
    fw_scoreboard_counts(a, &cnt, 2, 1000);
    is(cnt.by_class[1], 10, "2^62 requests in a second of life: not taken");
    is(cnt.app_us, 5000, "3 s of app time from 2 threads in 1 s: not taken");
    is(cnt.bucket[FW_SLOT_BUCKETS_MAX], 0, "UINT64_MAX in a bucket: not taken");
    atomic_store(&a->app_us, 1900000);
    fw_scoreboard_counts(a, &cnt, 2, 1000);
    is(cnt.app_us, 1900000, "1.9 s from 2 threads in 1 s: taken");
    atomic_store(&a->retire, 99);
    is(fw_scoreboard_retire(a), FW_SLOT_RETIRE_NONE, "a retire cause out of range: none");
    atomic_store(&a->retire, FW_SLOT_RETIRE_MAX_REQUESTS);
    is(fw_scoreboard_retire(a), FW_SLOT_RETIRE_MAX_REQUESTS, "max_requests, as said");
    uint64_t le[FW_SLOT_BUCKETS_MAX + 4];
    for (size_t k = 0; k < sizeof(le) / sizeof(le[0]); k++)
        le[k] = k + 1;
    fw_scoreboard_set_buckets(a, le, sizeof(le) / sizeof(le[0]));
    is(a->n_buckets, FW_SLOT_BUCKETS_MAX, "bucket bounds: at most FW_SLOT_BUCKETS_MAX");

    fw_scoreboard_free(sb);
    return done_testing();
}
