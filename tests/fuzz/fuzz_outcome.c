/* fuzz_outcome.c - fuzzes what fnbridge reads in a function's answer: the
 * partial-batch response (br_outcome_partial, bridge/outcome.c) matched
 * against a synthetic batch of Kafka, of MQTT and of S3 records, and
 * Lambda's retryAfterSeconds (lambda_body_retry_after,
 * connectors/http/target_lambda.c; the Retry-After header itself is parsed by
 * libcurl). The input is the response body.
 *
 * Properties: the verdict and the failed[] marks agree (all, none, some;
 * invalid JSON marks all); a body that opens an object and does not parse
 * is never settled as delivered;
 * a body that jansson reads as an object with a non-empty
 * batchItemFailures list never settles the batch as delivered; a
 * retryAfterSeconds that is a small non-negative integer gives that many
 * seconds, and nothing else gives a negative delay other than -1. */
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "bridge/outcome.h"
#include "bridge/record.h"
#include "connectors/http/target_lambda.h"
#include "fuzz.h"
#include "connectors/kafka/kafka_event.h"
#include "connectors/mqtt/mqtt_event.h"
#include "connectors/s3/s3_event.h"

#define N_KAFKA 12
#define N_MQTT 4
#define N_S3 3

struct batch {
    const char *name;
    struct br_record **recs;
    size_t n;
};

static struct br_record *kafka[N_KAFKA], *mqtt[N_MQTT], *s3[N_S3];
static struct batch batches[] = {
    {"kafka", kafka, N_KAFKA}, {"mqtt", mqtt, N_MQTT}, {"s3", s3, N_S3},
};

/* Kafka: orders-0 offsets 10..13, my-topic-2 (a dashed name) 5..8, and
 * t-1 offsets 0..3; MQTT: spool sequences 5..8; S3: three objects. */
static void make_batches(void)
{
    static const struct { const char *topic; int32_t part; int64_t first; } parts[] = {
        {"orders", 0, 10}, {"my-topic", 2, 5}, {"t", 1, 0},
    };
    for (size_t i = 0; i < N_KAFKA; i++) {
        struct br_record_init init = {
            .kind = &br_kind_kafka, .topic = parts[i / 4].topic, .partition = parts[i / 4].part,
            .offset = parts[i / 4].first + (int64_t)(i % 4), .timestamp_ms = -1,
            .value = "v", .value_len = 1};
        kafka[i] = br_record_create(&init);
    }
    static const struct br_mqtt_meta meta = {.qos = 1};
    for (size_t i = 0; i < N_MQTT; i++) {
        struct br_record_init init = {
            .kind = &br_kind_mqtt, .topic = i % 2 ? "home/door" : "home/temp",
            .offset = 5 + (int64_t)i, .timestamp_ms = 1700000000000, .value = "v",
            .value_len = 1, .meta = &meta};
        mqtt[i] = br_record_create(&init);
    }
    static const char *const keys[N_S3] = {"incoming/a.csv", "incoming/b c.csv", "x@y"};
    static const int64_t seqs[N_S3] = {0x17a2b3c4d5e6f70, 0x17a2b3c4d5e6f71, 9};
    for (size_t i = 0; i < N_S3; i++) {
        struct br_s3_meta meta3 = {.size = 10, .etag = "d41d8cd98f00b204e9800998ecf8427e",
                                   .bucket = "bucket", .region = "us-east-1"};
        struct br_record_init init = {
            .kind = &br_kind_s3, .topic = keys[i], .offset = seqs[i],
            .timestamp_ms = 1700000000000, .meta = &meta3};
        s3[i] = br_record_create(&init);
    }
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++)
        for (size_t i = 0; i < batches[b].n; i++)
            FUZZ_ASSERT(batches[b].recs[i], "out of memory");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    make_batches();
    return 0;
}

/* What jansson says of the list: 1 a non-empty array, 0 anything else. */
static bool names_failures(const json_t *root)
{
    const json_t *list = json_object_get(root, "batchItemFailures");
    return json_is_array(list) && json_array_size(list) > 0;
}

/* The body's first byte past a byte order mark and blanks is '{'. */
static bool opens_object(const char *body, size_t len)
{
    size_t i = len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    while (i < len && strchr(" \t\r\n\f\v", body[i]) && body[i])
        i++;
    return i < len && body[i] == '{';
}

/* jansson reads it (after a byte order mark), as outcome.c must have. */
static bool parses(const char *body, size_t len)
{
    size_t skip = len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    json_t *root = json_loadb(body + skip, len - skip, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
                              NULL);
    json_decref(root);
    return root != NULL;
}

static void check_partial(const struct batch *b, const char *body, size_t len,
                          const json_t *root)
{
    bool *failed = malloc(b->n);          /* exactly n: ASan sees overruns */
    FUZZ_ASSERT(failed, "out of memory");
    enum br_partial res = br_outcome_partial(body, len, b->recs, b->n, failed);
    size_t marked = 0;
    for (size_t i = 0; i < b->n; i++)
        marked += failed[i];
    FUZZ_ASSERT(res == BR_PARTIAL_ALL_OK || res == BR_PARTIAL_SOME_FAILED ||
                res == BR_PARTIAL_ALL_FAILED || res == BR_PARTIAL_INVALID,
                "%s: verdict %d", b->name, (int)res);
    FUZZ_ASSERT(res != BR_PARTIAL_INVALID || marked == b->n,
                "%s: invalid, %zu of %zu marked", b->name, marked, b->n);
    FUZZ_ASSERT(res != BR_PARTIAL_ALL_OK || !opens_object(body, len) || parses(body, len),
                "%s: an object that does not parse settled the batch as delivered", b->name);
    FUZZ_ASSERT(res != BR_PARTIAL_ALL_OK || marked == 0, "%s: all ok, %zu marked",
                b->name, marked);
    FUZZ_ASSERT(res != BR_PARTIAL_ALL_FAILED || marked == b->n,
                "%s: all failed, %zu of %zu marked", b->name, marked, b->n);
    FUZZ_ASSERT(res != BR_PARTIAL_SOME_FAILED || marked > 0, "%s: some failed, none marked",
                b->name);
    FUZZ_ASSERT(!names_failures(root) || res != BR_PARTIAL_ALL_OK,
                "%s: a body listing failures settled the batch as delivered", b->name);
    free(failed);
}

static void check_retry_after(const char *body, size_t len, const json_t *root)
{
    int64_t ms = lambda_body_retry_after(body, len);
    FUZZ_ASSERT(ms >= -1, "retry after %lld ms", (long long)ms);
    const json_t *v = json_object_get(root, "retryAfterSeconds");
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < 1000000000)
        FUZZ_ASSERT(ms == json_integer_value(v) * 1000, "retryAfterSeconds %lld gave %lld ms",
                    (long long)json_integer_value(v), (long long)ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The body as the targets hand it over: NUL-terminated after len. */
    char *body = malloc(size + 1);
    FUZZ_ASSERT(body, "out of memory");
    memcpy(body, data, size);
    body[size] = '\0';
    json_t *root = json_loadb(body, size, 0, NULL);
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++)
        check_partial(&batches[b], body, size, root);
    check_retry_after(body, size, root);
    json_decref(root);
    free(body);
    return 0;
}
