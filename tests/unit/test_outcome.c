/* test_outcome.c - HTTP status classes and Lambda partial-batch responses
 * (batchItemFailures) matched against a batch, and answers that open as a
 * JSON object but do not parse. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/buf.h"
#include "bridge/outcome.h"
#include "bridge/record.h"
#include "unit.h"
#include "connectors/kafka/kafka_event.h"
#include "connectors/mqtt/mqtt_event.h"

static void test_http_status(void)
{
    static const struct { long status; enum br_result_kind want; } cases[] = {
        { 200, BR_RES_OK },        { 202, BR_RES_OK },        { 204, BR_RES_OK },
        { 299, BR_RES_OK },        { 100, BR_RES_RETRY },     { 302, BR_RES_RETRY },
        { 304, BR_RES_RETRY },     { 400, BR_RES_PERMANENT }, { 401, BR_RES_PERMANENT },
        { 403, BR_RES_PERMANENT }, { 404, BR_RES_PERMANENT }, { 408, BR_RES_RETRY },
        { 413, BR_RES_TOO_LARGE }, { 422, BR_RES_PERMANENT }, { 425, BR_RES_RETRY },
        { 429, BR_RES_RETRY },     { 499, BR_RES_PERMANENT }, { 500, BR_RES_RETRY },
        { 502, BR_RES_RETRY },     { 503, BR_RES_RETRY },     { 504, BR_RES_RETRY },
        { 599, BR_RES_RETRY },     { 0, BR_RES_RETRY },       { 600, BR_RES_RETRY },
        { -1, BR_RES_RETRY },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_MSG(br_outcome_from_http(cases[i].status) == cases[i].want,
                  "status %ld", cases[i].status);
}

/* The batch: orders-0 offsets 10..12, my-topic-2 (a dashed name) 5..6. */
#define NREC 5
static struct br_record *recs[NREC];

static void batch_create(void)
{
    static const struct { const char *topic; int part; long off; } coords[NREC] = {
        { "orders", 0, 10 }, { "orders", 0, 11 }, { "orders", 0, 12 },
        { "my-topic", 2, 5 }, { "my-topic", 2, 6 },
    };
    for (int i = 0; i < NREC; i++) {
        struct br_record_init init = { .kind = &br_kind_kafka,
            .topic = coords[i].topic, .partition = coords[i].part,
            .offset = coords[i].off, .timestamp_ms = -1, .value = "v", .value_len = 1,
        };
        recs[i] = br_record_create(&init);
    }
}

static void batch_free(void)
{
    for (int i = 0; i < NREC; i++)
        br_record_free(recs[i]);
}

/* want_failed: one char per record, 'x' failed, '.' not. */
static void test_partial(void)
{
    static const struct {
        const char *body;
        enum br_partial want;
        const char *want_failed;
    } cases[] = {
        /* full success */
        { "", BR_PARTIAL_ALL_OK, "....." },
        { " \n\t ", BR_PARTIAL_ALL_OK, "....." },
        { "null", BR_PARTIAL_ALL_OK, "....." },
        { "not json at all", BR_PARTIAL_ALL_OK, "....." },
        { "\"a string result\"", BR_PARTIAL_ALL_OK, "....." },
        { "[1,2,3]", BR_PARTIAL_ALL_OK, "....." },
        { "{\"statusCode\":200}", BR_PARTIAL_ALL_OK, "....." },
        { "{\"batchItemFailures\":null}", BR_PARTIAL_ALL_OK, "....." },
        { "{\"batchItemFailures\":[]}", BR_PARTIAL_ALL_OK, "....." },
        /* Kafka identifiers, number or numeric-string offsets */
        { "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"orders-0\","
          "\"offset\":11}}]}", BR_PARTIAL_SOME_FAILED, ".x..." },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"orders-0\","
          "\"offset\":\"12\"}},{\"itemIdentifier\":{\"partition\":\"my-topic-2\","
          "\"offset\":5}}]}", BR_PARTIAL_SOME_FAILED, "..xx." },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"orders-0\","
          "\"offset\":10.0}}]}", BR_PARTIAL_SOME_FAILED, "x...." },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"orders-0\","
          "\"offset\":10.5}}]}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        /* generic id strings */
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"my-topic-2-6\"}]}",
          BR_PARTIAL_SOME_FAILED, "....x" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"orders-0-10\"},"
          "{\"itemIdentifier\":\"orders-0-10\"}]}", BR_PARTIAL_SOME_FAILED, "x...." },
        /* names no record of the batch: the whole batch failed */
        { "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"orders-0\","
          "\"offset\":99}}]}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"orders-1\","
          "\"offset\":10}}]}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"orders-0-11\"},"
          "{\"itemIdentifier\":\"nope-0-1\"}]}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"\"}]}",
          BR_PARTIAL_ALL_FAILED, "xxxxx" },
        /* malformed lists */
        { "{\"batchItemFailures\":{}}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":\"orders-0-10\"}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":[{}]}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":null}]}",
          BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":[\"orders-0-10\"]}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"orders-0\","
          "\"offset\":\"1x\"}}]}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"orders-0\","
          "\"offset\":-1}}]}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"orders\","
          "\"offset\":10}}]}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":0,"
          "\"offset\":10}}]}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"orders-0\","
          "\"offset\":99999999999999999999}}]}", BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"orders-0-99999999999999999999\"}]}",
          BR_PARTIAL_ALL_FAILED, "xxxxx" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool failed[NREC];
        enum br_partial got = br_outcome_partial(cases[i].body, strlen(cases[i].body),
                                                 recs, NREC, failed);
        char marks[NREC + 1] = { 0 };
        for (int r = 0; r < NREC; r++)
            marks[r] = failed[r] ? 'x' : '.';
        CHECK_MSG(got == cases[i].want, "case %zu: got %d, want %d (%s)", i, got,
                  cases[i].want, cases[i].body);
        CHECK_MSG(strcmp(marks, cases[i].want_failed) == 0,
                  "case %zu: failed %s, want %s", i, marks, cases[i].want_failed);
    }
    bool none[1];
    CHECK(br_outcome_partial(NULL, 0, recs, 0, none) == BR_PARTIAL_ALL_OK);
}

