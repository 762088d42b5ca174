/* pattern_layout.c - the compiled pattern's final form (pattern_int.h)
 * from a compilation's nodes, fields and alternatives (pattern_build.h):
 * each field's wildcards checked for complexity, nodes laid out breadth
 * first with their children sorted for the matcher's search, the masks of
 * alternatives, and where array consistency applies. */
#include <stdlib.h>
#include <string.h>

#include "pattern_build.h"

/* ---- wildcard complexity, per path ---- */

/* The path of node x, into b->path for the error message. */
static void node_path(struct br_pb *b, uint32_t x)
{
    uint32_t chain[BR_PATTERN_MAX_DEPTH + 1];
    size_t n = 0;
    for (int32_t c = (int32_t)x; c > 0 && n <= BR_PATTERN_MAX_DEPTH; c = b->nodes[c].parent)
        chain[n++] = (uint32_t)c;
    b->pathlen = 0;
    while (n--)
        br_pb_path_push(b, b->pool + b->nodes[chain[n]].name_off, b->nodes[chain[n]].name_len);
}

static bool same_wild(const struct br_pw *a, const struct br_pw *x)
{
    if (a->nseg != x->nseg)
        return false;
    for (size_t i = 0; i < a->nseg; i++)
        if (a->seg[i].len != x->seg[i].len ||
            memcmp(a->pool + a->seg[i].off, x->pool + x->seg[i].off, a->seg[i].len) != 0)
            return false;
    return true;
}

/* The distinct wildcards of the fields at node x, into w (room for every
 * wildcard of the pattern): their count. */
static size_t node_wilds(const struct br_pb *b, uint32_t x, struct br_pw *w)
{
    size_t n = 0;
    for (int32_t l = b->nodes[x].first_leaf; l >= 0; l = b->leaves[l].next_at) {
        const struct br_pb_leaf *leaf = &b->leaves[l];
        for (uint32_t r = leaf->rule0; r < leaf->rule0 + leaf->nrule; r++) {
            const struct br_pat_rule *rule = &b->rules[r];
            if (rule->kind != BR_PK_WILDCARD && rule->kind != BR_PK_NOT_WILDCARD)
                continue;
            for (uint32_t i = 0; i < rule->nitem; i++) {
                const struct br_pb_wild *bw = &b->wilds[rule->item0 + i];
                struct br_pw cand = {b->pool, b->segs + bw->seg0, bw->nseg};
                size_t k = 0;
                while (k < n && !same_wild(&w[k], &cand))
                    k++;
                if (k == n)
                    w[n++] = cand;
            }
        }
    }
    return n;
}

static bool check_wildcards(struct br_pb *b)
{
    if (!b->nwilds)
        return true;
    struct br_pw *w = malloc(b->nwilds * sizeof *w);
    if (!w)
        return br_pb_error(b, NULL, "out of memory");
    bool ok = true;
    for (uint32_t x = 0; x < b->nnodes && ok; x++) {
        size_t n = node_wilds(b, x, w);
        int c = n ? br_pw_complexity(w, n, BR_PW_MAX_COMPLEXITY) : 0;
        if (c < 0) {
            br_pb_fail(b, NULL, "out of memory");
            ok = false;
        } else if (c > BR_PW_MAX_COMPLEXITY) {
            node_path(b, x);
            br_pb_fail(b, "wildcard", "too complex: a value could be partway through more "
                       "than %d places of this field's wildcards at once (use fewer * or "
                       "fewer repeated characters after a *)", BR_PW_MAX_COMPLEXITY);
            ok = false;
        }
    }
    free(w);
    return ok;
}

/* ---- the layout ---- */

static int node_cmp(const struct br_pb *b, uint32_t x, uint32_t y)
{
    const struct br_pb_node *a = &b->nodes[x], *c = &b->nodes[y];
    if (a->name_len != c->name_len)
        return a->name_len < c->name_len ? -1 : 1;
    return memcmp(b->pool + a->name_off, b->pool + c->name_off, a->name_len);
}

/* Nodes breadth first, so that each one's children are contiguous, and
 * sorted by name length then bytes (the matcher's search); each node's
 * fields contiguous in leaf_ids. */
static bool layout_nodes(struct br_pb *b, struct br_pattern *p)
{
    size_t n = b->nnodes, tail = 1, nids = 0;
    uint32_t *order = malloc(n * sizeof *order);
    p->nodes = calloc(n, sizeof *p->nodes);
    p->leaf_ids = malloc((b->nleaves ? b->nleaves : 1) * sizeof *p->leaf_ids);
    if (!order || !p->nodes || !p->leaf_ids) {
        free(order);
        return br_pb_error(b, NULL, "out of memory");
    }
    order[0] = 0;
    for (size_t i = 0; i < tail; i++) {
        const struct br_pb_node *bn = &b->nodes[order[i]];
        struct br_pat_node *nd = &p->nodes[i];
        nd->name_off = bn->name_off;
        nd->name_len = bn->name_len;
        nd->child0 = (uint32_t)tail;
        for (int32_t c = bn->first_child; c >= 0; c = b->nodes[c].next_sibling) {
            size_t j = tail++;
            for (; j > nd->child0 && node_cmp(b, order[j - 1], (uint32_t)c) > 0; j--)
                order[j] = order[j - 1];
            order[j] = (uint32_t)c;
        }
        nd->nchild = (uint32_t)tail - nd->child0;
        for (uint32_t k = nd->child0; k < tail; k++) {
            const struct br_pb_node *cn = &b->nodes[order[k]];
            if (!cn->name_len)
                nd->empty_child = true;
            else
                nd->first[(unsigned char)b->pool[cn->name_off] >> 6] |=
                    (uint64_t)1 << ((unsigned char)b->pool[cn->name_off] & 63);
        }
        nd->leaf0 = (uint32_t)nids;
        for (int32_t l = bn->first_leaf; l >= 0; l = b->leaves[l].next_at)
            p->leaf_ids[nids++] = (uint32_t)l;
        nd->nleaf = (uint32_t)nids - nd->leaf0;
    }
    p->nnodes = (uint32_t)n;
    free(order);
    return true;
}

