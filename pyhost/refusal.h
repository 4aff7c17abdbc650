/* Recognising an import that failed because an extension module refuses to
 * live in this interpreter (a sub-interpreter, or any but the first one that
 * loaded it): PyO3's check, CPython's own (3.12+), and the per-process
 * opt-out that CPython's isolating-extensions HOWTO documents. Only reads the
 * pending exception; what to do about it is app.c's. */
#ifndef FW_REFUSAL_H
#define FW_REFUSAL_H

#include <stdbool.h>
#include <stddef.h>

struct fw_refusal {
    char module[200]; /* the module that refused, "" if it cannot be told */
    char text[400];   /* the ImportError's own text, on one line */
    /* CPython's own refusal (3.12+, Python/import.c): in an own-GIL
     * interpreter it is also what a module without per-interpreter GIL
     * support gets, and a shared-GIL sub-interpreter would load it. */
    bool cpython;
};

/* With the GIL held and an exception pending, which stays pending: true if
 * it, or one in its __cause__/__context__ chain (frameworks re-raise), is
 * an ImportError (or a subclass) with a refusal's text. Never raises. */
bool fw_refusal_find(struct fw_refusal *out);

#endif
