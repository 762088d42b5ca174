/* slurp.c - a whole stream, bounded (slurp.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "slurp.h"

char *br_slurp(FILE *f, size_t max, size_t *len, char *err, size_t errlen)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap - 1) {
            char *bigger = cap > max ? NULL : realloc(buf, cap * 2);
            if (!bigger) {
                if (cap > max)
                    snprintf(err, errlen, "larger than %zu bytes", max);
                else
                    snprintf(err, errlen, "out of memory");
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s", strerror(errno));
        free(buf);
        return NULL;
    }
    if (n > max) {
        snprintf(err, errlen, "larger than %zu bytes", max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
