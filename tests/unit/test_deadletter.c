/* test_deadletter.c - every dead-letter line loads with a strict JSON
 * parser (jansson without flags, and the RFC 8259 check the formats use),
 * whatever the function answered, whatever the event held and whatever
 * bytes the broker named its topics and keys with. Tables of hostile
 * inputs go through the real batcher, outcome logic and file sink, with a
 * scripted target answering; the line written is read back and decoded. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "bridge/batch.h"
#include "bridge/runner.h"
#include "bridge/clock.h"
#include "bridge/deadletter.h"
#include "bridge/dlq_sink.h"
#include "bridge/dlq_json.h"
#include "bridge/format.h"
#include "bridge/log.h"
#include "bridge/pipeline.h"
#include "scripted.h"
#include "unit.h"
#include "connectors/kafka/kafka_event.h"
#include "connectors/mqtt/mqtt_event.h"
#include "connectors/s3/s3_event.h"
#include "bridge/json_check.h"

static char dir[] = "/tmp/fnbridge-test-deadletter-XXXXXX";
static struct br_config *cfg;

/* ------------------------------------------------------------- helpers */

struct bytes {
    unsigned char *p;
    size_t n;
};

static struct bytes repeat(const char *unit, size_t unit_len, size_t n_bytes)
{
    struct bytes b = {malloc(n_bytes + 1), n_bytes};
    for (size_t i = 0; i < n_bytes; i++)
        b.p[i] = (unsigned char)unit[i % unit_len];
    return b;
}

/* `pad` ASCII bytes, then `tail` (tail_len bytes). */
static struct bytes padded(size_t pad, const char *tail, size_t tail_len)
{
    struct bytes b = {malloc(pad + tail_len + 1), pad + tail_len};
    memset(b.p, 'a', pad);
    memcpy(b.p + pad, tail, tail_len);
    return b;
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with padding; NULL (n 0) on a malformed text. */
static struct bytes unbase64(const char *s)
{
    size_t len = strlen(s);
    struct bytes out = {malloc(len / 4 * 3 + 1), 0};
    if (len % 4) {
        free(out.p);
        return (struct bytes){0};
    }
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++)
            v[k] = s[i + k] == '=' ? 0 : b64_value(s[i + k]);
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0) {
            free(out.p);
            return (struct bytes){0};
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out.p[out.n++] = (unsigned char)(w >> 16);
        if (s[i + 2] != '=')
            out.p[out.n++] = (unsigned char)(w >> 8);
        if (s[i + 3] != '=')
            out.p[out.n++] = (unsigned char)w;
    }
    return out;
}

static bool same(struct bytes a, const unsigned char *p, size_t n)
{
    return a.n == n && (n == 0 || memcmp(a.p, p, n) == 0);
}

static char *dlq_path(const char *name)
{
    static char path[300];
    snprintf(path, sizeof(path), "%s/%s.dlq", dir, name);
    return path;
}

/* The last line of the pipeline's dead-letter file, checked strictly and
 * parsed by jansson without flags (NULL, with a failed check, if not). */
