/* test_format.c - the lambda and json event formats: conformance with the
 * AWS sample event, grouping by partition, key/value/header encodings,
 * the strict JSON detection of the json format, escaping, the cap, and
 * br_format_record_bound. Run from the repo top level (reads tests/data). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bridge/format.h"
#include "unit.h"
#include "connectors/kafka/kafka_event.h"
#include "connectors/mqtt/mqtt_event.h"

#define SAMPLE "tests/data/lambda-events/kafka-event.json"

static const struct br_event_ctx ev = {
    .pipeline = "orders", .source_kind = "kafka", .origin = "k1:9092,k2:9092",
};

static struct br_record *mkrec(const char *topic, int32_t part, int64_t off,
                               const char *key, const void *value, size_t value_len)
{
    struct br_record_init init = { .kind = &br_kind_kafka,
        .topic = topic, .partition = part, .offset = off,
        .timestamp_ms = 1595035749700, .timestamp_type = BR_TS_CREATE,
        .key = key, .key_len = key ? strlen(key) : 0,
        .value = value, .value_len = value_len,
    };
    return br_record_create(&init);
}

static void free_recs(struct br_record **recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        br_record_free(recs[i]);
}

/* Encodes and parses the event; *raw gets the text (caller frees). */
static json_t *encode(enum br_format fmt, struct br_record **recs, size_t n,
                      char **raw)
{
    struct br_buf out;
    br_buf_init(&out, 0);
    CHECK(br_format_encode(fmt, &ev, recs, n, &out) == 0);
    json_error_t err;
    json_t *root = json_loadb(out.data, out.len, 0, &err);
    CHECK_MSG(root, "event is not JSON: %s: %s", err.text, out.data);
    if (raw)
        *raw = br_buf_steal(&out, NULL);
    br_buf_free(&out);
    return root;
}

/* The records array of a lambda event's group "<topic>-<partition>". */
static json_t *lambda_group(json_t *root, const char *key)
{
    return json_object_get(json_object_get(root, "records"), key);
}

/* ------------------------------------------------------------ conformance */

/* got must have the keys of want (minus `except`), no others, with the
 * same JSON types, recursively (arrays: element by element). */
static bool same_shape(const json_t *got, const json_t *want, const char *except)
{
    if (json_typeof(got) != json_typeof(want))
        return false;
    if (json_is_array(want)) {
        if (json_array_size(got) != json_array_size(want))
            return false;
        for (size_t i = 0; i < json_array_size(want); i++)
            if (!same_shape(json_array_get(got, i), json_array_get(want, i), except))
                return false;
        return true;
    }
    if (!json_is_object(want))
        return true;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        if (except && strcmp(k, except) == 0)
            continue;
        const json_t *g = json_object_get(got, k);
        if (!g || !same_shape(g, v, except))
            return false;
    }
    json_object_foreach((json_t *)got, k, v)
        if (!json_object_get(want, k))
            return false;
    return true;
}

static void test_lambda_matches_aws_sample(void)
{
    json_error_t err;
    json_t *sample = json_load_file(SAMPLE, 0, &err);
    CHECK_MSG(sample, "cannot read %s: %s", SAMPLE, err.text);
    if (!sample)
        return;
    static const char uuid[] = "8d5596b4-1813-4238-b24b-6dad8e3d1c0c";
    static const unsigned char hval[] = { 118, 220, 0, 127, 128 };
    struct br_header hdr = { "headerKey", hval, sizeof(hval) };
    struct br_record_init init = { .kind = &br_kind_kafka,
        .topic = "AWSKafkaTopic", .partition = 0, .offset = 0,
        .timestamp_ms = 1595035749700, .timestamp_type = BR_TS_CREATE,
        .key = uuid, .key_len = strlen(uuid), .value = uuid, .value_len = strlen(uuid),
        .headers = &hdr, .n_headers = 1,
    };
    struct br_record *rec = br_record_create(&init);
    json_t *got = encode(BR_FORMAT_LAMBDA, &rec, 1, NULL);

    CHECK(same_shape(got, sample, "eventSourceArn"));
    CHECK_STR(json_string_value(json_object_get(got, "eventSource")), "SelfManagedKafka");
    CHECK(!json_object_get(got, "eventSourceArn"));
    CHECK_STR(json_string_value(json_object_get(got, "bootstrapServers")), ev.origin);
    json_t *want_recs = lambda_group(sample, "AWSKafkaTopic-0");
    json_t *got_recs = lambda_group(got, "AWSKafkaTopic-0");
    CHECK(json_array_size(got_recs) == 1);
    CHECK(json_equal(json_array_get(got_recs, 0), json_array_get(want_recs, 0)));
    json_decref(got);
    json_decref(sample);
    br_record_free(rec);
}

/* ---------------------------------------------------------- lambda format */

