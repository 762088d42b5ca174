/* pattern_int.h - the compiled form of an event pattern, private to the
 * pattern_*.c files: pattern_compile.c builds it, pattern_match.c walks a
 * document with it and pattern_rule.c tests one value against a field's
 * rules.
 *
 * A pattern is a tree of field names (nodes, children sorted, one node
 * per dot-separated segment: EventBridge joins names with dots, so
 * "a.b" and {"a": {"b"}} are one path) whose nodes carry fields (leaves):
 * each field is a list of rules, any of which a value may satisfy. $or
 * multiplies the pattern into alternatives, each the set of fields it
 * needs; the document matches when every field of some alternative is
 * satisfied. */
#ifndef BR_PATTERN_INT_H
#define BR_PATTERN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pattern.h"
#include "pattern_cidr.h"
#include "pattern_json.h"
#include "pattern_num.h"
#include "pattern_wild.h"

#define BR_PAT_WORDS (BR_PATTERN_MAX_FIELDS / 64)

/* A set of fields, or of alternatives (both at most 256). */
struct br_pat_mask {
    uint64_t w[BR_PAT_WORDS];
};

enum br_pat_kind {
    BR_PK_EXISTS,           /* any value */
    BR_PK_STRINGS,          /* a string among items (sorted: length, bytes) */
    BR_PK_NUMBERS,          /* a number equal to an item's value or spelling */
    BR_PK_LITERALS,         /* true, false or null, per lits */
    BR_PK_PREFIX,           /* items[item0], folded when fold */
    BR_PK_SUFFIX,
    BR_PK_EQUAL_FOLD,
    BR_PK_WILDCARD,         /* wilds[item0] */
    BR_PK_NUMERIC,          /* lo..hi */
    BR_PK_CIDR,             /* net/bits */
    BR_PK_NOT_STRINGS,      /* anything-but: any value except these strings, */
    BR_PK_NOT_NUMBERS,      /* ... these numbers, */
    BR_PK_NOT_PREFIX,       /* ... strings with one of these prefixes, */
    BR_PK_NOT_SUFFIX,       /* ... suffixes, */
    BR_PK_NOT_EQUAL_FOLD,   /* ... these strings in any case, */
    BR_PK_NOT_WILDCARD,     /* ... strings matching one of these wilds */
};

#define BR_PAT_LIT_TRUE 1
#define BR_PAT_LIT_FALSE 2
#define BR_PAT_LIT_NULL 4

/* A string (decoded) or a number's spelling in the pool, and for a
 * number its value when numeric matching can hold it. */
struct br_pat_item {
    uint32_t off, len;
    struct br_pn num;
    bool num_ok;
};

struct br_pat_rule {
    uint8_t kind;           /* enum br_pat_kind */
    uint8_t lits;           /* BR_PAT_LIT_* */
    bool fold;
    bool lo_set, lo_open, hi_set, hi_open;
    uint8_t bits;
    uint32_t item0, nitem;  /* items, or wilds for the wildcard kinds */
    int64_t lo, hi;         /* millionths */
    struct br_ip net;
};

struct br_pat_leaf {
    uint32_t rule0, nrule;
    bool absent_ok;         /* {"exists": false}: satisfied where no value is */
};

struct br_pat_node {
    uint32_t name_off, name_len;
    uint32_t child0, nchild;        /* nodes */
    uint32_t leaf0, nleaf;          /* leaf_ids */
    uint32_t cons0, ncons;          /* cons */
    uint64_t first[4];              /* the first bytes of the children's names */
    bool empty_child;               /* a child named "" */
};

/* True when a name starting with byte c may lead to a child of n (its
 * first segment starts like a child's name). */
static inline bool br_pat_may_lead(const struct br_pat_node *n, unsigned char c)
{
    return n->first[c >> 6] >> (c & 63) & 1;
}

/* Array consistency (EventBridge matches fields inside one array element
 * only with fields of the same element): an alternative that needs two
 * or more fields below a node, and which of them, so that an array at
 * that node satisfies them only from one element. */
struct br_pat_cons {
    uint32_t alt;
    struct br_pat_mask need;
};

struct br_pattern {
    unsigned nwords;                /* words of a field mask in use */
    unsigned nawords;               /* words of an alternative mask in use */
    uint32_t nnodes, nleaves, nalts;
    struct br_pat_node *nodes;      /* nodes[0] is the document */
    uint32_t *leaf_ids;
    struct br_pat_leaf *leaves;
    struct br_pat_rule *rules;
    struct br_pat_item *items;
    struct br_pw *wilds;
    struct br_pw_seg *segs;
    struct br_pat_cons *cons;
    struct br_pat_mask *alt_need;   /* the fields each alternative needs */
    struct br_pat_mask absent_ok;
    char *pool;
};

/* One value of the document, as the rules see it. */
enum br_pv_type { BR_PV_STRING, BR_PV_NUMBER, BR_PV_TRUE, BR_PV_FALSE, BR_PV_NULL };

/* The longest string a rule holds (a pattern's text bounds it): longer
 * decoded values keep only their first and last this many bytes. */
#define BR_PV_EDGE BR_PATTERN_MAX_TEXT

struct br_pat_value {
    enum br_pv_type type;
    const char *s;          /* the decoded string, or a number's text */
    size_t n;
    struct br_pj_str str;   /* the string as it stands in the document */
    bool is_long;           /* decoded length dlen > BR_PV_EDGE: s is NULL, */
    size_t dlen;            /* head and tail hold its edges */
    const char *head, *tail;
    int num_state;          /* 0 not read yet, 1 in range, -1 not */
    struct br_pn num;
    int ip_state;
    struct br_ip ip;
};

/* True when v satisfies one of leaf's rules. */
bool br_pat_leaf_test(const struct br_pattern *p, const struct br_pat_leaf *leaf,
                      struct br_pat_value *v);

static inline void br_pat_mask_set(struct br_pat_mask *m, unsigned i)
{
    m->w[i / 64] |= (uint64_t)1 << (i % 64);
}

static inline bool br_pat_mask_has(const struct br_pat_mask *m, unsigned i)
{
    return m->w[i / 64] >> (i % 64) & 1;
}

#endif