static json_t *last_line(const char *name)
{
    FILE *f = fopen(dlq_path(name), "rb");
    if (!f) {
        CHECK_MSG(0, "no dead-letter file for %s", name);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *all = malloc((size_t)size + 1);
    size_t got = fread(all, 1, (size_t)size, f);
    fclose(f);
    all[got] = '\0';
    CHECK_MSG(got > 0 && all[got - 1] == '\n', "the file does not end with a line");
    size_t end = got ? got - 1 : 0, start = end;
    while (start > 0 && all[start - 1] != '\n')
        start--;
    const unsigned char *line = (const unsigned char *)all + start;
    CHECK_MSG(br_json_valid(line, end - start), "not strict JSON: %.300s", line);
    json_error_t err;
    json_t *j = json_loadb((const char *)line, end - start, 0, &err);
    CHECK_MSG(j != NULL, "jansson: %s at %d: %.300s", err.text, err.position, line);
    free(all);
    return j;
}

static const char *str_at(json_t *j, const char *a, const char *b)
{
    json_t *o = json_object_get(j, a);
    if (b)
        o = json_object_get(o, b);
    return json_string_value(o);
}

static struct br_record *record_with(const struct br_record_kind *kind, const char *topic,
                                     int64_t offset, const void *value, size_t value_len)
{
    struct br_record_init init = {.kind = kind, .topic = topic, .offset = offset,
                                  .timestamp_ms = 1, .timestamp_type = BR_TS_CREATE,
                                  .value = value, .value_len = value_len};
    struct br_record *rec = br_record_create(&init);
    rec->shard = 0;
    rec->received_ms = br_now_ms();
    return rec;
}

static void feed_one(struct br_pipeline *pl, struct br_record *rec)
{
    struct br_record_list l = {0};
    br_record_list_push(&l, rec);
    br_runner_intake(pl->runner, &l);
    br_runner_pump(pl->runner, br_now_ms());
}

/* Answers the pending invocation with a non-retryable status and body. */
static void answer_bytes(long status, const unsigned char *body, size_t len)
{
    CHECK_INT(n_calls, 1);
    if (!n_calls)
        return;
    struct br_invocation *inv = calls[0];
    n_calls = 0;
    inv->result.kind = BR_RES_PERMANENT;
    inv->result.status = status;
    inv->result.retry_after_ms = -1;
    inv->result.body = malloc(len + 1);
    memcpy(inv->result.body, body, len);
    inv->result.body[len] = '\0';
    inv->result.body_len = len;
    br_invocation_done(inv);
}

static void write_config(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/t.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "state_dir: %s/state\nlog: {level: error}\npipelines:\n", dir);
    static const char *const pipes[][2] = {{"lambda", "lambda"}, {"json", "json"},
                                           {"raw", "payload"}};
    for (size_t i = 0; i < sizeof(pipes) / sizeof(*pipes); i++)
        fprintf(f, "  - name: %s\n"
                   "    source: {kafka: {brokers: \"127.0.0.1:1\", topics: [t], group_id: g}}\n"
                   "    function: {http: {url: \"http://127.0.0.1:1/\", format: %s}}\n"
                   "    batch: {max_records: 1, max_wait: 0ms}\n"
                   "    retry: {max_attempts: 1, bisect_on_error: false}\n"
                   "    dead_letter: {file: {path: \"%s\"}}\n",
                pipes[i][0], pipes[i][1], dlq_path(pipes[i][0]));
    fclose(f);
    cfg = load_test_config(path);
}

/* ------------------------------------------------- the helpers' contract */

static void test_cut_keeps_whole_characters(void)
{
    static const struct {
        const char *name;
        size_t pad;              /* ASCII bytes before the tail */
        const char *tail;
        size_t max, want;
    } cases[] = {
        {"short: whole", 3, "\xC3\xA9", 4096, 5},
        {"ASCII at the limit", 4096, "b", 4096, 4096},
        {"2-byte char across the limit", 4095, "\xC3\xA9", 4096, 4095},
        {"2-byte char ending at the limit", 4094, "\xC3\xA9" "b", 4096, 4096},
        {"3-byte char, 1 byte kept", 4095, "\xE2\x82\xAC", 4096, 4095},
        {"3-byte char, 2 bytes kept", 4094, "\xE2\x82\xAC", 4096, 4094},
        {"4-byte char, 1 byte kept", 4095, "\xF0\x9F\x98\x80", 4096, 4095},
        {"4-byte char, 2 bytes kept", 4094, "\xF0\x9F\x98\x80", 4096, 4094},
        {"4-byte char, 3 bytes kept", 4093, "\xF0\x9F\x98\x80", 4096, 4093},
        {"continuation bytes only: cut at the limit", 4092, "\x80\x80\x80\x80\x80", 4096, 4096},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct bytes b = padded(cases[i].pad, cases[i].tail, strlen(cases[i].tail));
        size_t got = br_utf8_cut(b.p, b.n, cases[i].max);
        CHECK_MSG(got == cases[i].want, "%s: cut at %zu, want %zu", cases[i].name, got,
                  cases[i].want);
        free(b.p);
    }
}

static void test_text_and_embeddable_json(void)
{
    static const struct {
        const char *bytes;
        size_t len;
        bool text, embeddable;
    } cases[] = {
        {"plain", 5, true, false},
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14, true, false},
        {"nul\0inside", 10, false, false},
        {"\xC0\xAF", 2, false, false},                 /* overlong '/' */
        {"\xE0\x80\xAF", 3, false, false},             /* overlong, 3 bytes */
        {"\xED\xA0\x80", 3, false, false},             /* surrogate D800 */
        {"\xF4\x90\x80\x80", 4, false, false},         /* past U+10FFFF */
        {"\xFF\xFE", 2, false, false},
        {"\xC3", 1, false, false},                     /* cut sequence */
        {"{\"a\":[1,-2.5e3,\"x\"]}", 20, true, true},
        {"9223372036854775807", 19, true, true},
        {"9223372036854775808", 19, true, false},      /* jansson: too big */
        {"-9223372036854775809", 20, true, false},
        {"1e999", 5, true, false},                     /* real overflow */
        {"1e-999", 6, true, true},                     /* underflow is fine */
        {"\"a\\u0000b\"", 10, true, false},            /* jansson: NUL */
        {"\"a\\\\u0000b\"", 11, true, true},           /* an escaped backslash */
        {"{\"k\":NaN}", 9, true, false},
        {"{} trailing", 11, true, false},
        {"\"\\ud800\"", 8, true, false},               /* lone surrogate escape */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const unsigned char *p = (const unsigned char *)cases[i].bytes;
        CHECK_MSG(br_dlq_is_text(p, cases[i].len) == cases[i].text, "text? case %zu", i);
        CHECK_MSG(br_dlq_json_embeddable(p, cases[i].len) == cases[i].embeddable,
                  "embeddable? case %zu (%s)", i, cases[i].bytes);
    }
}

