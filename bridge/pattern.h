/* pattern.h - event patterns as EventBridge, Lambda FilterCriteria and
 * (later) SNS filter policies write them (README: Filters): compiled once
 * from JSON text into a form the matcher walks without allocating, then
 * matched against one document per record. A compiled pattern is
 * immutable: any number of threads may match with it at once. */
#ifndef BR_PATTERN_H
#define BR_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

struct br_pattern;

/* Limits a pattern must keep (bridge/README.md, Event patterns): its text
 * (Lambda's FilterCriteria and EventBridge's largest pattern), the
 * nesting of its objects, the fields it names (each list of values is
 * one), and the alternatives its $or operators multiply into. */
#define BR_PATTERN_MAX_TEXT 4096
#define BR_PATTERN_MAX_DEPTH 32
#define BR_PATTERN_MAX_FIELDS 256
#define BR_PATTERN_MAX_ALTERNATIVES 256

/* Compiles a pattern (a JSON object). NULL when it is not valid, with err
 * saying where and why, e.g. "value.price: numeric: a range needs a lower
 * bound below its upper bound"; "out of memory" when that is why. */
struct br_pattern *br_pattern_compile(const char *text, size_t len, char *err,
                                      size_t errlen);
void br_pattern_free(struct br_pattern *p);

/* One top-level member of the document a record offers: its name and its
 * value as JSON text (well-formed JSON: the record kind made it so), or
 * json NULL when the member is absent (then only `exists: false` and
 * anything-but-like rules that accept absence see it). */
struct br_doc_member {
    const char *name;
    const char *json;
    size_t len;
};

/* True when the document of n members matches p. Reads only the members
 * and fields p names; allocates nothing. */
bool br_pattern_match(const struct br_pattern *p, const struct br_doc_member *doc, size_t n);

/* The same for a whole document given as JSON text (fnbridge test-pattern,
 * the conformance tests): 1 match, 0 no match, -1 the text is not a JSON
 * object (err says where). */
int br_pattern_match_text(const struct br_pattern *p, const char *json, size_t len,
                          char *err, size_t errlen);

#endif
