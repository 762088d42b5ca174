/* pattern_wild.c - wildcard values (pattern_wild.h): parsing their
 * escapes into segments, matching a decoded value or a long one through
 * a cursor, and the complexity a field's wildcards add up to, found by
 * exploring the sets of places they can be in at once. */
#include <stdlib.h>
#include <string.h>

#include "pattern_wild.h"

size_t br_pw_parse(const char *s, size_t n, char *out, uint32_t *seglen, const char **why,
                   size_t *at)
{
    size_t nseg = 0, o = 0, start = 0;
    bool star = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '*') {
            if (star) {
                *why = "two * in a row (one matches any run of characters)";
                *at = i;
                return 0;
            }
            seglen[nseg++] = (uint32_t)(o - start);
            start = o;
            star = true;
            continue;
        }
        star = false;
        if (c == '\\') {
            if (i + 1 >= n || (s[i + 1] != '*' && s[i + 1] != '\\')) {
                *why = "a backslash may escape only * or \\";
                *at = i;
                return 0;
            }
            c = s[++i];
        }
        out[o++] = c;
    }
    seglen[nseg++] = (uint32_t)(o - start);
    return nseg;
}

static const char *seg_bytes(const struct br_pw *w, size_t i)
{
    return w->pool + w->seg[i].off;
}

bool br_pw_match(const struct br_pw *w, const char *s, size_t n)
{
    size_t l0 = w->seg[0].len;
    if (w->nseg == 1)
        return n == l0 && memcmp(s, seg_bytes(w, 0), n) == 0;
    size_t ll = w->seg[w->nseg - 1].len;
    if (n < l0 + ll || memcmp(s, seg_bytes(w, 0), l0) != 0 ||
        memcmp(s + n - ll, seg_bytes(w, w->nseg - 1), ll) != 0)
        return false;
    size_t pos = l0, limit = n - ll;
    for (size_t i = 1; i + 1 < w->nseg; i++) {
        size_t len = w->seg[i].len;
        const char *f = memmem(s + pos, limit - pos, seg_bytes(w, i), len);
        if (!f)
            return false;
        pos = (size_t)(f - s) + len;
    }
    return true;
}

/* ---- long values, through a window over the cursor ---- */

#define WIN 8192                    /* twice the longest segment */

struct window {
    struct br_pj_cursor cur;
    char buf[WIN];
    size_t start, len;              /* decoded offset of buf[0], bytes held */
};

/* Finds seg[0..len) at decoded offset >= pos, ending by limit; returns
 * its end or (size_t)-1. Keeps len - 1 bytes when it slides, so a match
 * across two fills is seen. */
static size_t window_find(struct window *w, size_t pos, size_t limit, const char *seg,
                          size_t len)
{
    for (;;) {
        size_t off = pos > w->start ? pos - w->start : 0;   /* slid past pos */
        const char *f = off <= w->len ? memmem(w->buf + off, w->len - off, seg, len) : NULL;
        if (f) {
            size_t end = w->start + (size_t)(f - w->buf) + len;
            return end <= limit ? end : (size_t)-1;
        }
        if (w->start + w->len >= limit)
            return (size_t)-1;
        size_t keep = w->len >= len - 1 ? w->len - (len - 1) : 0;
        if (keep < off)
            keep = off;
        memmove(w->buf, w->buf + keep, w->len - keep);
        w->start += keep;
        w->len -= keep;
        size_t got = br_pj_cursor_read(&w->cur, w->buf + w->len, WIN - w->len);
        if (!got)
            return (size_t)-1;
        w->len += got;
    }
}

bool br_pw_match_long(const struct br_pw *w, const struct br_pj_str *s, size_t dlen)
{
    char edge[WIN / 2];
    size_t l0 = w->seg[0].len, ll = w->seg[w->nseg - 1].len;
    if (w->nseg == 1 || dlen < l0 + ll)
        return false;               /* one segment is shorter than dlen */
    br_pj_decode(s, edge, l0, 0);
    if (memcmp(edge, seg_bytes(w, 0), l0) != 0)
        return false;
    br_pj_decode(s, edge, ll, dlen - ll);
    if (memcmp(edge, seg_bytes(w, w->nseg - 1), ll) != 0)
        return false;
    struct window local;
    br_pj_cursor_init(&local.cur, s);
    local.start = 0;
    local.len = br_pj_cursor_read(&local.cur, local.buf, WIN);
    size_t pos = l0, limit = dlen - ll;
    for (size_t i = 1; i + 1 < w->nseg; i++) {
        pos = window_find(&local, pos, limit, seg_bytes(w, i), w->seg[i].len);
        if (pos == (size_t)-1)
            return false;
    }
    return true;
}

/* ---- complexity ---- */

#define CX_MAX_SETS 20000           /* past this the wildcards count as too complex */
#define CX_TABLE 32768              /* hash slots, a power of two above CX_MAX_SETS */
#define CX_SLOTS (BR_PW_MAX_COMPLEXITY + 1)
#define TOK_START (-1)
#define TOK_STAR 256

/* A set of places (positions in the concatenated tokens), sorted. */
struct cxset {
    uint16_t n;
    uint16_t pos[CX_SLOTS];
};

struct cx {
    int16_t *tok;                   /* per position: a byte, TOK_STAR or TOK_START */
    uint16_t *end;                  /* per position: one past its wildcard's last */
    size_t npos;
    uint16_t *starts;               /* each wildcard's start place */
    size_t nstarts;
    uint16_t *cand;                 /* step's scratch: 3 per place it steps from */
    struct cxset *sets;
    size_t nsets;
    int32_t *table;
};