/* ------------------------------------------------------ the answer's body */

static void test_response_bodies(struct br_pipeline *pl)
{
    static const char *const multibyte[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"};
    struct body_case {
        const char *name;
        struct bytes body;
        bool text;               /* kept as a string, else base64 */
        size_t kept;             /* bytes of the body in the line */
    } cases[16];
    size_t n = 0;
    cases[n++] = (struct body_case){"binary", repeat("\x00\xFF\x80\x7F\xFE", 5, 3000), false, 3000};
    cases[n++] = (struct body_case){"NUL in text", padded(10, "\0after", 6), false, 16};
    cases[n++] = (struct body_case){"overlong", padded(10, "\xC0\xAF", 2), false, 12};
    cases[n++] = (struct body_case){"surrogate", padded(10, "\xED\xA0\x80", 3), false, 13};
    cases[n++] = (struct body_case){"Latin-1", padded(10, "caf\xE9", 4), false, 14};
    cases[n++] = (struct body_case){"long text", repeat("\xC3\xA9", 2, 10000), true, 4096};
    cases[n++] = (struct body_case){"JSON text", padded(0, "{\"error\":\"x\"}", 13), true, 13};
    /* A character cut by the 4 KiB limit: kept up to the character. */
    for (size_t m = 0; m < 3; m++) {
        size_t len = strlen(multibyte[m]);
        for (size_t in = 1; in < len; in++) {
            if (n == sizeof(cases) / sizeof(*cases))
                break;
            struct bytes b = padded(4096 - in, multibyte[m], len);
            cases[n++] = (struct body_case){"cut character", b, true, 4096 - in};
        }
    }
    for (size_t i = 0; i < n; i++) {
        feed_one(pl, record_with(&br_kind_kafka, "t", (int64_t)i, "{}", 2));
        answer_bytes(500, cases[i].body.p, cases[i].body.n);
        json_t *j = last_line("lambda");
        const char *body = str_at(j, "responseContext", "body");
        const char *enc = str_at(j, "responseContext", "bodyEncoding");
        CHECK_MSG(body != NULL, "%s: no body", cases[i].name);
        if (cases[i].text) {
            CHECK_MSG(!enc, "%s: text body marked %s", cases[i].name, enc);
            CHECK_MSG(body && strlen(body) == cases[i].kept &&
                          !memcmp(body, cases[i].body.p, cases[i].kept),
                      "%s: body of %zu bytes, want the first %zu", cases[i].name,
                      body ? strlen(body) : 0, cases[i].kept);
        } else {
            CHECK_MSG(enc && !strcmp(enc, "base64"), "%s: bodyEncoding %s", cases[i].name,
                      enc ? enc : "missing");
            struct bytes got = unbase64(body ? body : "");
            CHECK_MSG(same(got, cases[i].body.p, cases[i].kept), "%s: base64 body differs",
                      cases[i].name);
            free(got.p);
        }
        json_decref(j);
        free(cases[i].body.p);
    }
    struct acks a = {0};
    take_acks(pl, &a);
    CHECK_INT(a.dead, n);
}

/* ------------------------------------------------------------ the payload */

/* Events that are not loadable JSON: the payload format's raw bytes, and
 * json-format events embedding values jansson refuses. */
static void test_payloads(struct br_pipeline *raw, struct br_pipeline *json)
{
    static const struct {
        bool raw;
        const char *value;
        size_t len;
        bool embedded;           /* the payload is the event as JSON */
    } cases[] = {
        {true, "\xFF\xFE\x00binary", 9, false},
        {true, "plain text", 10, false},
        {true, "{\"ok\":true}", 11, true},
        {true, "{\"n\":99999999999999999999}", 26, false},
        {false, "{\"n\":1e999}", 11, false},
        {false, "{\"s\":\"a\\u0000b\"}", 16, false},
        {false, "{\"n\":12}", 8, true},
        {false, "\xC3\x28", 2, true},            /* not JSON: the event has it as base64 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct br_pipeline *pl = cases[i].raw ? raw : json;
        feed_one(pl, record_with(&br_kind_kafka, "t", (int64_t)i, cases[i].value, cases[i].len));
        answer_bytes(400, (const unsigned char *)"no", 2);
        json_t *j = last_line(cases[i].raw ? "raw" : "json");
        json_t *payload = json_object_get(j, "payload");
        const char *enc = str_at(j, "payloadEncoding", NULL);
        if (cases[i].embedded) {
            CHECK_MSG(json_is_object(payload) && !enc, "case %zu: payload not embedded", i);
        } else {
            CHECK_MSG(json_is_string(payload) && enc && !strcmp(enc, "base64"),
                      "case %zu: payload not base64", i);
            struct bytes got = unbase64(json_string_value(payload) ? json_string_value(payload) : "");
            /* raw: the event is the value; json: it holds the value */
            if (cases[i].raw)
                CHECK_MSG(same(got, (const unsigned char *)cases[i].value, cases[i].len),
                          "case %zu: payload bytes differ", i);
            else
                CHECK_MSG(got.n > cases[i].len, "case %zu: payload too short", i);
            free(got.p);
        }
        json_decref(j);
    }
    struct acks a = {0};
    take_acks(raw, &a);
    take_acks(json, &a);
    CHECK_INT(a.dead, sizeof(cases) / sizeof(*cases));
}

