/* utf8.c - well-formed UTF-8 (see utf8.h). */
#include <string.h>

#include "utf8.h"

size_t br_utf8_len(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;      /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)      len = 2;
    else if (c == 0xE0)              len = 3, lo = 0xA0;   /* no overlongs */
    else if (c == 0xED)              len = 3, hi = 0x9F;   /* no surrogates */
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0)              len = 4, lo = 0x90;
    else if (c == 0xF4)              len = 4, hi = 0x8F;   /* <= U+10FFFF */
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else                             return 0;
    if (left < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

void br_utf8_copy(char *out, size_t n, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t left = strlen(text), at = 0;
    while (left && at + 1 < n) {
        size_t len = br_utf8_len(p, left);
        if (len == 0) {
            out[at++] = '?';
            len = 1;
        } else if (at + len < n) {
            memcpy(out + at, p, len);
            at += len;
        } else {
            break;
        }
        p += len;
        left -= len;
    }
    out[at] = '\0';
}

size_t br_utf8_cut(const unsigned char *p, size_t n, size_t max)
{
    if (n <= max)
        return n;
    if ((p[max] & 0xC0) != 0x80)
        return max;                 /* max is the start of a character */
    /* p[max] continues a sequence: find its lead byte, at most 3 back. */
    size_t at = max;
    while (at > 0 && max - at < 3 && (p[at - 1] & 0xC0) == 0x80)
        at--;
    if (at > 0 && p[at - 1] >= 0xC0)
        return at - 1;
    return max;                     /* no lead byte: not text anyway */
}