/* A body that opens as a JSON object ('{' first, after blanks) but does not
 * parse hides whatever failures it lists: the whole batch failed, with
 * jansson's reason and where. Each names orders-0-11 as failed. */
#define FAIL11 "\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"orders-0\"," \
               "\"offset\":11}}]"
#define BODY(s) s, sizeof(s) - 1

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

static void check_invalid(const char *name, const char *body, size_t len,
                          const char *want_why)
{
    bool failed[NREC];
    char why[BR_OUTCOME_WHY_MAX];
    enum br_partial got = br_outcome_partial_why(body, len, recs, NREC, failed, why,
                                                 sizeof(why));
    CHECK_MSG(got == BR_PARTIAL_INVALID, "%s: got %d, want invalid", name, got);
    bool all = true;
    for (int r = 0; r < NREC; r++)
        all &= failed[r];
    CHECK_MSG(all, "%s: not every record marked failed", name);
    CHECK_MSG(strstr(why, want_why) != NULL, "%s: why \"%s\", want \"%s\" in it", name,
              why, want_why);
    CHECK_MSG(printable(why), "%s: why is not printable ASCII: \"%s\"", name, why);
    CHECK_MSG(br_outcome_partial(body, len, recs, NREC, failed) == BR_PARTIAL_INVALID,
              "%s: br_outcome_partial does not say invalid", name);
}

