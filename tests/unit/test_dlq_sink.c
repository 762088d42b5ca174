/* test_dlq_sink.c - the dead-letter sink interface without a broker: the
 * backoff, the line mqtt and http send (the file's, without its newline),
 * a sink that fails then recovers driven through the runner (nothing
 * acked, the source held, the streak and the observe block), and the
 * config errors of dead_letter that `check` reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bridge/dlq_sink.h"
#include "scripted.h"

static char dir[] = "/tmp/fnbridge-test-dlq-sink-XXXXXX";

/* A sink whose writes fail while fails_left > 0; it keeps the last line. */
static int fails_left, writes;
static struct br_buf last_line;

static int fake_init(struct br_sink *sk, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    sk->where = "fake sink";
    return 0;
}

static int fake_write(struct br_sink *sk, const struct br_dlq_item *item, char *err,
                      size_t errlen)
{
    (void)sk;
    writes++;
    if (fails_left > 0) {
        fails_left--;
        snprintf(err, errlen, "the fake sink is down");
        return -1;
    }
    return br_dlq_item_line(&last_line, item);
}

static const struct br_sink_ops fake_ops = {
    .name = "fake", .init = fake_init, .write = fake_write,
};

static void test_backoff(void)
{
    CHECK_INT(br_dlq_sink_backoff_ms(1), 500);
    CHECK_INT(br_dlq_sink_backoff_ms(2), 1000);
    CHECK_INT(br_dlq_sink_backoff_ms(4), 4000);
    CHECK_INT(br_dlq_sink_backoff_ms(7), 30000);
    CHECK_INT(br_dlq_sink_backoff_ms(1000), 30000);
}

static struct br_config *write_config(void)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/c.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "state_dir: %s/state\npipelines:\n"
               "  - name: p\n"
               "    source: {kafka: {brokers: 127.0.0.1:1, topics: [t], group_id: g}}\n"
               "    function: {http: {url: \"http://127.0.0.1:1/\"}}\n"
               "    batch: {max_records: 10, max_wait: 0ms}\n"
               "    retry: {max_attempts: 1, bisect_on_error: false}\n"
               "    dead_letter: {file: {path: %s/p.dlq}}\n", dir, dir);
    fclose(f);
    return load_test_config(path);
}

/* The failed batch is held, unacked, while the sink fails; the source is
 * held paused; after the backoff one retry goes and, once it succeeds,
 * everything settles and the hold is lifted. */
static void test_failing_sink_holds_until_it_recovers(struct br_pipeline *pl)
{
    char err[256];
    br_dlq_sink_close(pl->dlq);
    pl->dlq = br_dlq_sink_open(pl, &fake_ops, NULL, err, sizeof(err));
    struct acks a = {0};
    int64_t t0 = br_now_ms();
    fails_left = 2;
    feed(pl, 0, 0, 3, 10);
    br_runner_pump(pl->runner, t0);
    answer(BR_RES_PERMANENT, 400, -1, NULL);
    take_acks(pl, &a);
    CHECK_INT(a.dead, 0);
    CHECK_INT(writes, 1);
    CHECK(atomic_load(&pl->hold) & BR_HOLD_SINK);
    CHECK_INT(atomic_load(&pl->obs.sink_state), BR_SINK_FAILING);
    CHECK_INT(atomic_load(&pl->obs.sink_failures), 1);
    char why[256];
    br_observe_sink_last_error(&pl->obs, why, sizeof(why));
    CHECK_MSG(strcmp(why, "the fake sink is down") == 0, "sink error %s", why);
    br_runner_pump(pl->runner, t0 + 100);          /* before the backoff: no try */
    CHECK_INT(writes, 1);
    CHECK(br_runner_next_due(pl->runner, t0 + 100) > 0);
    br_runner_pump(pl->runner, br_now_ms() + 600); /* 500 ms: tried, fails */
    CHECK_INT(writes, 2);
    CHECK_INT(br_dlq_sink_streak(pl->dlq), 2);
    br_runner_pump(pl->runner, br_now_ms() + 1700); /* 1 s after that: succeeds */
    CHECK_INT(writes, 3);
    take_acks(pl, &a);
    CHECK_INT(a.dead, 3);
    CHECK(!(atomic_load(&pl->hold) & BR_HOLD_SINK));
    CHECK_INT(atomic_load(&pl->obs.sink_state), BR_SINK_OK);
    CHECK_INT(atomic_load(&pl->stats.dead_lettered), 3);
}