static unsigned popcount(const struct br_pat_mask *m, unsigned nw)
{
    unsigned c = 0;
    for (unsigned i = 0; i < nw; i++)
        c += (unsigned)__builtin_popcountll(m->w[i]);
    return c;
}

/* For each node but the document, the alternatives that need two or
 * more of the fields below it (fields that may be absent aside). */
#define MAX_CONS 65536

static bool layout_cons(struct br_pb *b, struct br_pattern *p)
{
    size_t n = p->nnodes, ncons = 0, cap = 0;
    struct br_pat_mask *below = calloc(n, sizeof *below);
    if (!below)
        return br_pb_error(b, NULL, "out of memory");
    for (size_t i = n; i-- > 0;) {
        const struct br_pat_node *nd = &p->nodes[i];
        for (uint32_t k = 0; k < nd->nleaf; k++)
            br_pat_mask_set(&below[i], p->leaf_ids[nd->leaf0 + k]);
        for (uint32_t c = nd->child0; c < nd->child0 + nd->nchild; c++)
            for (unsigned w = 0; w < BR_PAT_WORDS; w++)
                below[i].w[w] |= below[c].w[w];
    }
    bool ok = true;
    for (size_t i = 1; i < n && ok; i++) {
        p->nodes[i].cons0 = (uint32_t)ncons;
        for (uint32_t a = 0; a < p->nalts && ok; a++) {
            struct br_pat_cons c = {.alt = a};
            for (unsigned w = 0; w < BR_PAT_WORDS; w++)
                c.need.w[w] = p->alt_need[a].w[w] & below[i].w[w] & ~p->absent_ok.w[w];
            if (popcount(&c.need, BR_PAT_WORDS) < 2)
                continue;
            if (ncons == MAX_CONS)
                ok = br_pb_error(b, NULL, "too complex: too many alternatives with fields "
                                "inside arrays");
            else if (!br_pb_grow(b, (void **)&p->cons, &cap, ncons + 1, sizeof *p->cons))
                ok = false;
            else
                p->cons[ncons++] = c;
        }
        p->nodes[i].ncons = (uint32_t)ncons - p->nodes[i].cons0;
    }
    free(below);
    return ok;
}

/* ---- the result ---- */

static bool finish_masks(struct br_pb *b, struct br_pattern *p, const struct br_pb_alts *alts)
{
    p->nleaves = (uint32_t)b->nleaves;
    p->nalts = (uint32_t)alts->n;
    p->nwords = p->nleaves ? (p->nleaves + 63) / 64 : 1;
    p->nawords = p->nalts ? (p->nalts + 63) / 64 : 1;
    p->alt_need = malloc((alts->n ? alts->n : 1) * sizeof *p->alt_need);
    p->leaves = malloc((b->nleaves ? b->nleaves : 1) * sizeof *p->leaves);
    if (!p->alt_need || !p->leaves)
        return br_pb_error(b, NULL, "out of memory");
    memcpy(p->alt_need, alts->v, alts->n * sizeof *p->alt_need);
    for (size_t i = 0; i < b->nleaves; i++) {
        p->leaves[i].rule0 = b->leaves[i].rule0;
        p->leaves[i].nrule = b->leaves[i].nrule;
        p->leaves[i].absent_ok = b->leaves[i].absent_ok;
        if (b->leaves[i].absent_ok)
            br_pat_mask_set(&p->absent_ok, (unsigned)i);
    }
    return true;
}

/* Moves the pool, rules, items and segments to p and points its
 * wildcards at them. */
static bool finish_arrays(struct br_pb *b, struct br_pattern *p)
{
    p->pool = b->pool;
    p->rules = b->rules;
    p->items = b->items;
    p->segs = b->segs;
    b->pool = NULL;
    b->rules = NULL;
    b->items = NULL;
    b->segs = NULL;
    if (!b->nwilds)
        return true;
    p->wilds = malloc(b->nwilds * sizeof *p->wilds);
    if (!p->wilds)
        return br_pb_error(b, NULL, "out of memory");
    for (size_t i = 0; i < b->nwilds; i++)
        p->wilds[i] = (struct br_pw){p->pool, p->segs + b->wilds[i].seg0, b->wilds[i].nseg};
    return true;
}

struct br_pattern *br_pb_finish(struct br_pb *b, const struct br_pb_alts *alts)
{
    struct br_pattern *p = calloc(1, sizeof *p);
    if (!p) {
        br_pb_fail(b, NULL, "out of memory");
        return NULL;
    }
    if (check_wildcards(b) && finish_masks(b, p, alts) && layout_nodes(b, p) &&
        layout_cons(b, p) && finish_arrays(b, p))
        return p;
    br_pattern_free(p);
    return NULL;
}

void br_pattern_free(struct br_pattern *p)
{
    if (!p)
        return;
    free(p->nodes);
    free(p->leaf_ids);
    free(p->leaves);
    free(p->rules);
    free(p->items);
    free(p->wilds);
    free(p->segs);
    free(p->cons);
    free(p->alt_need);
    free(p->pool);
    free(p);
}
