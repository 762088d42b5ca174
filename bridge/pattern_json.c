/* pattern_json.c - JSON reading for event patterns (pattern_json.h): the
 * fast reads the matcher walks records with, the strict ones that check
 * a pattern or a test document and say where it goes wrong, and string
 * decoding. Nothing here allocates or recurses. */
#include <stdint.h>
#include <string.h>

#include "pattern_json.h"
#include "utf8.h"

/* The strict check's nesting limit (br_pj_check_value), as json_check.c. */
#define PJ_MAX_DEPTH 512

/* Where the first quote or backslash is among the 8 bytes at p, or 8:
 * the "has a zero byte" test on the bytes xored with each, whose lowest
 * flagged byte is exact (a borrow only flags bytes above a true one). */
static unsigned quote_or_backslash8(const char *p)
{
    const uint64_t ones = 0x0101010101010101ULL, high = ones * 0x80;
    uint64_t x, q, b;
    memcpy(&x, p, 8);
    q = x ^ (ones * '"');
    b = x ^ (ones * '\\');
    uint64_t hit = (((q - ones) & ~q) | ((b - ones) & ~b)) & high;
    if (!hit)
        return 8;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (unsigned)__builtin_ctzll(hit) >> 3;
#else
    unsigned i = 0;
    while (p[i] != '"' && p[i] != '\\')
        i++;
    return i;
#endif
}

/* Past the closing quote of the string whose contents start at p; *esc
 * set when a backslash was seen. Plain bytes go 8 at a time. */
static const char *string_close(const char *p, const char *end, bool *esc)
{
    for (;;) {
        unsigned at = 8;
        while (end - p >= 8 && (at = quote_or_backslash8(p)) == 8)
            p += 8;
        if (end - p >= 8)
            p += at;
        else
            while (p < end && *p != '"' && *p != '\\')
                p++;
        if (p >= end)
            return NULL;
        if (*p == '"')
            return p + 1;
        *esc = true;
        p += 2;                     /* the escaped byte may be a quote */
        if (p > end)
            return NULL;
    }
}

const char *br_pj_string(const char *s, const char *end, struct br_pj_str *out)
{
    if (s >= end || *s != '"')
        return NULL;
    bool esc = false;
    const char *after = string_close(s + 1, end, &esc);
    if (!after)
        return NULL;
    out->raw = s + 1;
    out->len = (size_t)(after - 1 - (s + 1));
    out->esc = esc;
    return after;
}

static bool scalar_byte(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' ||
           c == '.' || c == 'E';
}

const char *br_pj_scalar_end(const char *s, const char *end)
{
    const char *p = s;
    while (p < end && scalar_byte(*p))
        p++;
    return p > s ? p : NULL;
}

const char *br_pj_skip(const char *s, const char *end)
{
    if (s >= end)
        return NULL;
    if (*s == '"') {
        bool esc = false;
        return string_close(s + 1, end, &esc);
    }
    if (*s != '{' && *s != '[')
        return br_pj_scalar_end(s, end);
    size_t depth = 0;
    while (s < end) {
        char c = *s;
        if (c == '"') {
            bool esc = false;
            s = string_close(s + 1, end, &esc);
            if (!s)
                return NULL;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return s + 1;
        s++;
    }
    return NULL;
}

/* ---- strict reads ---- */

static const char *fail(struct br_pj_err *e, const char *at, const char *why)
{
    e->at = (size_t)(at - e->base);
    e->why = why;
    return NULL;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* \uXXXX at p (past "\u"); a high surrogate needs an escaped low one. */
static const char *check_u(const char *p, const char *end, struct br_pj_err *e)
{
    int u = end - p >= 4 ? hex4(p) : -1;
    if (u < 0)
        return fail(e, p, "\\u needs four hex digits");
    if (u >= 0xDC00 && u <= 0xDFFF)
        return fail(e, p, "a low surrogate escape without a high one");
    p += 4;
    if (u < 0xD800 || u > 0xDBFF)
        return p;
    int lo = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -1;
    if (lo < 0xDC00 || lo > 0xDFFF)
        return fail(e, p, "a high surrogate escape without a low one");
    return p + 6;
}

static const char *check_escape(const char *p, const char *end, struct br_pj_err *e)
{
    if (p >= end)
        return fail(e, p, "unterminated string");
    switch (*p) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return p + 1;
    case 'u':
        return check_u(p + 1, end, e);
    default:
        return fail(e, p, "invalid escape in a string");
    }
}

const char *br_pj_check_string(const char *s, const char *end, struct br_pj_str *out,
                               struct br_pj_err *e)
{
    if (s >= end || *s != '"')
        return fail(e, s, "expected a string");
    const char *p = s + 1;
    bool esc = false;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            out->raw = s + 1;
            out->len = (size_t)(p - (s + 1));
            out->esc = esc;
            return p + 1;
        }
        if (c == '\\') {
            esc = true;
            p = check_escape(p + 1, end, e);
            if (!p)
                return NULL;
        } else if (c < 0x20) {
            return fail(e, p, "a control character in a string (escape it)");
        } else if (c < 0x80) {
            p++;
        } else {
            size_t n = br_utf8_len((const unsigned char *)p, (size_t)(end - p));
            if (!n)
                return fail(e, p, "invalid UTF-8 in a string");
            p += n;
        }
    }
    return fail(e, s, "unterminated string");
}

