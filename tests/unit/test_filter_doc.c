/* test_filter_doc.c - what a filter sees and does (README: Filters): the
 * document each record kind makes (Kafka, MQTT, S3: members, the
 * FilterCriteria decoding of values and keys, headers, hostile bytes),
 * the reused scratch and its cap, YAML patterns turned into JSON with
 * their scalars' types, the `filter` key's errors with their places, and
 * a pipeline whose source emits records the filter leaves out: they
 * settle through the same path as acks, without letting the commit pass
 * an earlier record still out. No threads, no network. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bridge/filter.h"
#include "bridge/filter_json.h"
#include "bridge/json_check.h"
#include "bridge/log.h"
#include "bridge/pipeline.h"
#include "bridge/record_doc.h"
#include "bridge/record_kind.h"
#include "connectors/kafka/kafka_event.h"
#include "connectors/mqtt/mqtt_event.h"
#include "connectors/s3/s3_event.h"
#include "unit.h"

static char dir[] = "/tmp/fnbridge-test-filter-XXXXXX";

/* ------------------------------------------------------------ helpers */

/* The member of that name, or NULL when the document has none. */
static const struct br_doc_member *member(const struct br_doc *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->m[i].name, name))
            return &d->m[i];
    return NULL;
}

/* The member's JSON as a C string (static buffer), "(absent)" or
 * "(none)". */
static const char *text(const struct br_doc *d, const char *name)
{
    static char buf[4096];
    const struct br_doc_member *m = member(d, name);
    if (!m)
        return "(none)";
    if (!m->json)
        return "(absent)";
    snprintf(buf, sizeof(buf), "%.*s", (int)m->len, m->json);
    return buf;
}

/* Builds rec's document into d; every present member must be JSON. */
static int build(struct br_doc *d, const struct br_record *rec)
{
    static const struct br_event_ctx ev = {.pipeline = "orders", .source_kind = "x"};
    br_doc_reset(d);
    int rc = rec->kind->doc(d, &ev, rec);
    if (rc == 0)
        rc = br_doc_finish(d);
    for (size_t i = 0; rc == 0 && i < d->n; i++)
        CHECK_MSG(!d->m[i].json ||
                  br_json_valid((const unsigned char *)d->m[i].json, d->m[i].len),
                  "%s of a %s record is JSON: %.*s", d->m[i].name, rec->kind->name,
                  (int)d->m[i].len, d->m[i].json ? d->m[i].json : "");
    return rc;
}

static struct br_record *kafka_record(const void *key, size_t key_len, const void *value,
                                      size_t value_len, const struct br_header *h, size_t nh)
{
    struct br_record_init init = {.kind = &br_kind_kafka, .topic = "orders", .partition = 3,
                                  .offset = 42, .timestamp_ms = 1700000000123,
                                  .timestamp_type = BR_TS_CREATE, .key = key,
                                  .key_len = key_len, .value = value,
                                  .value_len = value_len, .headers = h, .n_headers = nh};
    return br_record_create(&init);
}

/* -------------------------------------------------------------- Kafka */

static void test_kafka_metadata(struct br_doc *d)
{
    struct br_record *rec = kafka_record("k1", 2, "{\"a\":1}", 7, NULL, 0);
    CHECK_INT(build(d, rec), 0);
    CHECK_STR(text(d, "topic"), "\"orders\"");
    CHECK_STR(text(d, "partition"), "3");
    CHECK_STR(text(d, "offset"), "42");
    CHECK_STR(text(d, "timestamp"), "1700000000123");
    CHECK_STR(text(d, "headers"), "{}");
    br_record_free(rec);
}

/* The value (and key) as Lambda decodes it: JSON as it is (the record's
 * own bytes, not a copy), UTF-8 text as a string, other bytes absent. */