/* --------------------------------------------- coordinates and big records */

static void test_coordinates_that_are_not_text(struct br_pipeline *pl)
{
    static const char *const topics[] = {"plain", "bad\xFF\xFE", "sur\xED\xA0\x80",
                                         "ok \xE2\x82\xAC"};
    for (size_t i = 0; i < sizeof(topics) / sizeof(*topics); i++) {
        static const struct br_record_kind *const kinds[] = {&br_kind_kafka, &br_kind_mqtt,
                                                             &br_kind_s3};
        for (int k = 0; k < 3; k++) {
            const struct br_record_kind *kind = kinds[k];
            struct br_s3_meta meta = {.bucket = topics[i]};
            struct br_record rec = {.kind = kind, .topic = topics[i],
                                    .offset = 7, .value = (const unsigned char *)"v",
                                    .value_len = 1, .meta = kind == &br_kind_s3 ? &meta : NULL};
            CHECK_INT(br_dlq_sink_write_record(pl->dlq, &rec, "MaximumPayloadSizeExceeded"), 0);
            json_t *j = last_line("lambda");
            json_t *src = json_object_get(j, "source");
            bool text = br_dlq_is_text((const unsigned char *)topics[i], strlen(topics[i]));
            json_t *where = kind == &br_kind_s3 ? src : json_array_get(json_object_get(src, "partitions"), 0);
            const char *field = kind == &br_kind_s3 ? "bucket" : "topic";
            char b64_field[32];
            snprintf(b64_field, sizeof(b64_field), "%sBase64", field);
            const char *label = json_string_value(json_object_get(where, field));
            const char *exact = json_string_value(json_object_get(where, b64_field));
            CHECK_MSG(label != NULL, "kind %d topic %zu: no %s", k, i, field);
            if (text) {
                CHECK_MSG(label && !strcmp(label, topics[i]) && !exact,
                          "kind %d topic %zu: text label changed", k, i);
            } else {
                struct bytes got = unbase64(exact ? exact : "");
                CHECK_MSG(same(got, (const unsigned char *)topics[i], strlen(topics[i])),
                          "kind %d topic %zu: %s lost", k, i, b64_field);
                free(got.p);
            }
            if (kind == &br_kind_s3) {
                json_t *keys = json_object_get(src, "keysBase64");
                CHECK_MSG(text == (keys == NULL), "topic %zu: keysBase64 %s", i,
                          keys ? "present" : "missing");
            }
            json_decref(j);
        }
    }
}

/* A record too large for an event, written straight from its buffer: the
 * payload decodes to it exactly, whatever its length modulo 3 and across
 * several base64 slices. */
