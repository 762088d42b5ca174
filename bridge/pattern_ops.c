/* pattern_ops.c - the operators of a field's list of values (one object
 * each: prefix, suffix, equals-ignore-case, wildcard, anything-but,
 * numeric, exists, cidr) read into rules, refusing what EventBridge
 * refuses with a message that names the operator. */
#include <string.h>

#include "pattern_build.h"

#define ANYTHING_BUT_MUST                                                       \
    "must be a string, a number, a list of strings or of numbers, or an object " \
    "with prefix, suffix, wildcard or equals-ignore-case"
#define NUMERIC_MUST "must be a list such as [\">\", 0, \"<=\", 5]"

static bool is_name(const struct br_pb *b, const struct br_pat_item *it, const char *name)
{
    return it->len == strlen(name) && memcmp(b->pool + it->off, name, it->len) == 0;
}

/* The closing brace of an operator object: one operator per object. */
static const char *close_op(struct br_pb *b, const char *s, const char *op)
{
    s = br_pj_ws(s, b->end);
    if (s < b->end && *s == ',')
        return br_pb_fail(b, op, "an operator object holds one operator");
    return br_pb_expect(b, s, '}', "expected '}' after the operator's value");
}

/* {"equals-ignore-case": "..."} inside prefix or suffix. */
static const char *folded(struct br_pb *b, const char *s, const char *op,
                          struct br_pat_item *it)
{
    static const char must[] = "must be a string or {\"equals-ignore-case\": string}";
    struct br_pat_item name;
    s = br_pj_ws(s + 1, b->end);
    if (!(s = br_pb_string(b, s, op, must, &name)))
        return NULL;
    if (!is_name(b, &name, "equals-ignore-case"))
        return br_pb_fail(b, op, "%s", must);
    if (!(s = br_pb_expect(b, s, ':', "expected ':' after a member name")))
        return NULL;
    if (!(s = br_pb_string(b, br_pj_ws(s, b->end), op, must, it)))
        return NULL;
    return close_op(b, s, op);
}

static const char *op_affix(struct br_pb *b, const char *s, const char *op,
                            enum br_pat_kind kind)
{
    struct br_pat_item it;
    bool fold = *s == '{';
    s = fold ? folded(b, s, op, &it)
             : br_pb_string(b, s, op, "must be a string or {\"equals-ignore-case\": string}", &it);
    struct br_pat_rule *r = s ? br_pb_rule(b, kind) : NULL;
    struct br_pat_item *slot = r ? BR_PB_PUSH(b, b->items, b->nitems, b->citems) : NULL;
    if (!slot)
        return NULL;
    *slot = it;
    r->fold = fold;
    r->item0 = (uint32_t)(b->nitems - 1);
    r->nitem = 1;
    return s;
}

static const char *op_equal_fold(struct br_pb *b, const char *s)
{
    struct br_pat_item it;
    s = br_pb_string(b, s, "equals-ignore-case", "must be a string", &it);
    struct br_pat_rule *r = s ? br_pb_rule(b, BR_PK_EQUAL_FOLD) : NULL;
    struct br_pat_item *slot = r ? BR_PB_PUSH(b, b->items, b->nitems, b->citems) : NULL;
    if (!slot)
        return NULL;
    *slot = it;
    r->item0 = (uint32_t)(b->nitems - 1);
    r->nitem = 1;
    return s;
}

static const char *op_wildcard(struct br_pb *b, const char *s)
{
    struct br_pat_item it;
    uint32_t w;
    s = br_pb_string(b, s, "wildcard", "must be a string", &it);
    if (!s || !br_pb_wildcard(b, &it, "wildcard", &w))
        return NULL;
    struct br_pat_rule *r = br_pb_rule(b, BR_PK_WILDCARD);
    if (!r)
        return NULL;
    r->item0 = w;
    r->nitem = 1;
    return s;
}

static const char *op_cidr(struct br_pb *b, const char *s)
{
    struct br_pat_item it;
    const char *why;
    struct br_ip net;
    unsigned bits;
    s = br_pb_string(b, s, "cidr", "must be a string such as \"10.0.0.0/24\"", &it);
    if (!s)
        return NULL;
    if (!br_cidr_parse(b->pool + it.off, it.len, &net, &bits, &why))
        return br_pb_fail(b, "cidr", "\"%.*s\" %s", (int)it.len, b->pool + it.off, why);
    struct br_pat_rule *r = br_pb_rule(b, BR_PK_CIDR);
    if (!r)
        return NULL;
    r->net = net;
    r->bits = (uint8_t)bits;
    return s;
}

