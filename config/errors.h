/* errors.h - every problem found in a config, collected with where it
 * is, so that one run reports them all. */
#ifndef BR_ERRORS_H
#define BR_ERRORS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

struct br_node;

/* One problem found in a config; `path` is the dotted key path
 * ("pipelines[0].batch.max_wait"). */
struct br_error {
    int line;
    int col;
    char *path;
    char *message;
};

struct br_errors {
    const char *file;         /* borrowed; the config file name */
    struct br_error *v;
    size_t n;
    size_t cap;
};

void br_errors_add(struct br_errors *errs, const struct br_node *at,
                   const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same with a va_list, for collectors of their own (the YAML loader). */
void br_errors_vadd(struct br_errors *errs, int line, int col, const char *path,
                    const char *fmt, va_list ap);
void br_errors_add_pos(struct br_errors *errs, int line, int col,
                       const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Prints each error as "FILE:LINE:COL: path: message\n"; with an empty
 * path "FILE:LINE:COL: message"; with line 0 (no position: `at` was NULL,
 * or the file could not be read) "FILE: path: message". */
void br_errors_print(const struct br_errors *errs, FILE *out);
void br_errors_free(struct br_errors *errs);

#endif