static void test_records_streamed_as_base64(struct br_pipeline *pl)
{
    static const size_t sizes[] = {0, 1, 2, 3, 49151, 49152, 49153, 300001};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
        struct bytes v = repeat("\x00\x01\xFF\x80payload", 11, sizes[i]);
        struct br_record rec = {.kind = &br_kind_mqtt, .topic = "big/one", .offset = 42,
                                .value = v.p, .value_len = v.n};
        CHECK_INT(br_dlq_sink_write_record(pl->dlq, &rec, "MaximumPayloadSizeExceeded"), 0);
        json_t *j = last_line("lambda");
        const char *payload = str_at(j, "payload", NULL);
        const char *enc = str_at(j, "payloadEncoding", NULL);
        CHECK_MSG(enc && !strcmp(enc, "base64"), "size %zu: payloadEncoding", sizes[i]);
        struct bytes got = unbase64(payload ? payload : "-");
        CHECK_MSG(same(got, v.p, v.n), "size %zu: payload differs", sizes[i]);
        json_t *ctx = json_object_get(j, "requestContext");
        CHECK_INT(json_integer_value(json_object_get(ctx, "approximateInvokeCount")), 0);
        CHECK_STR(json_string_value(json_object_get(ctx, "condition")), "MaximumPayloadSizeExceeded");
        json_t *part = json_array_get(json_object_get(json_object_get(j, "source"), "partitions"), 0);
        CHECK_INT(json_integer_value(json_object_get(part, "startOffset")), 42);
        free(got.p);
        free(v.p);
        json_decref(j);
    }
}

/* Two sinks on one file (pipelines sharing a dead-letter path), written
 * from two threads at once with records large enough to take many writes
 * each: every line is whole and strict JSON, none lost. */
struct writer {
    struct br_deadletter *dl;
    struct br_pipeline *pl;
    unsigned char fill;
    int failed;
};

#define SHARED_LINES 12
#define SHARED_SIZE (600 * 1024)

static void *write_many(void *arg)
{
    struct writer *w = arg;
    struct bytes v = repeat((const char *)&w->fill, 1, SHARED_SIZE);
    for (int i = 0; i < SHARED_LINES; i++) {
        struct br_record rec = {.kind = &br_kind_mqtt, .topic = "big/shared", .offset = i,
                                .value = v.p, .value_len = v.n};
        w->failed += br_deadletter_write_record(w->dl, w->pl, &rec,
                                                "MaximumPayloadSizeExceeded") != 0;
    }
    free(v.p);
    return NULL;
}

static void test_two_sinks_share_a_file(struct br_pipeline *pl)
{
    char *path = dlq_path("shared");
    char err[256];
    struct br_deadletter *a = br_deadletter_open(path, "a", err, sizeof err);
    struct br_deadletter *b = br_deadletter_open(path, "b", err, sizeof err);
    CHECK(a && b);
    struct writer wa = {a, pl, 'A', 0}, wb = {b, pl, 'B', 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, write_many, &wa);
    pthread_create(&tb, NULL, write_many, &wb);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_INT(wa.failed + wb.failed, 0);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int lines = 0, good = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (f && (n = getline(&line, &cap, f)) > 0) {
        lines++;
        json_error_t jerr;
        json_t *j = json_loadb(line, (size_t)n, 0, &jerr);
        const char *payload = j ? str_at(j, "payload", NULL) : NULL;
        struct bytes got = unbase64(payload ? payload : "-");
        good += j && got.n == SHARED_SIZE && (got.p[0] == 'A' || got.p[0] == 'B') &&
                got.p[SHARED_SIZE - 1] == got.p[0];
        free(got.p);
        json_decref(j);
    }
    CHECK_INT(lines, 2 * SHARED_LINES);
    CHECK_INT(good, 2 * SHARED_LINES);
    free(line);
    if (f)
        fclose(f);
    br_deadletter_close(a);
    br_deadletter_close(b);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    br_log_setup(BR_LOG_ERROR, BR_LOG_LOGFMT);
    (void)feed;                  /* scripted.h's: this test feeds its own */
    (void)answer;
    write_config();
    test_cut_keeps_whole_characters();
    test_text_and_embeddable_json();
    struct br_pipeline *lambda = scripted_pipeline(cfg, "lambda");
    struct br_pipeline *json = scripted_pipeline(cfg, "json");
    struct br_pipeline *raw = scripted_pipeline(cfg, "raw");
    test_response_bodies(lambda);
    test_payloads(raw, json);
    test_coordinates_that_are_not_text(lambda);
    test_records_streamed_as_base64(lambda);
    test_two_sinks_share_a_file(lambda);
    br_pipeline_destroy(raw);
    br_pipeline_destroy(json);
    br_pipeline_destroy(lambda);
    br_config_free(cfg);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return UNIT_DONE("deadletter");
}