static const char *digits(const char *p, const char *end)
{
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
const char *br_pj_check_number(const char *s, const char *end, struct br_pj_err *e)
{
    const char *p = s, *q;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if ((q = digits(p, end)) == p)
        return fail(e, s, "invalid number");
    else
        p = q;
    if (p < end && *p == '.') {
        if ((q = digits(p + 1, end)) == p + 1)
            return fail(e, s, "invalid number: no digit after the decimal point");
        p = q;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if ((q = digits(p, end)) == p)
            return fail(e, s, "invalid number: no digit in the exponent");
        p = q;
    }
    return p;
}

static const char *check_scalar(const char *s, const char *end, struct br_pj_err *e)
{
    struct br_pj_str str;
    static const char *const lits[] = {"true", "false", "null"};
    if (*s == '"')
        return br_pj_check_string(s, end, &str, e);
    if (*s == '-' || (*s >= '0' && *s <= '9'))
        return br_pj_check_number(s, end, e);
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(lits[i]);
        if ((size_t)(end - s) >= n && memcmp(s, lits[i], n) == 0)
            return s + n;
    }
    return fail(e, s, "expected a value");
}

/* A member name and its colon: returns the value's first byte. */
static const char *check_key(const char *s, const char *end, struct br_pj_err *e)
{
    struct br_pj_str key;
    if (s >= end || *s != '"')
        return fail(e, s, s >= end ? "unexpected end of text" : "expected a member name in quotes");
    s = br_pj_check_string(s, end, &key, e);
    if (!s)
        return NULL;
    s = br_pj_ws(s, end);
    if (s >= end || *s != ':')
        return fail(e, s, "expected ':' after a member name");
    return br_pj_ws(s + 1, end);
}

/* After a value inside containers stack[0..*depth): past ',' to the next
 * member or element (*more set), or past the closing brackets of every
 * container it ends; NULL with e on an error. */
