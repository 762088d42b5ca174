/* pattern_text.h - the string tests of event patterns on decoded UTF-8:
 * prefix, suffix, and their equals-ignore-case forms. Case folding maps
 * each letter to its lower case one for one in ASCII, Latin-1, Latin
 * Extended-A, Greek, Cyrillic and Armenian; other characters compare as
 * they are. */
#ifndef BR_PATTERN_TEXT_H
#define BR_PATTERN_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The lower case of code point c where folding knows one, else c. */
uint32_t br_pt_fold(uint32_t c);

/* Byte comparison, inline for the short strings patterns hold (a call to
 * memcmp costs more than comparing them). */
static inline int br_pt_cmp(const char *a, const char *b, size_t n)
{
    if (n > 16)
        return memcmp(a, b, n);
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    return 0;
}

bool br_pt_prefix(const char *s, size_t n, const char *pre, size_t m);
bool br_pt_suffix(const char *s, size_t n, const char *suf, size_t m);

/* Case-insensitive equality, prefix and suffix. Folding keeps every
 * character's UTF-8 length, so the lengths involved are those of the
 * bytes; bytes that are not UTF-8 compare as themselves. */
bool br_pt_equal_fold(const char *s, size_t n, const char *t, size_t m);
bool br_pt_prefix_fold(const char *s, size_t n, const char *pre, size_t m);
bool br_pt_suffix_fold(const char *s, size_t n, const char *suf, size_t m);

#endif
