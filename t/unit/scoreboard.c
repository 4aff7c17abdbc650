/* manager/scoreboard: slots are claimed zeroed and STARTING, a full board
 * says so, released slots are reused, and what a child writes into its
 * slot after fork is what the parent reads (the mapping is shared). */
#include "config.h"

#include "manager/scoreboard.h"
#include "tap.h"

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

    atomic_store(&b->pid, 4242);
    atomic_store(&b->requests, 99);
    fw_scoreboard_release(sb, b);
    is(atomic_load(&b->state), FW_SLOT_FREE, "released: FREE");
    struct fw_slot *again = fw_scoreboard_claim(sb);
    ok(again == b, "the released slot is claimed again");
    is(atomic_load(&again->requests), 0, "zeroed again");

    pid_t pid = fork();
    if (pid == 0) {
        atomic_store(&a->requests, 7);
        atomic_store(&a->busy, 1);
        snprintf(a->error, sizeof(a->error), "SyntaxError: invalid syntax");
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    is(atomic_load(&a->requests), 7, "a child's writes are seen by the parent (requests)");
    is(atomic_load(&a->busy), 1, "(busy)");
    is_str(a->error, "SyntaxError: invalid syntax", "(the error text for a failed recycle)");
    fw_scoreboard_free(sb);
    return done_testing();
}