static const char *check_after(const char *s, const char *end, const char *stack, int *depth,
                               bool *more, struct br_pj_err *e)
{
    *more = false;
    while (*depth > 0) {
        s = br_pj_ws(s, end);
        char close = stack[*depth - 1] == '{' ? '}' : ']';
        if (s >= end)
            return fail(e, s, "unexpected end of text");
        if (*s == ',') {
            *more = true;
            return br_pj_ws(s + 1, end);
        }
        if (*s != close)
            return fail(e, s, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        (*depth)--;
        s++;
    }
    return s;
}

const char *br_pj_check_value(const char *s, const char *end, int maxdepth,
                              struct br_pj_err *e)
{
    char stack[PJ_MAX_DEPTH];
    int depth = 0;
    bool more;
    if (maxdepth > PJ_MAX_DEPTH)
        maxdepth = PJ_MAX_DEPTH;
    s = br_pj_ws(s, end);
    for (;;) {
        if (s >= end)
            return fail(e, s, "unexpected end of text");
        if (*s == '{' || *s == '[') {
            if (depth == maxdepth)
                return fail(e, s, "nested too deep");
            stack[depth++] = *s;
            const char *open = s;
            s = br_pj_ws(s + 1, end);
            if (s < end && *s == (*open == '{' ? '}' : ']')) {
                depth--;
                s++;
            } else {
                if (*open == '{' && !(s = check_key(s, end, e)))
                    return NULL;
                continue;
            }
        } else if (!(s = check_scalar(s, end, e))) {
            return NULL;
        }
        s = check_after(s, end, stack, &depth, &more, e);
        if (!s || !more)
            return s;
        if (stack[depth - 1] == '{' && !(s = check_key(s, end, e)))
            return NULL;
    }
}

/* ---- decoding ---- */

static size_t put_utf8(unsigned char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One escape at *pp (its backslash) into out[0..4): the bytes it stands
 * for. Lone surrogates and malformed escapes give U+FFFD. */
static size_t decode_escape(const char **pp, const char *end, unsigned char *out)
{
    const char *p = *pp + 1;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (p >= end) {
        *pp = end;
        return 0;
    }
    const char *hit = *p ? strchr(from, *p) : NULL;
    if (hit) {
        *pp = p + 1;
        out[0] = (unsigned char)to[hit - from];
        return 1;
    }
    int u = *p == 'u' && end - p >= 5 ? hex4(p + 1) : -1;
    if (u < 0) {
        *pp = p + 1;
        return put_utf8(out, 0xFFFD);
    }
    p += 5;
    uint32_t cp = (uint32_t)u;
    if (u >= 0xD800 && u <= 0xDBFF) {
        int lo = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -1;
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((uint32_t)(u - 0xD800) << 10) + (uint32_t)(lo - 0xDC00);
            p += 6;
        } else {
            cp = 0xFFFD;
        }
    } else if (u >= 0xDC00 && u <= 0xDFFF) {
        cp = 0xFFFD;
    }
    *pp = p;
    return put_utf8(out, cp);
}

/* Copies the part of src[0..n) (decoded bytes [at, at + n)) that falls in
 * the window [skip, skip + cap) to out. */
static void put_window(char *out, size_t cap, size_t skip, size_t at, const void *src,
                       size_t n)
{
    size_t lo = at > skip ? at : skip, hi = at + n < skip + cap ? at + n : skip + cap;
    if (lo < hi)
        memcpy(out + (lo - skip), (const char *)src + (lo - at), hi - lo);
}

size_t br_pj_decode(const struct br_pj_str *s, char *out, size_t cap, size_t skip)
{
    const char *p = s->raw, *end = s->raw + s->len;
    size_t at = 0;
    while (p < end) {
        const char *b = s->esc ? memchr(p, '\\', (size_t)(end - p)) : NULL;
        const char *run_end = b ? b : end;
        put_window(out, cap, skip, at, p, (size_t)(run_end - p));
        at += (size_t)(run_end - p);
        p = run_end;
        if (p < end) {
            unsigned char u[4];
            size_t n = decode_escape(&p, end, u);
            put_window(out, cap, skip, at, u, n);
            at += n;
        }
    }
    return at;
}

void br_pj_cursor_init(struct br_pj_cursor *c, const struct br_pj_str *s)
{
    c->p = s->raw;
    c->end = s->raw + s->len;
    c->npend = c->ipend = 0;
}

size_t br_pj_cursor_read(struct br_pj_cursor *c, char *out, size_t cap)
{
    size_t n = 0;
    while (n < cap) {
        if (c->ipend < c->npend) {
            out[n++] = (char)c->pend[c->ipend++];
            continue;
        }
        if (c->p >= c->end)
            break;
        if (*c->p != '\\') {
            const char *b = memchr(c->p, '\\', (size_t)(c->end - c->p));
            size_t run = (size_t)((b ? b : c->end) - c->p);
            if (run > cap - n)
                run = cap - n;
            memcpy(out + n, c->p, run);
            n += run;
            c->p += run;
            continue;
        }
        c->npend = (unsigned)decode_escape(&c->p, c->end, c->pend);
        c->ipend = 0;
    }
    return n;
}
