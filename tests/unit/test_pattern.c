/* test_pattern.c - event patterns (bridge/pattern*.c): every case of
 * tests/data/event-patterns/cases.jsonl (EventBridge's, validated by
 * LocalStack against AWS) and of fnbridge-cases.jsonl, each through
 * br_pattern_compile and br_pattern_match_text and again with the event
 * given as members (br_pattern_match); then the JSON walker, numbers,
 * addresses, wildcards, compile errors and match semantics, table by
 * table. Run from the repository's root (make unit does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/pattern.h"
#include "bridge/pattern_cidr.h"
#include "bridge/pattern_json.h"
#include "bridge/pattern_num.h"
#include "bridge/pattern_text.h"
#include "bridge/pattern_wild.h"
#include "unit.h"

#define CASES_DIR "tests/data/event-patterns/"
#define MAX_MEMBERS 512

/* ---- reading a case line ---- */

/* The value of member name in the JSON object text[0..len), by the
 * pattern code's own fast reader (the case files are well-formed). */
static bool member(const char *text, size_t len, const char *name, const char **v, size_t *vlen)
{
    const char *end = text + len, *s = br_pj_ws(text, end);
    if (s >= end || *s != '{')
        return false;
    s = br_pj_ws(s + 1, end);
    while (s && s < end && *s == '"') {
        struct br_pj_str k;
        s = br_pj_string(s, end, &k);
        if (!s)
            return false;
        s = br_pj_ws(s, end);
        s = br_pj_ws(s + 1, end);          /* the colon */
        const char *after = br_pj_skip(s, end);
        if (!after)
            return false;
        if (k.len == strlen(name) && memcmp(k.raw, name, k.len) == 0) {
            *v = s;
            *vlen = (size_t)(after - s);
            return true;
        }
        s = br_pj_ws(after, end);
        if (s < end && *s == ',')
            s = br_pj_ws(s + 1, end);
    }
    return false;
}

/* A string member's value, decoded and NUL-terminated into out. */
static bool member_str(const char *text, size_t len, const char *name, char *out, size_t cap)
{
    const char *v;
    size_t n;
    struct br_pj_str str;
    if (!member(text, len, name, &v, &n) || !br_pj_string(v, v + n, &str))
        return false;
    size_t dl = br_pj_decode(&str, out, cap - 1, 0);
    out[dl < cap - 1 ? dl : cap - 1] = '\0';
    return dl < cap;
}

/* Splits the JSON object text into its top-level members, as a record
 * kind would offer them. Names are copied (decoded) into names. */
static size_t split_members(const char *text, size_t len, struct br_doc_member *m,
                            char names[][256])
{
    const char *end = text + len, *s = br_pj_ws(text, end);
    size_t n = 0;
    s = br_pj_ws(s + 1, end);
    while (s < end && *s == '"' && n < MAX_MEMBERS) {
        struct br_pj_str k;
        s = br_pj_string(s, end, &k);
        size_t dl = br_pj_decode(&k, names[n], 255, 0);
        names[n][dl < 255 ? dl : 255] = '\0';
        s = br_pj_ws(br_pj_ws(s, end) + 1, end);
        const char *after = br_pj_skip(s, end);
        m[n] = (struct br_doc_member){.name = names[n], .json = s, .len = (size_t)(after - s)};
        n++;
        s = br_pj_ws(after, end);
        if (s < end && *s == ',')
            s = br_pj_ws(s + 1, end);
    }
    return n;
}

/* ---- the JSON reader ---- */

static void test_json_fast(void)
{
    struct br_pj_str str;
    const char *t = "\"ab\\\"c\\\\\" rest";
    const char *e = br_pj_string(t, t + strlen(t), &str);
    CHECK(e && *e == ' ' && str.len == 7 && str.esc);
    t = "\"plain\"";
    e = br_pj_string(t, t + strlen(t), &str);
    CHECK(e == t + 7 && str.len == 5 && !str.esc && memcmp(str.raw, "plain", 5) == 0);
    t = "\"open";
    CHECK(br_pj_string(t, t + strlen(t), &str) == NULL);
    t = "\"esc at end\\";
    CHECK(br_pj_string(t, t + strlen(t), &str) == NULL);

    static const struct { const char *text; size_t at; } skips[] = {
        {"{\"a\":[1,{\"b\":\"]}\\\"\"}],\"c\":null} x", 31},
        {"[[],[[]],{}] ", 12}, {"-12.5e+3,", 8}, {"true]", 4}, {"\"x\"", 3},
        {"{\"a\":[1,2}", (size_t)-1}, {"[", (size_t)-1}, {"", (size_t)-1},
    };
    for (size_t i = 0; i < sizeof skips / sizeof skips[0]; i++) {
        const char *x = skips[i].text, *end = x + strlen(x);
        const char *got = br_pj_skip(x, end);
        CHECK_MSG(skips[i].at == (size_t)-1 ? got == NULL : got == x + skips[i].at,
                  "skip %s: got %td", x, got ? got - x : -1);
    }

    /* Skipping a million levels uses no stack: it only counts. */
    size_t deep = 1000000;
    char *d = malloc(2 * deep);
    memset(d, '[', deep);
    memset(d + deep, ']', deep);
    CHECK(br_pj_skip(d, d + 2 * deep) == d + 2 * deep);
    CHECK(br_pj_skip(d, d + 2 * deep - 1) == NULL);
    free(d);
}