static void test_kafka_value_decoding(struct br_doc *d)
{
    struct br_record *rec = kafka_record("\"id-7\"", 6, " {\"price\": 12.5} ", 17, NULL, 0);
    CHECK_INT(build(d, rec), 0);
    CHECK(member(d, "value")->json == (const char *)rec->value);
    CHECK_STR(text(d, "value"), " {\"price\": 12.5} ");
    CHECK_STR(text(d, "key"), "\"id-7\"");
    br_record_free(rec);

    const char *textual = "hello \"world\"\n\x01 \xc3\xa9";
    rec = kafka_record("user 7", 6, textual, strlen(textual), NULL, 0);
    CHECK_INT(build(d, rec), 0);
    CHECK_STR(text(d, "value"), "\"hello \\\"world\\\"\\n\\u0001 \xc3\xa9\"");
    CHECK_STR(text(d, "key"), "\"user 7\"");
    br_record_free(rec);

    /* A JSON scalar is a JSON value too: the number 5, the text "true". */
    rec = kafka_record("5", 1, "true", 4, NULL, 0);
    CHECK_INT(build(d, rec), 0);
    CHECK_STR(text(d, "key"), "5");
    CHECK_STR(text(d, "value"), "true");
    br_record_free(rec);

    static const unsigned char binary[] = {0x00, 0xff, 0xfe, 0x80, 'a'};
    rec = kafka_record(binary, sizeof(binary), binary + 1, 3, NULL, 0);
    CHECK_INT(build(d, rec), 0);
    CHECK_STR(text(d, "value"), "(absent)");
    CHECK_STR(text(d, "key"), "(absent)");
    br_record_free(rec);

    /* No key, a tombstone (no value), an empty value. */
    rec = kafka_record(NULL, 0, NULL, 0, NULL, 0);
    CHECK_INT(build(d, rec), 0);
    CHECK_STR(text(d, "key"), "(absent)");
    CHECK_STR(text(d, "value"), "(absent)");
    br_record_free(rec);
    rec = kafka_record(NULL, 0, "", 0, NULL, 0);
    CHECK_INT(build(d, rec), 0);
    CHECK_STR(text(d, "value"), "\"\"");
    br_record_free(rec);

    /* UTF-8 that is not well-formed (an overlong '/', a surrogate) is no text. */
    rec = kafka_record("\xc0\xaf", 2, "ok \xed\xa0\x80", 6, NULL, 0);
    CHECK_INT(build(d, rec), 0);
    CHECK_STR(text(d, "key"), "(absent)");
    CHECK_STR(text(d, "value"), "(absent)");
    br_record_free(rec);
}

/* Headers: one object, a name given twice a list in order, null kept,
 * bytes that are not UTF-8 left out. */
static void test_kafka_headers(struct br_doc *d)
{
    struct br_header h[] = {
        {"type", (const unsigned char *)"order", 5},
        {"trace", (const unsigned char *)"a\"b", 3},
        {"type", (const unsigned char *)"urgent", 6},
        {"gone", NULL, 0},
        {"bin", (const unsigned char *)"\xff\xfe", 2},
        {"type", (const unsigned char *)"\xff", 1},
        {"mixed", (const unsigned char *)"\xff", 1},
        {"mixed", (const unsigned char *)"x", 1},
    };
    struct br_record *rec = kafka_record(NULL, 0, "{}", 2, h, sizeof(h) / sizeof(h[0]));
    CHECK_INT(build(d, rec), 0);
    CHECK_STR(text(d, "headers"), "{\"gone\":null,\"mixed\":\"x\",\"trace\":\"a\\\"b\","
                                  "\"type\":[\"order\",\"urgent\"]}");
    json_t *j = json_loadb(member(d, "headers")->json, member(d, "headers")->len, 0, NULL);
    CHECK(j && json_object_size(j) == 4);
    json_decref(j);
    br_record_free(rec);
}

/* A timestamp the broker did not give is absent, not -1. */
static void test_kafka_unknown_timestamp(struct br_doc *d)
{
    struct br_record_init init = {.kind = &br_kind_kafka, .topic = "t", .offset = 1,
                                  .timestamp_ms = -1, .value = "1", .value_len = 1};
    struct br_record *rec = br_record_create(&init);
    CHECK_INT(build(d, rec), 0);
    CHECK_STR(text(d, "timestamp"), "(absent)");
    br_record_free(rec);
}

/* --------------------------------------------------------------- MQTT */