/* What mqtt and http send is the file's line: strict JSON, no newline. */
static void test_line_is_the_files(void)
{
    CHECK(last_line.len > 0 && last_line.data[last_line.len - 1] == '}');
    json_error_t e;
    json_t *line = json_loadb(last_line.data, last_line.len, JSON_REJECT_DUPLICATES, &e);
    CHECK_MSG(line != NULL, "not JSON: %s", e.text);
    CHECK_STR(json_string_value(json_object_get(json_object_get(line, "requestContext"),
                                                "condition")), "NonRetryableError");
    CHECK_STR(json_string_value(json_object_get(line, "pipeline")), "p");
    CHECK(json_object_get(line, "payload") && json_is_object(json_object_get(line, "payload")));
    json_decref(line);
}

/* dead_letter's errors, located. */
static void check_error(const char *dead_letter, const char *source, const char *want)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/bad.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "pipelines:\n  - name: p\n    source: %s\n"
               "    function: {http: {url: \"http://127.0.0.1:1/\"}}\n"
               "    dead_letter: %s\n", source, dead_letter);
    fclose(f);
    struct br_errors errs = {.file = path};
    struct br_config *cfg = br_config_load(path, &errs);
    char text[1024] = "";
    if (cfg) {
        br_pipeline_check(cfg, &cfg->pipelines[0], text, sizeof(text));
        br_config_free(cfg);
    } else if (errs.n) {
        FILE *m = fmemopen(text, sizeof(text), "w");
        br_errors_print(&errs, m);
        fclose(m);
    }
    CHECK_MSG(strstr(text, want) != NULL, "dead_letter %s: got %s, want %s", dead_letter,
              text, want);
    br_errors_free(&errs);
}

static void test_config_errors(void)
{
    const char *kafka = "{kafka: {brokers: 127.0.0.1:1, topics: [t], group_id: g}}";
    const char *mqtt = "{mqtt: {url: \"mqtt://127.0.0.1:1\", topics: [t]}}";
    check_error("{file: {path: /tmp/x}, http: {url: \"http://a/\"}}", kafka,
                ":5:41: pipelines[0].dead_letter: one sink per pipeline");
    check_error("{sqs: {}}", kafka, ":5:19: pipelines[0].dead_letter: unknown sink 'sqs'; "
                "known sinks: file, kafka, mqtt, http");
    check_error("{kafka: {topic: d}}", mqtt, "pipelines[0].dead_letter.kafka.brokers: "
                "missing required key 'brokers'");
    check_error("{kafka: {topic: d, librdkafka: {acks: 1}}}", kafka,
                ":5:19: pipelines[0].dead_letter.kafka: librdkafka property 'acks'");
    check_error("{kafka: {topic: d, librdkafka: {no.such.property: 1}}}", kafka,
                "librdkafka property 'no.such.property'");
    check_error("{mqtt: {url: \"tcp://x\", topic: d}}", kafka,
                "pipelines[0].dead_letter.mqtt.url: must start with mqtt://");
    check_error("{http: {url: \"http://a/\", timeout: 0s}}", kafka,
                "pipelines[0].dead_letter.http.timeout");
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    br_log_setup(BR_LOG_ERROR, BR_LOG_LOGFMT);
    br_buf_init(&last_line, 0);
    test_backoff();
    struct br_config *cfg = write_config();
    struct br_pipeline *pl = scripted_pipeline(cfg, "p");
    test_failing_sink_holds_until_it_recovers(pl);
    test_line_is_the_files();
    br_pipeline_destroy(pl);
    br_config_free(cfg);
    test_config_errors();
    br_buf_free(&last_line);
    return UNIT_DONE("dlq_sink");
}
