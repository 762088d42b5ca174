/* test_dlq_replay.c - replay's bookkeeping without a function: reading a
 * dead-letter line (the event's exact bytes, base64, null, the replay
 * count, the records it stands for, lines that are not dead letters),
 * the line written back (replayCount raised, every other member copied,
 * keys written with escapes too), hostile lines (a NUL byte, a replay
 * count that cannot be raised),
 * and the file input: a line cleared only by done(), cleared lines skipped
 * by the next run, lines appended after the start left for the next run,
 * compaction only when nothing was appended, the replay lock. */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/dlq_letter.h"
#include "bridge/dlq_replay_file.h"
#include "unit.h"

static char dir[] = "/tmp/fnbridge-test-dlq-replay-XXXXXX";

static const char *line_a =
    "{\"version\":\"1.0\",\"timestamp\":\"t\",\"requestContext\":{\"condition\":"
    "\"RetryAttemptsExhausted\"},\"pipeline\":\"orders\",\"source\":{\"type\":\"kafka\","
    "\"partitions\":[{\"topic\":\"o\",\"partition\":0,\"batchSize\":3},{\"topic\":\"o\","
    "\"partition\":1,\"batchSize\":2}]},\"extra\":[1, {\"k\":\"}\"}],"
    "\"payload\":{ \"records\" : [1,2.50,\"x\\\"}\"] }}";

static int parse(struct br_dlq_letter *l, const char *text, char *why)
{
    return br_dlq_letter_parse(l, strdup(text), strlen(text), why, 256);
}

