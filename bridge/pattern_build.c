/* pattern_build.c - the pattern compiler's tools (pattern_build.h):
 * growing arrays, error messages that name the path, and reading the
 * strings, numbers and wildcards of a pattern into the pool. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern_build.h"

bool br_pb_grow(struct br_pb *b, void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * size);
    if (!p)
        return br_pb_error(b, NULL, "out of memory");
    *arr = p;
    *cap = n;
    return true;
}

static void vfail(struct br_pb *b, const char *op, const char *fmt, va_list ap)
{
    if (b->failed)
        return;
    b->failed = true;
    if (!b->errlen)
        return;
    int n = 0;
    if (strcmp(fmt, "out of memory") == 0) {     /* wherever it happens */
        snprintf(b->err, b->errlen, "out of memory");
        return;
    }
    if (b->pathlen)
        n = snprintf(b->err, b->errlen, "%.*s: ", (int)b->pathlen, b->path);
    if (op && n >= 0 && (size_t)n < b->errlen)
        n += snprintf(b->err + n, b->errlen - (size_t)n, "%s: ", op);
    if (n >= 0 && (size_t)n < b->errlen)
        vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
}

const char *br_pb_fail(struct br_pb *b, const char *op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(b, op, fmt, ap);
    va_end(ap);
    return NULL;
}

bool br_pb_error(struct br_pb *b, const char *op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(b, op, fmt, ap);
    va_end(ap);
    return false;
}

size_t br_pb_path_push(struct br_pb *b, const char *name, size_t len_or_index)
{
    size_t was = b->pathlen, room = sizeof b->path - b->pathlen - 1;
    int n = name ? snprintf(b->path + was, room + 1, "%s%.*s", was ? "." : "",
                            (int)len_or_index, name)
                 : snprintf(b->path + was, room + 1, "[%zu]", len_or_index);
    b->pathlen += n > 0 && (size_t)n <= room ? (size_t)n : 0;
    return was;
}

const char *br_pb_json_fail(struct br_pb *b, const struct br_pj_err *e)
{
    return br_pb_fail(b, NULL, "at byte %zu: %s", e->at, e->why);
}

const char *br_pb_expect(struct br_pb *b, const char *s, char c, const char *expected)
{
    s = br_pj_ws(s, b->end);
    if (s < b->end && *s == c)
        return s + 1;
    struct br_pj_err e = {.base = b->text, .at = (size_t)(s - b->text),
                          .why = s < b->end ? expected : "unexpected end of text"};
    return br_pb_json_fail(b, &e);
}

const char *br_pb_string(struct br_pb *b, const char *s, const char *op, const char *must,
                         struct br_pat_item *it)
{
    struct br_pj_str str;
    struct br_pj_err e = {.base = b->text};
    if (s >= b->end || *s != '"')
        return br_pb_fail(b, op, "%s", must);
    const char *after = br_pj_check_string(s, b->end, &str, &e);
    if (!after)
        return br_pb_json_fail(b, &e);
    if (!br_pb_grow(b, (void **)&b->pool, &b->cpool, b->npool + str.len + 1, 1))
        return NULL;
    memset(it, 0, sizeof *it);
    it->off = (uint32_t)b->npool;
    it->len = (uint32_t)br_pj_decode(&str, b->pool + b->npool, str.len, 0);
    b->npool += it->len;
    return after;
}

const char *br_pb_number(struct br_pb *b, const char *s, struct br_pat_item *it)
{
    struct br_pj_err e = {.base = b->text};
    const char *after = br_pj_check_number(s, b->end, &e);
    if (!after)
        return br_pb_json_fail(b, &e);
    size_t len = (size_t)(after - s);
    if (!br_pb_grow(b, (void **)&b->pool, &b->cpool, b->npool + len, 1))
        return NULL;
    memset(it, 0, sizeof *it);
    it->off = (uint32_t)b->npool;
    it->len = (uint32_t)len;
    memcpy(b->pool + b->npool, s, len);
    b->npool += len;
    it->num_ok = br_pn_parse(s, len, &it->num) && !it->num.more;
    return after;
}

struct br_pat_rule *br_pb_rule(struct br_pb *b, enum br_pat_kind kind)
{
    struct br_pat_rule *r = BR_PB_PUSH(b, b->rules, b->nrules, b->crules);
    if (r)
        r->kind = (uint8_t)kind;
    return r;
}

static int item_cmp(const char *pool, const struct br_pat_item *a, const struct br_pat_item *x)
{
    if (a->len != x->len)
        return a->len < x->len ? -1 : 1;
    return memcmp(pool + a->off, pool + x->off, a->len);
}

bool br_pb_sorted_items(struct br_pb *b, struct br_pat_item *items, size_t n,
                        uint32_t *first, uint32_t *count)
{
    /* Insertion sort: lists are short, and a pattern's size bounds them. */
    for (size_t i = 1; i < n; i++) {
        struct br_pat_item x = items[i];
        size_t j = i;
        for (; j > 0 && item_cmp(b->pool, &items[j - 1], &x) > 0; j--)
            items[j] = items[j - 1];
        items[j] = x;
    }
    *first = (uint32_t)b->nitems;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && item_cmp(b->pool, &items[i - 1], &items[i]) == 0)
            continue;
        struct br_pat_item *it = BR_PB_PUSH(b, b->items, b->nitems, b->citems);
        if (!it)
            return false;
        *it = items[i];
        (*count)++;
    }
    return true;
}

bool br_pb_wildcard(struct br_pb *b, const struct br_pat_item *it, const char *op,
                    uint32_t *index)
{
    const char *why;
    size_t at;
    if (!br_pb_grow(b, (void **)&b->pool, &b->cpool, b->npool + it->len, 1) ||
        !br_pb_grow(b, (void **)&b->seglen, &b->cseglen, it->len + 1, sizeof *b->seglen))
        return false;
    size_t base = b->npool;
    size_t nseg = br_pw_parse(b->pool + it->off, it->len, b->pool + base, b->seglen, &why, &at);
    if (!nseg) {
        br_pb_fail(b, op, "%s (at offset %zu of \"%.*s\")", why, at, (int)it->len,
                   b->pool + it->off);
        return false;
    }
    struct br_pb_wild *w = BR_PB_PUSH(b, b->wilds, b->nwilds, b->cwilds);
    if (!w)
        return false;
    *index = (uint32_t)(b->nwilds - 1);
    w->seg0 = (uint32_t)b->nsegs;
    w->nseg = (uint32_t)nseg;
    size_t off = base;
    for (size_t i = 0; i < nseg; i++) {
        struct br_pw_seg *sg = BR_PB_PUSH(b, b->segs, b->nsegs, b->csegs);
        if (!sg)
            return false;
        sg->off = (uint32_t)off;
        sg->len = b->seglen[i];
        off += b->seglen[i];
    }
    b->npool = off;
    return true;
}