static void test_mqtt(struct br_doc *d)
{
    struct br_header props[] = {{"site", (const unsigned char *)"north", 5},
                                {"site", (const unsigned char *)"south", 5},
                                {"unit", (const unsigned char *)"C", 1}};
    struct br_mqtt_meta meta = {.qos = 1, .retain = true, .content_type = "application/json",
                                .response_topic = "replies/7",
                                .correlation = (const unsigned char *)"\x01\x02", .correlation_len = 2};
    struct br_record_init init = {.kind = &br_kind_mqtt, .topic = "sensors/7/temp",
                                  .offset = 9, .timestamp_ms = 1700000000000,
                                  .value = "{\"t\": 21.5}", .value_len = 11,
                                  .headers = props, .n_headers = 3, .meta = &meta};
    struct br_record *rec = br_record_create(&init);
    CHECK_INT(build(d, rec), 0);
    CHECK_STR(text(d, "topic"), "\"sensors/7/temp\"");
    CHECK_STR(text(d, "qos"), "1");
    CHECK_STR(text(d, "retain"), "true");
    CHECK_STR(text(d, "receivedAt"), "1700000000000");
    CHECK_STR(text(d, "payload"), "{\"t\": 21.5}");
    CHECK_STR(text(d, "properties"), "{\"contentType\":\"application/json\","
                                     "\"responseTopic\":\"replies/7\",\"correlationData\":\"AQI=\","
                                     "\"userProperties\":{\"site\":[\"north\",\"south\"],"
                                     "\"unit\":\"C\"}}");
    br_record_free(rec);

    /* An empty message has an empty payload; plain text is a string;
     * binary is absent; a 3.1.1 message has no properties. */
    const char *values[] = {"", "on", "\x89PNG"};
    const char *want[] = {"\"\"", "\"on\"", "(absent)"};
    for (size_t i = 0; i < 3; i++) {
        struct br_record_init plain = {.kind = &br_kind_mqtt, .topic = "a", .offset = 1,
                                       .value = values[i], .value_len = strlen(values[i])};
        rec = br_record_create(&plain);
        CHECK_INT(build(d, rec), 0);
        CHECK_STR(text(d, "payload"), want[i]);
        CHECK_STR(text(d, "retain"), "false");
        CHECK_STR(text(d, "qos"), "0");
        CHECK_STR(text(d, "properties"), "{}");
        br_record_free(rec);
    }
}

/* ----------------------------------------------------------------- S3 */

/* The members of the event's entry, the same JSON as the function gets. */
static void test_s3(struct br_doc *d)
{
    struct br_s3_meta meta = {.size = 1234, .etag = "abc", .bucket = "photos",
                              .region = "eu-west-1"};
    struct br_record_init init = {.kind = &br_kind_s3, .topic = "raw/my photo.jpg",
                                  .offset = 0x1F, .timestamp_ms = 1700000000000,
                                  .meta = &meta};
    struct br_record *rec = br_record_create(&init);
    CHECK_INT(build(d, rec), 0);
    CHECK_STR(text(d, "eventName"), "\"ObjectCreated:Put\"");
    CHECK_STR(text(d, "eventSource"), "\"aws:s3\"");
    CHECK_STR(text(d, "eventVersion"), "\"2.1\"");
    CHECK_STR(text(d, "awsRegion"), "\"eu-west-1\"");
    CHECK_STR(text(d, "eventTime"), "\"2023-11-14T22:13:20.000Z\"");
    CHECK_STR(text(d, "responseElements"), "{\"x-amz-request-id\":\"000000000000001F\","
                                           "\"x-amz-id-2\":\"fnbridge\"}");
    json_t *s3 = json_loadb(member(d, "s3")->json, member(d, "s3")->len, 0, NULL);
    json_t *object = json_object_get(s3, "object");
    CHECK_STR(json_string_value(json_object_get(object, "key")), "raw/my+photo.jpg");
    CHECK_INT(json_integer_value(json_object_get(object, "size")), 1234);
    CHECK_STR(json_string_value(json_object_get(json_object_get(s3, "bucket"), "name")),
              "photos");
    CHECK_STR(json_string_value(json_object_get(s3, "configurationId")), "orders");
    json_decref(s3);

    /* The whole event entry the function gets has the same members. */
    struct br_buf entry;
    br_buf_init(&entry, 0);
    static const struct br_event_ctx ev = {.pipeline = "orders", .source_kind = "x"};
    CHECK_INT(s3_event_record(&entry, &ev, rec), 0);
    json_t *whole = json_loadb(entry.data, entry.len, 0, NULL);
    CHECK_INT(json_object_size(whole), d->n);
    for (size_t i = 0; i < d->n; i++) {
        json_t *mine = json_loadb(d->m[i].json, d->m[i].len, JSON_DECODE_ANY, NULL);
        CHECK_MSG(json_equal(mine, json_object_get(whole, d->m[i].name)),
                  "%s is as in the event", d->m[i].name);
        json_decref(mine);
    }
    json_decref(whole);
    br_buf_free(&entry);
    br_record_free(rec);

    struct br_s3_meta gone = {.removed = true, .bucket = "photos", .region = "r"};
    init.meta = &gone;
    rec = br_record_create(&init);
    CHECK_INT(build(d, rec), 0);
    CHECK_STR(text(d, "eventName"), "\"ObjectRemoved:Delete\"");
    br_record_free(rec);
}