static const char *op_exists(struct br_pb *b, const char *s, bool *absent_ok)
{
    const char *end = b->end;
    if ((size_t)(end - s) >= 4 && memcmp(s, "true", 4) == 0)
        return br_pb_rule(b, BR_PK_EXISTS) ? s + 4 : NULL;
    if ((size_t)(end - s) >= 5 && memcmp(s, "false", 5) == 0) {
        *absent_ok = true;
        return s + 5;
    }
    return br_pb_fail(b, "exists", "must be true or false");
}

/* ---- numeric ---- */

/* One element of a numeric list: a comparison or a number. */
struct num_el {
    bool is_op, is_num;
    struct br_pat_item it;
};

/* A bound: the number of element i, which must follow comparison op and
 * fit numeric matching. */
static bool bound(struct br_pb *b, const struct num_el *el, size_t n, size_t i,
                  const char *op, int64_t *v)
{
    if (i >= n || !el[i].is_num)
        return br_pb_error(b, "numeric", "%s needs a number after it", op);
    const struct br_pat_item *it = &el[i].it;
    struct br_pn pn;
    if (!br_pn_parse(b->pool + it->off, it->len, &pn))
        return br_pb_error(b, "numeric", "%.*s is outside -5e9..5e9", (int)it->len,
                           b->pool + it->off);
    if (pn.more)
        return br_pb_error(b, "numeric", "%.*s has more than six decimals", (int)it->len,
                           b->pool + it->off);
    *v = pn.micro;
    return true;
}

static bool op_is(const struct br_pb *b, const struct num_el *el, const char *op)
{
    return el->is_op && is_name(b, &el->it, op);
}

/* [op, n] or [">"/">=", lo, "<"/"<=", hi] into rule r. */
static bool numeric_rule(struct br_pb *b, const struct num_el *el, size_t n,
                         struct br_pat_rule *r)
{
    if (n == 0 || !el[0].is_op)
        return br_pb_error(b, "numeric", "the list starts with a comparison: =, <, <=, > or >=");
    const char *op = b->pool + el[0].it.off;
    int oplen = (int)el[0].it.len;
    bool eq = op_is(b, &el[0], "="), lt = op_is(b, &el[0], "<"), le = op_is(b, &el[0], "<="),
         gt = op_is(b, &el[0], ">"), ge = op_is(b, &el[0], ">=");
    if (!(eq || lt || le || gt || ge))
        return br_pb_error(b, "numeric", "unknown comparison \"%.*s\" (=, <, <=, > or >=)",
                           oplen, op);
    int64_t v;
    if (!bound(b, el, n, 1, eq ? "=" : lt ? "<" : le ? "<=" : gt ? ">" : ">=", &v))
        return false;
    if (eq || lt || le) {
        if (n > 2)
            return br_pb_error(b, "numeric", "nothing may follow \"%.*s\" and its number (a "
                               "range starts with > or >=)", oplen, op);
        r->hi_set = true;
        r->hi = v;
        r->hi_open = lt;
        r->lo_set = eq;
        r->lo = v;
        return true;
    }
    r->lo_set = true;
    r->lo = v;
    r->lo_open = gt;
    if (n == 2)
        return true;
    if (!op_is(b, &el[2], "<") && !op_is(b, &el[2], "<="))
        return br_pb_error(b, "numeric", "a range's upper bound takes < or <=");
    if (!bound(b, el, n, 3, op_is(b, &el[2], "<") ? "<" : "<=", &r->hi))
        return false;
    r->hi_set = true;
    r->hi_open = op_is(b, &el[2], "<");
    if (n > 4)
        return br_pb_error(b, "numeric", "too many elements");
    if (r->lo >= r->hi)
        return br_pb_error(b, "numeric", "a range needs a lower bound below its upper bound");
    return true;
}