static void test_lambda_fields(void)
{
    static const unsigned char bytes[] = { 0, 1, 127, 128, 129, 200, 255 };
    struct br_header hdrs[] = {
        { "h1", bytes, sizeof(bytes) }, { "nullv", NULL, 0 }, { "empty", bytes, 0 },
    };
    struct br_record_init with_hdrs = { .kind = &br_kind_kafka,
        .topic = "t", .partition = 1, .offset = 7, .timestamp_ms = 5,
        .timestamp_type = BR_TS_LOG_APPEND, .value = "", .value_len = 0,
        .headers = hdrs, .n_headers = 3,
    };
    struct br_record *recs[] = {
        mkrec("t", 1, 5, NULL, "hi", 2),        /* no key, no headers */
        mkrec("t", 1, 6, "k", NULL, 0),         /* tombstone */
        br_record_create(&with_hdrs),           /* empty value, headers */
    };
    recs[1]->timestamp_type = BR_TS_NONE;
    recs[1]->timestamp_ms = -1;
    json_t *root = encode(BR_FORMAT_LAMBDA, recs, 3, NULL);
    json_t *g = lambda_group(root, "t-1");
    json_t *r0 = json_array_get(g, 0), *r1 = json_array_get(g, 1), *r2 = json_array_get(g, 2);
    CHECK(json_array_size(g) == 3);

    CHECK(!json_object_get(r0, "key"));
    CHECK_STR(json_string_value(json_object_get(r0, "value")), "aGk=");
    CHECK(json_is_array(json_object_get(r0, "headers")) &&
          json_array_size(json_object_get(r0, "headers")) == 0);

    CHECK_STR(json_string_value(json_object_get(r1, "key")), "aw==");
    CHECK(!json_object_get(r1, "value"));
    CHECK_STR(json_string_value(json_object_get(r1, "timestampType")), "NO_TIMESTAMP_TYPE");
    CHECK_INT(json_integer_value(json_object_get(r1, "timestamp")), -1);

    CHECK_STR(json_string_value(json_object_get(r2, "value")), "");
    CHECK_STR(json_string_value(json_object_get(r2, "timestampType")), "LOG_APPEND_TIME");
    json_t *h = json_object_get(r2, "headers");
    static const int want_signed[] = { 0, 1, 127, -128, -127, -56, -1 };
    json_t *h1 = json_object_get(json_array_get(h, 0), "h1");
    CHECK_INT(json_array_size(h1), 7);
    for (size_t i = 0; i < 7; i++)
        CHECK_INT(json_integer_value(json_array_get(h1, i)), want_signed[i]);
    json_t *nullv = json_object_get(json_array_get(h, 1), "nullv");
    CHECK(json_is_array(nullv) && json_array_size(nullv) == 0);
    CHECK(json_array_size(json_object_get(json_array_get(h, 2), "empty")) == 0);
    json_decref(root);
    free_recs(recs, 3);
}

/* Groups in order of first appearance, records in input order. */
static void test_lambda_grouping(void)
{
    struct br_record *recs[] = {
        mkrec("a", 0, 1, NULL, "x", 1), mkrec("b", 1, 7, NULL, "x", 1),
        mkrec("a", 0, 2, NULL, "x", 1), mkrec("a", 1, 9, NULL, "x", 1),
        mkrec("b", 1, 8, NULL, "x", 1), mkrec("a", 0, 3, NULL, "x", 1),
    };
    char *raw;
    json_t *root = encode(BR_FORMAT_LAMBDA, recs, 6, &raw);
    const char *pa0 = strstr(raw, "\"a-0\":"), *pb1 = strstr(raw, "\"b-1\":");
    const char *pa1 = strstr(raw, "\"a-1\":");
    CHECK(pa0 && pb1 && pa1 && pa0 < pb1 && pb1 < pa1);
    CHECK_INT(json_object_size(json_object_get(root, "records")), 3);
    static const struct { const char *key; int64_t offs[3]; size_t n; } want[] = {
        { "a-0", { 1, 2, 3 }, 3 }, { "b-1", { 7, 8 }, 2 }, { "a-1", { 9 }, 1 },
    };
    for (size_t i = 0; i < 3; i++) {
        json_t *g = lambda_group(root, want[i].key);
        CHECK_INT(json_array_size(g), want[i].n);
        for (size_t j = 0; j < want[i].n; j++)
            CHECK_INT(json_integer_value(json_object_get(json_array_get(g, j), "offset")),
                      want[i].offs[j]);
    }
    json_decref(root);
    free(raw);
    free_recs(recs, 6);
}

/* A big interleaved batch (the hash path past the stack arrays). */
static void test_lambda_grouping_large(void)
{
    enum { N = 10000, PARTS = 37 };
    struct br_record **recs = calloc(N, sizeof(*recs));
    for (int i = 0; i < N; i++)
        recs[i] = mkrec(i % 2 ? "odd" : "even", (i * 7) % PARTS, i, NULL, "v", 1);
    json_t *root = encode(BR_FORMAT_LAMBDA, recs, N, NULL);
    json_t *groups = json_object_get(root, "records");
    size_t total = 0;
    bool ordered = true, placed = true;
    const char *key;
    json_t *g;
    json_object_foreach(groups, key, g) {
        int64_t prev = -1;
        for (size_t j = 0; j < json_array_size(g); j++) {
            json_t *r = json_array_get(g, j);
            int64_t off = json_integer_value(json_object_get(r, "offset"));
            char want_key[64];
            snprintf(want_key, sizeof(want_key), "%s-%lld",
                     json_string_value(json_object_get(r, "topic")),
                     json_integer_value(json_object_get(r, "partition")));
            placed &= strcmp(want_key, key) == 0;
            ordered &= off > prev;
            prev = off;
            total++;
        }
    }
    CHECK_INT(total, N);
    CHECK(placed);
    CHECK(ordered);
    json_decref(root);
    free_recs(recs, N);
    free(recs);
}

/* The Kafka shape of no records (a batch is never empty, so the format
 * itself has no kind to ask: it writes {}). */
