/* json_check.c - the strict JSON check (json_check.h): RFC 8259 without
 * a parse tree, one pass, no allocation. The formats ask it for every key
 * and value they might embed, so it skips plain string bytes 8 at a time. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "json_check.h"

/* The json format embeds a key or value verbatim when its bytes are one
 * complete JSON value (RFC 8259): valid UTF-8, no NaN/Infinity, no
 * trailing garbage, no lone surrogate escapes (jansson and others refuse
 * them, which would fail the whole event). Iterative, with a nesting
 * limit: deeper documents are sent as base64 rather than risk the
 * receiver's parser recursion limit. */
#define JSON_MAX_DEPTH 512

struct jscan {
    const unsigned char *p;
    const unsigned char *end;
};

static void skip_ws(struct jscan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool in_range(const unsigned char *p, unsigned char lo, unsigned char hi)
{
    return *p >= lo && *p <= hi;
}

/* One multi-byte UTF-8 sequence at s->p (first byte >= 0x80), checked per
 * Unicode Table 3-7: no overlongs, no surrogates, nothing past U+10FFFF. */
static bool scan_utf8(struct jscan *s)
{
    const unsigned char *p = s->p;
    size_t left = (size_t)(s->end - p);
    unsigned char c = *p;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;     /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)      len = 2;
    else if (c == 0xE0)              len = 3, lo = 0xA0;
    else if (c == 0xED)              len = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0)              len = 4, lo = 0x90;
    else if (c == 0xF4)              len = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else                             return false;
    if (left < len || !in_range(p + 1, lo, hi))
        return false;
    for (size_t i = 2; i < len; i++)
        if (!in_range(p + i, 0x80, 0xBF))
            return false;
    s->p += len;
    return true;
}

static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9')      d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else                           return -1;
        v = v << 4 | d;
    }
    return v;
}

/* \uXXXX at s->p (past the backslash and 'u'); a high surrogate must be
 * followed by an escaped low one. */
static bool scan_u_escape(struct jscan *s)
{
    if (s->end - s->p < 4)
        return false;
    int u = hex4(s->p);
    s->p += 4;
    if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
        return false;
    if (u < 0xD800 || u > 0xDBFF)
        return true;
    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u')
        return false;
    int lo = hex4(s->p + 2);
    s->p += 6;
    return lo >= 0xDC00 && lo <= 0xDFFF;
}

static bool scan_escape(struct jscan *s)
{
    if (++s->p >= s->end)
        return false;
    unsigned char c = *s->p++;
    if (c == 'u')
        return scan_u_escape(s);
    return c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' ||
           c == 'n' || c == 'r' || c == 't';
}

/* True when none of 8 bytes needs a closer look in a string: no control
 * byte, quote, backslash or non-ASCII byte (the classic "has zero byte" /
 * "has byte less than" word tricks, exact as yes/no answers when no byte
 * has its high bit set, which the last term checks). */
static bool plain8(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101ULL, high = ones * 0x80;
    uint64_t x, q, bs;
    memcpy(&x, p, 8);
    q = x ^ (ones * '"');
    bs = x ^ (ones * '\\');
    uint64_t special = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) |
                       ((bs - ones) & ~bs) | x;
    return (special & high) == 0;
}

/* A string at s->p (the opening quote). */
static bool scan_string(struct jscan *s)
{
    s->p++;
    while (s->p < s->end) {
        while (s->end - s->p >= 8 && plain8(s->p))
            s->p += 8;
        if (s->p >= s->end)
            break;
        unsigned char c = *s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c >= 0x20 && c < 0x80 && c != '\\')
            s->p++;
        else if (c == '\\' ? !scan_escape(s) : c < 0x20 || !scan_utf8(s))
            return false;
    }
    return false;
}

static bool scan_digits(struct jscan *s)
{
    const unsigned char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool scan_number(struct jscan *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (!scan_digits(s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!scan_digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!scan_digits(s))
            return false;
    }
    return true;
}

static bool scan_literal(struct jscan *s, const char *lit, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return false;
    s->p += n;
    return true;
}

/* A scalar at s->p (not an object or array). */
static bool scan_scalar(struct jscan *s)
{
    switch (*s->p) {
    case '"': return scan_string(s);
    case 't': return scan_literal(s, "true", 4);
    case 'f': return scan_literal(s, "false", 5);
    case 'n': return scan_literal(s, "null", 4);
    default:
        return *s->p == '-' || (*s->p >= '0' && *s->p <= '9') ? scan_number(s)
                                                              : false;
    }
}

/* An object member's key and colon; leaves s->p at the value. */
static bool scan_key(struct jscan *s)
{
    if (s->p >= s->end || *s->p != '"' || !scan_string(s))
        return false;
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':')
        return false;
    s->p++;
    skip_ws(s);
    return true;
}

bool br_json_valid(const unsigned char *p, size_t n)
{
    struct jscan s = { p, p + n };
    char stack[JSON_MAX_DEPTH];      /* '{' or '[' per open container */
    size_t depth = 0;

    skip_ws(&s);
    for (;;) {
        /* here a value is expected */
        if (s.p >= s.end)
            return false;
        unsigned char c = *s.p;
        if (c == '{' || c == '[') {
            if (depth == JSON_MAX_DEPTH)
                return false;
            stack[depth++] = (char)c;
            s.p++;
            skip_ws(&s);
            if (s.p < s.end && *s.p == (c == '{' ? '}' : ']')) {
                s.p++;
                depth--;
            } else if (c == '[' || scan_key(&s)) {
                continue;
            } else {
                return false;
            }
        } else if (!scan_scalar(&s)) {
            return false;
        }
        /* a value is complete: close containers or move to the next one */
        for (;;) {
            skip_ws(&s);
            if (depth == 0)
                return s.p == s.end;
            if (s.p >= s.end)
                return false;
            char open = stack[depth - 1];
            if (*s.p == (open == '{' ? '}' : ']')) {
                s.p++;
                depth--;
                continue;
            }
            if (*s.p != ',')
                return false;
            s.p++;
            skip_ws(&s);
            if (open == '{' && !scan_key(&s))
                return false;
            break;
        }
    }
}
