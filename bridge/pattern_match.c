/* pattern_match.c - matching a document against a compiled pattern
 * (pattern.h): one walk over the document's JSON text that follows the
 * pattern's tree of names, skips every subtree the pattern does not name,
 * and notes which fields found a satisfying value and which found any.
 * The walk recurses only where the pattern's tree goes deeper, and
 * allocates nothing: its state is a few masks and two buffers for values
 * with escapes. */
#include <stdio.h>
#include <string.h>

#include "pattern_int.h"
#include "pattern_text.h"

/* The walk's state. seen: fields with a value anywhere (for exists:
 * false); the masks of fields satisfied and of alternatives ruled out
 * travel with the walk, since an array element has masks of its own. */
struct walk {
    const struct br_pattern *p;
    struct br_pat_mask seen;
    char key[BR_PATTERN_MAX_TEXT];          /* a member name with escapes */
    char buf[2 * BR_PV_EDGE];               /* a string value with escapes */
};

/* Fields satisfied (M) and alternatives ruled out (D) in one scope. */
struct scope {
    struct br_pat_mask m, d;
};

static const char *walk_value(struct walk *w, const char *s, const char *end,
                              const struct br_pat_node *n, struct scope *sc);

static void mask_or(struct br_pat_mask *a, const struct br_pat_mask *b, unsigned nw)
{
    for (unsigned i = 0; i < nw; i++)
        a->w[i] |= b->w[i];
}

static bool mask_covers(const struct br_pat_mask *have, const struct br_pat_mask *need,
                        unsigned nw)
{
    for (unsigned i = 0; i < nw; i++)
        if (need->w[i] & ~have->w[i])
            return false;
    return true;
}

static void scope_clear(struct scope *sc, const struct br_pattern *p)
{
    for (unsigned i = 0; i < p->nwords; i++)
        sc->m.w[i] = 0;
    for (unsigned i = 0; i < p->nawords; i++)
        sc->d.w[i] = 0;
}

/* ---- names ---- */

static int name_cmp(const struct br_pattern *p, const struct br_pat_node *c, const char *k,
                    size_t len)
{
    if (c->name_len != len)
        return c->name_len < len ? -1 : 1;
    return memcmp(p->pool + c->name_off, k, len);
}

/* The child of n named k[0..len) (children are sorted by length, then
 * bytes), or NULL. */