/* ------------------------------------------------------ the document */

/* Hostile bytes in every field: whatever a record holds, each member the
 * document has is well-formed JSON (build checks), or absent. */
static void test_hostile_bytes_stay_json(struct br_doc *d)
{
    unsigned seed = 7;
    unsigned char v[64], k[16], hv[8];
    char hn[8];
    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < sizeof(v); i++)
            v[i] = (unsigned char)((seed = seed * 1103515245u + 12345u) >> 16);
        memcpy(k, v + 3, sizeof(k));
        memcpy(hv, v + 20, sizeof(hv));
        for (size_t i = 0; i + 1 < sizeof(hn); i++)
            hn[i] = (char)(1 + v[40 + i] % 255);
        hn[sizeof(hn) - 1] = '\0';
        struct br_header h[] = {{hn, hv, (size_t)(v[0] % 8)}, {hn, hv, 3}};
        size_t len = v[1] % sizeof(v);
        struct br_record *rec = kafka_record(k, v[2] % 16, v, len, h, 2);
        CHECK_INT(build(d, rec), 0);
        br_record_free(rec);
        struct br_record_init m = {.kind = &br_kind_mqtt, .topic = hn, .value = v,
                                   .value_len = len, .headers = h, .n_headers = 2};
        rec = br_record_create(&m);
        CHECK_INT(build(d, rec), 0);
        br_record_free(rec);
    }
}

/* The scratch is reused, a document past its cap fails (and the filter
 * lets the record pass: unjudged), and a large one is let go after. */
static void test_scratch_cap_and_reuse(void)
{
    struct br_doc small;
    br_doc_init(&small, 64);
    char text_value[200];
    memset(text_value, 'x', sizeof(text_value));
    struct br_record *rec = kafka_record(NULL, 0, text_value, sizeof(text_value), NULL, 0);
    CHECK_INT(build(&small, rec), -1);
    struct br_errors errs = {.file = "t"};
    const char *y = "- {value: [nothing]}\n";
    struct br_node *n = br_node_load_string(y, strlen(y), &errs);
    struct br_filter *f = NULL;
    CHECK_INT(br_filter_load(n, "filter", &f, &errs), 0);
    CHECK_INT(br_filter_judge(f, &small, NULL, rec), BR_FILTER_UNJUDGED);
    br_record_free(rec);
    /* A record that fits afterwards is judged again. */
    rec = kafka_record(NULL, 0, "\"nothing\"", 9, NULL, 0);
    CHECK_INT(br_filter_judge(f, &small, NULL, rec), BR_FILTER_PASS);
    br_record_free(rec);
    rec = kafka_record(NULL, 0, "\"other\"", 7, NULL, 0);
    CHECK_INT(br_filter_judge(f, &small, NULL, rec), BR_FILTER_OUT);
    br_record_free(rec);
    br_filter_free(f);
    br_node_free(n);
    br_errors_free(&errs);
    br_doc_free(&small);

    struct br_doc d;
    br_doc_init(&d, 64u << 20);
    size_t big = 3u << 20;
    char *value = malloc(big);
    memset(value, 'a', big);
    rec = kafka_record(NULL, 0, value, big, NULL, 0);
    CHECK_INT(build(&d, rec), 0);
    CHECK(d.scratch.cap > big);
    br_record_free(rec);
    br_doc_reset(&d);
    CHECK_MSG(d.scratch.cap < (1u << 20), "a large scratch is let go: %zu", d.scratch.cap);
    rec = kafka_record("k", 1, "plain", 5, NULL, 0);
    CHECK_INT(build(&d, rec), 0);
    const char *before = d.scratch.data;
    CHECK_INT(build(&d, rec), 0);
    CHECK_MSG(d.scratch.data == before, "the scratch is reused");
    br_record_free(rec);
    free(value);
    br_doc_free(&d);
}