static void test_lambda_empty_batch(void)
{
    struct br_buf out;
    br_buf_init(&out, 0);
    CHECK(br_kind_kafka.lambda.encode(&ev, NULL, 0, &out) == 0);
    json_t *root = json_loadb(out.data, out.len, 0, NULL);
    CHECK(json_is_object(json_object_get(root, "records")) &&
          json_object_size(json_object_get(root, "records")) == 0);
    json_decref(root);
    br_buf_reset(&out);
    CHECK(br_format_encode(BR_FORMAT_LAMBDA, &ev, NULL, 0, &out) == 0);
    CHECK_STR(out.data, "{}");
    br_buf_free(&out);
}

/* ------------------------------------------------------------ json format */

static void test_json_fields(void)
{
    static const char doc[] = " {\"a\":[1,2.5e3,\"\xc3\xa9\"],\"b\":null} ";
    static const unsigned char bin[] = { 0xff, 0x00, 0x10 };
    static const unsigned char hv[] = { 'v' };
    struct br_header hdrs[] = { { "h", hv, 1 }, { "n", NULL, 0 } };
    struct br_record_init binary = { .kind = &br_kind_kafka,
        .topic = "t", .partition = 3, .offset = 3, .timestamp_ms = -1,
        .value = bin, .value_len = sizeof(bin), .headers = hdrs, .n_headers = 2,
    };
    struct br_record *recs[] = {
        mkrec("t", 0, 1, "42", doc, strlen(doc)),       /* JSON key and value */
        mkrec("t", 0, 2, "plain key", "hello", 5),      /* text: base64 */
        br_record_create(&binary),                      /* binary, no key */
        mkrec("t", 3, 4, NULL, NULL, 0),                /* tombstone */
    };
    char *raw;
    json_t *root = encode(BR_FORMAT_JSON, recs, 4, &raw);
    CHECK_STR(json_string_value(json_object_get(root, "source")), "kafka");
    CHECK_STR(json_string_value(json_object_get(root, "pipeline")), "orders");
    json_t *list = json_object_get(root, "records");
    CHECK_INT(json_array_size(list), 4);
    json_t *r0 = json_array_get(list, 0), *r1 = json_array_get(list, 1);
    json_t *r2 = json_array_get(list, 2), *r3 = json_array_get(list, 3);

    CHECK(strstr(raw, "\"value\": {\"a\":[1,2.5e3,\"\xc3\xa9\"],\"b\":null} ,") != NULL);
    CHECK_STR(json_string_value(json_object_get(r0, "id")), "t-0-1");
    CHECK_INT(json_integer_value(json_object_get(r0, "key")), 42);
    CHECK_STR(json_string_value(json_object_get(r0, "keyEncoding")), "json");
    CHECK_STR(json_string_value(json_object_get(r0, "valueEncoding")), "json");
    CHECK_INT(json_integer_value(json_object_get(r0, "timestamp")), 1595035749700);

    CHECK_STR(json_string_value(json_object_get(r1, "key")), "cGxhaW4ga2V5");
    CHECK_STR(json_string_value(json_object_get(r1, "keyEncoding")), "base64");
    CHECK_STR(json_string_value(json_object_get(r1, "value")), "aGVsbG8=");
    CHECK_STR(json_string_value(json_object_get(r1, "valueEncoding")), "base64");
    CHECK(json_object_size(json_object_get(r1, "headers")) == 0);

    CHECK(!json_object_get(r2, "key") && !json_object_get(r2, "keyEncoding"));
    CHECK_STR(json_string_value(json_object_get(r2, "value")), "/wAQ");
    CHECK_STR(json_string_value(json_object_get(json_object_get(r2, "headers"), "h")), "dg==");
    CHECK(json_is_null(json_object_get(json_object_get(r2, "headers"), "n")));
    CHECK_INT(json_integer_value(json_object_get(r2, "partition")), 3);

    CHECK(!json_object_get(r3, "value") && !json_object_get(r3, "valueEncoding"));
    json_decref(root);
    free(raw);
    free_recs(recs, 4);
}

/* The strict detector, seen through the json format: "json" embeds the
 * bytes verbatim, "base64" does not. */
