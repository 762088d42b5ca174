/* fuzz_json_check.c - fuzzes br_json_valid (bridge/json_check.c), the
 * check that decides whether a record's bytes go into an event as JSON
 * verbatim ("valueEncoding":"json") or as base64. The input is the bytes
 * of one record's value.
 *
 * Properties: the check agrees with jansson, a strict RFC 8259 parser,
 * wherever their limits are the same (jansson nests deeper than 512,
 * refuses numbers past a double and \u0000 in a key, and skips a NUL byte
 * between tokens); and the json and cloudevents events built from a Kafka
 * and an MQTT record holding the input, and the Kafka record's lambda
 * event, are JSON that gives the bytes back unchanged (as the same JSON
 * value, or base64 of the same bytes). */
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "bridge/buf.h"
#include "bridge/format.h"
#include "bridge/record.h"
#include "fuzz.h"
#include "fuzz_json.h"
#include "connectors/kafka/kafka_event.h"
#include "connectors/mqtt/mqtt_event.h"
#include "bridge/json_check.h"

#define CHECK_MAX_DEPTH 512          /* br_json_valid's limit */
#define PARSE_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL)

/* Errors jansson gives for JSON that is valid by RFC 8259: a number past
 * a double, or \u0000 in an object key (a string value may hold it). */
static bool beyond_jansson(const json_error_t *err)
{
    return json_error_code(err) == json_error_numeric_overflow ||
           json_error_code(err) == json_error_null_byte_in_key;
}

/* The record field `name` and its `nameEncoding` hold the input. */
static void check_field(const json_t *rec, const char *name, const json_t *want,
                        const uint8_t *data, size_t size, bool valid)
{
    char enc_name[32];
    snprintf(enc_name, sizeof enc_name, "%sEncoding", name);
    const json_t *got = json_object_get(rec, name);
    const char *enc = json_string_value(json_object_get(rec, enc_name));
    FUZZ_ASSERT(got && enc, "the event has no %s or %s", name, enc_name);
    FUZZ_ASSERT(strcmp(enc, valid ? "json" : "base64") == 0,
                "%s is %s, the check said %d", enc_name, enc, valid);
    if (valid)
        FUZZ_ASSERT(want && json_equal(want, got), "%s is not the input's JSON", name);
    else
        FUZZ_ASSERT(json_is_string(got) && is_base64_of(json_string_value(got),
                                                        json_string_length(got), data, size),
                    "%s is not base64 of the input", name);
}

/* Encodes recs in fmt; returns the event parsed, or NULL when jansson
 * cannot hold it (allowed only when the input is JSON verbatim). */
static json_t *encode(enum br_format fmt, struct br_record *const *recs, size_t n,
                      bool valid)
{
    static const struct br_event_ctx ev = {
        .pipeline = "fuzz", .source_kind = "kafka", .origin = "127.0.0.1:9092"};
    struct br_buf out;
    br_buf_init(&out, 0);
    FUZZ_ASSERT(br_format_encode(fmt, &ev, recs, n, &out) == 0, "format %d failed", fmt);
    json_error_t err;
    json_t *root = json_loadb(out.data, out.len, PARSE_FLAGS, &err);
    FUZZ_ASSERT(root || (valid && beyond_jansson(&err)),
                "format %d wrote invalid JSON: %s at %d", fmt, err.text, err.position);
    br_buf_free(&out);
    return root;
}

static void check_events(const uint8_t *data, size_t size, bool valid, const json_t *want)
{
    const struct br_mqtt_meta mqtt = {.qos = 1};
    struct br_record_init kafka = {
        .kind = &br_kind_kafka, .topic = "orders", .partition = 3, .offset = 42,
        .timestamp_ms = 1700000000000, .timestamp_type = BR_TS_CREATE,
        .key = data, .key_len = size, .value = data, .value_len = size};
    struct br_record_init mq = {
        .kind = &br_kind_mqtt, .topic = "dev/1/state", .offset = 7,
        .timestamp_ms = 1700000000000, .value = data, .value_len = size, .meta = &mqtt};
    struct br_record *recs[2] = {br_record_create(&kafka), br_record_create(&mq)};
    FUZZ_ASSERT(recs[0] && recs[1], "out of memory");

    json_t *root = encode(BR_FORMAT_JSON, recs, 2, valid);
    if (root) {
        const json_t *list = json_object_get(root, "records");
        check_field(json_array_get(list, 0), "key", want, data, size, valid);
        check_field(json_array_get(list, 0), "value", want, data, size, valid);
        check_field(json_array_get(list, 1), "payload", want, data, size, valid);
    }
    json_decref(root);
    for (size_t i = 0; i < 2; i++)
        json_decref(encode(BR_FORMAT_CLOUDEVENTS, &recs[i], 1, valid));
    json_decref(encode(BR_FORMAT_LAMBDA, &recs[0], 1, valid));  /* MQTT has no lambda shape */
    br_record_free(recs[0]);
    br_record_free(recs[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool valid = br_json_valid(data, size);
    json_error_t err;
    json_t *want = json_loadb((const char *)data, size, PARSE_FLAGS, &err);
    if (valid)
        FUZZ_ASSERT(want || beyond_jansson(&err),
                    "accepted, jansson says: %s at %d", err.text, err.position);
    else if (want)          /* jansson skips a raw NUL byte between tokens */
        FUZZ_ASSERT(json_depth(want) > CHECK_MAX_DEPTH || memchr(data, '\0', size),
                    "refused, jansson accepts it");
    check_events(data, size, valid, want);
    json_decref(want);
    return 0;
}
