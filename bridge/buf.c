/* buf.c - growable byte buffer with a hard cap, plus the JSON-string,
 * base64 and integer writers the event encoders use on the hot path.
 *
 * Invariant: len <= max, and data (when non-NULL) holds len bytes plus a
 * NUL, so cap may reach max + 1. A refused append leaves len and data as
 * they were. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MIN_CAP 64

static size_t buf_limit(const struct br_buf *b)
{
    return b->max ? b->max : SIZE_MAX / 2;
}

void br_buf_init(struct br_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

/* Makes room for extra more bytes (plus the NUL). Grows by doubling so a
 * run of appends costs amortised O(1), but never past max + 1. */
int br_buf_reserve(struct br_buf *b, size_t extra)
{
    size_t lim = buf_limit(b);
    if (extra > lim - b->len)
        return -1;
    size_t need = b->len + extra + 1;
    if (b->data && need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need)
        cap *= 2;               /* cannot overflow: need <= SIZE_MAX/2 + 1 */
    if (cap > lim + 1)
        cap = lim + 1;
    char *data = realloc(b->data, cap);
    if (!data)
        return -1;
    if (!b->data)
        data[0] = '\0';
    b->data = data;
    b->cap = cap;
    return 0;
}

int br_buf_append(struct br_buf *b, const void *p, size_t n)
{
    if (br_buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int br_buf_puts(struct br_buf *b, const char *s)
{
    return br_buf_append(b, s, strlen(s));
}

int br_buf_putc(struct br_buf *b, char c)
{
    if (br_buf_reserve(b, 1) < 0)
        return -1;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
}

int br_buf_printf(struct br_buf *b, const char *fmt, ...)
{
    va_list ap;
    /* Reserve something first so vsnprintf always has a real destination. */
    if (br_buf_reserve(b, 0) < 0)
        return -1;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        goto out_undo;
    if ((size_t)n >= b->cap - b->len) {
        if (br_buf_reserve(b, (size_t)n) < 0)
            goto out_undo;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;

out_undo:
    b->data[b->len] = '\0';    /* vsnprintf may have written a partial text */
    return -1;
}

/* "00" "01" ... "99": two digits per division halves the loop. */
static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

int br_buf_put_i64(struct br_buf *b, int64_t v)
{
    char tmp[24];
    char *end = tmp + sizeof(tmp), *p = end;
    /* Work on the magnitude as unsigned so INT64_MIN is not a special case. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * (u % 100), 2);
        u /= 100;
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    return br_buf_append(b, p, (size_t)(end - p));
}

/* ----------------------------------------------------------- JSON strings */

static const char esc_short[32] = {
    ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
};

/* Output length of a byte inside a JSON string: 1 (as is), 2 (\n and
 * friends) or 6 (\u00XX). Bytes >= 0x80 are copied as is. */
static inline size_t esc_len(unsigned char c)
{
    if (c >= 0x20)
        return c == '"' || c == '\\' ? 2 : 1;
    return esc_short[c] ? 2 : 6;
}

static char *put_escape(char *o, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    *o++ = '\\';
    if (c == '"' || c == '\\') {
        *o++ = (char)c;
    } else if (c < 0x20 && esc_short[c]) {
        *o++ = esc_short[c];
    } else {
        memcpy(o, "u00", 3);
        o[3] = hex[c >> 4];
        o[4] = hex[c & 15];
        o += 5;
    }
    return o;
}

/* Exact escaped size first, so a string that fits under the cap is never
 * refused because of a worst-case estimate. */
int br_buf_put_json_str(struct br_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n > SIZE_MAX / 8)           /* 6n + 2 must not wrap */
        return -1;
    size_t out = 2;
    for (size_t i = 0; i < n; i++)
        out += esc_len(p[i]);
    if (br_buf_reserve(b, out) < 0)
        return -1;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t run = 0;                 /* start of the pending plain run */
    for (size_t i = 0; i < n; i++) {
        if (esc_len(p[i]) == 1)
            continue;
        memcpy(o, p + run, i - run);
        o = put_escape(o + (i - run), p[i]);
        run = i + 1;
    }
    memcpy(o, p + run, n - run);
    o += n - run;
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

/* ----------------------------------------------------------------- base64 */

/* 12 bits -> 2 characters, so 3 input bytes cost two lookups and two
 * 2-byte stores. Built by the preprocessor from the alphabet's arithmetic
 * so the table is const data (no init race, no constructor). */
#define B64C(v) ((v) < 26 ? 'A' + (v) : (v) < 52 ? 'a' + (v) - 26 :            \
                 (v) < 62 ? '0' + (v) - 52 : (v) == 62 ? '+' : '/')
#define B64P(i) { B64C((i) >> 6), B64C((i) & 63) }
#define B64P4(i) B64P(i), B64P((i) + 1), B64P((i) + 2), B64P((i) + 3)
#define B64P16(i) B64P4(i), B64P4((i) + 4), B64P4((i) + 8), B64P4((i) + 12)
#define B64P64(i) B64P16(i), B64P16((i) + 16), B64P16((i) + 32), B64P16((i) + 48)
#define B64P256(i) B64P64(i), B64P64((i) + 64), B64P64((i) + 128), B64P64((i) + 192)
#define B64P1024(i) B64P256(i), B64P256((i) + 256), B64P256((i) + 512),         \
                    B64P256((i) + 768)
static const char b64_pairs[4096][2] = {
    B64P1024(0), B64P1024(1024), B64P1024(2048), B64P1024(3072),
};

static char b64_char(uint32_t v)
{
    return b64_pairs[v][1];         /* the low 6 bits' character */
}

int br_buf_put_base64(struct br_buf *b, const unsigned char *p, size_t n)
{
    if (n / 3 > (SIZE_MAX / 2) / 4)
        return -1;
    size_t out = (n + 2) / 3 * 4;
    if (br_buf_reserve(b, out) < 0)
        return -1;
    char *o = b->data + b->len;
    size_t i = 0;
    /* Six bytes per round from one 8-byte big-endian load (compilers turn
     * the shifts into a single load and byte swap). */
    for (; i + 8 <= n; i += 6) {
        uint64_t v = (uint64_t)p[i] << 56 | (uint64_t)p[i + 1] << 48 |
                     (uint64_t)p[i + 2] << 40 | (uint64_t)p[i + 3] << 32 |
                     (uint64_t)p[i + 4] << 24 | (uint64_t)p[i + 5] << 16 |
                     (uint64_t)p[i + 6] << 8 | (uint64_t)p[i + 7];
        memcpy(o, b64_pairs[v >> 52], 2);
        memcpy(o + 2, b64_pairs[(v >> 40) & 0xfff], 2);
        memcpy(o + 4, b64_pairs[(v >> 28) & 0xfff], 2);
        memcpy(o + 6, b64_pairs[(v >> 16) & 0xfff], 2);
        o += 8;
    }
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        memcpy(o, b64_pairs[v >> 12], 2);
        memcpy(o + 2, b64_pairs[v & 0xfff], 2);
        o += 4;
    }
    if (i < n) {                    /* 1 or 2 bytes left: pad with '=' */
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        memcpy(o, b64_pairs[v >> 12], 2);
        o[2] = i + 1 < n ? b64_char((v >> 6) & 63) : '=';
        o[3] = '=';
    }
    b->len += out;
    b->data[b->len] = '\0';
    return 0;
}

/* ------------------------------------------------------------- lifecycle */

void br_buf_reset(struct br_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void br_buf_free(struct br_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* Never returns NULL for an empty, never-grown buffer: the caller gets ""
 * so that NULL can only mean out of memory. */
char *br_buf_steal(struct br_buf *b, size_t *len)
{
    char *data = b->data ? b->data : calloc(1, 1);
    if (len)
        *len = data ? b->len : 0;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return data;
}