static uint32_t set_hash(const struct cxset *s)
{
    uint32_t h = 2166136261u;
    for (uint16_t i = 0; i < s->n; i++)
        h = (h ^ s->pos[i]) * 16777619u;
    return h;
}

/* Adds s unless seen; false when the search is full. */
static bool set_add(struct cx *cx, const struct cxset *s)
{
    uint32_t h = set_hash(s) & (CX_TABLE - 1);
    while (cx->table[h] >= 0) {
        const struct cxset *t = &cx->sets[cx->table[h]];
        if (t->n == s->n && memcmp(t->pos, s->pos, s->n * sizeof s->pos[0]) == 0)
            return true;
        h = (h + 1) & (CX_TABLE - 1);
    }
    if (cx->nsets == CX_MAX_SETS)
        return false;
    cx->sets[cx->nsets] = *s;
    cx->table[h] = (int32_t)cx->nsets++;
    return true;
}

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* The places after reading byte c (-2: a byte no wildcard names) from
 * the places from[0..n): a star stays, and the next token takes c or is
 * a star (then the one after it may take c too). Returns their count, up
 * to limit + 1. */
static int step(const struct cx *cx, const uint16_t *from, size_t n, int c, int limit,
                struct cxset *out)
{
    uint16_t *cand = cx->cand;
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        size_t q = from[i];
        if (cx->tok[q] == TOK_STAR)
            cand[nc++] = (uint16_t)q;
        if (q + 1 < cx->end[q]) {
            cand[nc++] = (uint16_t)(q + 1);
            if (cx->tok[q + 1] == TOK_STAR && q + 2 < cx->end[q])
                cand[nc++] = (uint16_t)(q + 2);
        }
    }
    qsort(cand, nc, sizeof cand[0], cmp_u16);
    out->n = 0;
    for (size_t i = 0; i < nc; i++) {
        int t = cx->tok[cand[i]];
        if ((i && cand[i] == cand[i - 1]) || (t != TOK_STAR && t != c))
            continue;
        if (out->n == limit)
            return limit + 1;
        out->pos[out->n++] = cand[i];
    }
    return out->n;
}

/* Lays the wildcards' tokens end to end, each after a start place:
 * 0, 1 when there are too many to number, -1 when out of memory. */
static int cx_tokens(struct cx *cx, const struct br_pw *w, size_t n, bool *used)
{
    size_t total = 0;
    for (size_t k = 0; k < n; k++) {
        total += 1 + w[k].nseg - 1;
        for (size_t i = 0; i < w[k].nseg; i++)
            total += w[k].seg[i].len;
    }
    if (total >= UINT16_MAX)
        return 1;
    cx->tok = malloc(total * sizeof *cx->tok);
    cx->end = malloc(total * sizeof *cx->end);
    if (!cx->tok || !cx->end)
        return -1;
    cx->starts = malloc(n * sizeof *cx->starts);
    cx->cand = malloc(3 * (n > CX_SLOTS ? n : CX_SLOTS) * sizeof *cx->cand);
    if (!cx->starts || !cx->cand)
        return -1;
    size_t q = 0;
    for (size_t k = 0; k < n; k++) {
        size_t first = q;
        cx->starts[cx->nstarts++] = (uint16_t)q;
        cx->tok[q++] = TOK_START;
        for (size_t i = 0; i < w[k].nseg; i++) {
            if (i)
                cx->tok[q++] = TOK_STAR;
            for (size_t b = 0; b < w[k].seg[i].len; b++) {
                unsigned char c = (unsigned char)w[k].pool[w[k].seg[i].off + b];
                used[c] = true;
                cx->tok[q++] = c;
            }
        }
        for (size_t p = first; p < q; p++)
            cx->end[p] = (uint16_t)q;
    }
    cx->npos = q;
    return 0;
}

/* Breadth first over the sets of places reachable from the starts (the
 * starts themselves are no place a value is partway through). */
static int cx_explore(struct cx *cx, const bool *used, int limit)
{
    struct cxset next;
    int worst = 0;
    for (size_t i = 0; i <= cx->nsets; i++) {        /* 0: the starts */
        for (int c = -2; c < 256; c++) {
            if (c == -1 || (c >= 0 && !used[c]))
                continue;
            struct cxset cur = i ? cx->sets[i - 1] : (struct cxset){0};
            int k = i ? step(cx, cur.pos, cur.n, c, limit, &next)
                      : step(cx, cx->starts, cx->nstarts, c, limit, &next);
            if (k > limit)
                return limit + 1;
            if (k > worst)
                worst = k;
            if (k && !set_add(cx, &next))
                return limit + 1;
        }
    }
    return worst;
}

int br_pw_complexity(const struct br_pw *w, size_t n, int limit)
{
    struct cx cx = {0};
    bool used[256] = {false};
    int result = -1;
    if (limit > BR_PW_MAX_COMPLEXITY)
        limit = BR_PW_MAX_COMPLEXITY;
    if (n == 0)
        return 0;
    int laid = cx_tokens(&cx, w, n, used);
    if (laid) {
        result = laid > 0 ? limit + 1 : -1;
        goto out;
    }
    cx.sets = malloc(CX_MAX_SETS * sizeof *cx.sets);
    cx.table = malloc(CX_TABLE * sizeof *cx.table);
    if (!cx.sets || !cx.table)
        goto out;
    memset(cx.table, 0xFF, CX_TABLE * sizeof *cx.table);
    result = cx_explore(&cx, used, limit);
out:
    free(cx.tok);
    free(cx.end);
    free(cx.starts);
    free(cx.cand);
    free(cx.sets);
    free(cx.table);
    return result;
}
