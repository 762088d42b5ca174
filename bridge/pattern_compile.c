/* pattern_compile.c - compiling an event pattern (pattern.h): reading its
 * objects, $or lists and lists of values by EventBridge's grammar into a
 * tree of names with fields and a set of alternatives, which
 * pattern_layout.c then lays out for the matcher. The text is read once,
 * strictly; the first error stops it and names the path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern_build.h"

/* Ruler's names for operators, which a field inside $or may not have. */
static const char *const reserved_in_or[] = {
    "exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists",
    "wildcard", "numeric", "cidr", "=", "<", "<=", ">", ">=", "regex", "not-wildcard",
    "not-equals-ignore-case", "date-after", "date-on-or-after", "date-before",
    "date-on-or-before", "in-date-range", "ip-address-in-range", "ip-address-not-in-range"};

static const char *parse_object(struct br_pb *b, const char *s, uint32_t node,
                                struct br_pb_alts *alts, unsigned depth, bool in_or);

/* ---- alternatives ---- */

static bool alist_add(struct br_pb *b, struct br_pb_alts *a, const struct br_pat_mask *m)
{
    if (a->n == BR_PATTERN_MAX_ALTERNATIVES) {
        br_pb_fail(b, NULL, "$or multiplies the pattern into more than %d alternatives",
                   BR_PATTERN_MAX_ALTERNATIVES);
        return false;
    }
    if (!br_pb_grow(b, (void **)&a->v, &a->cap, a->n + 1, sizeof *a->v))
        return false;
    a->v[a->n++] = *m;
    return true;
}

/* Adds field leaf to every alternative, in place of any field these have
 * at its path: EventBridge keeps the last list given for a path. */
static void alist_put(struct br_pb *b, struct br_pb_alts *a, uint32_t leaf)
{
    const struct br_pb_node *nd = &b->nodes[b->leaves[leaf].node];
    for (size_t i = 0; i < a->n; i++) {
        for (int32_t l = nd->first_leaf; l >= 0; l = b->leaves[l].next_at)
            a->v[i].w[l / 64] &= ~((uint64_t)1 << (l % 64));
        br_pat_mask_set(&a->v[i], leaf);
    }
}

/* ---- nodes ---- */

static int32_t find_child(const struct br_pb *b, uint32_t parent, const char *name, size_t len)
{
    for (int32_t c = b->nodes[parent].first_child; c >= 0; c = b->nodes[c].next_sibling)
        if (b->nodes[c].name_len == len && memcmp(b->pool + b->nodes[c].name_off, name, len) == 0)
            return c;
    return -1;
}

/* The node for a member name (pool bytes [off, off + len)) below parent,
 * one per dot-separated segment, made when missing. */
static bool node_for(struct br_pb *b, uint32_t parent, uint32_t off, uint32_t len,
                     uint32_t *out)
{
    uint32_t at = off, stop = off + len;
    for (;;) {
        const char *dot = memchr(b->pool + at, '.', stop - at);
        uint32_t seg = dot ? (uint32_t)(dot - (b->pool + at)) : stop - at;
        int32_t c = find_child(b, parent, b->pool + at, seg);
        if (c < 0) {
            if (b->nodes[parent].depth + 1 > BR_PATTERN_MAX_DEPTH) {
                br_pb_fail(b, NULL, "nested deeper than %d names", BR_PATTERN_MAX_DEPTH);
                return false;
            }
            struct br_pb_node *nd = BR_PB_PUSH(b, b->nodes, b->nnodes, b->cnodes);
            if (!nd)
                return false;
            c = (int32_t)(b->nnodes - 1);
            nd->name_off = at;
            nd->name_len = seg;
            nd->parent = (int32_t)parent;
            nd->first_child = nd->first_leaf = -1;
            nd->depth = b->nodes[parent].depth + 1;
            nd->next_sibling = b->nodes[parent].first_child;
            b->nodes[parent].first_child = c;
        }
        parent = (uint32_t)c;
        if (!dot)
            break;
        at += seg + 1;
    }
    *out = parent;
    return true;
}