static void test_json_detection(void)
{
    static const struct { const char *in; bool json; } cases[] = {
        { "{}", true },              { "[]", true },             { "[[]]", true },
        { "0", true },               { "-0.5e-3", true },        { "1E+9", true },
        { "true", true },            { "false", true },          { "null", true },
        { "\"s\"", true },           { " \t\r\n[1 , 2]\n", true },
        { "{\"a\":{\"b\":[null,{}]}}", true },
        { "\"\\u00e9\\n\\/\\\"\"", true },
        { "\"\\ud83d\\ude00\"", true },                 /* surrogate pair */
        { "\"\xf0\x9f\x98\x80 \xe2\x82\xac \xc3\xa9\"", true },
        { "", false },               { "   ", false },           { "NaN", false },
        { "Infinity", false },       { "-", false },             { "01", false },
        { "1.", false },             { ".5", false },            { "1e", false },
        { "+1", false },             { "tru", false },           { "nulll", false },
        { "{\"a\":1} x", false },    { "{} {}", false },         { "[1,]", false },
        { "[,1]", false },           { "{\"a\"}", false },       { "{\"a\":}", false },
        { "{a:1}", false },          { "{\"a\":1,}", false },    { "[1 2]", false },
        { "[1", false },             { "{", false },             { "\"abc", false },
        { "'s'", false },            { "\"\\x\"", false },       { "\"\\u12\"", false },
        { "\"\t\"", false },         { "hello", false },
        { "\"\\ud800\"", false },    { "\"\\udc00\"", false },   /* lone surrogates */
        { "\"\\ud800\\u0041\"", false },
        { "\"\xc3\x28\"", false },   { "\"\xc0\xaf\"", false },  /* bad, overlong */
        { "\"\xe0\x80\xaf\"", false }, { "\"\xed\xa0\x80\"", false }, /* surrogate */
        { "\"\xf4\x90\x80\x80\"", false }, { "\"\xf8\x88\x80\x80\x80\"", false },
        { "\"\xe2\x82\"", false },   { "\xef\xbb\xbf{}", false }, /* BOM */
        { "\"long plain ascii text with \\\"escapes\\\" and \xc3\xa9 inside it\"", true },
        { "\"long plain ascii text with a raw \x7f delete byte, allowed\"", true },
        { "\"long plain ascii text, then a bad byte \xff here\"", false },
        { "\"long plain ascii text, then a truncated \xe2\x82\"", false },
        { "[1]\x00", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in) + (i == sizeof(cases) / sizeof(cases[0]) - 1);
        struct br_record *rec = mkrec("t", 0, 0, NULL, cases[i].in, len);
        json_t *root = encode(BR_FORMAT_JSON, &rec, 1, NULL);
        json_t *r = json_array_get(json_object_get(root, "records"), 0);
        const char *enc = json_string_value(json_object_get(r, "valueEncoding"));
        CHECK_MSG(enc && strcmp(enc, cases[i].json ? "json" : "base64") == 0,
                  "case %zu (%s): encoding %s", i, cases[i].in, enc ? enc : "(none)");
        json_decref(root);
        br_record_free(rec);
    }
}

/* Every byte value at every position of a long string (the detector
 * skips plain runs 8 bytes at a time): only printable ASCII other than
 * quote and backslash may stand alone in a string. */
static void test_json_detection_bytes(void)
{
    char doc[32];
    bool all_ok = true;
    for (int c = 0; c < 256; c++) {
        for (size_t pos = 1; pos < 24; pos++) {
            memset(doc, 'a', 25);
            doc[0] = doc[25] = '"';
            doc[pos] = (char)c;
            bool want = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
            struct br_record *rec = mkrec("t", 0, 0, NULL, doc, 26);
            struct br_buf out;
            br_buf_init(&out, 0);
            br_format_encode(BR_FORMAT_JSON, &ev, &rec, 1, &out);
            bool got = strstr(out.data, "\"valueEncoding\":\"json\"") != NULL;
            if (got != want)
                fprintf(stderr, "byte 0x%02x at %zu: json %d\n", c, pos, got);
            all_ok &= got == want;
            br_buf_free(&out);
            br_record_free(rec);
        }
    }
    CHECK_MSG(all_ok, "string byte classification");
}