/* A kind without a doc op: its records pass whatever the filter says. */
static void test_kind_without_doc_passes(struct br_doc *d)
{
    static const struct br_record_kind plain = {.name = "plain"};
    struct br_record_init init = {.kind = &plain, .topic = "t", .value = "x", .value_len = 1};
    struct br_record *rec = br_record_create(&init);
    struct br_errors errs = {.file = "t"};
    const char *y = "- {value: [nothing]}\n";
    struct br_node *n = br_node_load_string(y, strlen(y), &errs);
    struct br_filter *f = NULL;
    br_filter_load(n, "filter", &f, &errs);
    CHECK_INT(br_filter_judge(f, d, NULL, rec), BR_FILTER_PASS);
    CHECK_INT(br_filter_judge(NULL, d, NULL, rec), BR_FILTER_PASS);
    br_filter_free(f);
    br_node_free(n);
    br_errors_free(&errs);
    br_record_free(rec);
}

/* Only the members some pattern names are built: a pattern on the topic
 * never pays for checking a large value; names inside a top-level $or
 * count. */
static void test_only_named_members_are_built(struct br_doc *d)
{
    const char *y = "- {topic: [orders]}\n"
                    "- {$or: [{key: [k]}, {partition: [9]}]}\n";
    struct br_errors errs = {.file = "t"};
    struct br_node *n = br_node_load_string(y, strlen(y), &errs);
    struct br_filter *f = NULL;
    CHECK_INT(br_filter_load(n, "filter", &f, &errs), 0);
    struct br_record *rec = kafka_record("k", 1, "{\"big\": 1}", 10, NULL, 0);
    CHECK_INT(br_filter_judge(f, d, NULL, rec), BR_FILTER_PASS);
    CHECK_STR(text(d, "topic"), "\"orders\"");
    CHECK_STR(text(d, "key"), "\"k\"");
    CHECK_STR(text(d, "partition"), "3");
    CHECK_STR(text(d, "value"), "(none)");
    CHECK_STR(text(d, "headers"), "(none)");
    CHECK_STR(text(d, "offset"), "(none)");
    CHECK_MSG(d->want == NULL, "the want list is the filter's only while it judges");
    br_record_free(rec);
    br_filter_free(f);
    br_node_free(n);
    br_errors_free(&errs);
}

/* A key may be a dotted path, as in the conformance corpus: the member
 * it reads is its first segment. (Once, "value.kind" named no member, the
 * value was never built, and every record was filtered out.) */
static void test_dotted_keys_read_their_first_member(struct br_doc *d)
{
    const char *y = "- {value.kind: [order]}\n"
                    "- '{\"headers.trace\": [{\"exists\": true}]}'\n";
    struct br_errors errs = {.file = "t"};
    struct br_node *n = br_node_load_string(y, strlen(y), &errs);
    struct br_filter *f = NULL;
    CHECK_INT(br_filter_load(n, "filter", &f, &errs), 0);
    struct br_record *order = kafka_record("k", 1, "{\"kind\": \"order\"}", 17, NULL, 0);
    struct br_record *other = kafka_record("k", 1, "{\"kind\": \"refund\"}", 18, NULL, 0);
    CHECK_INT(br_filter_judge(f, d, NULL, order), BR_FILTER_PASS);
    CHECK_INT(br_filter_judge(f, d, NULL, other), BR_FILTER_OUT);
    br_record_free(order);
    br_record_free(other);
    br_filter_free(f);
    br_node_free(n);
    br_errors_free(&errs);
}

/* ------------------------------------------------ patterns from YAML */

