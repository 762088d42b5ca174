/* hash.h - FNV-1a, the one byte hash the hash tables, the key lanes and
 * the S3 shards use. */
#ifndef BR_HASH_H
#define BR_HASH_H

#include <stddef.h>
#include <stdint.h>

#define BR_FNV_BASIS 0xcbf29ce484222325ULL

/* Goes on from h (BR_FNV_BASIS to start) over p[0..n). */
static inline uint64_t br_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

/* The same over a NUL-terminated string. */
static inline uint64_t br_fnv1a_str(uint64_t h, const char *s)
{
    for (const unsigned char *b = (const unsigned char *)s; *b; b++)
        h = (h ^ *b) * 1099511628211ULL;
    return h;
}

#endif
