/* manager/watch: real files in a temp dir and the real loop, in inotify and
 * in polling mode. Each case is a script of file operations run from the
 * loop's tick at set times; the loop stops once the expected callbacks came
 * and then 3 x debounce passed without another, or at a 3 s deadline. */
#include "config.h"

#include "manager/loop.h"
#include "manager/watch.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEBOUNCE_MS 60
#define POLL_MS 20           /* polling mode */
#define SAFETY_POLL_MS 60000 /* inotify mode: the safety net must not be what finds changes */
#define TICK_MS 5
#define DEADLINE_MS 3000

struct counter {
    int calls;
    int64_t last_ms;
};

struct scenario;

struct step {
    int at_ms; /* after the loop starts */
    void (*fn)(struct scenario *s, const char *arg);
    const char *arg;
};

struct scenario {
    char name[128];
    char dir[256];
    bool polling;
    struct fw_loop *loop;
    struct fw_watch *w;
    struct counter a, b;
    const struct step *steps;
    int want_calls;
    size_t next_step;
    int64_t start_ms, last_step_ms;
    bool timed_out;
};

static char root[] = "/tmp/fw-watch-XXXXXX";

static void on_change(void *data, const char *path, int64_t changed_ms)
{
    (void)changed_ms;
    struct counter *c = data;
    (void)path;
    c->calls++;
    c->last_ms = fw_loop_now_ms();
}

static const char *at(struct scenario *s, const char *name)
{
    static char buf[4][PATH_MAX];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, PATH_MAX, "%s/%s", s->dir, name);
    return p;
}

static void write_file(struct scenario *s, const char *name)
{
    static int version;
    int fd = open(at(s, name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        diag("open %s: %s", at(s, name), strerror(errno));
        return;
    }
    char text[32];
    int n = snprintf(text, sizeof(text), "version %d\n", ++version);
    if (write(fd, text, (size_t)n) != n)
        diag("write %s: %s", name, strerror(errno));
    close(fd);
}

/* A write-open closed without writing: IN_CLOSE_WRITE, no change. */
static void open_close(struct scenario *s, const char *name)
{
    int fd = open(at(s, name), O_WRONLY | O_CLOEXEC);
    if (fd >= 0)
        close(fd);
}

static void touch(struct scenario *s, const char *name)
{
    if (utimensat(AT_FDCWD, at(s, name), NULL, 0) < 0)
        diag("utimensat %s: %s", name, strerror(errno));
}

static void do_unlink(struct scenario *s, const char *name)
{
    if (unlink(at(s, name)) < 0)
        diag("unlink %s: %s", name, strerror(errno));
}

static void do_mkdir(struct scenario *s, const char *name)
{
    if (mkdir(at(s, name), 0755) < 0)
        diag("mkdir %s: %s", name, strerror(errno));
}

/* An editor's save: write a temp file, rename it over the original. */
static void save_by_rename(struct scenario *s, const char *name)
{
    char tmp[NAME_MAX + 1];
    snprintf(tmp, sizeof(tmp), ".%s.swp", name);
    write_file(s, tmp);
    if (rename(at(s, tmp), at(s, name)) < 0)
        diag("rename %s: %s", name, strerror(errno));
}

/* `ln -sfn arg current`, atomically as ln does it: a new link renamed over. */
static void repoint_current(struct scenario *s, const char *target)
{
    if (symlink(target, at(s, "current.tmp")) < 0 ||
        rename(at(s, "current.tmp"), at(s, "current")) < 0)
        diag("repoint current -> %s: %s", target, strerror(errno));
}

static void remove_a(struct scenario *s, const char *arg)
{
    fw_watch_remove_all(s->w, &s->a);
}

static void tick(struct fw_loop *loop, void *data)
{
    struct scenario *s = data;
    int64_t now = fw_loop_now_ms();
    while (s->steps[s->next_step].fn && now - s->start_ms >= s->steps[s->next_step].at_ms) {
        const struct step *st = &s->steps[s->next_step++];
        st->fn(s, st->arg);
        s->last_step_ms = now;
    }
    if (now - s->start_ms >= DEADLINE_MS) {
        s->timed_out = true;
        fw_loop_stop(loop);
        return;
    }
    int64_t last = s->last_step_ms;
    if (s->a.last_ms > last)
        last = s->a.last_ms;
    if (s->b.last_ms > last)
        last = s->b.last_ms;
    /* All done, and nothing more within 3 x debounce: an extra callback
     * (a debounce that did not hold) would have come by now. */
    if (!s->steps[s->next_step].fn && s->a.calls + s->b.calls >= s->want_calls &&
        now - last >= 3 * DEBOUNCE_MS)
        fw_loop_stop(loop);
}

static void bail_out(const char *what)
{
    printf("Bail out! %s: %s\n", what, strerror(errno));
    exit(1);
}

static void begin(struct scenario *s, bool polling, const char *name)
{
    memset(s, 0, sizeof(*s));
    s->polling = polling;
    snprintf(s->name, sizeof(s->name), "%s: %s", polling ? "polling" : "inotify", name);
    static int n;
    snprintf(s->dir, sizeof(s->dir), "%s/case%d", root, ++n);
    if (mkdir(s->dir, 0755) < 0)
        bail_out(s->dir);
    s->loop = fw_loop_new(TICK_MS, tick, s);
    if (!s->loop)
        bail_out("fw_loop_new");
    s->w = fw_watch_new(s->loop, DEBOUNCE_MS, polling ? POLL_MS : SAFETY_POLL_MS, polling);
    if (!s->w)
        bail_out("fw_watch_new");
}

static void watch(struct scenario *s, const char *name, struct counter *c)
{
    if (fw_watch_add(s->w, at(s, name), on_change, c) < 0)
        diag("fw_watch_add %s: %s", name, strerror(errno));
}

static void run(struct scenario *s, const struct step *steps, int want_calls)
{
    s->steps = steps;
    s->want_calls = want_calls;
    s->start_ms = fw_loop_now_ms();
    fw_loop_run(s->loop);
    if (s->timed_out)
        diag("%s: stopped at the %d ms deadline", s->name, DEADLINE_MS);
    fw_watch_free(s->w);
    fw_loop_free(s->loop);
}

static const char *title(struct scenario *s, const char *what)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s: %s", s->name, what);
    return buf;
}

