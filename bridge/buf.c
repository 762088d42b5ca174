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

int br_buf_put_i64(struct br_buf *b, int64_t v)
{
    char tmp[24];
    char *end = tmp + sizeof(tmp), *p = end;
    /* Work on the magnitude as unsigned so INT64_MIN is not a special case. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
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

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int br_buf_put_base64(struct br_buf *b, const unsigned char *p, size_t n)
{
    if (n / 3 > (SIZE_MAX / 2) / 4)
        return -1;
    size_t out = (n + 2) / 3 * 4;
    if (br_buf_reserve(b, out) < 0)
        return -1;
    char *o = b->data + b->len;
    size_t i = 0;
    /* Three bytes in, four characters out, straight table lookups. */
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[0] = b64_alphabet[v >> 18];
        o[1] = b64_alphabet[(v >> 12) & 63];
        o[2] = b64_alphabet[(v >> 6) & 63];
        o[3] = b64_alphabet[v & 63];
        o += 4;
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        o[0] = b64_alphabet[v >> 18];
        o[1] = b64_alphabet[(v >> 12) & 63];
        o[2] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        o[3] = '=';
        o += 4;
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