/* ---- a field: its list of values ---- */

/* The plain values of a list (b->exact) and its literals as rules. */
static bool plain_rules(struct br_pb *b, size_t nstr, uint8_t lits)
{
    struct br_pat_rule *r;
    if (nstr) {
        if (!(r = br_pb_rule(b, BR_PK_STRINGS)) ||
            !br_pb_sorted_items(b, b->exact, nstr, &r->item0, &r->nitem))
            return false;
    }
    if (b->nexact > nstr) {
        if (!(r = br_pb_rule(b, BR_PK_NUMBERS)))
            return false;
        r->item0 = (uint32_t)b->nitems;
        r->nitem = (uint32_t)(b->nexact - nstr);
        for (size_t i = nstr; i < b->nexact; i++) {
            struct br_pat_item *it = BR_PB_PUSH(b, b->items, b->nitems, b->citems);
            if (!it)
                return false;
            *it = b->exact[i];
        }
    }
    if (lits && (r = br_pb_rule(b, BR_PK_LITERALS)))
        r->lits = lits;
    return !b->failed;
}

/* An exact string that is an IP address also matches other spellings of
 * it (as EventBridge reads such values as addresses). */
static bool ip_rule(struct br_pb *b, const struct br_pat_item *it)
{
    struct br_ip ip;
    if (!br_ip_parse(b->pool + it->off, it->len, &ip))
        return true;
    struct br_pat_rule *r = br_pb_rule(b, BR_PK_CIDR);
    if (!r)
        return false;
    r->net = ip;
    r->bits = ip.v6 ? 128 : 32;
    return true;
}

/* Reads one element of a list of values: a plain value goes to b->exact
 * (strings first, numbers after: *nstr counts the strings), a literal to
 * *lits, an operator's rules to the rules. */
static const char *list_element(struct br_pb *b, const char *s, size_t *nstr, uint8_t *lits,
                                bool *absent_ok)
{
    static const struct { const char *text; uint8_t bit; } lit[] = {
        {"true", BR_PAT_LIT_TRUE}, {"false", BR_PAT_LIT_FALSE}, {"null", BR_PAT_LIT_NULL}};
    struct br_pat_item it;
    if (s >= b->end)
        return br_pb_expect(b, s, ']', "unexpected end of text");
    if (*s == '{')
        return br_pb_operator(b, s, absent_ok);
    if (*s == '[')
        return br_pb_fail(b, NULL, "a list inside a list of values (values are strings, "
                          "numbers, true, false, null and operator objects)");
    if (*s == '"' || *s == '-' || (*s >= '0' && *s <= '9')) {
        bool str = *s == '"';
        s = str ? br_pb_string(b, s, NULL, "", &it) : br_pb_number(b, s, &it);
        struct br_pat_item *slot = s ? BR_PB_PUSH(b, b->exact, b->nexact, b->cexact) : NULL;
        if (!slot)
            return NULL;
        if (str) {                  /* keep strings before numbers */
            memmove(&b->exact[*nstr + 1], &b->exact[*nstr],
                    (b->nexact - 1 - *nstr) * sizeof *slot);
            slot = &b->exact[(*nstr)++];
        }
        *slot = it;
        return !str || ip_rule(b, &it) ? s : NULL;
    }
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(lit[i].text);
        if ((size_t)(b->end - s) >= n && memcmp(s, lit[i].text, n) == 0) {
            *lits |= lit[i].bit;
            return s + n;
        }
    }
    struct br_pj_err e = {.base = b->text, .at = (size_t)(s - b->text), .why = "expected a value"};
    return br_pb_json_fail(b, &e);
}

