/* utf8.h - telling well-formed UTF-8 from other bytes, for the texts that
 * leave fnbridge where a reader expects text: log lines, /status, and the
 * dead-letter file. Bytes from outside (a function's error type, a topic
 * name, an object key) may be anything. */
#ifndef BR_UTF8_H
#define BR_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at p (left >= 1 bytes
 * available), or 0 when there is none (Unicode Table 3-7: no overlongs,
 * no surrogates, nothing past U+10FFFF). ASCII counts, NUL too. */
size_t br_utf8_len(const unsigned char *p, size_t left);

/* Where to cut p[0..n) to keep at most max bytes without splitting a
 * UTF-8 sequence: n when n <= max, else max, or the start of a sequence
 * that max would cut in two. */
size_t br_utf8_cut(const unsigned char *p, size_t n, size_t max);

/* Copies the NUL-terminated text into out (n >= 1 bytes) as well-formed
 * UTF-8: a byte that starts no sequence becomes '?', and a cut never
 * splits a character. */
void br_utf8_copy(char *out, size_t n, const char *text);

#endif