static const struct br_pat_node *child(const struct br_pattern *p, const struct br_pat_node *n,
                                       const char *k, size_t len)
{
    const struct br_pat_node *c = p->nodes + n->child0;
    size_t lo = 0, hi = n->nchild;
    if (hi <= 8) {
        for (; lo < hi; lo++)
            if (c[lo].name_len == len && br_pt_cmp(p->pool + c[lo].name_off, k, len) == 0)
                return &c[lo];
        return NULL;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = name_cmp(p, &c[mid], k, len);
        if (r == 0)
            return &c[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The node a member name leads to from n: one step per dot-separated
 * segment, as EventBridge joins names with dots. NULL when the pattern
 * names nothing there. Most names of a record are not the pattern's: the
 * first byte turns them away, and a name is searched for dots only when
 * it is no child's name as a whole (children's names have none). */
static const struct br_pat_node *resolve(const struct br_pattern *p, const struct br_pat_node *n,
                                         const char *k, size_t len)
{
    for (;;) {
        if (!n->nchild)
            return NULL;
        if (len ? !br_pat_may_lead(n, (unsigned char)k[0]) && !(k[0] == '.' && n->empty_child)
                : !n->empty_child)
            return NULL;
        const struct br_pat_node *c = child(p, n, k, len);
        if (c)
            return c;
        const char *dot = len ? memchr(k, '.', len) : NULL;
        if (!dot)
            return NULL;
        size_t seg = (size_t)(dot - k);
        n = child(p, n, k, seg);
        if (!n)
            return NULL;
        k = dot + 1;
        len -= seg + 1;
    }
}

/* The node a record's member leads to from the document, or NULL. */
static const struct br_pat_node *member_node(const struct br_pattern *p, const char *name)
{
    const struct br_pat_node *root = &p->nodes[0];
    if (name[0] && !br_pat_may_lead(root, (unsigned char)name[0]) &&
        !(name[0] == '.' && root->empty_child))
        return NULL;
    return resolve(p, root, name, strlen(name));
}

/* ---- values ---- */

/* Reads the scalar at s into v; returns the byte past it. */
static const char *read_scalar(struct walk *w, const char *s, const char *end,
                               struct br_pat_value *v)
{
    v->num_state = v->ip_state = 0;
    v->is_long = false;
    if (*s != '"') {
        const char *e = br_pj_scalar_end(s, end);
        if (!e)
            return NULL;
        v->type = *s == 't' ? BR_PV_TRUE : *s == 'f' ? BR_PV_FALSE : *s == 'n' ? BR_PV_NULL
                                                                                : BR_PV_NUMBER;
        v->s = s;
        v->n = (size_t)(e - s);
        return e;
    }
    const char *e = br_pj_string(s, end, &v->str);
    if (!e)
        return NULL;
    v->type = BR_PV_STRING;
    v->s = v->str.raw;
    v->n = v->dlen = v->str.len;
    if (!v->str.esc)
        return e;
    v->dlen = br_pj_decode(&v->str, w->buf, BR_PV_EDGE, 0);
    v->s = w->buf;
    v->n = v->dlen;
    if (v->dlen > BR_PV_EDGE) {
        v->is_long = true;
        v->s = NULL;
        v->head = w->buf;
        v->tail = w->buf + BR_PV_EDGE;
        br_pj_decode(&v->str, w->buf + BR_PV_EDGE, BR_PV_EDGE, v->dlen - BR_PV_EDGE);
    }
    return e;
}

/* A scalar at node n: every field there has seen a value, and those
 * whose rules it satisfies join sc's fields. */
static const char *walk_scalar(struct walk *w, const char *s, const char *end,
                               const struct br_pat_node *n, struct scope *sc)
{
    if (!n->nleaf)
        return br_pj_skip(s, end);
    struct br_pat_value v;
    const char *e = read_scalar(w, s, end, &v);
    if (!e)
        return NULL;
    const struct br_pattern *p = w->p;
    for (uint32_t i = 0; i < n->nleaf; i++) {
        uint32_t id = p->leaf_ids[n->leaf0 + i];
        br_pat_mask_set(&w->seen, id);
        if (br_pat_leaf_test(p, &p->leaves[id], &v))
            br_pat_mask_set(&sc->m, id);
    }
    return e;
}

static const char *walk_object(struct walk *w, const char *s, const char *end,
                               const struct br_pat_node *n, struct scope *sc)
{
    s = br_pj_ws(s + 1, end);
    if (s < end && *s == '}')
        return s + 1;
    for (;;) {
        struct br_pj_str k;
        s = br_pj_string(s, end, &k);
        if (!s)
            return NULL;
        s = br_pj_ws(s, end);
        if (s >= end || *s != ':')
            return NULL;
        s = br_pj_ws(s + 1, end);
        const char *name = k.raw;
        size_t len = k.len;
        if (k.esc) {
            len = br_pj_decode(&k, w->key, sizeof w->key, 0);
            name = len <= sizeof w->key ? w->key : NULL;
        }
        const struct br_pat_node *c = name ? resolve(w->p, n, name, len) : NULL;
        s = c ? walk_value(w, s, end, c, sc) : br_pj_skip(s, end);
        if (!s)
            return NULL;
        s = br_pj_ws(s, end);
        if (s < end && *s == ',') {
            s = br_pj_ws(s + 1, end);
            continue;
        }
        return s < end && *s == '}' ? s + 1 : NULL;
    }
}

/* After one element of an array at a consistency node: which of the
 * node's alternatives this element satisfies alone. */
static void cover(const struct br_pattern *p, const struct br_pat_node *n,
                  const struct scope *el, struct br_pat_mask *covered)
{
    for (uint32_t i = 0; i < n->ncons; i++) {
        const struct br_pat_cons *c = &p->cons[n->cons0 + i];
        if (!br_pat_mask_has(&el->d, c->alt) && mask_covers(&el->m, &c->need, p->nwords))
            br_pat_mask_set(covered, i);
    }
}

/* An array at node n: each element (nested arrays are flattened, as
 * EventBridge does) is a value at n. Where consistency applies, each
 * element is matched in a scope of its own, and an alternative whose
 * fields below n no single element satisfies is ruled out. */
static const char *walk_array(struct walk *w, const char *s, const char *end,
                              const struct br_pat_node *n, struct scope *sc)
{
    const struct br_pattern *p = w->p;
    struct br_pat_mask covered = {{0}};
    size_t depth = 1;
    s = br_pj_ws(s + 1, end);
    while (depth) {
        if (s >= end)
            return NULL;
        if (*s == '[') {
            depth++;
            s = br_pj_ws(s + 1, end);
            continue;
        }
        if (*s == ']') {
            depth--;
            s = br_pj_ws(s + 1, end);
            continue;
        }
        if (*s == ',') {
            s = br_pj_ws(s + 1, end);
            continue;
        }
        if (!n->ncons) {
            s = walk_value(w, s, end, n, sc);
        } else {
            struct scope el;
            scope_clear(&el, p);
            s = walk_value(w, s, end, n, &el);
            cover(p, n, &el, &covered);
            mask_or(&sc->m, &el.m, p->nwords);
        }
        if (!s)
            return NULL;
        s = br_pj_ws(s, end);
    }
    for (uint32_t i = 0; i < n->ncons; i++)
        if (!br_pat_mask_has(&covered, i))
            br_pat_mask_set(&sc->d, p->cons[n->cons0 + i].alt);
    return s;
}

static const char *walk_value(struct walk *w, const char *s, const char *end,
                              const struct br_pat_node *n, struct scope *sc)
{
    if (s >= end)
        return NULL;
    switch (*s) {
    case '{':
        return n->nchild ? walk_object(w, s, end, n, sc) : br_pj_skip(s, end);
    case '[':
        return n->nchild || n->nleaf ? walk_array(w, s, end, n, sc) : br_pj_skip(s, end);
    default:
        return walk_scalar(w, s, end, n, sc);
    }
}

/* ---- the verdict ---- */

/* Some alternative not ruled out has all its fields satisfied, a field
 * with exists: false counting as satisfied where it saw no value. */
static bool verdict(const struct walk *w, const struct scope *sc)
{
    const struct br_pattern *p = w->p;
    struct br_pat_mask sat;
    for (unsigned i = 0; i < p->nwords; i++)
        sat.w[i] = sc->m.w[i] | (p->absent_ok.w[i] & ~w->seen.w[i]);
    for (uint32_t a = 0; a < p->nalts; a++)
        if (!br_pat_mask_has(&sc->d, a) && mask_covers(&sat, &p->alt_need[a], p->nwords))
            return true;
    return false;
}

static void walk_init(struct walk *w, struct scope *sc, const struct br_pattern *p)
{
    w->p = p;
    for (unsigned i = 0; i < BR_PAT_WORDS; i++)
        w->seen.w[i] = 0;
    for (unsigned i = 0; i < BR_PAT_WORDS; i++)
        sc->m.w[i] = sc->d.w[i] = 0;
}

bool br_pattern_match(const struct br_pattern *p, const struct br_doc_member *doc, size_t n)
{
    struct walk w;
    struct scope sc;
    walk_init(&w, &sc, p);
    for (size_t i = 0; i < n; i++) {
        if (!doc[i].json || !doc[i].name)
            continue;
        const struct br_pat_node *c = member_node(p, doc[i].name);
        if (!c)
            continue;
        const char *end = doc[i].json + doc[i].len;
        const char *s = br_pj_ws(doc[i].json, end);
        if (s < end && !walk_value(&w, s, end, c, &sc))
            return false;               /* not the well-formed JSON promised */
    }
    return verdict(&w, &sc);
}

static int text_error(char *err, size_t errlen, size_t at, const char *why)
{
    if (errlen)
        snprintf(err, errlen, "at byte %zu: %s", at, why);
    return -1;
}

int br_pattern_match_text(const struct br_pattern *p, const char *json, size_t len,
                          char *err, size_t errlen)
{
    const char *end = json + len;
    const char *s = br_pj_ws(json, end);
    struct br_pj_err e = {.base = json};
    if (s >= end || *s != '{')
        return text_error(err, errlen, (size_t)(s - json),
                          s >= end ? "no JSON object (the text is empty)"
                                   : "not a JSON object (a document starts with '{')");
    const char *after = br_pj_check_value(s, end, 512, &e);
    if (!after)
        return text_error(err, errlen, e.at, e.why);
    after = br_pj_ws(after, end);
    if (after < end)
        return text_error(err, errlen, (size_t)(after - json), "text after the JSON object");
    struct walk w;
    struct scope sc;
    walk_init(&w, &sc, p);
    if (!walk_object(&w, s, end, &p->nodes[0], &sc))
        return text_error(err, errlen, 0, "unreadable JSON");   /* checked above */
    return verdict(&w, &sc) ? 1 : 0;
}