/* YAML in, JSON out: the scalars' types as YAML 1.2 gives them. */
static void test_yaml_to_json(void)
{
    static const struct {
        const char *yaml, *json;
    } rows[] = {
        {"{a: 5}", "{\"a\":5}"},
        {"{a: \"5\"}", "{\"a\":\"5\"}"},
        {"{a: '5'}", "{\"a\":\"5\"}"},
        {"{a: [5, -0.5, 1e3, 0, 12345678901234567890]}",
         "{\"a\":[5,-0.5,1e3,0,12345678901234567890]}"},
        {"{a: [true, True, false, FALSE, \"true\"]}",
         "{\"a\":[true,true,false,false,\"true\"]}"},
        {"{a: [null, ~, Null, \"null\", '']}", "{\"a\":[null,null,null,\"null\",\"\"]}"},
        {"{a: }", "{\"a\":null}"},
        {"{a: [yes, no, on, off]}", "{\"a\":[\"yes\",\"no\",\"on\",\"off\"]}"},
        {"{5: x, true: y}", "{\"5\":\"x\",\"true\":\"y\"}"},
        {"{a: {b: [{prefix: \"ab\"}, {numeric: [\">\", 0, \"<=\", 5]}]}}",
         "{\"a\":{\"b\":[{\"prefix\":\"ab\"},{\"numeric\":[\">\",0,\"<=\",5]}]}}"},
        {"{\"value\": {\"kind\": [\"order\"]}}", "{\"value\":{\"kind\":[\"order\"]}}"},
        {"{a: \"x\\ty\\\"\"}", "{\"a\":\"x\\ty\\\"\"}"},
        {"{a: [1.5e-3, 5E+2, 10.0]}", "{\"a\":[1.5e-3,5E+2,10.0]}"},
        {"{a: [-x, 1-2, 0.5.1, 1e, '+5']}", "{\"a\":[\"-x\",\"1-2\",\"0.5.1\",\"1e\",\"+5\"]}"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct br_errors errs = {.file = "t"};
        struct br_node *n = br_node_load_string(rows[i].yaml, strlen(rows[i].yaml), &errs);
        struct br_buf out;
        br_buf_init(&out, 0);
        CHECK_MSG(n && br_filter_json(n, "p", &out, &errs) == 0, "row %zu converts", i);
        CHECK_MSG(out.data && !strcmp(out.data, rows[i].json), "row %zu: %s gives %s, want %s",
                  i, rows[i].yaml, out.data ? out.data : "(nothing)", rows[i].json);
        br_buf_free(&out);
        br_node_free(n);
        br_errors_free(&errs);
    }
}

/* Numbers YAML reads and JSON cannot write are refused, at their place. */
static void test_yaml_numbers_json_cannot_write(void)
{
    static const char *const bad[] = {"+5", "0x1F", "0o17", ".5", "5.", "007", ".inf",
                                      "-.Inf", ".nan", "+1e3", "00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char y[64];
        snprintf(y, sizeof(y), "{a: {b: [%s]}}", bad[i]);
        struct br_errors errs = {.file = "t"};
        struct br_node *n = br_node_load_string(y, strlen(y), &errs);
        struct br_buf out;
        br_buf_init(&out, 0);
        CHECK_MSG(n && br_filter_json(n, "p", &out, &errs) == -1, "%s is refused", bad[i]);
        CHECK_INT(errs.n, 1);
        if (errs.n) {
            CHECK_STR(errs.v[0].path, "p.a.b[0]");
            CHECK_INT(errs.v[0].col, 10);
            CHECK_MSG(strstr(errs.v[0].message, bad[i]) && strstr(errs.v[0].message, "quote"),
                      "%s", errs.v[0].message);
        }
        br_buf_free(&out);
        br_node_free(n);
        br_errors_free(&errs);
    }
}

/* `filter` itself: a list of patterns; each wrong one is its own error
 * with the pattern's index; null or [] is no filter. */
static void test_filter_key_errors(void)
{
    const char *y = "a:\n"
                    "  - {value: {kind: [order]}}\n"
                    "  - '{\"value\": {\"kind\": [\"x\"]}}'\n"
                    "  - plain words\n"
                    "  - [1, 2]\n"
                    "  - {value: {n: [+5]}}\n"
                    "  - '{\"value\": '\n"
                    "b: {value: [1]}\n"
                    "c: []\n"
                    "d:\n"
                    "e: [{value: [1]}, \"  {\\\"key\\\": [\\\"k\\\"]}\"]\n";
    struct br_errors errs = {.file = "t"};
    struct br_node *root = br_node_load_string(y, strlen(y), &errs);
    struct br_filter *f = (struct br_filter *)1;
    CHECK_INT(br_filter_load(br_node_get(root, "a"), "pipelines[0].filter", &f, &errs), 4);
    CHECK(f == NULL);
    CHECK_INT(errs.n, 4);
    if (errs.n == 4) {
        CHECK_STR(errs.v[0].path, "pipelines[0].filter[2]");
        CHECK_INT(errs.v[0].line, 4);
        CHECK_STR(errs.v[1].path, "pipelines[0].filter[3]");
        CHECK_INT(errs.v[1].line, 5);
        CHECK_STR(errs.v[2].path, "pipelines[0].filter[4].value.n[0]");
        CHECK_INT(errs.v[2].line, 6);
        CHECK_STR(errs.v[3].path, "pipelines[0].filter[5]");
        CHECK_INT(errs.v[3].line, 7);
    }
    br_errors_free(&errs);
    errs = (struct br_errors){.file = "t"};
    CHECK_INT(br_filter_load(br_node_get(root, "b"), "f", &f, &errs), 1);
    CHECK(errs.n == 1 && strstr(errs.v[0].message, "list of patterns"));
    br_errors_free(&errs);
    errs = (struct br_errors){.file = "t"};
    CHECK_INT(br_filter_load(br_node_get(root, "c"), "f", &f, &errs), 0);
    CHECK(f == NULL);
    CHECK_INT(br_filter_load(br_node_get(root, "d"), "f", &f, &errs), 0);
    CHECK(f == NULL);
    CHECK_INT(br_filter_load(NULL, "f", &f, &errs), 0);
    CHECK(f == NULL);
    CHECK_INT(br_filter_load(br_node_get(root, "e"), "f", &f, &errs), 0);
    CHECK_INT(br_filter_patterns(f), 2);
    CHECK_INT(errs.n, 0);
    br_filter_free(f);
    br_errors_free(&errs);
    br_node_free(root);
}

/* -------------------------------------------------- in a pipeline */

static int64_t committed[8];
static size_t n_settled_filtered, n_settled_delivered;

static int stub_commit(struct br_source *src, int shard, int64_t next_pos)
{
    (void)src;
    committed[shard] = next_pos;
    return 0;
}

static void stub_settled(struct br_source *src, const struct br_record *rec)
{
    (void)src;
    if (rec->settle == BR_SETTLE_FILTERED)
        n_settled_filtered++;
    else if (rec->settle == BR_SETTLE_DELIVERED)
        n_settled_delivered++;
}

static void stub_nop(struct br_source *src)
{
    (void)src;
}

static const struct br_source_ops stub_ops = {
    .name = "stub", .commit = stub_commit, .settled = stub_settled, .pause = stub_nop,
    .resume = stub_nop, .destroy = stub_nop,
};

static struct br_config *load(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/t.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "state_dir: %s/state\nlog: {level: error}\npipelines:\n"
               "  - name: f\n"
               "    source: {kafka: {brokers: \"127.0.0.1:1\", topics: [t], group_id: g}}\n"
               "    function: {http: {url: \"http://127.0.0.1:1/\"}}\n"
               "    filter:\n"
               "      - {value: {kind: [keep]}}\n"
               "      - {key: [vip]}\n", dir);
    fclose(f);
    struct br_errors errs = {.file = path};
    struct br_config *cfg = br_config_load(path, &errs);
    if (!cfg)
        br_errors_print(&errs, stderr);
    br_errors_free(&errs);
    return cfg;
}

