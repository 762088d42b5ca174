/* pattern_rule.c - whether one value of a document satisfies a field's
 * rules (pattern_int.h), by EventBridge's typing: string operators see
 * strings only, numeric ones numbers only, exact numbers compare by value
 * (300 is 300.0) and else by spelling, and anything-but matches every
 * value it does not exclude, null and other types included. */
#include <string.h>

#include "pattern_int.h"
#include "pattern_text.h"

static const char *item_bytes(const struct br_pattern *p, const struct br_pat_item *it)
{
    return p->pool + it->off;
}

/* Items are sorted by length, then bytes. */
static bool in_strings(const struct br_pattern *p, const struct br_pat_rule *r, const char *s,
                       size_t n)
{
    size_t lo = 0, hi = r->nitem;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct br_pat_item *it = &p->items[r->item0 + mid];
        int c = it->len != n ? (it->len < n ? -1 : 1) : br_pt_cmp(item_bytes(p, it), s, n);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool number_read(struct br_pat_value *v)
{
    if (!v->num_state)
        v->num_state = br_pn_parse(v->s, v->n, &v->num) ? 1 : -1;
    return v->num_state > 0;
}

static bool in_numbers(const struct br_pattern *p, const struct br_pat_rule *r,
                       struct br_pat_value *v, bool by_spelling)
{
    bool ok = number_read(v);
    for (uint32_t i = 0; i < r->nitem; i++) {
        const struct br_pat_item *it = &p->items[r->item0 + i];
        if (ok && it->num_ok && br_pn_cmp(&v->num, it->num.micro) == 0)
            return true;
        if (by_spelling && it->len == v->n && br_pt_cmp(item_bytes(p, it), v->s, v->n) == 0)
            return true;
    }
    return false;
}

static bool in_range(const struct br_pat_rule *r, struct br_pat_value *v)
{
    if (!number_read(v))
        return false;
    if (r->lo_set) {
        int c = br_pn_cmp(&v->num, r->lo);
        if (c < 0 || (c == 0 && r->lo_open))
            return false;
    }
    if (r->hi_set) {
        int c = br_pn_cmp(&v->num, r->hi);
        if (c > 0 || (c == 0 && r->hi_open))
            return false;
    }
    return true;
}

static bool in_cidr(const struct br_pat_rule *r, struct br_pat_value *v)
{
    if (v->is_long)
        return false;
    if (!v->ip_state)
        v->ip_state = br_ip_parse(v->s, v->n, &v->ip) ? 1 : -1;
    return v->ip_state > 0 && br_cidr_contains(&r->net, r->bits, &v->ip);
}

/* The string tests on one item; a long value shows them its first or
 * last BR_PV_EDGE bytes, enough for any item. */
static bool affix(const struct br_pattern *p, const struct br_pat_rule *r, bool suffix,
                  const struct br_pat_value *v, const struct br_pat_item *it)
{
    const char *s = v->is_long ? (suffix ? v->tail : v->head) : v->s;
    size_t n = v->is_long ? BR_PV_EDGE : v->n;
    const char *a = item_bytes(p, it);
    if (suffix)
        return r->fold ? br_pt_suffix_fold(s, n, a, it->len) : br_pt_suffix(s, n, a, it->len);
    return r->fold ? br_pt_prefix_fold(s, n, a, it->len) : br_pt_prefix(s, n, a, it->len);
}

static bool equal_fold(const struct br_pattern *p, const struct br_pat_value *v,
                       const struct br_pat_item *it)
{
    return !v->is_long && br_pt_equal_fold(v->s, v->n, item_bytes(p, it), it->len);
}

static bool wild(const struct br_pattern *p, const struct br_pat_value *v, uint32_t i)
{
    const struct br_pw *w = &p->wilds[i];
    return v->is_long ? br_pw_match_long(w, &v->str, v->dlen) : br_pw_match(w, v->s, v->n);
}

/* True when a string rule's test holds for one of its items (its wilds,
 * for the wildcard kinds). */
static bool any_item(const struct br_pattern *p, const struct br_pat_rule *r,
                     const struct br_pat_value *v)
{
    bool wildcards = r->kind == BR_PK_WILDCARD || r->kind == BR_PK_NOT_WILDCARD;
    for (uint32_t i = 0; i < r->nitem; i++) {
        if (wildcards) {
            if (wild(p, v, r->item0 + i))
                return true;
            continue;
        }
        const struct br_pat_item *it = &p->items[r->item0 + i];
        bool hit;
        switch (r->kind) {
        case BR_PK_PREFIX: case BR_PK_NOT_PREFIX: hit = affix(p, r, false, v, it); break;
        case BR_PK_SUFFIX: case BR_PK_NOT_SUFFIX: hit = affix(p, r, true, v, it); break;
        default: hit = equal_fold(p, v, it); break;
        }
        if (hit)
            return true;
    }
    return false;
}

static bool string_rule(const struct br_pattern *p, const struct br_pat_rule *r,
                        struct br_pat_value *v)
{
    switch (r->kind) {
    case BR_PK_EXISTS:
        return true;
    case BR_PK_STRINGS:
        return !v->is_long && in_strings(p, r, v->s, v->n);
    case BR_PK_NOT_STRINGS:
        return v->is_long || !in_strings(p, r, v->s, v->n);
    case BR_PK_PREFIX: case BR_PK_SUFFIX: case BR_PK_EQUAL_FOLD: case BR_PK_WILDCARD:
        return any_item(p, r, v);
    case BR_PK_NOT_PREFIX: case BR_PK_NOT_SUFFIX: case BR_PK_NOT_EQUAL_FOLD:
    case BR_PK_NOT_WILDCARD:
        return !any_item(p, r, v);
    case BR_PK_CIDR:
        return in_cidr(r, v);
    case BR_PK_NOT_NUMBERS:
        return true;
    default:
        return false;
    }
}

static bool number_rule(const struct br_pattern *p, const struct br_pat_rule *r,
                        struct br_pat_value *v)
{
    switch (r->kind) {
    case BR_PK_EXISTS:
        return true;
    case BR_PK_NUMBERS:
        return in_numbers(p, r, v, true);
    case BR_PK_NUMERIC:
        return in_range(r, v);
    case BR_PK_NOT_NUMBERS:
        return !in_numbers(p, r, v, false);
    case BR_PK_NOT_STRINGS: case BR_PK_NOT_PREFIX: case BR_PK_NOT_SUFFIX:
    case BR_PK_NOT_EQUAL_FOLD: case BR_PK_NOT_WILDCARD:
        return true;
    default:
        return false;
    }
}

static bool literal_rule(const struct br_pat_rule *r, const struct br_pat_value *v)
{
    static const uint8_t lit[] = {
        [BR_PV_TRUE] = BR_PAT_LIT_TRUE, [BR_PV_FALSE] = BR_PAT_LIT_FALSE,
        [BR_PV_NULL] = BR_PAT_LIT_NULL};
    switch (r->kind) {
    case BR_PK_EXISTS:
        return true;
    case BR_PK_LITERALS:
        return (r->lits & lit[v->type]) != 0;
    case BR_PK_NOT_STRINGS: case BR_PK_NOT_NUMBERS: case BR_PK_NOT_PREFIX:
    case BR_PK_NOT_SUFFIX: case BR_PK_NOT_EQUAL_FOLD: case BR_PK_NOT_WILDCARD:
        return true;
    default:
        return false;
    }
}

bool br_pat_leaf_test(const struct br_pattern *p, const struct br_pat_leaf *leaf,
                      struct br_pat_value *v)
{
    for (uint32_t i = 0; i < leaf->nrule; i++) {
        const struct br_pat_rule *r = &p->rules[leaf->rule0 + i];
        bool hit = v->type == BR_PV_STRING ? string_rule(p, r, v)
                 : v->type == BR_PV_NUMBER ? number_rule(p, r, v)
                 : literal_rule(r, v);
        if (hit)
            return true;
    }
    return false;
}
