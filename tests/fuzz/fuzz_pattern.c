/* fuzz_pattern.c - fuzzes the event pattern compiler and matcher
 * (bridge/pattern*.c). The input is a pattern, a NUL byte, and an event
 * (no NUL: the whole input is the pattern, matched against {}).
 *
 * Properties: no crash, undefined behaviour or leak anywhere; a pattern
 * that compiles compiles again from the same bytes, and both copies give
 * the same answers; a refused one says why; when the event is a JSON
 * object, br_pattern_match on its top-level members agrees with
 * br_pattern_match_text on the whole; and any bytes at all, offered as
 * members, are matched without reading past them. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/pattern.h"
#include "bridge/pattern_json.h"
#include "fuzz.h"

#define MAX_MEMBERS 256

/* The event's top-level members (it is a JSON object: match_text said
 * so), as a record kind would offer them; names decoded into names. */
static size_t split(const char *ev, size_t len, struct br_doc_member *m, char (*names)[64])
{
    const char *end = ev + len, *s = br_pj_ws(ev, end);
    size_t n = 0;
    s = br_pj_ws(s + 1, end);
    while (s < end && *s == '"') {
        struct br_pj_str k;
        s = br_pj_string(s, end, &k);
        FUZZ_ASSERT(s, "a checked object's member name did not read");
        s = br_pj_ws(br_pj_ws(s, end) + 1, end);
        const char *after = br_pj_skip(s, end);
        FUZZ_ASSERT(after, "a checked object's member value did not skip");
        if (n < MAX_MEMBERS) {
            size_t dl = br_pj_decode(&k, names[n], 63, 0);
            names[n][dl < 63 ? dl : 63] = '\0';
            /* A name that does not fit (or holds a NUL) would be another
             * name: give up the comparison rather than compare wrongly. */
            if (dl > 63 || strlen(names[n]) != dl)
                return (size_t)-1;
            m[n] = (struct br_doc_member){names[n], s, (size_t)(after - s)};
            n++;
        } else {
            return (size_t)-1;
        }
        s = br_pj_ws(after, end);
        if (s < end && *s == ',')
            s = br_pj_ws(s + 1, end);
    }
    return n;
}

static void check_event(const struct br_pattern *p, const struct br_pattern *again,
                        const char *ev, size_t len)
{
    char err[128];
    static struct br_doc_member m[MAX_MEMBERS];
    static char names[MAX_MEMBERS][64];
    int r = br_pattern_match_text(p, ev, len, err, sizeof err);
    FUZZ_ASSERT(r == br_pattern_match_text(again, ev, len, NULL, 0),
                "a recompiled pattern answers otherwise");
    if (r < 0) {
        FUZZ_ASSERT(err[0], "a refused event without a reason");
    } else {
        size_t n = split(ev, len, m, names);
        if (n != (size_t)-1)
            FUZZ_ASSERT(br_pattern_match(p, m, n) == (r == 1),
                        "members say %d, the text says %d", !r, r);
    }
    /* Any bytes as one member, and as the value of a known name. */
    struct br_doc_member raw[2] = {{"value", ev, len}, {"detail", ev, len}};
    (void)br_pattern_match(p, raw, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t plen = nul ? (size_t)(nul - text) : size;
    const char *ev = nul ? nul + 1 : "{}";
    size_t evlen = nul ? size - plen - 1 : 2;
    char err[256];
    err[0] = '\0';
    struct br_pattern *p = br_pattern_compile(text, plen, err, sizeof err);
    if (!p) {
        FUZZ_ASSERT(err[0], "refused without a reason");
        return 0;
    }
    struct br_pattern *again = br_pattern_compile(text, plen, NULL, 0);
    FUZZ_ASSERT(again, "compiled once, refused the second time");
    check_event(p, again, ev, evlen);
    br_pattern_free(again);
    br_pattern_free(p);
    return 0;
}
