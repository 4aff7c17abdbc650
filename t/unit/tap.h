/* A tiny TAP producer for the C unit tests: ok, is, is_str, diag and
 * done_testing, printing what was expected and what came when a check fails. */
#ifndef FW_TAP_H
#define FW_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static inline int ok_at(int cond, const char *file, int line, const char *name)
{
    tap_n++;
    printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, name);
    if (!cond) {
        tap_failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    return cond;
}

static inline int is_at(long long got, long long want, const char *file, int line, const char *name)
{
    int r = ok_at(got == want, file, line, name);
    if (!r)
        printf("#   expected: %lld\n#        got: %lld\n", want, got);
    return r;
}

static inline int is_str_at(const char *got, const char *want, const char *file, int line,
                            const char *name)
{
    int same = (got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0);
    int r = ok_at(same, file, line, name);
    if (!r)
        printf("#   expected: '%s'\n#        got: '%s'\n", want ? want : "(null)",
               got ? got : "(null)");
    return r;
}

static inline int done_testing(void)
{
    printf("1..%d\n", tap_n);
    fflush(stdout);
    return tap_failed ? 1 : 0;
}

#define ok(cond, name) ok_at(!!(cond), __FILE__, __LINE__, (name))
#define is(got, want, name) is_at((long long)(got), (long long)(want), __FILE__, __LINE__, (name))
#define is_str(got, want, name) is_str_at((got), (want), __FILE__, __LINE__, (name))

#endif