static void emit(struct br_pipeline *pl, int shard, int64_t offset, const char *key,
                 const char *value)
{
    struct br_record_init init = {.kind = &br_kind_kafka, .topic = "t", .partition = shard,
                                  .offset = offset, .timestamp_ms = 1,
                                  .key = key, .key_len = key ? strlen(key) : 0,
                                  .value = value, .value_len = strlen(value)};
    struct br_record *rec = br_record_create(&init);
    CHECK_INT(br_source_emit(&pl->src, shard, rec), 0);
}

/* The dispatcher's part, done here: what was handed over, delivered. */
static void deliver(struct br_pipeline *pl, int64_t upto)
{
    struct br_record_list in = pl->inbound, back = {0}, keep = {0};
    memset(&pl->inbound, 0, sizeof(pl->inbound));
    struct br_record *r;
    while ((r = br_record_list_pop(&in))) {
        if (r->offset <= upto) {
            r->settle = BR_SETTLE_DELIVERED;
            br_record_list_push(&back, r);
        } else {
            br_record_list_push(&keep, r);
        }
    }
    pl->inbound = keep;
    br_pipeline_ack(pl, &back);
}

/* Offsets 0..5: 0 keep, 1 out, 2 keep, 3 out, 4 out, 5 vip key. What is
 * out never reaches the dispatcher, settles at the next round, and the
 * commit moves over it only once everything before it settled. */