static const char *op_numeric(struct br_pb *b, const char *s)
{
    struct num_el el[5];
    size_t n = 0;
    if (*s != '[')
        return br_pb_fail(b, "numeric", NUMERIC_MUST);
    s = br_pj_ws(s + 1, b->end);
    while (s < b->end && *s != ']') {
        if (n == 5)
            return br_pb_fail(b, "numeric", "too many elements");
        struct num_el *e = &el[n++];
        e->is_op = *s == '"';
        e->is_num = *s == '-' || (*s >= '0' && *s <= '9');
        if (!e->is_op && !e->is_num)
            return br_pb_fail(b, "numeric", "holds comparisons and numbers only");
        s = e->is_op ? br_pb_string(b, s, "numeric", NUMERIC_MUST, &e->it)
                     : br_pb_number(b, s, &e->it);
        if (!s)
            return NULL;
        s = br_pj_ws(s, b->end);
        if (s < b->end && *s == ',')
            s = br_pj_ws(s + 1, b->end);
        else if (s < b->end && *s != ']')
            return br_pb_expect(b, s, ']', "expected ',' or ']'");
    }
    if (!(s = br_pb_expect(b, s, ']', "expected ']'")))
        return NULL;
    struct br_pat_rule *r = br_pb_rule(b, BR_PK_NUMERIC);
    return r && numeric_rule(b, el, n, r) ? s : NULL;
}

/* ---- anything-but ---- */

/* One exact value of anything-but: a string, or a number numeric
 * matching can hold (EventBridge compares them as numbers). */
static const char *but_value(struct br_pb *b, const char *s, struct br_pat_item *it,
                             bool *is_num)
{
    *is_num = s < b->end && (*s == '-' || (*s >= '0' && *s <= '9'));
    if (!*is_num)
        return br_pb_string(b, s, "anything-but", ANYTHING_BUT_MUST, it);
    if (!(s = br_pb_number(b, s, it)))
        return NULL;
    if (!it->num_ok)
        return br_pb_fail(b, "anything-but", "%.*s is outside -5e9..5e9 or has more than six "
                          "decimals", (int)it->len, b->pool + it->off);
    return s;
}

/* A list at s of strings (strings_only) or of values, into the current
 * exact list; *is_num says which kind it held. */
static const char *but_list(struct br_pb *b, const char *s, const char *op, bool strings_only,
                            bool *is_num)
{
    b->nbut = 0;
    s = br_pj_ws(s + 1, b->end);
    if (s < b->end && *s == ']')
        return br_pb_fail(b, op, "an empty list excludes nothing");
    for (;;) {
        struct br_pat_item *it = BR_PB_PUSH(b, b->but, b->nbut, b->cbut);
        bool num;
        if (!it)
            return NULL;
        if (strings_only)
            s = br_pb_string(b, s, op, "takes a string or a list of strings", it), num = false;
        else
            s = but_value(b, s, it, &num);
        if (!s)
            return NULL;
        if (b->nbut > 1 && num != *is_num)
            return br_pb_fail(b, op, "a list holds only strings or only numbers");
        *is_num = num;
        s = br_pj_ws(s, b->end);
        if (s < b->end && *s == ',') {
            s = br_pj_ws(s + 1, b->end);
            continue;
        }
        return br_pb_expect(b, s, ']', "expected ',' or ']'");
    }
}

static enum br_pat_kind but_inner_kind(const struct br_pb *b, const struct br_pat_item *name)
{
    return is_name(b, name, "prefix") ? BR_PK_NOT_PREFIX
         : is_name(b, name, "suffix") ? BR_PK_NOT_SUFFIX
         : is_name(b, name, "wildcard") ? BR_PK_NOT_WILDCARD
         : is_name(b, name, "equals-ignore-case") ? BR_PK_NOT_EQUAL_FOLD : BR_PK_EXISTS;
}

/* The rule of {"prefix"|"suffix"|"wildcard"|"equals-ignore-case": ...}
 * from the strings in the current exact list. */
static bool but_inner_rule(struct br_pb *b, enum br_pat_kind kind, const char *op)
{
    struct br_pat_rule *r = br_pb_rule(b, kind);
    if (!r)
        return false;
    r->item0 = (uint32_t)(kind == BR_PK_NOT_WILDCARD ? b->nwilds : b->nitems);
    r->nitem = (uint32_t)b->nbut;
    for (size_t i = 0; i < b->nbut; i++) {
        const struct br_pat_item *it = &b->but[i];
        uint32_t w;
        if ((kind == BR_PK_NOT_PREFIX || kind == BR_PK_NOT_SUFFIX) && it->len == 0)
            return br_pb_error(b, op, "an empty %s excludes every string",
                              kind == BR_PK_NOT_PREFIX ? "prefix" : "suffix");
        if (kind == BR_PK_NOT_WILDCARD) {
            if (!br_pb_wildcard(b, it, op, &w))
                return false;
        } else {
            struct br_pat_item *slot = BR_PB_PUSH(b, b->items, b->nitems, b->citems);
            if (!slot)
                return false;
            *slot = *it;
        }
    }
    return true;
}