static void test_quick_writes(bool polling)
{
    struct scenario s;
    begin(&s, polling, "3 quick writes");
    write_file(&s, "app.wsgi");
    watch(&s, "app.wsgi", &s.a);
    const struct step steps[] = { { 10, write_file, "app.wsgi" },
                                  { 20, write_file, "app.wsgi" },
                                  { 30, write_file, "app.wsgi" },
                                  { 0 } };
    run(&s, steps, 1);
    is(s.a.calls, 1, title(&s, "one callback (debounced)"));
}

static void test_touch(bool polling)
{
    struct scenario s;
    begin(&s, polling, "touch");
    write_file(&s, "app.wsgi");
    watch(&s, "app.wsgi", &s.a);
    const struct step steps[] = { { 20, touch, "app.wsgi" }, { 0 } };
    run(&s, steps, 1);
    is(s.a.calls, 1, title(&s, "one callback"));
}

static void test_rename_over(bool polling)
{
    struct scenario s;
    begin(&s, polling, "temp file renamed over it");
    write_file(&s, "app.wsgi");
    watch(&s, "app.wsgi", &s.a);
    const struct step steps[] = { { 10, save_by_rename, "app.wsgi" }, { 0 } };
    run(&s, steps, 1);
    is(s.a.calls, 1, title(&s, "one callback"));
}

static void test_delete_recreate(bool polling)
{
    struct scenario s;
    begin(&s, polling, "deleted then recreated");
    write_file(&s, "app.wsgi");
    watch(&s, "app.wsgi", &s.a);
    const struct step steps[] = { { 10, do_unlink, "app.wsgi" },
                                  { 20, write_file, "app.wsgi" },
                                  { 0 } };
    run(&s, steps, 1);
    is(s.a.calls, 1, title(&s, "one callback"));
}

static void test_created(bool polling)
{
    struct scenario s;
    begin(&s, polling, "file not there yet");
    watch(&s, "app.wsgi", &s.a);
    const struct step steps[] = { { 10, write_file, "app.wsgi" }, { 0 } };
    run(&s, steps, 1);
    is(s.a.calls, 1, title(&s, "created: one callback"));

    begin(&s, polling, "directory not there yet");
    watch(&s, "sub/dir/app.wsgi", &s.a);
    const struct step steps2[] = { { 10, do_mkdir, "sub" },
                                   { 20, do_mkdir, "sub/dir" },
                                   { 30, write_file, "sub/dir/app.wsgi" },
                                   /* a second burst: the watches followed into sub/dir */
                                   { 250, write_file, "sub/dir/app.wsgi" },
                                   { 0 } };
    run(&s, steps2, 2);
    is(s.a.calls, 2, title(&s, "created, then written: two callbacks"));
}