static void test_pipeline_settles_filtered_in_order(struct br_pipeline *pl)
{
    int shard = br_source_shard(&pl->src, "t", 0);
    br_source_assign(&pl->src, shard);
    committed[shard] = -1;
    emit(pl, shard, 0, NULL, "{\"kind\":\"keep\"}");
    emit(pl, shard, 1, NULL, "{\"kind\":\"drop\"}");
    emit(pl, shard, 2, NULL, "{\"kind\":\"keep\",\"n\":2}");
    emit(pl, shard, 3, NULL, "not json");
    emit(pl, shard, 4, "vip2", "\x01\xff");
    emit(pl, shard, 5, "vip", "\x01\xff");
    br_source_service(&pl->src);
    CHECK_INT(pl->inbound.count, 3);               /* 0, 2 and 5 */
    CHECK_INT(n_settled_filtered, 3);
    CHECK_INT(committed[shard], -1);               /* 0 is still out */
    CHECK_INT(atomic_load(&pl->stats.filtered), 3);
    CHECK_INT(atomic_load(&pl->stats.received), 6);
    CHECK_INT(pl->inflight_records, 3);
    deliver(pl, 0);
    br_source_service(&pl->src);
    CHECK_INT(committed[shard], 2);                /* past 1, not past 2 */
    deliver(pl, 2);
    br_source_service(&pl->src);
    CHECK_INT(committed[shard], 5);                /* past 3 and 4 */
    deliver(pl, 5);
    br_source_service(&pl->src);
    CHECK_INT(committed[shard], 6);
    CHECK_INT(n_settled_delivered, 3);
    CHECK_INT(pl->inflight_records, 0);
    CHECK_INT(pl->shards[shard].held, 0);

    /* A filtered record after a delivered one commits at once. */
    emit(pl, shard, 6, NULL, "{\"kind\":\"keep\"}");
    br_source_service(&pl->src);
    deliver(pl, 6);
    emit(pl, shard, 7, NULL, "{}");
    br_source_service(&pl->src);
    CHECK_INT(committed[shard], 8);
    CHECK_INT(pl->inflight_records, 0);
}

static void test_pipeline(void)
{
    struct br_config *cfg = load();
    CHECK_MSG(cfg != NULL, "the test's config loads");
    if (!cfg)
        return;
    CHECK_INT(br_filter_patterns(cfg->pipelines[0].filter), 2);
    char err[512] = "";
    struct br_pipeline *pl = br_pipeline_create(cfg, &cfg->pipelines[0], err, sizeof(err));
    CHECK_MSG(pl != NULL, "pipeline: %s", err);
    if (pl) {
        pl->src.ops->destroy(&pl->src);
        pl->src.ops = &stub_ops;
        test_pipeline_settles_filtered_in_order(pl);
        br_pipeline_destroy(pl);
    }
    br_config_free(cfg);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    br_log_setup(BR_LOG_ERROR, BR_LOG_LOGFMT);
    struct br_doc d;
    br_doc_init(&d, 1u << 20);
    test_kafka_metadata(&d);
    test_kafka_value_decoding(&d);
    test_kafka_headers(&d);
    test_kafka_unknown_timestamp(&d);
    test_mqtt(&d);
    test_s3(&d);
    test_hostile_bytes_stay_json(&d);
    test_kind_without_doc_passes(&d);
    test_only_named_members_are_built(&d);
    test_dotted_keys_read_their_first_member(&d);
    br_doc_free(&d);
    test_scratch_cap_and_reuse();
    test_yaml_to_json();
    test_yaml_numbers_json_cannot_write();
    test_filter_key_errors();
    test_pipeline();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return UNIT_DONE("filter_doc");
}
