/* filter_json.c - a config value as JSON text (filter_json.h). The loader
 * keeps each scalar's text and whether it was quoted, which is all YAML
 * 1.2's core schema needs to type it; plain text JSON has no spelling for
 * is refused rather than guessed at. (The loader's nesting limit bounds
 * the recursion.) */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "filter_json.h"

#define PATH_LEN 256

static size_t digits(const char *p)
{
    return strspn(p, "0123456789");
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, all of s. */
static bool json_number(const char *s)
{
    const char *p = s + (*s == '-');
    size_t n = digits(p);
    if (n == 0 || (n > 1 && *p == '0'))
        return false;
    p += n;
    if (*p == '.') {
        if (!(n = digits(++p)))
            return false;
        p += n;
    }
    if (*p == 'e' || *p == 'E') {
        p += p[1] == '+' || p[1] == '-' ? 2 : 1;
        if (!(n = digits(p)))
            return false;
        p += n;
    }
    return *p == '\0';
}

static bool all_of(const char *s, const char *set)
{
    return *s && strspn(s, set) == strlen(s);
}

/* YAML 1.2 core schema ints and floats: [-+]?[0-9]+, 0o[0-7]+,
 * 0x[0-9a-fA-F]+, [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?,
 * [-+]?\.inf and \.nan (in three cases each). */
static bool yaml_number(const char *s)
{
    if (!strncmp(s, "0o", 2) && all_of(s + 2, "01234567"))
        return true;
    if (!strncmp(s, "0x", 2) && all_of(s + 2, "0123456789abcdefABCDEF"))
        return true;
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))
        return true;
    const char *p = s + (*s == '-' || *s == '+');
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF"))
        return true;
    size_t whole = digits(p), frac = 0;
    p += whole;
    if (*p == '.')
        p += 1 + (frac = digits(p + 1));
    if (!whole && !frac)
        return false;
    if (*p == 'e' || *p == 'E') {
        p += p[1] == '+' || p[1] == '-' ? 2 : 1;
        size_t n = digits(p);
        if (!n)
            return false;
        p += n;
    }
    return *p == '\0';
}

static bool one_of(const char *s, const char *a, const char *b, const char *c)
{
    return !strcmp(s, a) || !strcmp(s, b) || !strcmp(s, c);
}

static int oom(const struct br_node *node, const char *path, struct br_errors *errs)
{
    br_errors_add(errs, node, path, "out of memory");
    return -1;
}

/* A scalar: quoted is text; plain is typed as YAML 1.2 types it. The
 * loader gives every null spelling ("", ~, null, Null, NULL) as "". */
static int put_scalar(const struct br_node *node, const char *path, struct br_buf *out,
                      struct br_errors *errs)
{
    const char *s = node->value;
    int rc;
    if (node->quoted)
        rc = br_buf_put_json_str(out, s, strlen(s));
    else if (!*s || one_of(s, "~", "null", "Null") || !strcmp(s, "NULL"))
        rc = br_buf_puts(out, "null");
    else if (one_of(s, "true", "True", "TRUE"))
        rc = br_buf_puts(out, "true");
    else if (one_of(s, "false", "False", "FALSE"))
        rc = br_buf_puts(out, "false");
    else if (json_number(s))
        rc = br_buf_puts(out, s);
    else if (yaml_number(s)) {
        br_errors_add(errs, node, path, "%s is a number to YAML that JSON does not "
                      "write: write it as JSON does (as in 5, -0.5, 1e3) for a number, "
                      "or quote it (\"%s\") for a string", s, s);
        return -1;
    } else
        rc = br_buf_put_json_str(out, s, strlen(s));
    return rc < 0 ? oom(node, path, errs) : 0;
}

static int put_seq(const struct br_node *node, const char *path, struct br_buf *out,
                   struct br_errors *errs)
{
    char ipath[PATH_LEN];
    if (br_buf_putc(out, '[') < 0)
        return oom(node, path, errs);
    for (size_t i = 0; i < node->n; i++) {
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if ((i && br_buf_putc(out, ',') < 0))
            return oom(node, path, errs);
        if (br_filter_json(node->items[i], ipath, out, errs) < 0)
            return -1;
    }
    return br_buf_putc(out, ']') < 0 ? oom(node, path, errs) : 0;
}

/* Keys are text whatever they look like (JSON's are strings). */
static int put_map(const struct br_node *node, const char *path, struct br_buf *out,
                   struct br_errors *errs)
{
    char kpath[PATH_LEN];
    if (br_buf_putc(out, '{') < 0)
        return oom(node, path, errs);
    for (size_t i = 0; i < node->n; i++) {
        const char *key = node->keys[i]->value;
        snprintf(kpath, sizeof(kpath), "%s.%s", path, key);
        if ((i && br_buf_putc(out, ',') < 0) ||
            br_buf_put_json_str(out, key, strlen(key)) < 0 || br_buf_putc(out, ':') < 0)
            return oom(node, path, errs);
        if (br_filter_json(node->items[i], kpath, out, errs) < 0)
            return -1;
    }
    return br_buf_putc(out, '}') < 0 ? oom(node, path, errs) : 0;
}

int br_filter_json(const struct br_node *node, const char *path, struct br_buf *out,
                   struct br_errors *errs)
{
    switch (node->type) {
    case BR_NODE_SCALAR:
        return put_scalar(node, path, out, errs);
    case BR_NODE_SEQ:
        return put_seq(node, path, out, errs);
    case BR_NODE_MAP:
        return put_map(node, path, out, errs);
    }
    return -1;
}
