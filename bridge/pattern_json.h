/* pattern_json.h - the JSON reading the pattern compiler and matcher
 * share, without a parse tree and without allocating: a fast reader for
 * documents known to be well-formed (it stays inside the bytes it is
 * given whatever they hold), a strict one that says where a text is not
 * JSON, and the decoding of string escapes. */
#ifndef BR_PATTERN_JSON_H
#define BR_PATTERN_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* A JSON string as it stands in the text: the bytes between its quotes
 * and whether any of them is an escape (when none is, raw is the value). */
struct br_pj_str {
    const char *raw;
    size_t len;
    bool esc;
};

/* Where and why a strict read failed: at is the offset from base. */
struct br_pj_err {
    const char *base;
    size_t at;
    const char *why;
};

/* Skips JSON whitespace; returns s when there is none. Inline: the
 * matcher calls it between every two tokens of a record. */
static inline const char *br_pj_ws(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    return s;
}

/* Fast reads (the text is well-formed by contract): each takes s at the
 * first byte of its token and returns the byte past it, or NULL when the
 * token runs past end or does not start as it should. */
const char *br_pj_string(const char *s, const char *end, struct br_pj_str *out);
const char *br_pj_scalar_end(const char *s, const char *end);  /* number, true, false, null */
const char *br_pj_skip(const char *s, const char *end);        /* any value, iteratively */

/* Strict reads (RFC 8259, valid UTF-8, no lone surrogate escapes): the
 * same contract, with e filled when they return NULL. br_pj_check_value
 * checks one value nested at most maxdepth levels (iteratively). */
const char *br_pj_check_string(const char *s, const char *end, struct br_pj_str *out,
                               struct br_pj_err *e);
const char *br_pj_check_number(const char *s, const char *end, struct br_pj_err *e);
const char *br_pj_check_value(const char *s, const char *end, int maxdepth,
                              struct br_pj_err *e);

/* Decodes a string's escapes (a lone surrogate escape becomes U+FFFD):
 * writes the decoded bytes [skip, skip + cap) to out and returns the
 * decoded length of the whole string. */
size_t br_pj_decode(const struct br_pj_str *s, char *out, size_t cap, size_t skip);

/* A cursor over a string's decoded bytes, for values too long to decode
 * at once: each read returns up to cap more bytes, 0 at the end. */
struct br_pj_cursor {
    const char *p, *end;
    unsigned char pend[4];
    unsigned npend, ipend;
};
void br_pj_cursor_init(struct br_pj_cursor *c, const struct br_pj_str *s);
size_t br_pj_cursor_read(struct br_pj_cursor *c, char *out, size_t cap);

#endif