/* Deep nesting: fine up to the limit, base64 beyond (512). */
static void test_json_nesting(void)
{
    static const struct { size_t depth; const char *want; } cases[] = {
        { 100, "json" }, { 512, "json" }, { 513, "base64" }, { 5000, "base64" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t d = cases[i].depth;
        char *doc = malloc(2 * d);
        memset(doc, '[', d);
        memset(doc + d, ']', d);
        struct br_record *rec = mkrec("t", 0, 0, NULL, doc, 2 * d);
        struct br_buf out;
        br_buf_init(&out, 0);
        CHECK(br_format_encode(BR_FORMAT_JSON, &ev, &rec, 1, &out) == 0);
        char want[64];
        snprintf(want, sizeof(want), "\"valueEncoding\":\"%s\"", cases[i].want);
        CHECK_MSG(strstr(out.data, want), "depth %zu: want %s", d, cases[i].want);
        br_buf_free(&out);
        br_record_free(rec);
        free(doc);
    }
}

/* ------------------------------------------------------ escaping, limits */

static void test_odd_topic_names(void)
{
    static const char *topics[] = { "we\"ird\\topic", "new\nline\x01", "caf\xc3\xa9-1" };
    for (size_t i = 0; i < 3; i++) {
        struct br_record *rec = mkrec(topics[i], 3, 9, NULL, "v", 1);
        char want_key[64], want_id[64];
        snprintf(want_key, sizeof(want_key), "%s-3", topics[i]);
        snprintf(want_id, sizeof(want_id), "%s-3-9", topics[i]);
        json_t *root = encode(BR_FORMAT_LAMBDA, &rec, 1, NULL);
        json_t *g = lambda_group(root, want_key);
        CHECK_MSG(g, "topic %zu: no group key", i);
        CHECK_STR(json_string_value(json_object_get(json_array_get(g, 0), "topic")),
                  topics[i]);
        json_decref(root);
        root = encode(BR_FORMAT_JSON, &rec, 1, NULL);
        json_t *r = json_array_get(json_object_get(root, "records"), 0);
        CHECK_STR(json_string_value(json_object_get(r, "id")), want_id);
        CHECK_STR(json_string_value(json_object_get(r, "topic")), topics[i]);
        json_decref(root);
        br_record_free(rec);
    }
}

/* Fits exactly at the cap; one byte less returns -1 and leaves the buffer
 * as it was (here with a prefix already in it). */
static void test_cap(void)
{
    struct br_record *recs[] = {
        mkrec("a", 0, 1, "k", "value", 5), mkrec("b", 2, 1, NULL, "{}", 2),
    };
    for (int fmt = BR_FORMAT_LAMBDA; fmt <= BR_FORMAT_JSON; fmt++) {
        struct br_buf out;
        br_buf_init(&out, 0);
        CHECK(br_format_encode(fmt, &ev, recs, 2, &out) == 0);
        size_t need = out.len;
        br_buf_free(&out);
        bool all_ok = true;
        for (size_t max = 8; max <= need + 4; max++) {
            br_buf_init(&out, max);
            br_buf_puts(&out, "pre:");
            int rc = br_format_encode(fmt, &ev, recs, 2, &out);
            bool ok = max >= need + 4 ? rc == 0 && out.len == need + 4
                                      : rc == -1 && out.len == 4 &&
                                            strcmp(out.data, "pre:") == 0;
            if (!ok)
                fprintf(stderr, "fmt %d max %zu: rc %d len %zu\n", fmt, max, rc, out.len);
            all_ok &= ok;
            br_buf_free(&out);
        }
        CHECK_MSG(all_ok, "format %d: cap not honoured exactly", fmt);
    }
    free_recs(recs, 2);
}

/* The bound covers what a record really adds, for nasty records too. */
static void test_record_bound(void)
{
    static unsigned char high[300];
    memset(high, 0x80, sizeof(high));
    struct br_header hdrs[] = { { "\x01\x02\x03", high, sizeof(high) },
                                { "n", NULL, 0 } };
    struct br_record_init nasty = { .kind = &br_kind_kafka,
        .topic = "\x01\x02\x03\x04\x05\x06\x07\x08", .partition = INT32_MIN,
        .offset = INT64_MIN, .timestamp_ms = INT64_MIN, .timestamp_type = BR_TS_NONE,
        .key = high, .key_len = 1, .value = high, .value_len = 2,
        .headers = hdrs, .n_headers = 2,
    };
    struct br_record *recs[] = {
        mkrec("t", 0, 1, NULL, "{}", 2), mkrec("a-much-longer-topic", 1, 2, "k", high, 256),
        br_record_create(&nasty),
    };
    for (int fmt = BR_FORMAT_LAMBDA; fmt <= BR_FORMAT_JSON; fmt++) {
        for (size_t i = 0; i < 3; i++) {
            struct br_buf empty, one;
            br_buf_init(&empty, 0);
            br_buf_init(&one, 0);
            if (fmt == BR_FORMAT_LAMBDA)    /* the Kafka envelope around no records */
                br_kind_kafka.lambda.encode(&ev, NULL, 0, &empty);
            else
                br_format_encode(fmt, &ev, NULL, 0, &empty);
            br_format_encode(fmt, &ev, &recs[i], 1, &one);
            size_t adds = one.len - empty.len;
            size_t bound = br_format_record_bound(fmt, NULL, recs[i]);
            CHECK_MSG(bound >= adds, "fmt %d rec %zu: bound %zu < %zu", fmt, i, bound, adds);
            br_buf_free(&empty);
            br_buf_free(&one);
        }
    }
    free_recs(recs, 3);
}

/* ------------------------------------------------------------ MQTT records */

static const struct br_event_ctx mqtt_ev = {
    .pipeline = "sensors", .source_kind = "mqtt", .origin = "tcp://broker:1883",
};

static struct br_record *mkmqtt(int64_t seq, const char *topic, const void *payload,
                                size_t len, const struct br_mqtt_meta *meta,
                                const struct br_header *props, size_t n_props)
{
    static const struct br_mqtt_meta none = { .qos = 1 };
    struct br_record_init init = {
        .kind = &br_kind_mqtt, .topic = topic, .offset = seq,
        .timestamp_ms = 1700000000000 + seq % 100000, .timestamp_type = BR_TS_LOG_APPEND,
        .value = payload, .value_len = len, .headers = props, .n_headers = n_props,
        .meta = meta ? meta : &none,
    };
    return br_record_create(&init);
}

/* Encodes an MQTT pipeline's json event and parses it; *raw as encode(). */
static json_t *encode_mqtt(struct br_record **recs, size_t n, char **raw)
{
    struct br_buf out;
    br_buf_init(&out, 0);
    CHECK(br_format_encode(BR_FORMAT_JSON, &mqtt_ev, recs, n, &out) == 0);
    json_error_t err;
    json_t *root = json_loadb(out.data, out.len, 0, &err);
    CHECK_MSG(root, "event is not JSON: %s: %s", err.text, out.data);
    *raw = br_buf_steal(&out, NULL);
    br_buf_free(&out);
    return root;
}

/* Decodes standard padded base64 into out (room for cap); -1 if invalid. */
static long b64_decode(const char *s, unsigned char *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = s ? strlen(s) : 0, o = 0;
    if (!s || n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (size_t j = 0; j < 4; j++) {
            const char *at = s[i + j] ? strchr(alphabet, s[i + j]) : NULL;
            if (s[i + j] == '=' && i + 4 == n && j >= 2)
                pad++;
            else if (!at || pad)
                return -1;
            v = v << 6 | (at ? (uint32_t)(at - alphabet) : 0);
        }
        for (int j = 0; j < 3 - pad; j++) {
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(v >> (16 - 8 * j));
        }
    }
    return (long)o;
}

/* The string member name of obj decodes (base64) to want[0..n). */
static bool b64_member_is(const json_t *obj, const char *name, const void *want, size_t n)
{
    unsigned char got[256];
    long len = b64_decode(json_string_value(json_object_get(obj, name)), got, sizeof(got));
    return len == (long)n && (n == 0 || memcmp(got, want, n) == 0);
}

/* obj has exactly the keys listed (NULL-terminated). */
static bool has_exactly(const json_t *obj, const char *const *keys)
{
    size_t n = 0;
    for (; keys[n]; n++)
        if (!json_object_get(obj, keys[n]))
            return false;
    return json_is_object(obj) && json_object_size(obj) == n;
}

static void test_mqtt_json_fields(void)
{
    static const unsigned char bin[] = { 0x00, 0xff, 0x10, 0x80, 0x00 };
    static const unsigned char corr[] = { 0xde, 0xad, 0x00, 0xbe, 0xef, 0x01, 0x02 };
    static const char doc[] = " {\"t\":21.5,\"u\":[\"\302\260C\",null]} ";
    struct br_header up[] = {
        { "unit", (const unsigned char *)"\302\260C", 3 },
        { "dup", (const unsigned char *)"first", 5 },
        { "we\"ird\n", (const unsigned char *)"a\"b\\c\x01", 6 },
        { "dup", (const unsigned char *)"second", 6 },
        { "nullv", NULL, 0 },
    };
    struct br_mqtt_meta all = {
        .qos = 2, .retain = true, .content_type = "application/x-\"bin\"",
        .response_topic = "reply/to/me", .correlation = corr, .correlation_len = sizeof(corr),
    };
    struct br_mqtt_meta q0 = { .qos = 0 };
    struct br_mqtt_meta ct_only = { .qos = 1, .content_type = "text/plain" };
    struct br_mqtt_meta rt_only = { .qos = 1, .response_topic = "r/t" };
    struct br_mqtt_meta corr_empty = { .qos = 1, .correlation = corr, .correlation_len = 0 };
    struct br_record *recs[] = {
        mkmqtt(5, "home/temp", doc, strlen(doc), &q0, NULL, 0),        /* JSON */
        mkmqtt(6, "home/bin", bin, sizeof(bin), &all, up, 5),          /* everything */
        mkmqtt(7, "home/empty", "", 0, NULL, NULL, 0),                 /* empty */
        mkmqtt(8, "home/null", NULL, 0, &ct_only, NULL, 0),            /* no bytes */
        mkmqtt(9, "home/text", "hello world", 11, &rt_only, NULL, 0),  /* text */
        mkmqtt(10, "home/str", "\"str\"", 5, &corr_empty, up + 1, 1),
        mkmqtt(9007199254740993, "home/big", "42", 2, NULL, NULL, 0),  /* > 2^53 */
    };
    enum { N = sizeof(recs) / sizeof(recs[0]) };
    char *raw;
    json_t *root = encode_mqtt(recs, N, &raw);
    CHECK_STR(json_string_value(json_object_get(root, "source")), "mqtt");
    CHECK_STR(json_string_value(json_object_get(root, "pipeline")), "sensors");
    json_t *list = json_object_get(root, "records");
    CHECK_INT(json_array_size(list), N);
    static const char *const keys[] = { "id", "topic", "qos", "retain", "receivedAt",
                                        "payload", "payloadEncoding", "properties", NULL };
    static const char *const ids[N] = { "5", "6", "7", "8", "9", "10", "9007199254740993" };
    for (size_t i = 0; i < N && i < json_array_size(list); i++) {
        json_t *r = json_array_get(list, i);
        CHECK_MSG(has_exactly(r, keys), "record %zu: keys", i);
        CHECK_STR(json_string_value(json_object_get(r, "id")), ids[i]);
        CHECK_STR(json_string_value(json_object_get(r, "topic")), recs[i]->topic);
        CHECK_INT(json_integer_value(json_object_get(r, "receivedAt")),
                  recs[i]->timestamp_ms);
    }
    json_t *r0 = json_array_get(list, 0), *r1 = json_array_get(list, 1);
    json_t *r2 = json_array_get(list, 2), *r3 = json_array_get(list, 3);
    json_t *r4 = json_array_get(list, 4), *r5 = json_array_get(list, 5);
    json_t *r6 = json_array_get(list, 6);

    /* JSON payload: embedded as it is */
    CHECK(strstr(raw, "\"payload\": {\"t\":21.5,\"u\":[\"\302\260C\",null]} ,") != NULL);
    CHECK_STR(json_string_value(json_object_get(r0, "payloadEncoding")), "json");
    json_t *want = json_loads(doc, 0, NULL);
    CHECK(json_equal(json_object_get(r0, "payload"), want));
    json_decref(want);
    CHECK_INT(json_integer_value(json_object_get(r0, "qos")), 0);
    CHECK(json_is_false(json_object_get(r0, "retain")));
    CHECK(json_is_object(json_object_get(r0, "properties")) &&
          json_object_size(json_object_get(r0, "properties")) == 0);

    /* binary payload and every property */
    CHECK_STR(json_string_value(json_object_get(r1, "payloadEncoding")), "base64");
    CHECK(b64_member_is(r1, "payload", bin, sizeof(bin)));
    CHECK_INT(json_integer_value(json_object_get(r1, "qos")), 2);
    CHECK(json_is_true(json_object_get(r1, "retain")));
    json_t *p1 = json_object_get(r1, "properties");
    static const char *const all_keys[] = { "contentType", "responseTopic", "correlationData",
                                            "userProperties", NULL };
    CHECK(has_exactly(p1, all_keys));
    CHECK_STR(json_string_value(json_object_get(p1, "contentType")), "application/x-\"bin\"");
    CHECK_STR(json_string_value(json_object_get(p1, "responseTopic")), "reply/to/me");
    CHECK(b64_member_is(p1, "correlationData", corr, sizeof(corr)));
    json_t *ups = json_object_get(p1, "userProperties");
    CHECK_INT(json_array_size(ups), 5);
    static const char *const up_values[] = { "\302\260C", "first", "a\"b\\c\x01", "second", "" };
    static const char *const kv[] = { "key", "value", NULL };
    for (size_t i = 0; i < 5 && i < json_array_size(ups); i++) {
        json_t *u = json_array_get(ups, i);
        CHECK_MSG(has_exactly(u, kv), "user property %zu: keys", i);
        CHECK_STR(json_string_value(json_object_get(u, "key")), up[i].name);
        CHECK_STR(json_string_value(json_object_get(u, "value")), up_values[i]);
    }

    /* empty payloads: still there, as an empty base64 string */
    for (size_t i = 2; i <= 3; i++) {
        json_t *r = json_array_get(list, i);
        CHECK_STR(json_string_value(json_object_get(r, "payload")), "");
        CHECK_STR(json_string_value(json_object_get(r, "payloadEncoding")), "base64");
    }
    CHECK_INT(json_object_size(json_object_get(r2, "properties")), 0);
    CHECK(json_is_false(json_object_get(r2, "retain")));
    json_t *p3 = json_object_get(r3, "properties");
    CHECK_INT(json_object_size(p3), 1);
    CHECK_STR(json_string_value(json_object_get(p3, "contentType")), "text/plain");

    /* text that is not JSON: base64 */
    CHECK_STR(json_string_value(json_object_get(r4, "payloadEncoding")), "base64");
    CHECK(b64_member_is(r4, "payload", "hello world", 11));
    json_t *p4 = json_object_get(r4, "properties");
    CHECK_INT(json_object_size(p4), 1);
    CHECK_STR(json_string_value(json_object_get(p4, "responseTopic")), "r/t");

    /* a JSON string payload; empty correlation data is still set */
    CHECK_STR(json_string_value(json_object_get(r5, "payload")), "str");
    CHECK_STR(json_string_value(json_object_get(r5, "payloadEncoding")), "json");
    json_t *p5 = json_object_get(r5, "properties");
    static const char *const corr_up[] = { "correlationData", "userProperties", NULL };
    CHECK(has_exactly(p5, corr_up));
    CHECK_STR(json_string_value(json_object_get(p5, "correlationData")), "");
    CHECK_INT(json_array_size(json_object_get(p5, "userProperties")), 1);
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(p5, "userProperties"), 0), "key")), "dup");

    CHECK_INT(json_integer_value(json_object_get(r6, "payload")), 42);
    CHECK_STR(json_string_value(json_object_get(r6, "payloadEncoding")), "json");
    CHECK_INT(json_integer_value(json_object_get(r6, "qos")), 1);
    json_decref(root);
    free(raw);
    free_recs(recs, N);
}

