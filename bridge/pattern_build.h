/* pattern_build.h - one compilation in progress, private to the pattern
 * compiler: pattern_compile.c reads the pattern's structure (objects,
 * $or, the lists of values) and lays out the result, pattern_ops.c reads
 * the operators inside a list. Growing arrays, the string pool and the
 * path the error messages name. */
#ifndef BR_PATTERN_BUILD_H
#define BR_PATTERN_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pattern_int.h"

struct br_pb_node {
    uint32_t name_off, name_len;
    int32_t parent, first_child, next_sibling, first_leaf;
    uint32_t depth;
};

struct br_pb_leaf {
    uint32_t node, rule0, nrule;
    bool absent_ok;
    int32_t next_at;                /* the next field at the same node */
};

struct br_pb_wild {
    uint32_t seg0, nseg;
};

/* Alternatives in the making: the fields each needs. */
struct br_pb_alts {
    struct br_pat_mask *v;
    size_t n, cap;
};

struct br_pb {
    const char *text, *end;
    char *err;
    size_t errlen;
    bool failed;
    struct br_pb_node *nodes;
    size_t nnodes, cnodes;
    struct br_pb_leaf *leaves;
    size_t nleaves, cleaves;
    struct br_pat_rule *rules;
    size_t nrules, crules;
    struct br_pat_item *items;
    size_t nitems, citems;
    struct br_pat_item *exact;      /* the current list's plain values */
    size_t nexact, cexact;
    struct br_pat_item *but;        /* the current anything-but's values */
    size_t nbut, cbut;
    struct br_pb_wild *wilds;
    size_t nwilds, cwilds;
    struct br_pw_seg *segs;
    size_t nsegs, csegs;
    uint32_t *seglen;               /* scratch for br_pw_parse */
    size_t cseglen;
    char *pool;
    size_t npool, cpool;
    char path[2 * BR_PATTERN_MAX_TEXT + 64];
    size_t pathlen;
};

/* Makes room for need elements of size bytes in *arr (capacity *cap);
 * false with "out of memory" as the error when it cannot. */
bool br_pb_grow(struct br_pb *b, void **arr, size_t *cap, size_t need, size_t size);

/* A new zeroed element at the end of arr (n elements), or NULL. */
#define BR_PB_PUSH(b, arr, n, cap)                                            \
    (br_pb_grow((b), (void **)&(arr), &(cap), (n) + 1, sizeof *(arr))         \
         ? (memset(&(arr)[(n)], 0, sizeof *(arr)), &(arr)[(n)++]) : NULL)

/* Records the error "PATH: OP: message" (the first one wins; no PATH at
 * the top, no OP outside an operator) and returns NULL. */
const char *br_pb_fail(struct br_pb *b, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same, returning false. */
bool br_pb_error(struct br_pb *b, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a JSON syntax error: "PATH: at byte N: why". */
const char *br_pb_json_fail(struct br_pb *b, const struct br_pj_err *e);

/* Appends ".name" (or "name" first), or "[index]" when name is NULL, to
 * the path; returns the length before, which restores it. */
size_t br_pb_path_push(struct br_pb *b, const char *name, size_t len_or_index);

/* Reads the JSON string at s into the pool (decoded) as *it; when s holds
 * no string, fails with op's message must. Returns the byte past it. */
const char *br_pb_string(struct br_pb *b, const char *s, const char *op, const char *must,
                         struct br_pat_item *it);

/* Reads the JSON number at s: its spelling into the pool and its value
 * when numeric matching can hold it. */
const char *br_pb_number(struct br_pb *b, const char *s, struct br_pat_item *it);

/* Expects c at s (after whitespace): returns the byte past it, or fails
 * with a JSON error naming what was expected. */
const char *br_pb_expect(struct br_pb *b, const char *s, char c, const char *expected);

/* Reads the operator object at s (its '{') of the field at node: its
 * rules are appended; {"exists": false} sets *absent_ok. */
const char *br_pb_operator(struct br_pb *b, const char *s, bool *absent_ok);

/* A rule appended for the current field, kind set, or NULL. */
struct br_pat_rule *br_pb_rule(struct br_pb *b, enum br_pat_kind kind);

/* Appends items[0..n) to the items array sorted by length then bytes,
 * without duplicates; returns the first one's index (*count set). */
bool br_pb_sorted_items(struct br_pb *b, struct br_pat_item *items, size_t n,
                        uint32_t *first, uint32_t *count);

/* Parses the decoded wildcard it into segments: its index in wilds. */
bool br_pb_wildcard(struct br_pb *b, const struct br_pat_item *it, const char *op,
                    uint32_t *index);

/* The compiled pattern from a compilation that read its whole text, or
 * NULL with the error set (pattern_layout.c). */
struct br_pattern *br_pb_finish(struct br_pb *b, const struct br_pb_alts *alts);

#endif
