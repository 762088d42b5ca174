/* pattern_text.c - prefix, suffix and case-folded comparisons for event
 * patterns (pattern_text.h). The folding table is arithmetic over the
 * scripts whose upper and lower cases have the same UTF-8 length, so a
 * case-insensitive prefix or suffix is found by byte length alone. */
#include <string.h>

#include "pattern_text.h"
#include "utf8.h"

/* Latin Extended-A pairs upper case letters with the code point after
 * them, on even code points in two runs and odd ones in two others. */
static uint32_t fold_latin_ext_a(uint32_t c)
{
    if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) ||
        (c >= 0x14A && c <= 0x177))
        return c % 2 == 0 ? c + 1 : c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return c % 2 == 1 ? c + 1 : c;
    if (c == 0x178)
        return 0xFF;
    return c;
}

uint32_t br_pt_fold(uint32_t c)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 32;
    if (c >= 0x100 && c <= 0x17F)
        return fold_latin_ext_a(c);
    if ((c >= 0x391 && c <= 0x3A9 && c != 0x3A2))
        return c + 32;
    if (c == 0x3C2)                 /* final sigma folds with sigma */
        return 0x3C3;
    if (c >= 0x410 && c <= 0x42F)
        return c + 32;
    if (c >= 0x400 && c <= 0x40F)
        return c + 80;
    if (c >= 0x531 && c <= 0x556)
        return c + 48;
    return c;
}

bool br_pt_prefix(const char *s, size_t n, const char *pre, size_t m)
{
    return n >= m && br_pt_cmp(s, pre, m) == 0;
}

bool br_pt_suffix(const char *s, size_t n, const char *suf, size_t m)
{
    return n >= m && br_pt_cmp(s + n - m, suf, m) == 0;
}

/* The character at s[0..left): its code point and length; a byte that
 * starts no UTF-8 sequence stands for itself (as 0x110000 + byte, so it
 * equals only the same byte). */
static uint32_t next_char(const unsigned char *s, size_t left, size_t *len)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    size_t n = br_utf8_len(s, left);
    if (!n) {
        *len = 1;
        return 0x110000u + c;
    }
    *len = n;
    uint32_t cp = c & (0xFF >> (n + 1));
    for (size_t i = 1; i < n; i++)
        cp = cp << 6 | (s[i] & 0x3F);
    return cp;
}

/* True when s and t, both m bytes, are equal after folding. */
static bool fold_equal_n(const char *s, const char *t, size_t m)
{
    const unsigned char *a = (const unsigned char *)s, *b = (const unsigned char *)t;
    size_t i = 0;
    while (i < m) {
        if (a[i] < 0x80 && b[i] < 0x80) {
            if (br_pt_fold(a[i]) != br_pt_fold(b[i]))
                return false;
            i++;
            continue;
        }
        size_t la, lb;
        uint32_t ca = next_char(a + i, m - i, &la), cb = next_char(b + i, m - i, &lb);
        if (la != lb || br_pt_fold(ca) != br_pt_fold(cb))
            return false;
        i += la;
    }
    return true;
}

bool br_pt_equal_fold(const char *s, size_t n, const char *t, size_t m)
{
    return n == m && fold_equal_n(s, t, m);
}

bool br_pt_prefix_fold(const char *s, size_t n, const char *pre, size_t m)
{
    return n >= m && fold_equal_n(s, pre, m);
}

bool br_pt_suffix_fold(const char *s, size_t n, const char *suf, size_t m)
{
    /* Where s + n - m falls inside a character, that continuation byte
     * stands for itself and differs from suf's first character (which
     * starts one: a pattern's strings are UTF-8). */
    return n >= m && fold_equal_n(s + n - m, suf, m);
}
