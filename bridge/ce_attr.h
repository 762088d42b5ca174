/* ce_attr.h - writing CloudEvents attributes, shared by the cloudevents
 * format (format_cloudevents.c) and the record kinds that add attributes
 * of their own (extensions): the same attribute is a JSON member of a
 * structured event or a ce-<name> request header in binary mode. */
#ifndef BR_CE_ATTR_H
#define BR_CE_ATTR_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Where attributes go: JSON members ,"<name>":<value> of a structured
 * event, or "ce-<name>: <value>" header lines, each NUL-terminated. */
struct br_ce_out {
    struct br_buf *out;
    bool binary;
};

/* The characters an extension name keeps (CloudEvents: a-z 0-9; upper
 * case letters are kept lowered). */
static inline bool br_ce_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static inline unsigned char br_ce_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* The attribute name (prefix, then suffix reduced to lowered a-z 0-9 when
 * not NULL) with the string value v[0..n): JSON-escaped in a structured
 * event, percent-encoded in a header. Returns 0 or -1. */
int br_ce_attr_str(const struct br_ce_out *o, const char *prefix, const char *suffix,
                   const void *v, size_t n);
int br_ce_attr_cstr(const struct br_ce_out *o, const char *name, const char *v);
/* The attribute with p[0..n) in base64. */
int br_ce_attr_b64(const struct br_ce_out *o, const char *name,
                   const unsigned char *p, size_t n);

/* A CloudEvents String: UTF-8 without control characters, surrogates or
 * noncharacters. */
bool br_ce_string_ok(const unsigned char *p, size_t n);

/* Appends s[0..n) with each byte keep() refuses as %XX. */
int br_ce_put_pct(struct br_buf *out, const char *s, size_t n, bool (*keep)(unsigned char));
/* A URI's unreserved characters (A-Z a-z 0-9 - . _ ~): what a segment of
 * the source attribute keeps as it is. */
bool br_ce_uri_unreserved(unsigned char c);

#endif
