/* errors.c - the collector of config problems: each with the line and
 * column it was found at and its key path, printed as "FILE:LINE:COL:
 * path: message" with secrets masked. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "node.h"
#include "secrets.h"

static char *vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (len < 0)
        return NULL;
    char *s = malloc((size_t)len + 1);
    if (s)
        vsnprintf(s, (size_t)len + 1, fmt, ap);
    return s;
}

void br_errors_vadd(struct br_errors *errs, int line, int col,
                    const char *path, const char *fmt, va_list ap)
{
    if (!errs)
        return;
    if (errs->n == errs->cap) {
        size_t cap = errs->cap ? errs->cap * 2 : 8;
        struct br_error *v = realloc(errs->v, cap * sizeof *v);
        if (!v)
            return;
        errs->v = v;
        errs->cap = cap;
    }
    struct br_error *e = &errs->v[errs->n];
    e->line = line;
    e->col = col;
    e->path = strdup(path ? path : "");
    e->message = vformat(fmt, ap);
    if (!e->path || !e->message) {
        free(e->path);
        free(e->message);
        return;
    }
    errs->n++;
}

void br_errors_add(struct br_errors *errs, const struct br_node *at,
                   const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    br_errors_vadd(errs, at ? at->line : 0, at ? at->col : 0, path, fmt, ap);
    va_end(ap);
}

void br_errors_add_pos(struct br_errors *errs, int line, int col,
                       const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    br_errors_vadd(errs, line, col, path, fmt, ap);
    va_end(ap);
}

/* Errors with no position (line 0) print as "FILE: path: message". */
void br_errors_print(const struct br_errors *errs, FILE *out)
{
    const char *file = errs->file ? errs->file : "config";
    for (size_t i = 0; i < errs->n; i++) {
        const struct br_error *e = &errs->v[i];
        if (e->line > 0)
            fprintf(out, "%s:%d:%d: ", file, e->line, e->col);
        else
            fprintf(out, "%s: ", file);
        if (e->path[0])
            fprintf(out, "%s: ", e->path);
        char *msg = br_secrets_mask_dup(e->message);   /* never a secret */
        fprintf(out, "%s\n", msg ? msg : "(not shown: out of memory)");
        free(msg);
    }
}

void br_errors_free(struct br_errors *errs)
{
    if (!errs)
        return;
    for (size_t i = 0; i < errs->n; i++) {
        free(errs->v[i].path);
        free(errs->v[i].message);
    }
    free(errs->v);
    errs->v = NULL;
    errs->n = errs->cap = 0;
}