static const char *but_object(struct br_pb *b, const char *s)
{
    static const char *const ops[] = {
        [BR_PK_NOT_PREFIX] = "anything-but: prefix", [BR_PK_NOT_SUFFIX] = "anything-but: suffix",
        [BR_PK_NOT_WILDCARD] = "anything-but: wildcard",
        [BR_PK_NOT_EQUAL_FOLD] = "anything-but: equals-ignore-case"};
    struct br_pat_item name;
    s = br_pj_ws(s + 1, b->end);
    if (!(s = br_pb_string(b, s, "anything-but", ANYTHING_BUT_MUST, &name)))
        return NULL;
    enum br_pat_kind kind = but_inner_kind(b, &name);
    if (kind == BR_PK_EXISTS)
        return br_pb_fail(b, "anything-but", "cannot hold \"%.*s\" (prefix, suffix, wildcard "
                          "or equals-ignore-case)", (int)name.len, b->pool + name.off);
    const char *op = ops[kind];
    if (!(s = br_pb_expect(b, s, ':', "expected ':' after a member name")))
        return NULL;
    s = br_pj_ws(s, b->end);
    bool is_num = false;
    if (s < b->end && *s == '[') {
        s = but_list(b, s, op, true, &is_num);
    } else {
        b->nbut = 0;
        struct br_pat_item *it = BR_PB_PUSH(b, b->but, b->nbut, b->cbut);
        s = it ? br_pb_string(b, s, op, "takes a string or a list of strings", it) : NULL;
    }
    if (!s || !but_inner_rule(b, kind, op))
        return NULL;
    return close_op(b, s, "anything-but");
}

static const char *op_anything_but(struct br_pb *b, const char *s)
{
    bool is_num = false;
    if (*s == '{')
        return but_object(b, s);
    if (*s == '[') {
        s = but_list(b, s, "anything-but", false, &is_num);
    } else if (*s == '"' || *s == '-' || (*s >= '0' && *s <= '9')) {
        b->nbut = 0;
        struct br_pat_item *it = BR_PB_PUSH(b, b->but, b->nbut, b->cbut);
        s = it ? but_value(b, s, it, &is_num) : NULL;
    } else {
        return br_pb_fail(b, "anything-but", ANYTHING_BUT_MUST);
    }
    struct br_pat_rule *r = s ? br_pb_rule(b, is_num ? BR_PK_NOT_NUMBERS : BR_PK_NOT_STRINGS)
                              : NULL;
    if (!r || !br_pb_sorted_items(b, b->but, b->nbut, &r->item0, &r->nitem))
        return NULL;
    return s;
}

/* ---- dispatch ---- */

const char *br_pb_operator(struct br_pb *b, const char *s, bool *absent_ok)
{
    struct br_pat_item name;
    s = br_pj_ws(s + 1, b->end);
    if (s < b->end && *s == '}')
        return br_pb_fail(b, NULL, "an empty object is no operator");
    if (!(s = br_pb_string(b, s, NULL, "an operator object starts with the operator's name",
                           &name)))
        return NULL;
    if (!(s = br_pb_expect(b, s, ':', "expected ':' after a member name")))
        return NULL;
    s = br_pj_ws(s, b->end);
    if (s >= b->end)
        return br_pb_expect(b, s, '}', "unexpected end of text");
    static const char *const names[] = {"prefix", "suffix", "equals-ignore-case", "wildcard",
                                        "anything-but", "numeric", "exists", "cidr"};
    size_t k = 0;
    while (k < sizeof names / sizeof names[0] && !is_name(b, &name, names[k]))
        k++;
    switch (k) {
    case 0: s = op_affix(b, s, "prefix", BR_PK_PREFIX); break;
    case 1: s = op_affix(b, s, "suffix", BR_PK_SUFFIX); break;
    case 2: s = op_equal_fold(b, s); break;
    case 3: s = op_wildcard(b, s); break;
    case 4: s = op_anything_but(b, s); break;
    case 5: s = op_numeric(b, s); break;
    case 6: s = op_exists(b, s, absent_ok); break;
    case 7: s = op_cidr(b, s); break;
    default:
        return br_pb_fail(b, NULL, "unknown operator \"%.*s\" (operators are prefix, suffix, "
                          "equals-ignore-case, wildcard, anything-but, numeric, exists and "
                          "cidr, in lower case)", (int)name.len, b->pool + name.off);
    }
    return s ? close_op(b, s, names[k]) : NULL;
}