/* A field: the list of values at s for node, added to the alternatives. */
static const char *parse_field(struct br_pb *b, const char *s, uint32_t node,
                               struct br_pb_alts *alts)
{
    if (b->nleaves == BR_PATTERN_MAX_FIELDS)
        return br_pb_fail(b, NULL, "the pattern names more than %d fields",
                          BR_PATTERN_MAX_FIELDS);
    struct br_pb_leaf *leaf = BR_PB_PUSH(b, b->leaves, b->nleaves, b->cleaves);
    if (!leaf)
        return NULL;
    uint32_t id = (uint32_t)(b->nleaves - 1);
    size_t nstr = 0;
    uint8_t lits = 0;
    bool absent_ok = false;
    uint32_t rule0 = (uint32_t)b->nrules;
    b->nexact = 0;
    s = br_pj_ws(s + 1, b->end);
    if (s < b->end && *s == ']')
        return br_pb_fail(b, NULL, "an empty list matches nothing");
    for (;;) {
        if (!(s = list_element(b, br_pj_ws(s, b->end), &nstr, &lits, &absent_ok)))
            return NULL;
        s = br_pj_ws(s, b->end);
        if (s < b->end && *s == ',') {
            s = br_pj_ws(s + 1, b->end);
            continue;
        }
        if (!(s = br_pb_expect(b, s, ']', "expected ',' or ']'")))
            return NULL;
        break;
    }
    if (!plain_rules(b, nstr, lits))
        return NULL;
    leaf = &b->leaves[id];
    leaf->node = node;
    leaf->rule0 = rule0;
    leaf->nrule = (uint32_t)b->nrules - rule0;
    leaf->absent_ok = absent_ok;
    leaf->next_at = b->nodes[node].first_leaf;
    b->nodes[node].first_leaf = (int32_t)id;
    alist_put(b, alts, id);
    return s;
}

/* ---- objects and $or ---- */

/* "$or": [{...}, {...}, ...] at s: each object, read on a copy of the
 * alternatives so far, gives its own; together they replace them. */
static const char *parse_or(struct br_pb *b, const char *s, uint32_t node, struct br_pb_alts *alts,
                            unsigned depth)
{
    struct br_pb_alts current = *alts, branch = {0};
    size_t count = 0, was = br_pb_path_push(b, "$or", 3);
    bool listed = s < b->end && *s == '[', closed = false;
    *alts = (struct br_pb_alts){0};
    if (listed)
        s = br_pj_ws(s + 1, b->end);
    while (listed && s < b->end && *s == '{') {
        size_t at = br_pb_path_push(b, NULL, count++);
        branch.n = 0;
        for (size_t i = 0; i < current.n && !b->failed; i++)
            alist_add(b, &branch, &current.v[i]);
        s = b->failed ? NULL : parse_object(b, s, node, &branch, depth + 1, true);
        for (size_t i = 0; s && i < branch.n; i++)
            if (!alist_add(b, alts, &branch.v[i]))
                s = NULL;
        if (!s)
            goto out;
        b->pathlen = at;
        s = br_pj_ws(s, b->end);
        if (s < b->end && *s == ',') {
            s = br_pj_ws(s + 1, b->end);
            continue;
        }
        if (!(s = br_pb_expect(b, s, ']', "expected ',' or ']'")))
            goto out;
        closed = true;
        break;
    }
    if (!closed || count < 2) {
        s = br_pb_fail(b, NULL, "must be a list of at least two objects");
        goto out;
    }
    b->pathlen = was;
out:
    free(current.v);
    free(branch.v);
    return s;
}

static bool reserved(const struct br_pb *b, const struct br_pat_item *key)
{
    for (size_t i = 0; i < sizeof reserved_in_or / sizeof reserved_in_or[0]; i++)
        if (key->len == strlen(reserved_in_or[i]) &&
            memcmp(b->pool + key->off, reserved_in_or[i], key->len) == 0)
            return true;
    return false;
}