static void test_invalid(void)
{
    static const struct {
        const char *name;
        const char *body;
        size_t len;
        const char *want_why;       /* a part of the reason */
    } cases[] = {
        { "NaN", BODY("{" FAIL11 ",\"score\":NaN}"), "byte 90: invalid token near 'NaN'" },
        { "Infinity", BODY("{" FAIL11 ",\"score\":Infinity}"), "invalid token" },
        { "-Infinity", BODY("{" FAIL11 ",\"score\":-Infinity}"), "invalid token" },
        { "NUL in a key", BODY("{" FAIL11 ",\"a\\u0000b\":1}"), "NUL byte in object key" },
        { "raw NUL", BODY("{" FAIL11 ",\"a\":\"x\0y\"}"), "control character 0x0" },
        { "lone high surrogate", BODY("{" FAIL11 ",\"a\":\"\\ud800\"}"),
          "invalid Unicode '\\uD800' near '\"\\ud800\"'" },
        { "lone low surrogate", BODY("{" FAIL11 ",\"a\":\"\\udc00x\"}"), "invalid Unicode" },
        { "Latin-1", BODY("{" FAIL11 ",\"city\":\"Z\xfcrich\"}"),
          "unable to decode byte 0xfc" },
        { "1e999", BODY("{" FAIL11 ",\"score\":1e999}"), "real number overflow" },
        { "-1e999", BODY("{" FAIL11 ",\"score\":-1e999}"), "real number overflow" },
        { "a log line after it", BODY("{" FAIL11 "}\nINFO handled 5 records\n"),
          "line 2, column 4, byte 84: end of file expected near 'INFO'" },
        { "a second object", BODY("{" FAIL11 "}{}"), "end of file expected" },
        { "cut short", BODY("{" FAIL11), "'}' expected near end of file" },
        { "blanks first", BODY(" \r\n\t{" FAIL11 ",NaN}"), "line 2" },
        { "byte order mark, then NaN", BODY("\xef\xbb\xbf{" FAIL11 ",\"x\":NaN}"),
          "invalid token near 'NaN'" },
        { "control bytes quoted", BODY("{" FAIL11 "}\x7f\x01"), "near '\\x7f'" },
        { "not an object inside", BODY("{NaN}"), "string or '}' expected" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_invalid(cases[i].name, cases[i].body, cases[i].len, cases[i].want_why);

    /* nesting past jansson's depth limit (2048) */
    enum { DEPTH = 3000 };
    struct br_buf deep;
    br_buf_init(&deep, 0);
    br_buf_puts(&deep, "{" FAIL11 ",\"deep\":");
    for (int i = 0; i < DEPTH; i++)
        br_buf_puts(&deep, "[");
    for (int i = 0; i < DEPTH; i++)
        br_buf_puts(&deep, "]");
    br_buf_puts(&deep, "}");
    check_invalid("deep nesting", deep.data, deep.len, "maximum parsing depth reached");
    br_buf_free(&deep);
}

/* What is not invalid: the same hostile forms outside an object stay an
 * ordinary return value; a legitimate \u0000 inside a string parses, so the
 * list it carries is honoured; a valid object after blanks is read. */
static void test_not_invalid(void)
{
    static const struct {
        const char *name;
        const char *body;
        size_t len;
        enum br_partial want;
        const char *want_failed;
    } cases[] = {
        { "empty", BODY(""), BR_PARTIAL_ALL_OK, "....." },
        { "blank", BODY(" \r\n\t "), BR_PARTIAL_ALL_OK, "....." },
        { "plain text", BODY("stored 5 orders"), BR_PARTIAL_ALL_OK, "....." },
        { "text with a brace later", BODY("done {" FAIL11 ",NaN}"), BR_PARTIAL_ALL_OK,
          "....." },
        { "bare NaN", BODY("NaN"), BR_PARTIAL_ALL_OK, "....." },
        { "array with NaN", BODY("[NaN]"), BR_PARTIAL_ALL_OK, "....." },
        { "string with Latin-1", BODY("\"Z\xfcrich\""), BR_PARTIAL_ALL_OK, "....." },
        { "number 1e999", BODY("1e999"), BR_PARTIAL_ALL_OK, "....." },
        { "\\u0000 in a string value", BODY("{" FAIL11 ",\"note\":\"a\\u0000b\"}"),
          BR_PARTIAL_SOME_FAILED, ".x..." },
        { "\\u0000 in an identifier", BODY("{\"batchItemFailures\":[{\"itemIdentifier\":"
          "\"orders-0-11\\u0000\"}]}"), BR_PARTIAL_ALL_FAILED, "xxxxx" },
        { "blanks around", BODY("\n  {" FAIL11 "}\n\n"), BR_PARTIAL_SOME_FAILED, ".x..." },
        /* RFC 8259 lets a parser ignore a byte order mark; some runtimes write one */
        { "byte order mark", BODY("\xef\xbb\xbf{" FAIL11 "}"), BR_PARTIAL_SOME_FAILED,
          ".x..." },
        { "a valid object", BODY("{\"statusCode\":200,\"body\":\"ok\"}"),
          BR_PARTIAL_ALL_OK, "....." },
        { "a huge offset", BODY("{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":"
          "\"orders-0\",\"offset\":99999999999999999999}}]}"), BR_PARTIAL_ALL_FAILED,
          "xxxxx" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool failed[NREC];
        char why[BR_OUTCOME_WHY_MAX] = "stale";
        enum br_partial got = br_outcome_partial_why(cases[i].body, cases[i].len, recs,
                                                     NREC, failed, why, sizeof(why));
        char marks[NREC + 1] = { 0 };
        for (int r = 0; r < NREC; r++)
            marks[r] = failed[r] ? 'x' : '.';
        CHECK_MSG(got == cases[i].want, "%s: got %d, want %d", cases[i].name, got,
                  cases[i].want);
        CHECK_MSG(strcmp(marks, cases[i].want_failed) == 0, "%s: failed %s, want %s",
                  cases[i].name, marks, cases[i].want_failed);
        CHECK_MSG(why[0] == '\0', "%s: why \"%s\" for a body that parsed", cases[i].name,
                  why);
    }
}

/* A reason longer than its buffer is cut, never overrun, and an escape is
 * never cut in half. */
static void test_invalid_why_small_buffer(void)
{
    static const char body[] = "{\"a\":1}\x01\x02\x03\x04";
    bool failed[NREC];
    for (size_t size = 1; size <= 64; size++) {
        char *why = malloc(size);
        CHECK(br_outcome_partial_why(body, sizeof(body) - 1, recs, NREC, failed, why,
                                     size) == BR_PARTIAL_INVALID);
        CHECK_MSG(strlen(why) < size, "size %zu: \"%s\"", size, why);
        const char *esc = strrchr(why, '\\');
        CHECK_MSG(!esc || strlen(esc) >= 4, "size %zu: a cut escape in \"%s\"", size, why);
        free(why);
    }
    CHECK(br_outcome_partial_why(body, sizeof(body) - 1, recs, NREC, failed, NULL, 0) ==
          BR_PARTIAL_INVALID);
}

/* A large batch with many partitions: every other record fails. */
static void test_partial_large(void)
{
    enum { N = 10000 };
    struct br_record **big = calloc(N, sizeof(*big));
    bool *failed = calloc(N, sizeof(*failed));
    struct br_buf body;
    br_buf_init(&body, 0);
    br_buf_puts(&body, "{\"batchItemFailures\":[");
    for (int i = 0; i < N; i++) {
        struct br_record_init init = { .kind = &br_kind_kafka, .topic = "t-x", .partition = i % 16,
                                       .offset = 1000 + i / 16, .timestamp_ms = -1 };
        big[i] = br_record_create(&init);
        if (i % 2)
            br_buf_printf(&body, "%s{\"itemIdentifier\":{\"partition\":\"t-x-%d\","
                          "\"offset\":\"%d\"}}", i > 1 ? "," : "", i % 16, 1000 + i / 16);
    }
    br_buf_puts(&body, "]}");
    CHECK(br_outcome_partial(body.data, body.len, big, N, failed) ==
          BR_PARTIAL_SOME_FAILED);
    int right = 1;
    for (int i = 0; i < N; i++)
        right &= failed[i] == (i % 2 == 1);
    CHECK(right);
    for (int i = 0; i < N; i++)
        br_record_free(big[i]);
    br_buf_free(&body);
    free(big);
    free(failed);
}

/* MQTT records are named by their id string, the decimal spool sequence:
 * a batch with sequences 5, 6, 7 on two topics. */
static void test_partial_mqtt(void)
{
    static const struct { const char *topic; long seq; } coords[] = {
        { "home/temp", 5 }, { "home/temp", 6 }, { "home/door", 7 },
    };
    enum { N = 3 };
    struct br_record *mq[N];
    static const struct br_mqtt_meta meta = { .qos = 1 };
    for (int i = 0; i < N; i++) {
        struct br_record_init init = {
            .kind = &br_kind_mqtt, .topic = coords[i].topic, .offset = coords[i].seq,
            .timestamp_ms = 1700000000000, .value = "v", .value_len = 1, .meta = &meta,
        };
        mq[i] = br_record_create(&init);
    }
    static const struct {
        const char *body;
        enum br_partial want;
        const char *want_failed;
    } cases[] = {
        { "", BR_PARTIAL_ALL_OK, "..." },
        { "{\"batchItemFailures\":[]}", BR_PARTIAL_ALL_OK, "..." },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"6\"}]}",
          BR_PARTIAL_SOME_FAILED, ".x." },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"5\"},{\"itemIdentifier\":\"7\"}]}",
          BR_PARTIAL_SOME_FAILED, "x.x" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"7\"},{\"itemIdentifier\":\"7\"}]}",
          BR_PARTIAL_SOME_FAILED, "..x" },
        /* names no record of the batch: the whole batch failed */
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"99\"}]}",
          BR_PARTIAL_ALL_FAILED, "xxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"6\"},{\"itemIdentifier\":\"99\"}]}",
          BR_PARTIAL_ALL_FAILED, "xxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"0\"}]}",
          BR_PARTIAL_ALL_FAILED, "xxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"\"}]}",
          BR_PARTIAL_ALL_FAILED, "xxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"-6\"}]}",
          BR_PARTIAL_ALL_FAILED, "xxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"6 \"}]}",
          BR_PARTIAL_ALL_FAILED, "xxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"99999999999999999999\"}]}",
          BR_PARTIAL_ALL_FAILED, "xxx" },
        /* Kafka-shaped names are not MQTT ids */
        { "{\"batchItemFailures\":[{\"itemIdentifier\":\"home/temp-0-6\"}]}",
          BR_PARTIAL_ALL_FAILED, "xxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"home/temp-0\","
          "\"offset\":6}}]}", BR_PARTIAL_ALL_FAILED, "xxx" },
        { "{\"batchItemFailures\":[{\"itemIdentifier\":6}]}", BR_PARTIAL_ALL_FAILED, "xxx" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool failed[N];
        enum br_partial got = br_outcome_partial(cases[i].body, strlen(cases[i].body),
                                                 mq, N, failed);
        char marks[N + 1] = { 0 };
        for (int r = 0; r < N; r++)
            marks[r] = failed[r] ? 'x' : '.';
        CHECK_MSG(got == cases[i].want, "mqtt case %zu: got %d, want %d (%s)", i, got,
                  cases[i].want, cases[i].body);
        CHECK_MSG(strcmp(marks, cases[i].want_failed) == 0,
                  "mqtt case %zu: failed %s, want %s", i, marks, cases[i].want_failed);
    }
    for (int i = 0; i < N; i++)
        br_record_free(mq[i]);
}

/* Sequences past 2^53 are matched exactly (no trip through a double). */
static void test_partial_mqtt_big_sequence(void)
{
    static const int64_t seqs[] = { 9007199254740992, 9007199254740993, INT64_MAX };
    enum { N = 3 };
    struct br_record *mq[N];
    static const struct br_mqtt_meta meta = { .qos = 1 };
    for (int i = 0; i < N; i++) {
        struct br_record_init init = { .kind = &br_kind_mqtt, .topic = "t", .offset = seqs[i],
                                       .timestamp_ms = -1, .meta = &meta };
        mq[i] = br_record_create(&init);
    }
    static const char body[] =
        "{\"batchItemFailures\":[{\"itemIdentifier\":\"9007199254740993\"},"
        "{\"itemIdentifier\":\"9223372036854775807\"}]}";
    bool failed[N];
    CHECK(br_outcome_partial(body, strlen(body), mq, N, failed) == BR_PARTIAL_SOME_FAILED);
    CHECK(!failed[0] && failed[1] && failed[2]);
    for (int i = 0; i < N; i++)
        br_record_free(mq[i]);
}

/* Metering counts a call only when the function ran. */
static void test_reached(void)
{
    struct { struct br_result res; bool want; const char *what; } cases[] = {
        {{.kind = BR_RES_OK, .status = 200}, true, "a 200"},
        {{.kind = BR_RES_OK}, true, "an exec run that exited 0"},
        {{.kind = BR_RES_FUNCTION_ERROR}, true, "a function error"},
        {{.kind = BR_RES_RETRY, .status = 500}, true, "a 500"},
        {{.kind = BR_RES_PERMANENT, .status = 400}, true, "a 400 from an http function"},
        {{.kind = BR_RES_RETRY, .timed_out = true}, true, "a timeout after sending"},
        {{.kind = BR_RES_RETRY}, false, "a connection refused"},
        {{.kind = BR_RES_RETRY, .timed_out = true, .not_run = true}, false,
         "a timeout while connecting"},
        {{.kind = BR_RES_RETRY, .status = 403, .not_run = true}, false,
         "the Lambda service refusing the call"},
        {{.kind = BR_RES_FUNCTION_ERROR, .not_run = true}, false,
         "a worker gone before it took the event"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_MSG(br_result_reached(&cases[i].res) == cases[i].want, "%s", cases[i].what);
}

int main(void)
{
    test_reached();
    test_http_status();
    batch_create();
    test_partial();
    test_invalid();
    test_not_invalid();
    test_invalid_why_small_buffer();
    batch_free();
    test_partial_large();
    test_partial_mqtt();
    test_partial_mqtt_big_sequence();
    return UNIT_DONE("outcome");
}
