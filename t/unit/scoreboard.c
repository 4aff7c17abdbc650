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
    fw_scoreboard_free(sb);
    return done_testing();
}
