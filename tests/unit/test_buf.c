/* test_buf.c - br_buf: growth, the hard cap, JSON escaping, base64
 * (RFC 4648 section 10 vectors) and integers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/buf.h"
#include "unit.h"

static void test_append_and_growth(void)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    int rc = 0;
    for (int i = 0; i < 1000; i++)
        rc |= br_buf_append(&b, "0123456789", 10);
    CHECK(rc == 0);
    CHECK_INT(b.len, 10000);
    CHECK(b.cap > b.len && b.data[b.len] == '\0');
    CHECK(memcmp(b.data + 9990, "0123456789", 10) == 0);
    br_buf_reset(&b);
    CHECK_INT(b.len, 0);
    CHECK_STR(b.data, "");
    CHECK(br_buf_puts(&b, "ab") == 0 && br_buf_putc(&b, 'c') == 0);
    CHECK(br_buf_printf(&b, "-%d-%s", 42, "x") == 0);
    CHECK_STR(b.data, "abc-42-x");
    br_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0);
    br_buf_free(&b);                    /* twice is fine */
}

/* Every writer refuses to pass max and leaves the buffer as it was. */
static void test_cap_refusal(void)
{
    struct br_buf b;
    br_buf_init(&b, 16);
    CHECK(br_buf_puts(&b, "0123456789") == 0);
    const unsigned char bin[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct { const char *what; int rc; } cases[] = {
        { "append", br_buf_append(&b, "abcdefg", 7) },
        { "puts", br_buf_puts(&b, "abcdefg") },
        { "printf", br_buf_printf(&b, "%s", "abcdefghijk") },
        { "i64", br_buf_put_i64(&b, INT64_MIN) },
        { "json_str", br_buf_put_json_str(&b, "\n\n\n", 3) },
        { "base64", br_buf_put_base64(&b, bin, 8) },
        { "reserve", br_buf_reserve(&b, 7) },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_MSG(cases[i].rc == -1, "%s accepted past the cap", cases[i].what);
        CHECK_INT(b.len, 10);
        CHECK_STR(b.data, "0123456789");
    }
    /* Exactly up to the cap is allowed; one more byte is not. */
    CHECK(br_buf_append(&b, "abcdef", 6) == 0);
    CHECK_INT(b.len, 16);
    CHECK(b.cap <= 17);
    CHECK(br_buf_putc(&b, 'x') == -1);
    CHECK(br_buf_append(&b, "", 0) == 0);
    CHECK_STR(b.data, "0123456789abcdef");
    br_buf_free(&b);
}

static void test_json_escaping(void)
{
    static const struct { const char *in; size_t n; const char *want; } cases[] = {
        { "", 0, "\"\"" },
        { "plain", 5, "\"plain\"" },
        { "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
        { "\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"" },
        { "\x01\x1f", 2, "\"\\u0001\\u001f\"" },
        { "nul\0x", 5, "\"nul\\u0000x\"" },
        { "\x7f/", 2, "\"\x7f/\"" },
        { "caf\xc3\xa9 \xe2\x82\xac", 9, "\"caf\xc3\xa9 \xe2\x82\xac\"" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct br_buf b;
        br_buf_init(&b, 0);
        CHECK(br_buf_put_json_str(&b, cases[i].in, cases[i].n) == 0);
        CHECK_STR(b.data, cases[i].want);
        br_buf_free(&b);
    }
}

static void test_base64(void)
{
    static const struct { const char *in, *want; } cases[] = {
        { "", "" },          { "f", "Zg==" },         { "fo", "Zm8=" },
        { "foo", "Zm9v" },   { "foob", "Zm9vYg==" },  { "fooba", "Zm9vYmE=" },
        { "foobar", "Zm9vYmFy" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct br_buf b;
        br_buf_init(&b, 0);
        CHECK(br_buf_put_base64(&b, (const unsigned char *)cases[i].in,
                                strlen(cases[i].in)) == 0);
        CHECK_STR(b.data ? b.data : "", cases[i].want);
        br_buf_free(&b);
    }
    const unsigned char bin[] = { 0x00, 0xff, 0xfe, 0x80, 0x3e, 0x3f };
    struct br_buf b;
    br_buf_init(&b, 0);
    CHECK(br_buf_put_base64(&b, bin, sizeof(bin)) == 0);
    CHECK_STR(b.data, "AP/+gD4/");
    br_buf_free(&b);
}

/* Bit-by-bit reference encoder, to check the table-driven fast loops on
 * every length and tail. */
static void ref_base64(const unsigned char *p, size_t n, char *out)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, bits = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | p[i];
        for (bits += 8; bits >= 6; bits -= 6)
            out[o++] = a[(acc >> (bits - 6)) & 63];
    }
    if (bits)
        out[o++] = a[(acc << (6 - bits)) & 63];
    while (o % 4)
        out[o++] = '=';
    out[o] = '\0';
}

static void test_base64_lengths(void)
{
    unsigned char in[300];
    char want[404];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(in); i++) {
        x = x * 1103515245 + 12345;
        in[i] = (unsigned char)(x >> 16);
    }
    int all_ok = 1;
    for (size_t n = 0; n <= sizeof(in); n++) {
        struct br_buf b;
        br_buf_init(&b, 0);
        ref_base64(in, n, want);
        all_ok &= br_buf_put_base64(&b, in, n) == 0 && b.len == strlen(want) &&
                  strcmp(b.data, want) == 0;
        br_buf_free(&b);
    }
    CHECK_MSG(all_ok, "base64 differs from the reference for some length");
}

static void test_i64(void)
{
    static const struct { int64_t v; const char *want; } cases[] = {
        { 0, "0" }, { 7, "7" }, { -1, "-1" }, { 10, "10" }, { 99, "99" },
        { 100, "100" }, { -10, "-10" }, { 1005, "1005" }, { 1595035749700, "1595035749700" },
        { INT64_MAX, "9223372036854775807" }, { INT64_MIN, "-9223372036854775808" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct br_buf b;
        br_buf_init(&b, 0);
        CHECK(br_buf_put_i64(&b, cases[i].v) == 0);
        CHECK_STR(b.data, cases[i].want);
        br_buf_free(&b);
    }
}

static void test_steal(void)
{
    struct br_buf b;
    size_t len = 99;
    br_buf_init(&b, 0);
    char *s = br_buf_steal(&b, &len);       /* never grown: "" not NULL */
    CHECK(s && s[0] == '\0' && len == 0);
    free(s);
    CHECK(br_buf_puts(&b, "hello") == 0);
    s = br_buf_steal(&b, &len);
    CHECK_STR(s, "hello");
    CHECK_INT(len, 5);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    free(s);
    br_buf_free(&b);
}

int main(void)
{
    test_append_and_growth();
    test_cap_refusal();
    test_json_escaping();
    test_base64();
    test_base64_lengths();
    test_i64();
    test_steal();
    return UNIT_DONE("buf");
}
