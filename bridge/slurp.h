/* slurp.h - reading a whole stream into memory, bounded, for the commands
 * that take a document from a file or stdin (invoke, test-pattern). */
#ifndef BR_SLURP_H
#define BR_SLURP_H

#include <stddef.h>
#include <stdio.h>

/* All of f, NUL-terminated (the caller frees), its length in *len; NULL
 * with a sentence in err when it is larger than max bytes, unreadable, or
 * memory ran out. */
char *br_slurp(FILE *f, size_t max, size_t *len, char *err, size_t errlen);

#endif