/* Kafka and MQTT records side by side keep their own shapes. */
static void test_mqtt_json_mixed(void)
{
    struct br_record *recs[] = {
        mkrec("k", 1, 3, NULL, "{}", 2), mkmqtt(3, "k", "{}", 2, NULL, NULL, 0),
    };
    json_t *root = encode(BR_FORMAT_JSON, recs, 2, NULL);
    json_t *list = json_object_get(root, "records");
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "id")), "k-1-3");
    CHECK(json_object_get(json_array_get(list, 0), "value") != NULL);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 1), "id")), "3");
    CHECK(json_object_get(json_array_get(list, 1), "payload") != NULL);
    CHECK(!json_object_get(json_array_get(list, 1), "partition"));
    json_decref(root);
    free_recs(recs, 2);
}

/* The payload format is the record's bytes, nothing else. */
static void test_mqtt_payload_body(void)
{
    static const unsigned char bin[] = { 0x00, 0xff, '"', 0x00, '{', 0x80 };
    struct br_mqtt_meta ct = { .qos = 1, .content_type = "text/plain" };
    struct br_record *recs[] = {
        mkmqtt(1, "t", bin, sizeof(bin), &ct, NULL, 0),
        mkmqtt(2, "t", "{\"a\":1}", 7, NULL, NULL, 0),
        mkmqtt(3, "t", "", 0, NULL, NULL, 0),
        mkmqtt(4, "t", NULL, 0, NULL, NULL, 0),
    };
    for (size_t i = 0; i < 4; i++) {
        struct br_buf out;
        br_buf_init(&out, 0);
        CHECK(br_format_encode(BR_FORMAT_PAYLOAD, &mqtt_ev, &recs[i], 1, &out) == 0);
        CHECK_MSG(out.len == recs[i]->value_len &&
                      (out.len == 0 || memcmp(out.data, recs[i]->value, out.len) == 0),
                  "record %zu: body of %zu bytes", i, out.len);
        br_buf_free(&out);
    }
    free_recs(recs, 4);
}

