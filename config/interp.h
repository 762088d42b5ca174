/* interp.h - ${env:...} / ${file:...} interpolation of config scalars, for
 * the loader in node.c. Also the bounded whole-file reader that ${file:},
 * the loader and connectors reading secret files (password_file) share. */
#ifndef BR_INTERP_H
#define BR_INTERP_H

#include <stdbool.h>
#include <stddef.h>

#include "node.h"

/* The scalar being expanded: where its errors go and what they name. All
 * pointers are borrowed. */
struct br_interp {
    struct br_errors *errs;   /* may be NULL: errors are then dropped */
    const char *dir;          /* base of relative ${file:} paths; NULL = cwd */
    int line, col;            /* the scalar's position */
    const char *path;         /* its dotted key path */
    bool failed;              /* out: set true when an error was added */
};

/* Expands s: ${env:NAME}, ${env:NAME:-default}, ${file:PATH}, and $${ for
 * a literal ${. Returns a new string the caller frees, or NULL when out of
 * memory (after adding an error). *used tells whether any ${...} was
 * expanded. Every problem is added to ip->errs at ip's position and sets
 * ip->failed; the string returned is then unusable. What each ${...}
 * produced is registered as a secret (secrets.h), so it is never printed. */
char *br_interp_expand(struct br_interp *ip, const char *s, bool *used);

/* Reads a whole file (at most max bytes) into a NUL-terminated buffer and
 * sets *len. Returns it (caller frees), or NULL with errno set (EFBIG if
 * too big). With regular_only, anything but a regular file is refused
 * without reading (EISDIR for a directory, EINVAL for a FIFO, socket or
 * device) and never blocks; without it a pipe is read to its end (a
 * config given as <(...)). */
char *br_interp_read_file(const char *path, size_t max, bool regular_only,
                          size_t *len);

#endif
