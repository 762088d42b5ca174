/* test_kafka_dlq_headers.c - reading back the fnbridge.dlq.* headers of a
 * kafka dead letter (connectors/kafka/kafka_dlq_headers.c): what the sink
 * writes parses, the record's own headers are kept, and every hostile
 * variant (missing, twice, null, not a number, out of range, a NUL) is a
 * clear refusal. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "connectors/kafka/kafka_dlq_headers.h"
#include "unit.h"

#define H(n, v) {n, (const unsigned char *)(v), (v) ? sizeof(v) - 1 : 0}

static int parse(const struct br_header *h, size_t n, struct kafka_dlq_fields *f, bool *keep,
                 char *why)
{
    return kafka_dlq_headers_parse(h, n, f, keep, why, 256);
}

static void test_what_the_sink_writes(void)
{
    const struct br_header h[] = {
        H("trace", "abc"), H("fnbridge.dlq.pipeline", "orders"),
        H("fnbridge.dlq.topic", "orders-eu"), H("fnbridge.dlq.partition", "2"),
        H("fnbridge.dlq.offset", "9007199254740993"),
        H("fnbridge.dlq.condition", "RetryAttemptsExhausted"),
        H("fnbridge.dlq.attempts", "3"), H("fnbridge.dlq.replay_count", "1"),
        {"empty", NULL, 0}, H("fnbridge.dlq.future", "x"),
    };
    struct kafka_dlq_fields f;
    bool keep[10];
    char why[256] = "";
    CHECK_INT(parse(h, 10, &f, keep, why), 0);
    CHECK(f.pipeline.n == 6 && !memcmp(f.pipeline.p, "orders", 6));
    CHECK(f.topic.n == 9 && !memcmp(f.topic.p, "orders-eu", 9));
    CHECK_INT(f.partition, 2);
    CHECK_INT(f.offset, 9007199254740993LL);
    CHECK_INT(f.attempts, 3);
    CHECK_INT(f.replay_count, 1);
    CHECK(keep[0] && keep[8] && !keep[1] && !keep[7] && !keep[9]);
}

static void test_defaults(void)
{
    const struct br_header h[] = {
        H("fnbridge.dlq.pipeline", "p"), H("fnbridge.dlq.topic", "t"),
        H("fnbridge.dlq.partition", "0"), H("fnbridge.dlq.offset", "0"),
    };
    struct kafka_dlq_fields f;
    bool keep[4];
    char why[256];
    CHECK_INT(parse(h, 4, &f, keep, why), 0);
    CHECK_INT(f.replay_count, 0);
    CHECK_INT(f.attempts, -1);
    CHECK_INT(f.condition.n, 0);
}

static void refused(const char *name, const char *value, size_t len, const char *want)
{
    struct br_header h[] = {
        H("fnbridge.dlq.pipeline", "p"), H("fnbridge.dlq.topic", "t"),
        H("fnbridge.dlq.partition", "0"), H("fnbridge.dlq.offset", "5"),
        {name, (const unsigned char *)value, len},
    };
    struct kafka_dlq_fields f;
    bool keep[5];
    char why[256] = "";
    CHECK_MSG(parse(h, 5, &f, keep, why) == -1 && strstr(why, want),
              "%s=%.*s: got \"%s\", want \"%s\"", name, (int)len, value ? value : "", why,
              want);
}

static void test_hostile(void)
{
    refused("fnbridge.dlq.offset", "6", 1, "given twice");
    refused("fnbridge.dlq.replay_count", NULL, 0, "has no value");
    refused("fnbridge.dlq.replay_count", "-1", 2, "not a decimal");
    refused("fnbridge.dlq.replay_count", "", 0, "not a decimal");
    refused("fnbridge.dlq.replay_count", "1000000001", 10, "not a decimal");
    refused("fnbridge.dlq.attempts", "1e3", 3, "not a decimal");
    refused("fnbridge.dlq.condition", "a\0b", 3, "NUL byte");
    const struct br_header missing[] = {
        H("fnbridge.dlq.pipeline", "p"), H("fnbridge.dlq.topic", "t"),
        H("fnbridge.dlq.partition", "2147483648"), H("fnbridge.dlq.offset", "1"),
    };
    struct kafka_dlq_fields f;
    bool keep[4];
    char why[256] = "";
    CHECK(parse(missing, 4, &f, keep, why) == -1 && strstr(why, "partition"));
    CHECK(parse(missing, 2, &f, keep, why) == -1 && strstr(why, "no header "
                                                           "fnbridge.dlq.partition"));
    const struct br_header empty[] = {
        H("fnbridge.dlq.pipeline", ""), H("fnbridge.dlq.topic", "t"),
        H("fnbridge.dlq.partition", "0"), H("fnbridge.dlq.offset", "1"),
    };
    CHECK(parse(empty, 4, &f, keep, why) == -1 && strstr(why, "pipeline is empty"));
    CHECK(parse(NULL, 0, &f, keep, why) == -1);
}

int main(void)
{
    test_what_the_sink_writes();
    test_defaults();
    test_hostile();
    return UNIT_DONE("kafka_dlq_headers");
}
