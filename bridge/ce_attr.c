/* ce_attr.c - CloudEvents attributes as JSON members or ce-* headers
 * (ce_attr.h). Header values are percent-encoded as the HTTP binding asks
 * (space, '"', '%' and every byte outside 0x21-0x7E), so a header value
 * never holds a CR or LF. */
#include <stdint.h>
#include <string.h>

#include "ce_attr.h"

bool br_ce_string_ok(const unsigned char *p, size_t n)
{
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)      len = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
        else                             return false;
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
            cp <= 0x9F || (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE)
            return false;
        i += len;
    }
    return true;
}

bool br_ce_uri_unreserved(unsigned char c)
{
    return br_ce_name_char(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* What a ce-* header value may hold as it is (HTTP binding 3.1.3.2). */
static bool header_plain(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '%';
}

/* Sized exactly first, as the JSON writer does, so what fits under the
 * cap is written. */
int br_ce_put_pct(struct br_buf *out, const char *s, size_t n, bool (*keep)(unsigned char))
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    size_t need = 0;
    if (n > SIZE_MAX / 4)
        return -1;
    for (size_t i = 0; i < n; i++)
        need += keep(p[i]) ? 1 : 3;
    if (br_buf_reserve(out, need) < 0)
        return -1;
    char *o = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        if (keep(p[i])) {
            *o++ = (char)p[i];
        } else {
            *o++ = '%';
            *o++ = hex[p[i] >> 4];
            *o++ = hex[p[i] & 15];
        }
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 0;
}

/* Writes the name and what separates it from the value. Each append in
 * its own statement: the operands of | are unsequenced. */
static int attr_open(const struct br_ce_out *o, const char *prefix, const char *suffix)
{
    int rc = o->binary ? br_buf_append(o->out, "ce-", 3) : br_buf_append(o->out, ",\"", 2);
    rc |= br_buf_puts(o->out, prefix);
    for (const char *s = suffix; s && *s; s++)
        if (br_ce_name_char((unsigned char)*s))
            rc |= br_buf_putc(o->out, (char)br_ce_lower((unsigned char)*s));
    rc |= o->binary ? br_buf_append(o->out, ": ", 2) : br_buf_append(o->out, "\":", 2);
    return rc ? -1 : 0;
}

int br_ce_attr_str(const struct br_ce_out *o, const char *prefix, const char *suffix,
                   const void *v, size_t n)
{
    if (attr_open(o, prefix, suffix) < 0)
        return -1;
    if (o->binary)
        return br_ce_put_pct(o->out, v, n, header_plain) < 0 ? -1 : br_buf_putc(o->out, '\0');
    return br_buf_put_json_str(o->out, v, n);
}

int br_ce_attr_cstr(const struct br_ce_out *o, const char *name, const char *v)
{
    return br_ce_attr_str(o, name, NULL, v, strlen(v));
}

/* Base64 needs no percent-encoding: its alphabet is all plain. */
int br_ce_attr_b64(const struct br_ce_out *o, const char *name,
                   const unsigned char *p, size_t n)
{
    int rc = attr_open(o, name, NULL);
    if (!o->binary)
        rc |= br_buf_putc(o->out, '"');
    rc |= br_buf_put_base64(o->out, p, n);
    rc |= br_buf_putc(o->out, o->binary ? '\0' : '"');
    return rc ? -1 : 0;
}