static void test_mqtt_content_type(void)
{
    static const unsigned char bin[] = { 0x00, 0xff, 0x10 };
    struct br_mqtt_meta text = { .qos = 1, .content_type = "text/plain; charset=utf-8" };
    struct br_mqtt_meta empty_ct = { .qos = 1, .content_type = "" };
    static const struct {
        enum br_format fmt;
        const char *payload;
        size_t len;
        int meta;               /* 0 none, 1 text/plain, 2 empty */
        const char *want;
    } cases[] = {
        { BR_FORMAT_PAYLOAD, "{\"a\":1}", 7, 1, "text/plain; charset=utf-8" },
        { BR_FORMAT_PAYLOAD, (const char *)bin, 3, 1, "text/plain; charset=utf-8" },
        { BR_FORMAT_PAYLOAD, "{\"a\":1}", 7, 0, "application/json" },
        { BR_FORMAT_PAYLOAD, "[1, 2]", 6, 0, "application/json" },
        { BR_FORMAT_PAYLOAD, "17", 2, 0, "application/json" },
        { BR_FORMAT_PAYLOAD, (const char *)bin, 3, 0, "application/octet-stream" },
        { BR_FORMAT_PAYLOAD, "hello", 5, 0, "application/octet-stream" },
        { BR_FORMAT_PAYLOAD, "", 0, 0, "application/octet-stream" },
        { BR_FORMAT_PAYLOAD, "{\"a\":1}", 7, 2, "application/json" },  /* "" is no type */
        { BR_FORMAT_PAYLOAD, (const char *)bin, 3, 2, "application/octet-stream" },
        { BR_FORMAT_JSON, (const char *)bin, 3, 1, "application/json" },
        { BR_FORMAT_JSON, "hello", 5, 0, "application/json" },
        { BR_FORMAT_LAMBDA, (const char *)bin, 3, 1, "application/json" },
        { BR_FORMAT_LAMBDA, "hello", 5, 0, "application/json" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct br_mqtt_meta *m = cases[i].meta == 1 ? &text
                                     : cases[i].meta == 2 ? &empty_ct : NULL;
        struct br_record *rec = mkmqtt(1, "t", cases[i].payload, cases[i].len, m, NULL, 0);
        const char *got = br_format_content_type(cases[i].fmt, NULL, &rec, 1);
        CHECK_MSG(got && strcmp(got, cases[i].want) == 0, "case %zu: got %s, want %s", i,
                  got ? got : "(null)", cases[i].want);
        br_record_free(rec);
    }
}

/* The bound covers MQTT records whose properties are long and need the
 * most escaping, at a few sizes. */
static void test_mqtt_record_bound(void)
{
    static const size_t sizes[] = { 0, 1, 7, 100, 1000, 5000 };
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        size_t n = sizes[si];
        char *ctl = malloc(n + 1);          /* control bytes: \u00XX each */
        unsigned char *high = malloc(n + 1);
        memset(ctl, 0x01, n);
        ctl[n] = '\0';
        memset(high, 0x80, n + 1);
        char *json = malloc(n + 3);         /* a JSON string payload */
        json[0] = '"';
        memset(json + 1, 'a', n);
        json[n + 1] = '"';
        json[n + 2] = '\0';
        struct br_header up[] = {
            { ctl, (const unsigned char *)ctl, n }, { "k", (const unsigned char *)ctl, n },
            { ctl, NULL, 0 }, { "", (const unsigned char *)"", 0 },
        };
        struct br_mqtt_meta meta = {
            .qos = 2, .retain = true, .content_type = ctl, .response_topic = ctl,
            .correlation = high, .correlation_len = n,
        };
        struct br_record_init nasty = {
            .kind = &br_kind_mqtt, .topic = ctl, .offset = INT64_MAX,
            .timestamp_ms = INT64_MIN, .value = high, .value_len = n,
            .headers = up, .n_headers = 4, .meta = &meta,
        };
        struct br_record *recs[] = {
            br_record_create(&nasty),
            mkmqtt(INT64_MAX, ctl, json, n + 2, &meta, up, 4),
            mkmqtt(1, "t", high, n, &meta, NULL, 0),
            mkmqtt(1, "t", "", 0, NULL, up + 3, 1),
        };
        for (int fmt = BR_FORMAT_JSON; fmt <= BR_FORMAT_PAYLOAD; fmt++) {
            for (size_t i = 0; i < 4; i++) {
                struct br_buf empty, one;
                br_buf_init(&empty, 0);
                br_buf_init(&one, 0);
                CHECK(br_format_encode(fmt, &mqtt_ev, NULL, 0, &empty) == 0);
                CHECK(br_format_encode(fmt, &mqtt_ev, &recs[i], 1, &one) == 0);
                size_t adds = one.len - empty.len;
                size_t bound = br_format_record_bound(fmt, NULL, recs[i]);
                CHECK_MSG(bound >= adds, "fmt %d size %zu rec %zu: bound %zu < %zu", fmt,
                          n, i, bound, adds);
                br_buf_free(&empty);
                br_buf_free(&one);
            }
        }
        free_recs(recs, 4);
        free(ctl);
        free(high);
        free(json);
    }
}

int main(void)
{
    test_lambda_matches_aws_sample();
    test_lambda_fields();
    test_lambda_grouping();
    test_lambda_grouping_large();
    test_lambda_empty_batch();
    test_json_fields();
    test_json_detection();
    test_json_detection_bytes();
    test_json_nesting();
    test_odd_topic_names();
    test_cap();
    test_record_bound();
    test_mqtt_json_fields();
    test_mqtt_json_mixed();
    test_mqtt_payload_body();
    test_mqtt_content_type();
    test_mqtt_record_bound();
    return UNIT_DONE("format");
}