static void test_json_strict(void)
{
    static const struct { const char *text; long at; const char *why; } cases[] = {
        {"{\"a\": [1, 2.5e-3, true, false, null, \"\\u00e9\\ud83d\\ude80\"]}", -1, NULL},
        {" {\"a\":{}} ", -1, NULL},
        {"{\"a\":1,}", 7, "member name"},
        {"[1 2]", 3, "',' or ']'"},
        {"{\"a\" 1}", 5, "':'"},
        {"{\"a\":01}", 6, "expected ',' or '}'"},
        {"[1.]", 1, "decimal point"},
        {"[1e]", 1, "exponent"},
        {"[-]", 1, "invalid number"},
        {"[\"a\tb\"]", 3, "control character"},
        {"[\"\\x\"]", 3, "invalid escape"},
        {"[\"\\u12\"]", 4, "four hex digits"},
        {"[\"\\udc00\"]", 4, "low surrogate"},
        {"[\"\\ud800x\"]", 8, "high surrogate"},
        {"[\"\xc3\x28\"]", 2, "UTF-8"},
        {"[\"\xed\xa0\x80\"]", 2, "UTF-8"},        /* an encoded surrogate */
        {"[tru]", 1, "expected a value"},
        {"[", 1, "end of text"},
        {"{\"a\":[}", 6, "expected a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t = cases[i].text, *end = t + strlen(t);
        struct br_pj_err e = {.base = t};
        const char *got = br_pj_check_value(t, end, 512, &e);
        if (cases[i].at < 0)
            CHECK_MSG(got && br_pj_ws(got, end) == end, "%s refused: %s at %zu", t,
                      got ? "trailing" : e.why, e.at);
        else
            CHECK_MSG(!got && (long)e.at == cases[i].at && strstr(e.why, cases[i].why),
                      "%s: got %s at %zu", t, got ? "accepted" : e.why, e.at);
    }
    /* Nesting: 512 levels pass, 513 do not, and the check is iterative. */
    char deep[1100];
    memset(deep, '[', 513);
    memset(deep + 513, ']', 513);
    struct br_pj_err e = {.base = deep};
    CHECK(br_pj_check_value(deep + 1, deep + 1025, 512, &e) == deep + 1025);
    CHECK(br_pj_check_value(deep, deep + 1026, 512, &e) == NULL && strstr(e.why, "deep") &&
          e.at == 512);
}

static void test_json_decode(void)
{
    static const struct { const char *raw, *want; size_t wlen; } cases[] = {
        {"a\\n\\t\\\"\\\\\\/\\b\\f\\r", "a\n\t\"\\/\b\f\r", 9},
        {"\\u00e9t\\u00E9", "\xc3\xa9t\xc3\xa9", 5},
        {"\\u20ac", "\xe2\x82\xac", 3},
        {"\\ud83d\\ude80!", "\xf0\x9f\x9a\x80!", 5},
        {"\\ud83dx", "\xef\xbf\xbdx", 4},              /* a lone surrogate */
        {"\\udc00", "\xef\xbf\xbd", 3},
        {"\\u0000", "\0", 1},
        {"plain", "plain", 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct br_pj_str s = {cases[i].raw, strlen(cases[i].raw), true};
        char out[64];
        size_t n = br_pj_decode(&s, out, sizeof out, 0);
        CHECK_MSG(n == cases[i].wlen && memcmp(out, cases[i].want, n) == 0, "decode %s",
                  cases[i].raw);
        /* Windows and the cursor give the same bytes. */
        for (size_t skip = 0; skip <= n; skip++) {
            char win[3] = {0};
            size_t total = br_pj_decode(&s, win, sizeof win, skip);
            size_t got = n - skip < 3 ? n - skip : 3;
            CHECK_MSG(total == n && memcmp(win, cases[i].want + skip, got) == 0,
                      "window %s at %zu", cases[i].raw, skip);
        }
        for (size_t chunk = 1; chunk <= 4; chunk++) {
            struct br_pj_cursor c;
            char all[64];
            size_t got = 0, k;
            br_pj_cursor_init(&c, &s);
            while ((k = br_pj_cursor_read(&c, all + got, chunk)) > 0)
                got += k;
            CHECK_MSG(got == n && memcmp(all, cases[i].want, n) == 0, "cursor %s by %zu",
                      cases[i].raw, chunk);
        }
    }
}

/* ---- numbers ---- */

static void test_numbers(void)
{
    static const struct { const char *text; bool ok; long long micro; bool more; } cases[] = {
        {"0", true, 0, false},              {"-0", true, 0, false},
        {"300", true, 300000000, false},    {"300.0", true, 300000000, false},
        {"3e2", true, 300000000, false},    {"3.018e2", true, 301800000, false},
        {"30180E-2", true, 301800000, false}, {"0.000001", true, 1, false},
        {"0.0000001", true, 0, true},       {"-0.0000001", true, -1, true},
        {"-1.5", true, -1500000, false},    {"1.0000005", true, 1000000, true},
        {"-1.0000005", true, -1000001, true}, {"5e9", true, 5000000000000000LL, false},
        {"-5000000000", true, -5000000000000000LL, false},
        {"5000000000.000001", false, 0, false}, {"5000000000.0000001", false, 0, false},
        {"1e10", false, 0, false},          {"123456789012", false, 0, false},
        {"1e-400", true, 0, true},          {"0e999999999", true, 0, false},
        {"1e999999999999", false, 0, false}, {"0.1e1", true, 1000000, false},
        {"01", false, 0, false},            {"1.", false, 0, false},
        {".5", false, 0, false},            {"-", false, 0, false},
        {"1e", false, 0, false},            {"+1", false, 0, false},
        {"1 ", false, 0, false},            {"0x10", false, 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct br_pn v = {0, false};
        bool ok = br_pn_parse(cases[i].text, strlen(cases[i].text), &v);
        CHECK_MSG(ok == cases[i].ok && (!ok || (v.micro == cases[i].micro &&
                                                v.more == cases[i].more)),
                  "number %s: ok %d micro %lld more %d", cases[i].text, ok,
                  (long long)v.micro, v.more);
    }
    struct br_pn x = {1000000, true};              /* a bit above 1 */
    CHECK(br_pn_cmp(&x, 1000000) > 0 && br_pn_cmp(&x, 1000001) < 0);
    struct br_pn y = {1000000, false};
    CHECK(br_pn_cmp(&y, 1000000) == 0);
}

/* ---- addresses ---- */

static void test_ip(void)
{
    static const struct { const char *text; bool ok, v6; const char *hex; } cases[] = {
        {"10.0.0.255", true, false, "0a0000ff"},   {"0.0.0.0", true, false, "00000000"},
        {"255.255.255.255", true, false, "ffffffff"},
        {"10.0.0.256", false, false, ""},          {"10.0.0", false, false, ""},
        {"10.0.0.1.2", false, false, ""},          {"010.0.0.1", false, false, ""},
        {"1.2.3.4 ", false, false, ""},            {"", false, false, ""},
        {"::", true, true, "00000000000000000000000000000000"},
        {"::1", true, true, "00000000000000000000000000000001"},
        {"2001:db8::", true, true, "20010db8000000000000000000000000"},
        {"2001:0db8:1234:1a00:0000:0000:0000:0000", true, true,
         "20010db812341a000000000000000000"},
        {"2001:DB8:0:0:8:800:200C:417A", true, true, "20010db80000000000080800200c417a"},
        {"::ffff:10.0.0.1", true, true, "00000000000000000000ffff0a000001"},
        {"1:2:3:4:5:6:7::", true, true, "00010002000300040005000600070000"},
        {"1:2:3:4:5:6:7:8:9", false, true, ""},    {"1::2::3", false, true, ""},
        {":1::", false, true, ""},                 {"12345::", false, true, ""},
        {"1:2:3:4:5:6:7::8", false, true, ""},     {"1::2:", false, true, ""},
        {":::", false, true, ""},                  {"fe80::1%eth0", false, true, ""},
        {"xxxx::", false, true, ""},               {"1.2.3.4::", false, true, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct br_ip ip;
        bool ok = br_ip_parse(cases[i].text, strlen(cases[i].text), &ip);
        char hex[33] = "";
        for (int k = 0; ok && k < (ip.v6 ? 16 : 4); k++)
            sprintf(hex + 2 * k, "%02x", ip.a[k]);
        CHECK_MSG(ok == cases[i].ok && (!ok || (ip.v6 == cases[i].v6 &&
                                                strcmp(hex, cases[i].hex) == 0)),
                  "ip %s: ok %d %s", cases[i].text, ok, hex);
    }
}

static void test_cidr(void)
{
    static const struct { const char *net, *ip; bool in; } cases[] = {
        {"10.0.0.0/24", "10.0.0.255", true},   {"10.0.0.0/24", "10.0.1.0", false},
        {"10.0.0.5/24", "10.0.0.9", true},     /* host bits are ignored */
        {"0.0.0.0/0", "203.0.113.7", true},    {"10.1.2.3/32", "10.1.2.3", true},
        {"10.1.2.3/32", "10.1.2.4", false},    {"192.168.0.0/23", "192.168.1.200", true},
        {"192.168.0.0/23", "192.168.2.1", false},
        {"2001:db8:1234:1a00::/64", "2001:0db8:1234:1a00:0000:0000:0000:0000", true},
        {"2001:db8:1234:1a00::/64", "2001:db8:1234:1a00:ffff:ffff:ffff:ffff", true},
        {"2001:db8:1234:1a00::/64", "2001:0db8:123f:1a01::", false},
        {"2001:db8::/33", "2001:db8:8000::1", false}, {"2001:db8::/33", "2001:db8:7fff::1", true},
        {"::/0", "::1", true},                 {"::/0", "10.0.0.1", false},
        {"10.0.0.0/8", "::ffff:10.0.0.1", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct br_ip net, ip;
        unsigned bits;
        const char *why;
        bool ok = br_cidr_parse(cases[i].net, strlen(cases[i].net), &net, &bits, &why) &&
                  br_ip_parse(cases[i].ip, strlen(cases[i].ip), &ip);
        CHECK_MSG(ok && br_cidr_contains(&net, bits, &ip) == cases[i].in, "%s in %s",
                  cases[i].ip, cases[i].net);
    }
    static const char *const bad[] = {"10.0.0.0", "10.0.0.0/33", "::/129", "10.0.0.0/",
                                      "10.0.0.0/x", "/8", "10.0.0.0/8/8", "10.0.0.0/1234"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct br_ip net;
        unsigned bits;
        const char *why = NULL;
        CHECK_MSG(!br_cidr_parse(bad[i], strlen(bad[i]), &net, &bits, &why) && why,
                  "cidr %s accepted", bad[i]);
    }
}

/* ---- text ---- */

static void test_text(void)
{
    static const struct { const char *a, *b; bool eq; } eq[] = {
        {"EC2 Instance", "ec2 instance", true},  {"abc", "abd", false},
        {"Stra\xc3\x9f" "e", "STRA\xc3\x9f" "E", true},            /* ß has no one-letter upper */
        {"\xc3\x89t\xc3\xa9", "\xc3\xa9T\xc3\x89", true},          /* Été */
        {"\xce\x91\xce\xbb\xcf\x86\xce\xb1", "\xce\xb1\xce\x9b\xce\xa6\xce\x91", true},
        {"\xcf\x82", "\xce\xa3", true},                            /* ς and Σ */
        {"\xd0\x9f\xd0\xa0\xd0\x98", "\xd0\xbf\xd1\x80\xd0\xb8", true},  /* ПРИ */
        {"\xd0\x81", "\xd1\x91", true},                            /* Ё ё */
        {"\xc4\x80\xc5\x81\xc5\xb9", "\xc4\x81\xc5\x82\xc5\xba", true},  /* ĀŁŹ */
        {"\xe2\x84\xaa", "k", false},                              /* Kelvin sign: not folded */
        {"\xff" "A", "\xff" "a", true},                            /* a stray byte is itself */
        {"\xff", "\xfe", false},                   {"", "", true}, {"a", "", false},
    };
    for (size_t i = 0; i < sizeof eq / sizeof eq[0]; i++)
        CHECK_MSG(br_pt_equal_fold(eq[i].a, strlen(eq[i].a), eq[i].b, strlen(eq[i].b)) ==
                      eq[i].eq, "fold %s / %s", eq[i].a, eq[i].b);
    CHECK(br_pt_prefix_fold("EVENTBRIDGE", 11, "EventB", 6));
    CHECK(!br_pt_prefix_fold("Even", 4, "EventB", 6));
    CHECK(br_pt_suffix_fold("image.PNG", 9, ".png", 4));
    CHECK(!br_pt_suffix_fold("image.jpg", 9, ".png", 4));
    /* A suffix never starts inside a character of the value. */
    CHECK(!br_pt_suffix_fold("x\xc3\xa9", 3, "a", 1));
    CHECK(br_pt_suffix_fold("x\xc3\x89", 3, "\xc3\xa9", 2));
    CHECK(br_pt_suffix("image.png", 9, ".png", 4) && !br_pt_suffix(".pn", 3, ".png", 4));
    CHECK(br_pt_prefix("2022-07-13T", 11, "2022-07-13", 10) && br_pt_prefix("x", 1, "", 0));
}

/* ---- wildcards ---- */

static struct br_pw wild_of(const char *text, char *pool, uint32_t *lens, struct br_pw_seg *seg)
{
    const char *why;
    size_t at, nseg = br_pw_parse(text, strlen(text), pool, lens, &why, &at), off = 0;
    for (size_t i = 0; i < nseg; i++) {
        seg[i].off = (uint32_t)off;
        seg[i].len = lens[i];
        off += lens[i];
    }
    return (struct br_pw){pool, seg, nseg};
}

static void test_wildcard(void)
{
    static const struct { const char *w, *value; bool hit; } cases[] = {
        {"*", "", true},                {"*", "anything", true},    {"", "", true},
        {"", "x", false},               {"a*", "a", true},          {"a*", "ba", false},
        {"*a", "ba", true},             {"*a", "ab", false},        {"a*b", "ab", true},
        {"a*b", "axxb", true},          {"a*b", "ba", false},       {"a*a", "a", false},
        {"a*a", "aa", true},            {"*x*y*", "..x..y..", true}, {"*x*y*", "..y..x..", false},
        {"*ab*ab*", "abab", true},      {"*ab*ab*", "aba", false},  {"a\\*b", "a*b", true},
        {"a\\*b", "axb", false},        {"a\\\\b", "a\\b", true},   {"\\**", "*x", true},
        {"/Users/*/doc.txt", "/Users/ls_user/dir/doc.txt", true},
        {"/Users/*/doc.txt", "/Users/ls_user/notmydoc.txt2", false},
        {"arn:aws:events:us-east-1:*:event-bus/*",
         "arn:aws:events:us-east-1:123456789012:event-bus/myEventBus", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char pool[64];
        uint32_t lens[64];
        struct br_pw_seg seg[64];
        struct br_pw w = wild_of(cases[i].w, pool, lens, seg);
        CHECK_MSG(w.nseg && br_pw_match(&w, cases[i].value, strlen(cases[i].value)) ==
                                cases[i].hit, "wildcard %s on %s", cases[i].w, cases[i].value);
    }
    static const struct { const char *w; size_t at; const char *why; } bad[] = {
        {"a**b", 2, "two *"}, {"**", 1, "two *"}, {"a\\b", 1, "backslash"},
        {"a\\", 1, "backslash"}, {"\\\\\\", 2, "backslash"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[16];
        uint32_t lens[16];
        const char *why = "";
        size_t at = 99;
        CHECK_MSG(br_pw_parse(bad[i].w, strlen(bad[i].w), out, lens, &why, &at) == 0 &&
                      at == bad[i].at && strstr(why, bad[i].why),
                  "wildcard %s: %s at %zu", bad[i].w, why, at);
    }
    static const struct { const char *w; int want; } cx[] = {
        {"abc", 1}, {"*", 1}, {"a*b*c", 3}, {"*:*:*:*:*", 9}, {"*:*:*:*:*:event-bus/*", 10},
        {"/Users/*/dir/dir/dir/dir/dir/doc.txt", 7},
        {"arn:aws:events:us-east-1:*:event-bus/*", 3},
    };
    for (size_t i = 0; i < sizeof cx / sizeof cx[0]; i++) {
        char pool[64];
        uint32_t lens[64];
        struct br_pw_seg seg[64];
        struct br_pw w = wild_of(cx[i].w, pool, lens, seg);
        int got = br_pw_complexity(&w, 1, 9);
        CHECK_MSG(got == (cx[i].want > 9 ? 10 : cx[i].want), "complexity of %s: %d", cx[i].w,
                  got);
    }
}

/* A string value longer than the matcher decodes at once: n bytes of
 * "a\\nb" escapes (3 decoded bytes each) between a head and a tail. */
static char *long_escaped(size_t reps, const char *head, const char *tail)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + tl + 4 * reps + 1), *p = s;
    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < reps; i++, p += 4)
        memcpy(p, "a\\nb", 4);
    memcpy(p, tail, tl + 1);
    return s;
}

static void test_wildcard_long(void)
{
    char *raw = long_escaped(3000, "start:", ":mid:end");    /* 9014 bytes decoded */
    struct br_pj_str s = {raw, strlen(raw), true};
    size_t dlen = br_pj_decode(&s, NULL, 0, 0);
    CHECK_INT(dlen, 6 + 9000 + 8);
    static const struct { const char *w; bool hit; } cases[] = {
        {"start:*", true},        {"*:end", true},           {"start:*:mid:*", true},
        {"*ba\nb*", true},         {"*\nb*", true},           {"*b\na*", false},
        {"start:*a\nba\nb*:end", true},
        {"start:*xyz*", false},    {"*:mid:*:mid:*", false},  {"*b:mid:end", true},
        {"stop:*", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char pool[64];
        uint32_t lens[64];
        struct br_pw_seg seg[64];
        struct br_pw w = wild_of(cases[i].w, pool, lens, seg);
        CHECK_MSG(br_pw_match_long(&w, &s, dlen) == cases[i].hit, "long wildcard %s",
                  cases[i].w);
    }
    free(raw);
}

/* ---- compiling: errors name the path and the operator ---- */

/* s repeated n times into a buffer the caller frees, between head and tail. */
static char *repeat(const char *head, const char *s, size_t n, const char *tail)
{
    size_t hl = strlen(head), sl = strlen(s), tl = strlen(tail);
    char *out = malloc(hl + sl * n + tl + 1), *p = out;
    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < n; i++, p += sl)
        memcpy(p, s, sl);
    memcpy(p, tail, tl + 1);
    return out;
}

static void check_refused(const char *pat, size_t len, const char *want)
{
    char err[512] = "";
    struct br_pattern *p = br_pattern_compile(pat, len, err, sizeof err);
    CHECK_MSG(!p && strstr(err, want), "%.80s: want \"%s\", got %s", pat, want,
              p ? "a pattern" : err);
    br_pattern_free(p);
}

static void test_compile_errors(void)
{
    static const struct { const char *pat, *want; } cases[] = {
        {"", "the pattern is empty"},
        {"  ", "the pattern is empty"},
        {"[]", "a pattern is a JSON object"},
        {"{}", "an empty object names no field"},
        {"{\"a\":[1]} x", "at byte 10: text after the pattern"},
        {"{\"a\":[1],}", "at byte 9: expected a member name in quotes"},
        {"{\"a\":[1]", "at byte 8: unexpected end of text"},
        {"{\"a\":[1] \"b\":[2]}", "at byte 9: expected ',' or '}'"},
        {"{\"a\" [1]}", "at byte 5: expected ':'"},
        {"{\"a\":[\"\\x\"]}", "at byte 8: invalid escape"},
        {"{\"a\":[\"\xc3\"]}", "at byte 7: invalid UTF-8"},
        {"{\"a\":[tru]}", "a: at byte 6: expected a value"},
        {"{\"a\": {\"b\": 1}}", "a.b: must be an object or a list of values"},
        {"{\"a\": \"x\"}", "a: must be an object or a list"},
        {"{\"a\": {}}", "a: an empty object names no field"},
        {"{\"a\": []}", "a: an empty list matches nothing"},
        {"{\"a\": [[1]]}", "a: a list inside a list of values"},
        {"{\"a\": [{}]}", "a: an empty object is no operator"},
        {"{\"a\": [{\"prefix\": \"x\", \"suffix\": \"y\"}]}",
         "a: prefix: an operator object holds one operator"},
        {"{\"a\": [{\"foo\": 1}]}", "a: unknown operator \"foo\""},
        {"{\"a\": [{\"Prefix\": \"x\"}]}", "a: unknown operator \"Prefix\""},
        {"{\"a\": [{\"prefix\": 1}]}", "a: prefix: must be a string or {\"equals-ignore-case\""},
        {"{\"a\": [{\"prefix\": {\"foo\": \"x\"}}]}", "a: prefix: must be a string or"},
        {"{\"a\": [{\"suffix\": {\"equals-ignore-case\": 1}}]}", "a: suffix: must be a string or"},
        {"{\"a\": [{\"suffix\": {\"equals-ignore-case\": \"x\", \"b\": 1}}]}",
         "a: suffix: an operator object holds one operator"},
        {"{\"a\": [{\"equals-ignore-case\": 1}]}", "a: equals-ignore-case: must be a string"},
        {"{\"d\": {\"p\": [{\"numeric\": [\"=\", \"5\"]}]}}", "d.p: numeric: = needs a number"},
        {"{\"p\": [{\"numeric\": [\">\", 5, \"<\", 5]}]}",
         "p: numeric: a range needs a lower bound below its upper bound"},
        {"{\"p\": [{\"numeric\": [\">=\", 7, \"<=\", 5]}]}", "a range needs a lower bound"},
        {"{\"p\": [{\"numeric\": [\">\", 1e10]}]}", "p: numeric: 1e10 is outside -5e9..5e9"},
        {"{\"p\": [{\"numeric\": [\"<\", 0.0000001]}]}", "numeric: 0.0000001 has more than six"},
        {"{\"p\": [{\"numeric\": [\"<\", 5, \">\", 1]}]}", "numeric: nothing may follow \"<\""},
        {"{\"p\": [{\"numeric\": [\"=\", 5, \"<\", 6]}]}", "numeric: nothing may follow \"=\""},
        {"{\"p\": [{\"numeric\": [\">\", 1, \"<\", 5, 6]}]}", "numeric: too many elements"},
        {"{\"p\": [{\"numeric\": [\">\", 1, \"<\", 5, \"<\", 6]}]}", "numeric: too many elements"},
        {"{\"p\": [{\"numeric\": [\"~\", 1]}]}", "numeric: unknown comparison \"~\""},
        {"{\"p\": [{\"numeric\": []}]}", "numeric: the list starts with a comparison"},
        {"{\"p\": [{\"numeric\": [5]}]}", "numeric: the list starts with a comparison"},
        {"{\"p\": [{\"numeric\": [true]}]}", "numeric: holds comparisons and numbers only"},
        {"{\"p\": [{\"numeric\": [\">\", 1, \">\", 2]}]}", "numeric: a range's upper bound takes"},
        {"{\"p\": [{\"numeric\": \">\"}]}", "numeric: must be a list such as"},
        {"{\"s\": [{\"anything-but\": []}]}", "s: anything-but: an empty list excludes nothing"},
        {"{\"s\": [{\"anything-but\": [\"a\", 1]}]}",
         "anything-but: a list holds only strings or only numbers"},
        {"{\"s\": [{\"anything-but\": [1, \"a\"]}]}", "a list holds only strings or only numbers"},
        {"{\"s\": [{\"anything-but\": true}]}", "s: anything-but: must be a string, a number"},
        {"{\"s\": [{\"anything-but\": 1e10}]}", "anything-but: 1e10 is outside -5e9..5e9"},
        {"{\"s\": [{\"anything-but\": {\"numeric\": [\">\", 1]}}]}",
         "anything-but: cannot hold \"numeric\""},
        {"{\"s\": [{\"anything-but\": {\"prefix\": \"a\", \"suffix\": \"b\"}}]}",
         "s: anything-but: an operator object holds one operator"},
        {"{\"s\": [{\"anything-but\": {\"suffix\": [\"a\", \"\"]}}]}",
         "anything-but: suffix: an empty suffix excludes every string"},
        {"{\"s\": [{\"anything-but\": {\"wildcard\": [\"a**\"]}}]}",
         "anything-but: wildcard: two * in a row"},
        {"{\"s\": [{\"anything-but\": {\"prefix\": []}}]}", "prefix: an empty list excludes"},
        {"{\"e\": [{\"exists\": \"yes\"}]}", "e: exists: must be true or false"},
        {"{\"e\": [{\"exists\": 1}]}", "e: exists: must be true or false"},
        {"{\"i\": [{\"cidr\": \"10.0.0.0/33\"}]}",
         "i: cidr: \"10.0.0.0/33\" needs a prefix length of 0 to 32"},
        {"{\"i\": [{\"cidr\": \"::/129\"}]}", "cidr: \"::/129\" needs a prefix length of 0 to 128"},
        {"{\"i\": [{\"cidr\": \"10.0.0.1\"}]}", "cidr: \"10.0.0.1\" needs an address, '/'"},
        {"{\"i\": [{\"cidr\": 10}]}", "cidr: must be a string"},
        {"{\"w\": [{\"wildcard\": \"a**\"}]}",
         "w: wildcard: two * in a row (one matches any run of characters) (at offset 2"},
        {"{\"w\": [{\"wildcard\": \"a\\\\b\"}]}",
         "w: wildcard: a backslash may escape only * or \\"},
        {"{\"w\": [{\"wildcard\": \"*a\"}, {\"wildcard\": \"*b\"}, {\"wildcard\": \"*c\"}, "
         "{\"wildcard\": \"*d\"}, {\"wildcard\": \"*e\"}, {\"wildcard\": \"*f\"}, "
         "{\"wildcard\": \"*g\"}, {\"wildcard\": \"*h\"}, {\"wildcard\": \"*i\"}, "
         "{\"wildcard\": \"*j\"}]}", "w: wildcard: too complex"},
        {"{\"x\": {\"w\": [{\"wildcard\": \"*aaaaaaaaaa\"}]}}", "x.w: wildcard: too complex"},
        {"{\"$or\": [{\"a\": [1]}]}", "$or: must be a list of at least two objects"},
        {"{\"$or\": {\"a\": [1]}}", "$or: must be a list of at least two objects"},
        {"{\"$or\": []}", "$or: must be a list of at least two objects"},
        {"{\"$or\": [{\"a\": [1]}, \"b\"]}", "$or: must be a list of at least two objects"},
        {"{\"$or\": [{\"a\": [1]}, {}]}", "$or[1]: an empty object names no field"},
        {"{\"$or\": [{\"prefix\": [1]}, {\"b\": [2]}]}", "$or[0].prefix: names an operator"},
        {"{\"$or\": [{\"a\": {\"numeric\": [1]}}, {\"b\": [2]}]}",
         "$or[0].a.numeric: names an operator"},
        {"{\"detail\": {\"$or\": [{\"c\": [{\"numeric\": [\">\", \"x\"]}]}, {\"d\": [1]}]}}",
         "detail.$or[0].c: numeric: > needs a number after it"},
        {"{\"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.A.B.C.D.E.F.G\": [1]}",
         "nested deeper than 32 names"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_refused(cases[i].pat, strlen(cases[i].pat), cases[i].want);

    /* The limits: text, nesting, fields, alternatives. */
    char *big = repeat("{\"a\": [\"", "x", 4096 - 11, "\"]}");
    char err[256];
    struct br_pattern *p = br_pattern_compile(big, strlen(big), err, sizeof err);
    CHECK_MSG(p && strlen(big) == 4096, "a 4096-byte pattern: %s", p ? "ok" : err);
    br_pattern_free(p);
    free(big);
    big = repeat("{\"a\": [\"", "x", 4097 - 11, "\"]}");
    check_refused(big, strlen(big), "the pattern is 4097 bytes, more than 4096");
    free(big);
    char *deep = repeat("", "{\"a\":", 32, "[1]");
    char *deep_end = repeat(deep, "}", 32, "");
    p = br_pattern_compile(deep_end, strlen(deep_end), err, sizeof err);
    CHECK_MSG(p != NULL, "32 levels: %s", err);
    br_pattern_free(p);
    free(deep);
    free(deep_end);
    deep = repeat("", "{\"a\":", 33, "[1]");
    deep_end = repeat(deep, "}", 33, "");
    check_refused(deep_end, strlen(deep_end), "nested deeper than 32");
    free(deep);
    free(deep_end);

    char fields[4096];
    size_t n = 0;
    for (int k = 0; k < 257; k++)
        n += (size_t)snprintf(fields + n, sizeof fields - n, "%s\"%x\":[1]", k ? "," : "{", k);
    fields[n++] = '}';
    check_refused(fields, n, "the pattern names more than 256 fields");
    n = 0;
    for (int k = 0; k < 256; k++)
        n += (size_t)snprintf(fields + n, sizeof fields - n, "%s\"%x\":[1]", k ? "," : "{", k);
    fields[n++] = '}';
    p = br_pattern_compile(fields, n, err, sizeof err);
    CHECK_MSG(p != NULL, "256 fields: %s", err);
    br_pattern_free(p);

    /* 2^8 alternatives pass, 2^9 do not. */
    for (int k = 8; k <= 9; k++) {
        n = 0;
        for (int i = 0; i < k; i++)
            n += (size_t)snprintf(fields + n, sizeof fields - n,
                                  "%s\"%c\":{\"$or\":[{\"x\":[1]},{\"y\":[2]}]}", i ? "," : "{",
                                  'a' + i);
        fields[n++] = '}';
        p = br_pattern_compile(fields, n, err, sizeof err);
        if (k == 8)
            CHECK_MSG(p != NULL, "256 alternatives: %s", err);
        else
            CHECK_MSG(!p && strstr(err, "more than 256 alternatives"), "512: %s", err);
        br_pattern_free(p);
    }

    /* A short error buffer is cut, never overrun; none at all is fine. */
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    CHECK(!br_pattern_compile("{\"a\": []}", 9, tiny, 5) && strlen(tiny) == 4);
    CHECK(tiny[5] == 'x');
    CHECK(!br_pattern_compile("{\"a\": []}", 9, NULL, 0));
    CHECK(!br_pattern_compile(NULL, 0, err, sizeof err) && strstr(err, "empty"));
}

/* ---- matching through the API ---- */

static int match_text(const char *pat, const char *ev)
{
    char err[256];
    struct br_pattern *p = br_pattern_compile(pat, strlen(pat), err, sizeof err);
    CHECK_MSG(p != NULL, "%s: %s", pat, err);
    if (!p)
        return -2;
    int r = br_pattern_match_text(p, ev, strlen(ev), err, sizeof err);
    br_pattern_free(p);
    return r;
}

static void test_match_text_errors(void)
{
    static const struct { const char *ev, *want; } cases[] = {
        {"", "at byte 0: no JSON object"},
        {"  [1]", "at byte 2: not a JSON object"},
        {"\"x\"", "at byte 0: not a JSON object"},
        {"{\"a\":1} {}", "at byte 8: text after the JSON object"},
        {"{\"a\":1,}", "at byte 7: expected a member name"},
        {"{\"a\":[1}", "at byte 7: expected ',' or ']'"},
        {"{\"a\":\"\xff\"}", "at byte 6: invalid UTF-8"},
    };
    struct br_pattern *p = br_pattern_compile("{\"a\":[1]}", 9, NULL, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        int r = br_pattern_match_text(p, cases[i].ev, strlen(cases[i].ev), err, sizeof err);
        CHECK_MSG(r == -1 && strstr(err, cases[i].want), "%s: %d %s", cases[i].ev, r, err);
    }
    br_pattern_free(p);
}

static bool match_members(const char *pat, const struct br_doc_member *m, size_t n)
{
    char err[256];
    struct br_pattern *p = br_pattern_compile(pat, strlen(pat), err, sizeof err);
    CHECK_MSG(p != NULL, "%s: %s", pat, err);
    bool r = p && br_pattern_match(p, m, n);
    br_pattern_free(p);
    return r;
}

#define MEMBER(name, json) {name, json, sizeof json - 1}

static void test_members(void)
{
    /* A Kafka record whose value is not UTF-8: it is absent. */
    const struct br_doc_member rec[] = {
        MEMBER("topic", "\"orders\""), MEMBER("partition", "3"), MEMBER("offset", "42"),
        MEMBER("key", "  {\"id\": \"k-1\"} "), {"value", NULL, 0}, MEMBER("headers", "[]"),
    };
    size_t n = sizeof rec / sizeof rec[0];
    CHECK(match_members("{\"topic\": [\"orders\"], \"partition\": [3]}", rec, n));
    CHECK(match_members("{\"key\": {\"id\": [\"k-1\"]}}", rec, n));
    CHECK(match_members("{\"value\": [{\"exists\": false}]}", rec, n));
    CHECK(match_members("{\"value\": {\"a\": [{\"exists\": false}]}}", rec, n));
    CHECK(!match_members("{\"value\": [{\"exists\": true}]}", rec, n));
    CHECK(!match_members("{\"value\": [{\"anything-but\": \"x\"}]}", rec, n));
    CHECK(!match_members("{\"headers\": [{\"exists\": true}]}", rec, n));
    CHECK(match_members("{\"offset\": [{\"numeric\": [\">\", 41]}]}", rec, n));
    /* Member names with dots are paths too. */
    const struct br_doc_member dotted[] = {MEMBER("a.b", "1"), MEMBER("c", "{\"d.e\": 2}")};
    CHECK(match_members("{\"a\": {\"b\": [1]}, \"c.d\": {\"e\": [2]}}", dotted, 2));
    /* Bytes that are not the promised JSON: no match, no crash. */
    const struct br_doc_member bad[] = {MEMBER("a", "{\"b\": [1, "), MEMBER("c", "1")};
    CHECK(!match_members("{\"a\": {\"b\": [1]}, \"c\": [1]}", bad, 2));
    const struct br_doc_member junk[] = {MEMBER("a", "{\"b\" 1}"), MEMBER("a", "\"x")};
    CHECK(!match_members("{\"a\": {\"b\": [1]}}", junk, 1));
    CHECK(!match_members("{\"a\": [\"x\"]}", junk + 1, 1));
    CHECK(!match_members("{\"a\": [1]}", NULL, 0));
}

static void test_match_api(void)
{
    /* Escaped names and values are compared decoded. */
    CHECK(match_text("{\"detail\": {\"x\": [\"caf\\u00e9\"]}}",
                     "{\"d\\u0065tail\": {\"x\": \"caf\\u00e9\"}}") == 1);
    CHECK(match_text("{\"x\": [\"caf\\u00e9\"]}", "{\"x\": \"caf\xc3\xa9\"}") == 1);
    CHECK(match_text("{\"x\": [{\"equals-ignore-case\": \"CAF\\u00c9\"}]}",
                     "{\"x\": \"caf\\u00e9\"}") == 1);
    CHECK(match_text("{\"x\": [\"a\\\"b\"]}", "{\"x\": \"a\\u0022b\"}") == 1);
    /* A pattern whose only strings are wildcards has no items: the
     * matcher once indexed them anyway (undefined behaviour clang's UBSan
     * reports, as fuzz_pattern did from its seed of this case). */
    CHECK(match_text("{\"f\":[{\"wildcard\":\"*\"}]}", "{\"f\":\"\"}") == 1);
    CHECK(match_text("{\"f\":[{\"anything-but\":{\"wildcard\":\"a*\"}}]}",
                     "{\"f\":\"b\"}") == 1);
    /* A node with more than eight children is searched by halves. */
    char pat[1024], ev[1024];
    size_t n = 0, m = 0;
    for (int k = 0; k < 40; k++) {
        n += (size_t)snprintf(pat + n, sizeof pat - n, "%s\"k%d\":[%d]", k ? "," : "{", k, k);
        m += (size_t)snprintf(ev + m, sizeof ev - m, "%s\"k%d\":%d", k ? "," : "{", 39 - k,
                              39 - k);
    }
    snprintf(pat + n, sizeof pat - n, "}");
    snprintf(ev + m, sizeof ev - m, "}");
    CHECK(match_text(pat, ev) == 1);
    ev[m - 1] = '7';                   /* "k0":7 */
    CHECK(match_text(pat, ev) == 0);
    /* The last list given for a path is the one that counts. */
    CHECK(match_text("{\"a\": [\"x\"], \"a\": [\"y\"]}", "{\"a\": \"y\"}") == 1);
    CHECK(match_text("{\"a\": [\"x\"], \"a\": [\"y\"]}", "{\"a\": \"x\"}") == 0);
    CHECK(match_text("{\"a\": {\"b\": [1]}, \"a.b\": [2]}", "{\"a\": {\"b\": 2}}") == 1);
    /* An alternative of $or keeps the fields before it, and the last list. */
    CHECK(match_text("{\"a\": [1], \"$or\": [{\"a\": [2]}, {\"b\": [3]}]}",
                     "{\"a\": 2}") == 1);
    CHECK(match_text("{\"a\": [1], \"$or\": [{\"a\": [2]}, {\"b\": [3]}]}",
                     "{\"a\": 1, \"b\": 3}") == 1);
    CHECK(match_text("{\"a\": [1], \"$or\": [{\"a\": [2]}, {\"b\": [3]}]}",
                     "{\"a\": 2, \"b\": 4}") == 1);
    CHECK(match_text("{\"a\": [1], \"$or\": [{\"a\": [2]}, {\"b\": [3]}]}",
                     "{\"a\": 1, \"b\": 4}") == 0);
    /* The same text compiles to a pattern that matches the same. */
    const char *t = "{\"a\": [{\"prefix\": \"x\"}, {\"numeric\": [\">\", 1]}]}";
    struct br_pattern *p1 = br_pattern_compile(t, strlen(t), NULL, 0);
    struct br_pattern *p2 = br_pattern_compile(t, strlen(t), NULL, 0);
    CHECK(p1 && p2 && br_pattern_match_text(p1, "{\"a\": 2}", 8, NULL, 0) == 1 &&
          br_pattern_match_text(p2, "{\"a\": 2}", 8, NULL, 0) == 1);
    br_pattern_free(p1);
    br_pattern_free(p2);
    br_pattern_free(NULL);
}

/* Values too long to decode at once keep their first and last 4096
 * bytes for prefix and suffix, and wildcards read them whole. */
static void test_long_values(void)
{
    char *raw = long_escaped(3000, "{\"v\": \"start:", ":mid:end\"}");
    static const struct { const char *pat; int want; } cases[] = {
        {"{\"v\": [{\"prefix\": \"start:a\\nb\"}]}", 1},
        {"{\"v\": [{\"prefix\": \"stop\"}]}", 0},
        {"{\"v\": [{\"prefix\": {\"equals-ignore-case\": \"START:A\"}}]}", 1},
        {"{\"v\": [{\"suffix\": \"b:mid:end\"}]}", 1},
        {"{\"v\": [{\"suffix\": {\"equals-ignore-case\": \":MID:END\"}}]}", 1},
        {"{\"v\": [{\"suffix\": \"x:mid:end\"}]}", 0},
        {"{\"v\": [{\"wildcard\": \"start:*:mid:*\"}]}", 1},
        {"{\"v\": [{\"wildcard\": \"start:*:nope:*\"}]}", 0},
        {"{\"v\": [{\"wildcard\": \"start:a\\nb\"}]}", 0},
        {"{\"v\": [{\"anything-but\": {\"wildcard\": \"*:mid:*\"}}]}", 0},
        {"{\"v\": [{\"anything-but\": {\"prefix\": \"start\"}}]}", 0},
        {"{\"v\": [{\"anything-but\": {\"suffix\": \"x\"}}]}", 1},
        {"{\"v\": [{\"anything-but\": \"start\"}]}", 1},
        {"{\"v\": [{\"anything-but\": {\"equals-ignore-case\": \"x\"}}]}", 1},
        {"{\"v\": [\"start\"]}", 0},
        {"{\"v\": [{\"equals-ignore-case\": \"start\"}]}", 0},
        {"{\"v\": [{\"cidr\": \"10.0.0.0/8\"}]}", 0},
        {"{\"v\": [{\"exists\": true}]}", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(match_text(cases[i].pat, raw) == cases[i].want, "long value: %s",
                  cases[i].pat);
    free(raw);
}

/* ---- the case files ---- */

struct tally {
    int run, passed;
};

static bool run_case(const char *line, size_t len, int lineno, const char *file)
{
    char name[256] = "?", expect[32] = "", want_err[512] = "", err[512];
    const char *pat, *ev;
    size_t patlen, evlen;
    member_str(line, len, "name", name, sizeof name);
    if (!member_str(line, len, "expect", expect, sizeof expect) ||
        !member(line, len, "pattern", &pat, &patlen)) {
        CHECK_MSG(false, "%s:%d: no expect or pattern", file, lineno);
        return false;
    }
    member_str(line, len, "error", want_err, sizeof want_err);
    struct br_pattern *p = br_pattern_compile(pat, patlen, err, sizeof err);
    if (strcmp(expect, "invalid") == 0) {
        bool ok = !p && (!want_err[0] || strstr(err, want_err));
        CHECK_MSG(ok, "%s %s: want invalid%s%s, got %s", file, name, want_err[0] ? " with " : "",
                  want_err, p ? "a pattern" : err);
        br_pattern_free(p);
        return ok;
    }
    if (!p) {
        CHECK_MSG(false, "%s %s: refused: %s", file, name, err);
        return false;
    }
    bool want = strcmp(expect, "match") == 0;
    int got = member(line, len, "event", &ev, &evlen)
                  ? br_pattern_match_text(p, ev, evlen, err, sizeof err) : -1;
    struct br_doc_member m[MAX_MEMBERS];
    static char names[MAX_MEMBERS][256];
    size_t nm = got >= 0 ? split_members(ev, evlen, m, names) : 0;
    bool by_members = got >= 0 && br_pattern_match(p, m, nm);
    bool ok = got == want && by_members == want;
    CHECK_MSG(ok, "%s %s: want %s, match_text %d, by members %d%s%s", file, name, expect, got,
              by_members, got < 0 ? ": " : "", got < 0 ? err : "");
    br_pattern_free(p);
    return ok;
}

static struct tally run_file(const char *file)
{
    struct tally t = {0, 0};
    char path[256];
    snprintf(path, sizeof path, "%s%s", CASES_DIR, file);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s (run from the repository's root)", path);
    if (!f)
        return t;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        t.run++;
        t.passed += run_case(line, (size_t)n, lineno, file);
    }
    free(line);
    fclose(f);
    printf("pattern cases %s: %d of %d passed\n", file, t.passed, t.run);
    return t;
}

int main(void)
{
    test_json_fast();
    test_json_strict();
    test_json_decode();
    test_numbers();
    test_ip();
    test_cidr();
    test_text();
    test_wildcard();
    test_wildcard_long();
    test_compile_errors();
    test_match_text_errors();
    test_members();
    test_match_api();
    test_long_values();
    struct tally aws = run_file("cases.jsonl");
    CHECK_INT(aws.run, 155);
    struct tally own = run_file("fnbridge-cases.jsonl");
    CHECK(own.run > 0);
    return UNIT_DONE("pattern");
}