/* One member of a pattern object: a nested object, a field, or $or. */
static const char *parse_member(struct br_pb *b, const char *s, uint32_t node,
                                struct br_pb_alts *alts, unsigned depth, bool in_or)
{
    struct br_pat_item key;
    if (s >= b->end || *s != '"') {
        struct br_pj_err e = {.base = b->text, .at = (size_t)(s - b->text),
                              .why = s < b->end ? "expected a member name in quotes"
                                                : "unexpected end of text"};
        return br_pb_json_fail(b, &e);
    }
    if (!(s = br_pb_string(b, s, NULL, "", &key)) ||
        !(s = br_pb_expect(b, s, ':', "expected ':' after a member name")))
        return NULL;
    s = br_pj_ws(s, b->end);
    if (key.len == 3 && memcmp(b->pool + key.off, "$or", 3) == 0)
        return parse_or(b, s, node, alts, depth);
    size_t was = br_pb_path_push(b, b->pool + key.off, key.len);
    uint32_t child;
    if (in_or && reserved(b, &key))
        s = br_pb_fail(b, NULL, "names an operator, which no field inside $or may");
    else if (!node_for(b, node, key.off, key.len, &child))
        s = NULL;
    else if (s < b->end && *s == '{')
        s = depth + 1 > BR_PATTERN_MAX_DEPTH
                ? br_pb_fail(b, NULL, "nested deeper than %d objects", BR_PATTERN_MAX_DEPTH)
                : parse_object(b, s, child, alts, depth + 1, in_or);
    else if (s < b->end && *s == '[')
        s = parse_field(b, s, child, alts);
    else
        s = br_pb_fail(b, NULL, "must be an object or a list of values (a value alone is "
                       "written [value])");
    if (s)
        b->pathlen = was;
    return s;
}

static const char *parse_object(struct br_pb *b, const char *s, uint32_t node,
                                struct br_pb_alts *alts, unsigned depth, bool in_or)
{
    s = br_pj_ws(s + 1, b->end);
    if (s < b->end && *s == '}')
        return br_pb_fail(b, NULL, "an empty object names no field");
    for (;;) {
        if (!(s = parse_member(b, br_pj_ws(s, b->end), node, alts, depth, in_or)))
            return NULL;
        s = br_pj_ws(s, b->end);
        if (s < b->end && *s == ',') {
            s++;
            continue;
        }
        return br_pb_expect(b, s, '}', "expected ',' or '}'");
    }
}

static void build_free(struct br_pb *b)
{
    free(b->nodes);
    free(b->leaves);
    free(b->rules);
    free(b->items);
    free(b->exact);
    free(b->but);
    free(b->wilds);
    free(b->segs);
    free(b->seglen);
    free(b->pool);
    free(b);
}

static const char *parse_pattern(struct br_pb *b, struct br_pb_alts *alts)
{
    const char *s = br_pj_ws(b->text, b->end);
    if (b->end - b->text > BR_PATTERN_MAX_TEXT)
        return br_pb_fail(b, NULL, "the pattern is %zu bytes, more than %d",
                          (size_t)(b->end - b->text), BR_PATTERN_MAX_TEXT);
    if (s >= b->end)
        return br_pb_fail(b, NULL, "the pattern is empty (a pattern is a JSON object)");
    if (*s != '{')
        return br_pb_fail(b, NULL, "a pattern is a JSON object, not this");
    struct br_pb_node *root = BR_PB_PUSH(b, b->nodes, b->nnodes, b->cnodes);
    struct br_pat_mask none = {{0}};
    if (!root)
        return NULL;
    root->parent = root->first_child = root->next_sibling = root->first_leaf = -1;
    if (!alist_add(b, alts, &none))
        return NULL;
    if (!(s = parse_object(b, s, 0, alts, 1, false)))
        return NULL;
    s = br_pj_ws(s, b->end);
    if (s < b->end) {
        struct br_pj_err e = {.base = b->text, .at = (size_t)(s - b->text),
                              .why = "text after the pattern's object"};
        return br_pb_json_fail(b, &e);
    }
    return s;
}

struct br_pattern *br_pattern_compile(const char *text, size_t len, char *err, size_t errlen)
{
    struct br_pb *b = calloc(1, sizeof *b);
    struct br_pb_alts alts = {0};
    struct br_pattern *p = NULL;
    if (errlen)
        err[0] = '\0';
    if (!b) {
        if (errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->text = text ? text : "";
    b->end = b->text + (text ? len : 0);
    b->err = err;
    b->errlen = errlen;
    if (parse_pattern(b, &alts))
        p = br_pb_finish(b, &alts);
    free(alts.v);
    build_free(b);
    return p;
}
