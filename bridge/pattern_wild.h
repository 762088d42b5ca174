/* pattern_wild.h - the `wildcard` operator: a value with `*` standing for
 * any run of characters (none included), `\*` for a star and `\\` for a
 * backslash. Parsed once into the literal segments between the stars;
 * matched by anchoring the first and last segment and finding the others
 * left to right, which is exact for stars alone and linear in the value. */
#ifndef BR_PATTERN_WILD_H
#define BR_PATTERN_WILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pattern_json.h"

/* The most places a field's wildcards may be partway through at once
 * while reading some value (EventBridge refuses patterns past its own
 * such limit as too complex: six stars each before a colon are, "a*b*c" is
 * not). */
#define BR_PW_MAX_COMPLEXITY 9

/* One literal segment: bytes [off, off + len) of a pool. */
struct br_pw_seg {
    uint32_t off, len;
};

/* A parsed wildcard: nseg segments (one more than its stars). */
struct br_pw {
    const char *pool;
    const struct br_pw_seg *seg;
    size_t nseg;
};

/* Parses s[0..n) (decoded): writes the segments' bytes to out (n bytes
 * suffice) and their lengths to seglen (n + 1 entries suffice); returns
 * the segment count, or 0 with *why and *at (the offending byte) when a
 * backslash escapes something else or two stars follow each other. */
size_t br_pw_parse(const char *s, size_t n, char *out, uint32_t *seglen, const char **why,
                   size_t *at);

/* True when the decoded value s[0..n) matches w. */
bool br_pw_match(const struct br_pw *w, const char *s, size_t n);

/* The same for a string too long to decode at once (decoded length dlen,
 * dlen > every segment's length): read through a cursor. */
bool br_pw_match_long(const struct br_pw *w, const struct br_pj_str *s, size_t dlen);

/* The largest number of places the wildcards w[0..n) of one field can be
 * partway through at once, counted up to limit + 1 (which it returns as
 * soon as it is reached, and also when the search grows too large to
 * finish); -1 when out of memory. */
int br_pw_complexity(const struct br_pw *w, size_t n, int limit);

#endif
