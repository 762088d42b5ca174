/* pattern_num.h - numbers as EventBridge's numeric matching sees them:
 * exact to six decimals between -5e9 and 5e9, read from a JSON number's
 * text without floating point, so 300, 300.0 and 3e2 are one value and
 * 0.1 + 0.2 questions never arise. */
#ifndef BR_PATTERN_NUM_H
#define BR_PATTERN_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 5e9 in millionths: the largest magnitude numeric matching takes. */
#define BR_PN_LIMIT 5000000000000000LL

/* A number as floor(value * 1e6) and whether digits past the sixth
 * decimal made it larger than that (an event's 1.0000001 is 1000000 and
 * more; a pattern's bounds never have more). */
struct br_pn {
    int64_t micro;
    bool more;
};

/* True when the JSON number s[0..n) lies within -5e9..5e9: *v is its
 * value. False for any other text and any number beyond. */
bool br_pn_parse(const char *s, size_t n, struct br_pn *v);

/* The exact order of x and b millionths: -1, 0 or 1. */
int br_pn_cmp(const struct br_pn *x, int64_t b);

#endif