static void test_symlink_repoint(bool polling)
{
    struct scenario s;
    begin(&s, polling, "release symlink repointed");
    do_mkdir(&s, "r1");
    do_mkdir(&s, "r2");
    write_file(&s, "r1/app.wsgi");
    write_file(&s, "r2/app.wsgi");
    if (symlink("r1", at(&s, "current")) < 0)
        diag("symlink: %s", strerror(errno));
    watch(&s, "current/app.wsgi", &s.a);
    const struct step steps[] = { { 10, repoint_current, "r2" },
                                  /* the old release is no longer watched... */
                                  { 250, write_file, "r1/app.wsgi" },
                                  /* ...and the new one is */
                                  { 400, write_file, "r2/app.wsgi" },
                                  { 0 } };
    run(&s, steps, 2);
    is(s.a.calls, 2, title(&s, "repoint, then a write in the new release: two callbacks"));
}

static void test_unrelated(bool polling)
{
    struct scenario s;
    begin(&s, polling, "other file in the same directory");
    write_file(&s, "app.wsgi");
    write_file(&s, "other.txt");
    watch(&s, "app.wsgi", &s.a);
    const struct step steps[] = { { 10, write_file, "other.txt" },
                                  { 20, save_by_rename, "other.txt" },
                                  { 30, do_unlink, "other.txt" },
                                  { 0 } };
    run(&s, steps, 0);
    is(s.a.calls, 0, title(&s, "no callback"));

    begin(&s, polling, "opened for writing, nothing written");
    write_file(&s, "app.wsgi");
    watch(&s, "app.wsgi", &s.a);
    const struct step steps2[] = { { 10, open_close, "app.wsgi" }, { 0 } };
    run(&s, steps2, 0);
    is(s.a.calls, 0, title(&s, "unchanged signature: no callback"));
}

static void test_two_datas(bool polling)
{
    struct scenario s;
    begin(&s, polling, "two pools");
    write_file(&s, "a.wsgi");
    write_file(&s, "b.wsgi");
    watch(&s, "a.wsgi", &s.a);
    watch(&s, "b.wsgi", &s.b);
    const struct step steps[] = { { 10, write_file, "a.wsgi" }, { 0 } };
    run(&s, steps, 1);
    is(s.a.calls, 1, title(&s, "the changed one is called"));
    is(s.b.calls, 0, title(&s, "the other one is not"));

    begin(&s, polling, "two paths of one pool");
    write_file(&s, "app.wsgi");
    write_file(&s, "settings.py");
    watch(&s, "app.wsgi", &s.a);
    watch(&s, "settings.py", &s.a);
    const struct step steps2[] = { { 10, write_file, "app.wsgi" },
                                   { 20, write_file, "settings.py" },
                                   { 0 } };
    run(&s, steps2, 1);
    is(s.a.calls, 1, title(&s, "both changed in one burst: one callback"));
}

static void test_remove_all(bool polling)
{
    struct scenario s;
    begin(&s, polling, "fw_watch_remove_all");
    write_file(&s, "a.wsgi");
    write_file(&s, "b.wsgi");
    watch(&s, "a.wsgi", &s.a);
    watch(&s, "b.wsgi", &s.b);
    const struct step steps[] = { { 10, write_file, "a.wsgi" },
                                  /* while that change waits out its debounce */
                                  { 20, remove_a, NULL },
                                  { 150, write_file, "a.wsgi" },
                                  { 160, write_file, "b.wsgi" },
                                  { 0 } };
    run(&s, steps, 1);
    is(s.a.calls, 0, title(&s, "removed: not called, not even for a pending change"));
    is(s.b.calls, 1, title(&s, "the other pool still is"));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    int64_t start = fw_loop_now_ms();
    for (int polling = 0; polling <= 1; polling++) {
        test_quick_writes(polling);
        test_touch(polling);
        test_rename_over(polling);
        test_delete_recreate(polling);
        test_created(polling);
        test_symlink_repoint(polling);
        test_unrelated(polling);
        test_two_datas(polling);
        test_remove_all(polling);
    }
    diag("took %lld ms", (long long)(fw_loop_now_ms() - start));
    if (!getenv("FW_KEEP_TMP"))
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    else
        diag("kept %s", root);
    return done_testing();
}