static void test_parse(void)
{
    struct br_dlq_letter l;
    char why[256];
    CHECK(parse(&l, line_a, why) == 0);
    CHECK_STR(l.pipeline, "orders");
    CHECK_STR(l.condition, "RetryAttemptsExhausted");
    CHECK_INT(l.replay_count, 0);
    CHECK_INT(l.records, 5);
    const char *want = "{ \"records\" : [1,2.50,\"x\\\"}\"] }";
    CHECK(l.event_len == strlen(want) && !memcmp(l.event, want, l.event_len));
    br_dlq_letter_free(&l);

    CHECK(parse(&l, "{\"pipeline\":\"p\",\"replayCount\":2,\"source\":{\"keys\":[\"a\",\"b\"]},"
                    "\"payload\":\"AAF/gP8=\",\"payloadEncoding\":\"base64\"}", why) == 0);
    CHECK(l.event_len == 5 && !memcmp(l.event, "\x00\x01\x7f\x80\xff", 5) && l.base64);
    CHECK_INT(l.replay_count, 2);
    CHECK_INT(l.records, 2);
    br_dlq_letter_free(&l);

    CHECK(parse(&l, "{\"pipeline\":\"p\",\"payload\":null}", why) == 0);
    CHECK(l.event == NULL && l.event_len == 0 && l.records == 1);
    br_dlq_letter_free(&l);

    static const struct {
        const char *line, *why;
    } bad[] = {
        {"nonsense", "not a JSON object"},
        {"[1]", "not a JSON object"},
        {"{\"payload\":1}", "no \"pipeline\""},
        {"{\"pipeline\":\"p\"}", "no \"payload\""},
        {"{\"pipeline\":\"p\",\"payload\":1,\"replayCount\":-1}", "replayCount"},
        {"{\"pipeline\":\"p\",\"payload\":\"A\",\"payloadEncoding\":\"base64\"}", "base64"},
        {"{\"pipeline\":\"p\",\"payload\":1,\"payloadEncoding\":\"hex\"}", "payloadEncoding"},
        {"{\"pipeline\":\"p\",\"pipeline\":\"q\",\"payload\":1}", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_MSG(parse(&l, bad[i].line, why) < 0 && strstr(why, bad[i].why),
                  "%s: %s", bad[i].line, why);
        br_dlq_letter_free(&l);
    }
}

static void test_write_back(void)
{
    struct br_dlq_letter l, again;
    char why[256];
    CHECK(parse(&l, line_a, why) == 0);
    struct br_dlq_attempt a = {.function = "http://fn/", .condition = "RetryAttemptsExhausted",
                               .attempts = 2, .status = 500, .error = "HTTP 500",
                               .body = "{\"e\":1}", .body_len = 7};
    struct br_buf out;
    br_buf_init(&out, 0);
    CHECK(br_dlq_letter_write_back(&out, &l, &a) == 0);
    CHECK(out.len > 0 && out.data[out.len - 1] == '\n');
    char *text = strndup(out.data, out.len - 1);
    CHECK(parse(&again, text, why) == 0);
    free(text);
    CHECK_INT(again.replay_count, 1);
    CHECK_INT(again.records, 5);
    CHECK(again.event_len == l.event_len && !memcmp(again.event, l.event, l.event_len));
    json_t *rc = json_object_get(again.doc, "responseContext");
    CHECK_INT(json_integer_value(json_object_get(rc, "statusCode")), 500);
    CHECK_STR(json_string_value(json_object_get(rc, "body")), "{\"e\":1}");
    CHECK(json_equal(json_object_get(again.doc, "extra"), json_object_get(l.doc, "extra")));
    CHECK(json_equal(json_object_get(again.doc, "source"), json_object_get(l.doc, "source")));
    br_dlq_letter_free(&again);

    /* base64 stays base64, byte for byte; a binary answer goes as base64 */
    br_dlq_letter_free(&l);
    CHECK(parse(&l, "{\"pipeline\":\"p\",\"replayCount\":4,\"payload\":\"AAF/gP8=\","
                    "\"payloadEncoding\":\"base64\"}", why) == 0);
    a.body = "\xff\x00";
    a.body_len = 2;
    br_buf_reset(&out);
    CHECK(br_dlq_letter_write_back(&out, &l, &a) == 0);
    CHECK(strstr(out.data, "\"replayCount\":5,\"payload\":\"AAF/gP8=\",\"payloadEncoding\""));
    CHECK(strstr(out.data, "\"bodyEncoding\":\"base64\""));
    br_buf_free(&out);
    br_dlq_letter_free(&l);
}

/* Write-back of l after one failed attempt, parsed again into *again. */
static int write_back_again(const struct br_dlq_letter *l, struct br_dlq_letter *again,
                            struct br_buf *out)
{
    static const struct br_dlq_attempt a = {.function = "http://fn/",
                                            .condition = "RetryAttemptsExhausted",
                                            .attempts = 1, .status = 503};
    char why[256];
    br_buf_reset(out);
    if (br_dlq_letter_write_back(out, l, &a) < 0 || out->len == 0)
        return -1;
    int rc = br_dlq_letter_parse(again, strndup(out->data, out->len - 1), out->len - 1, why,
                                 sizeof(why));
    CHECK_MSG(rc == 0, "%s: %s", out->data, why);
    if (rc < 0)
        br_dlq_letter_free(again);
    return rc;
}

/* Regression: keys written with JSON escapes. They were escaped a second
 * time when copied ("k\"ey" became "k\\\"ey", another key), and a
 * rewritten member spelled with an escape ("replay\u0043ount") was
 * copied beside the new one: a duplicate key, so the line written back
 * was no dead letter any more. */
static void test_escaped_keys(void)
{
    static const char *line =
        "{\"pipeline\":\"p\",\"k\\\"ey\":1,\"a\\\\b\":[2],\"\\u00e9t\\u00e9\":\"\\n\","
        "\"\\/x\":{},\"replay\\u0043ount\":2,\"time\\u0073tamp\":\"old\","
        "\"p\\u0061yload\":{\"x\": 1}}";
    struct br_dlq_letter l, again;
    struct br_buf out;
    char why[256];
    br_buf_init(&out, 0);
    CHECK_MSG(parse(&l, line, why) == 0, "%s", why);
    CHECK_INT(l.replay_count, 2);
    const char *event = "{\"x\": 1}";           /* the payload's own bytes */
    CHECK(l.event_len == strlen(event) && !memcmp(l.event, event, l.event_len));
    if (write_back_again(&l, &again, &out) == 0) {
        CHECK_INT(again.replay_count, 3);
        CHECK(again.event_len == l.event_len && !memcmp(again.event, l.event, l.event_len));
        static const char *const kept[] = {"pipeline", "k\"ey", "a\\b", "\xc3\xa9t\xc3\xa9",
                                           "/x"};
        for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
            CHECK_MSG(json_equal(json_object_get(again.doc, kept[i]),
                                 json_object_get(l.doc, kept[i])), "member %s", kept[i]);
        CHECK(strcmp(json_string_value(json_object_get(again.doc, "timestamp")), "old"));
        CHECK_INT(json_object_size(again.doc), json_object_size(l.doc) + 3);
        br_dlq_letter_free(&again);
    }
    br_dlq_letter_free(&l);
    br_buf_free(&out);
}

/* Regression: a replayCount of INT64_MAX was taken, and raising it
 * overflowed (undefined; a negative count written back). The count is
 * bounded as the kafka sink's header is, and a letter at the bound is
 * written back at the bound (so its line parses again). */
static void test_replay_count_bound(void)
{
    struct br_dlq_letter l, again;
    struct br_buf out;
    char why[256];
    br_buf_init(&out, 0);
    CHECK(parse(&l, "{\"pipeline\":\"p\",\"replayCount\":9223372036854775807,"
                    "\"payload\":1}", why) < 0 && strstr(why, "replayCount"));
    br_dlq_letter_free(&l);
    CHECK(parse(&l, "{\"pipeline\":\"p\",\"replayCount\":1000000001,\"payload\":1}", why) < 0);
    br_dlq_letter_free(&l);
    CHECK(parse(&l, "{\"pipeline\":\"p\",\"replayCount\":999999999,\"payload\":1}", why) == 0);
    for (int i = 0; i < 2; i++) {
        if (write_back_again(&l, &again, &out) < 0)
            break;
        CHECK(strstr(out.data, "\"replayCount\":1000000000,"));
        br_dlq_letter_free(&l);
        l = again;
    }
    br_dlq_letter_free(&l);
    br_buf_free(&out);
}

/* Regression: jansson loads a line with a raw NUL byte after a token
 * ({"a":1<NUL>,...}); the line was replayed and written back with the
 * NUL in it. It is not JSON text: not a dead letter. */
static void test_nul_byte(void)
{
    static const char line[] =
        "{\"pipeline\":\"p\",\"replayCount\":1\0,\"payload\":{\"x\":2\0}}";
    struct br_dlq_letter l;
    char why[256];
    CHECK(br_dlq_letter_parse(&l, memcpy(malloc(sizeof(line) - 1), line, sizeof(line) - 1),
                              sizeof(line) - 1, why, sizeof(why)) < 0);
    CHECK_MSG(strstr(why, "a NUL byte at column 32"), "%s", why);
    br_dlq_letter_free(&l);
}

/* ------------------------------------------------------------ the file */

static char *path_in(const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static void put(const char *path, const char *text, const char *mode)
{
    FILE *f = fopen(path, mode);
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    static char buf[8192];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

static const char *L1 = "{\"pipeline\":\"p\",\"payload\":1}\n";
static const char *L2 = "{\"pipeline\":\"p\",\"payload\":2}\n";

static void test_file_input(void)
{
    char *path = path_in("p.jsonl"), err[512], msg[512];
    bool missing;
    struct br_dlq_input in, second;
    struct br_dlq_letter l;
    CHECK(br_dlq_file_input_open(&in, path, false, &missing, err, sizeof(err)) < 0 && missing);
    put(path, L1, "w");
    put(path, "junk\n", "a");
    put(path, L2, "a");
    CHECK(br_dlq_file_input_open(&in, path, false, &missing, err, sizeof(err)) == 0);
    CHECK(br_dlq_file_input_open(&second, path, false, &missing, err, sizeof(err)) < 0 &&
          strstr(err, "being replayed by another"));
    CHECK(br_dlq_file_input_open(&second, path, true, &missing, err, sizeof(err)) == 0);
    second.ops->close(second.impl);            /* a dry run takes no lock */
    put(path, L1, "a");                        /* after the start: next run */

    CHECK(in.ops->next(in.impl, &l, msg, sizeof(msg)) == BR_DLQ_LETTER);
    CHECK(strstr(in.ops->where(in.impl), "p.jsonl:1"));
    br_dlq_letter_free(&l);
    CHECK(in.ops->done(in.impl, err, sizeof(err)) == 0);
    CHECK(in.ops->next(in.impl, &l, msg, sizeof(msg)) == BR_DLQ_MALFORMED);
    CHECK(strstr(msg, "p.jsonl:2: not a JSON object"));
    CHECK(in.ops->next(in.impl, &l, msg, sizeof(msg)) == BR_DLQ_LETTER);
    br_dlq_letter_free(&l);                    /* not done: it stays */
    CHECK(in.ops->next(in.impl, &l, msg, sizeof(msg)) == BR_DLQ_END);
    CHECK(in.ops->finish(in.impl, err, sizeof(err)) == 0);
    in.ops->close(in.impl);

    char want[512];
    snprintf(want, sizeof(want), "%*s\njunk\n%s%s", (int)strlen(L1) - 1, "", L2, L1);
    CHECK_STR(slurp(path), want);              /* nothing cut: lines follow */

    /* The next run skips the cleared line; all done, the file is emptied
     * past the line that is not a dead letter. */
    CHECK(br_dlq_file_input_open(&in, path, false, &missing, err, sizeof(err)) == 0);
    CHECK(in.ops->next(in.impl, &l, msg, sizeof(msg)) == BR_DLQ_MALFORMED);
    CHECK(strstr(msg, "p.jsonl:2:"));
    for (int i = 0; i < 2; i++) {
        CHECK(in.ops->next(in.impl, &l, msg, sizeof(msg)) == BR_DLQ_LETTER);
        br_dlq_letter_free(&l);
        CHECK(in.ops->done(in.impl, err, sizeof(err)) == 0);
    }
    CHECK(in.ops->next(in.impl, &l, msg, sizeof(msg)) == BR_DLQ_END);
    CHECK(in.ops->finish(in.impl, err, sizeof(err)) == 0);
    in.ops->close(in.impl);
    snprintf(want, sizeof(want), "%*s\njunk\n", (int)strlen(L1) - 1, "");
    CHECK_STR(slurp(path), want);
    free(path);
}

static void test_output(void)
{
    char *live = path_in("sub/live.jsonl"), *parked = br_dlq_parked_path(live), err[512];
    char *lock = br_dlq_lock_path(live);
    CHECK(strstr(parked, "sub/live.parked.jsonl") != NULL);
    CHECK(strstr(lock, "sub/live.jsonl.replay.lock") != NULL);
    char *other = br_dlq_parked_path("x.txt");
    CHECK_STR(other, "x.txt.parked.jsonl");
    struct br_dlq_output out;
    struct br_dlq_letter l;
    char why[256];
    CHECK(br_dlq_file_output_open(&out, live, parked) == 0);
    CHECK(parse(&l, "{\"pipeline\":\"p\",\"payload\":[1]}", why) == 0);
    CHECK(out.ops->park(out.impl, &l, err, sizeof(err)) == 0);
    CHECK_STR(slurp(parked), "{\"pipeline\":\"p\",\"payload\":[1]}\n");
    struct br_dlq_attempt a = {.condition = "RetryAttemptsExhausted"};
    CHECK(out.ops->write_back(out.impl, &l, &a, err, sizeof(err)) == 0);
    CHECK(strstr(slurp(live), "\"statusCode\":null") &&
          strstr(slurp(live), "\"replayCount\":1,\"payload\":[1]}\n"));
    out.ops->close(out.impl);
    br_dlq_letter_free(&l);
    free(other);
    free(lock);
    free(parked);
    free(live);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    test_parse();
    test_write_back();
    test_escaped_keys();
    test_replay_count_bound();
    test_nul_byte();
    test_file_input();
    test_output();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return UNIT_DONE("dlq_replay");
}
