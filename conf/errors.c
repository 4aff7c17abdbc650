/* The error list of a load: every problem with its position, kept in order
 * so `fcgiwsgi -t` prints them as the file reads. It owns the copies of file
 * names in it, since a failed load frees the config they came from. */
#include <config.h>

#include "conf/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fw_conf_errors_addv(struct fw_conf_errors *errs, const char *file, unsigned line,
                         unsigned column, bool warning, const char *fmt, va_list ap)
{
    char *message = NULL, *file_copy = NULL;
    if (errs->n >= FW_CONF_MAX_ERRORS)
        goto fail;
    if (errs->n == errs->cap) {
        size_t cap = errs->cap ? errs->cap * 2 : 16;
        struct fw_conf_error *v = realloc(errs->v, cap * sizeof(*v));
        if (!v)
            goto fail;
        errs->v = v;
        errs->cap = cap;
    }
    if (vasprintf(&message, fmt, ap) < 0) {
        message = NULL;
        goto fail;
    }
    if (file && !(file_copy = strdup(file)))
        goto fail;
    errs->v[errs->n++] = (struct fw_conf_error){
        .file = file_copy,
        .line = line,
        .column = column,
        .warning = warning,
        .message = message,
    };
    return;
fail:
    /* A lost warning changes nothing; a lost error must still fail the load. */
    if (!warning)
        errs->n_dropped++;
    free(message);
    free(file_copy);
}

void fw_conf_errors_add(struct fw_conf_errors *errs, const char *file, unsigned line,
                        unsigned column, bool warning, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fw_conf_errors_addv(errs, file, line, column, warning, fmt, ap);
    va_end(ap);
}

static size_t file_rank(const char *file, char *const *files, size_t n_files)
{
    for (size_t i = 0; file && i < n_files; i++)
        if (!strcmp(file, files[i]))
            return i + 1;
    return 0;
}

void fw_conf_errors_sort(struct fw_conf_errors *errs, size_t from, char *const *files,
                         size_t n_files)
{
    /* Insertion sort: stable, and the list holds at most
     * FW_CONF_MAX_ERRORS entries. */
    for (size_t i = from + 1; i < errs->n; i++) {
        struct fw_conf_error e = errs->v[i];
        size_t rank = file_rank(e.file, files, n_files), j = i;
        while (j > from) {
            const struct fw_conf_error *p = &errs->v[j - 1];
            size_t prank = file_rank(p->file, files, n_files);
            if (prank < rank || (prank == rank && (p->line < e.line ||
                                                   (p->line == e.line && p->column <= e.column))))
                break;
            errs->v[j] = *p;
            j--;
        }
        errs->v[j] = e;
    }
}

bool fw_conf_errors_full(const struct fw_conf_errors *errs)
{
    return errs->n >= FW_CONF_MAX_ERRORS || errs->n_dropped > 0;
}

size_t fw_conf_error_count(const struct fw_conf_errors *errs)
{
    size_t n = errs->n_dropped;
    for (size_t i = 0; i < errs->n; i++)
        if (!errs->v[i].warning)
            n++;
    return n;
}

void fw_conf_errors_print(const struct fw_conf_errors *errs, FILE *out)
{
    for (size_t i = 0; i < errs->n; i++) {
        const struct fw_conf_error *e = &errs->v[i];
        const char *kind = e->warning ? "warning" : "error";
        if (e->file && e->line)
            fprintf(out, "%s:%u:%u: %s: %s\n", e->file, e->line, e->column, kind, e->message);
        else if (e->file)
            fprintf(out, "%s: %s: %s\n", e->file, kind, e->message);
        else
            fprintf(out, "%s: %s\n", kind, e->message);
    }
    if (errs->n_dropped)
        fprintf(out, "error: too many errors; stopped after %zu messages\n", errs->n);
}

void fw_conf_errors_free(struct fw_conf_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++) {
        free(errs->v[i].file);
        free(errs->v[i].message);
    }
    free(errs->v);
    *errs = (struct fw_conf_errors){ 0 };
}
