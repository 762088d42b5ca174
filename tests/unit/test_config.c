/* test_config.c - the config loader (config/node.c, opts.c, config.c):
 * a table of bad configs, each with the exact line:col, key path and
 * message expected; a config using every key; defaults; interpolation;
 * the alias-bomb budget; duration and size parsing. */
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bridge/log.h"
#include "bridge/config.h"
#include "config/secrets.h"
#include "connectors/kafka/source_kafka.h"
#include "connectors/exec/target_exec.h"
#include "connectors/http/target_http.h"
#include "unit.h"

#define SECRET "hunter2-s3cr3t-value"

/* A valid pipeline, for cases whose mistake lies elsewhere (4 lines). */
#define PIPE                                                                 \
    "pipelines:\n"                                                           \
    "  - name: orders\n"                                                     \
    "    source: {kafka: {brokers: \"k:9092\", topics: [t], group_id: g}}\n" \
    "    function: {http: {url: \"http://127.0.0.1:8080/fn\"}}\n"
/* The same, without the closing function line (3 lines), to add keys. */
#define PIPE_HEAD                                                            \
    "pipelines:\n"                                                           \
    "  - name: orders\n"                                                     \
    "    source: {kafka: {brokers: \"k:9092\", topics: [t], group_id: g}}\n"
#define FN "    function: {http: {url: \"http://127.0.0.1:8080/fn\"}}\n"
#define KAFKA_HEAD "pipelines:\n  - name: orders\n    source:\n      kafka:\n"

/* Writes text to a new temp file; returns its malloc'd path. */
static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/fnbridge-test-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        exit(1);
    }
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) {
        perror("write");
        exit(1);
    }
    close(fd);
    return path;
}

static char *errors_text(const struct br_errors *errs)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    br_errors_print(errs, f);
    fclose(f);
    return buf;
}

/* ------------------------------------------------------------ bad configs */

struct bad {
    const char *yaml;
    int line, col;
    const char *path;       /* exact */
    const char *msg;        /* substring */
    const char *forbid;     /* must not appear in the printed errors */
};

#define L16 "[[[[[[[[[[[[[[[["
#define A16 "AAAAAAAAAAAAAAAA"
#define A256 A16 A16 A16 A16 A16 A16 A16 A16 A16 A16 A16 A16 A16 A16 A16 A16
#define X256 A256
#define X4096 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 \
    X256 X256 X256 X256
#define START(v) KAFKA_HEAD "        brokers: \"k:9092\"\n        topics: [t]\n" \
    "        group_id: g\n        start: \"" v "\"\n" FN
#define Z16 "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"

static const struct bad bad_cases[] = {
    /* unknown keys */
    {"logg: {level: info}\n" PIPE, 1, 1, "",
     "unknown key 'logg'; did you mean 'log'?", NULL},
    {"state_dir: ./s\nwhatever: 1\n" PIPE, 2, 1, "",
     "unknown key 'whatever'; valid keys: state_dir, log, shutdown_timeout, "
     "pipelines", NULL},
    {PIPE "    batchh: {max_records: 5}\n", 5, 5, "pipelines[0]",
     "unknown key 'batchh'; did you mean 'batch'?", NULL},
    {KAFKA_HEAD "        brokers: \"k:9092\"\n        topics: [t]\n"
     "        group_id: g\n        bogus_option: 1\n" FN, 8, 9,
     "pipelines[0].source.kafka",
     "unknown key 'bogus_option'; valid keys: brokers, topics, group_id", NULL},
    {KAFKA_HEAD "        broker: \"k:9092\"\n        topics: [t]\n"
     "        group_id: g\n" FN, 5, 9, "pipelines[0].source.kafka",
     "did you mean 'brokers'?", NULL},
    {PIPE_HEAD FN "    batch: {max_recordz: 5}\n", 5, 13, "pipelines[0].batch",
     "unknown key 'max_recordz'; did you mean 'max_records'?", NULL},
    /* wrong types */
    {KAFKA_HEAD "        brokers: \"k:9092\"\n        topics: orders\n"
     "        group_id: g\n" FN, 6, 17, "pipelines[0].source.kafka.topics",
     "must be a list of strings", NULL},
    {PIPE "    batch: [1, 2]\n", 5, 12, "pipelines[0].batch",
     "must be a mapping", NULL},
    {PIPE "    concurrency: [4]\n", 5, 18, "pipelines[0].concurrency",
     "must be an integer, not a list", NULL},
    {PIPE "    retry: {bisect_on_error: yes}\n", 5, 30,
     "pipelines[0].retry.bisect_on_error", "must be true or false, got 'yes'", NULL},
    {PIPE "    batch: {max_records: 1.5}\n", 5, 26,
     "pipelines[0].batch.max_records", "must be an integer, got '1.5'", NULL},
    {PIPE "    name: [a]\n", 5, 5, "pipelines[0]", "duplicate key 'name'", NULL},
    {"state_dir: {a: 1}\n" PIPE, 1, 12, "state_dir",
     "must be a string, not a mapping", NULL},
    {KAFKA_HEAD "        brokers: \"k:9092\"\n        topics: [t]\n"
     "        group_id: g\n        librdkafka: {x: [1]}\n" FN, 8, 25,
     "pipelines[0].source.kafka.librdkafka.x",
     "must be a string, number or boolean", NULL},
    {"- a\n- b\n", 1, 1, "", "the config must be a mapping", NULL},
    /* out of range */
    {PIPE "    concurrency: 0\n", 5, 18, "pipelines[0].concurrency",
     "must be between 1 and 1024, got '0'", NULL},
    {PIPE "    batch: {max_records: 99999999999999999999}\n", 5, 26,
     "pipelines[0].batch.max_records", "must be between 1 and 10000", NULL},
    {PIPE "    batch: {max_wait: 16m}\n", 5, 23, "pipelines[0].batch.max_wait",
     "must be between 0s and 15m, got '16m'", NULL},
    {PIPE "    batch: {max_bytes: 100MiB}\n", 5, 24,
     "pipelines[0].batch.max_bytes", "must be between 1KiB and 64MiB", NULL},
    {PIPE "    max_inflight: {bytes: 17GiB}\n", 5, 27,
     "pipelines[0].max_inflight.bytes", "must be between 1KiB and 16GiB", NULL},
    {"shutdown_timeout: 2h\n" PIPE, 1, 19, "shutdown_timeout",
     "must be between 0s and 1h", NULL},
    {PIPE "    retry: {max_record_age: 500ms}\n", 5, 29,
     "pipelines[0].retry.max_record_age", "must be between 1s and 7d", NULL},
    {PIPE "    retry: {backoff: {multiplier: 0.5}}\n", 5, 35,
     "pipelines[0].retry.backoff.multiplier", "must be between 1 and 100", NULL},
    /* bad durations and sizes */
    {PIPE "    batch: {max_wait: 500}\n", 5, 23, "pipelines[0].batch.max_wait",
     "needs a unit: 250ms, 30s, 5m, 1h or 1d", NULL},
    {PIPE "    batch: {max_wait: 5 minutes}\n", 5, 23,
     "pipelines[0].batch.max_wait", "must be a duration such as 250ms", NULL},
    {PIPE "    batch: {max_bytes: 1XB}\n", 5, 24, "pipelines[0].batch.max_bytes",
     "must be a size such as 512KiB", NULL},
    /* missing required keys */
    {KAFKA_HEAD "        topics: [t]\n        group_id: g\n" FN, 5, 9,
     "pipelines[0].source.kafka.brokers", "missing required key 'brokers'", NULL},
    {PIPE_HEAD "    function: {http: {format: json}}\n", 4, 22,
     "pipelines[0].function.http.url", "missing required key 'url'", NULL},
    {"state_dir: ./s\n", 1, 1, "pipelines", "missing required key 'pipelines'", NULL},
    {"pipelines:\n  - source: {kafka: {brokers: \"k:9092\", topics: [t], "
     "group_id: g}}\n" FN, 2, 5, "pipelines[0].name",
     "missing required key 'name'", NULL},
    {"pipelines:\n  - name: x\n", 2, 5, "pipelines[0].source",
     "missing required key 'source'", NULL},
    {"pipelines: []\n", 1, 12, "pipelines", "must list at least one pipeline", NULL},
    {PIPE "    dead_letter: {file: {}}\n", 5, 25,
     "pipelines[0].dead_letter.file.path", "missing required key 'path'", NULL},
    {PIPE_HEAD "    function: {exec: {command: []}}\n", 4, 32,
     "pipelines[0].function.exec.command", "must not be empty", NULL},
    /* pipelines and connectors */
    {PIPE "  - name: orders\n"
     "    source: {kafka: {brokers: \"k:9092\", topics: [u], group_id: h}}\n" FN,
     5, 11, "pipelines[1].name",
     "duplicate pipeline name 'orders' (also used by pipelines[0] at line 2)", NULL},
    {"pipelines:\n  - name: orders pipeline\n"
     "    source: {kafka: {brokers: \"k:9092\", topics: [t], group_id: g}}\n" FN,
     2, 11, "pipelines[0].name", "must be 1 to 64 characters", NULL},
    {"pipelines:\n  - name: orders\n    source:\n      kafka: {brokers: "
     "\"k:9092\", topics: [t], group_id: g}\n      mqtt: {url: x}\n" FN,
     5, 7, "pipelines[0].source",
     "one source per pipeline, found kafka and mqtt", NULL},
    {"pipelines:\n  - name: orders\n    source: {sqs: {url: x}}\n" FN, 3, 14,
     "pipelines[0].source", "unknown source 'sqs'; known sources: kafka, mqtt", NULL},
    {"pipelines:\n  - name: orders\n    source: {mqtt: {url: x, topics: [a]}}\n" FN, 3, 26,
     "pipelines[0].source.mqtt.url", "must start with mqtt:// or mqtts://", NULL},
    {"pipelines:\n  - name: orders\n    source: {mqtt: {url: \"mqtt://h\", topics: [a], qos: 2}}\n" FN,
     3, 56, "pipelines[0].source.mqtt.qos", "must be between 0 and 1", NULL},
    {"pipelines:\n  - name: orders\n    source: {}\n" FN, 3, 13,
     "pipelines[0].source", "needs one source; known: kafka, mqtt", NULL},
    {PIPE_HEAD "    function: {knative: {url: f}}\n", 4, 16,
     "pipelines[0].function",
     "unknown function target 'knative'; known targets: http, exec, lambda, openfaas", NULL},
    /* enums and connector checks */
    {"log: {level: verbose}\n" PIPE, 1, 14, "log.level",
     "must be one of: debug, info, warn, error, got 'verbose'", NULL},
    {PIPE "    retry: {backoff: {jitter: half}}\n", 5, 31,
     "pipelines[0].retry.backoff.jitter", "must be one of: full, none", NULL},
    {KAFKA_HEAD "        brokers: \"k:9092\"\n        topics: [t]\n"
     "        group_id: g\n        start: yesterday\n" FN, 8, 16,
     "pipelines[0].source.kafka.start",
     "must be earliest, latest or timestamp:<unix-ms>", NULL},
    /* start: the timestamp must fit in an int64 (strtoll clamped it) */
    {START("timestamp:99999999999999999999"), 8, 16,
     "pipelines[0].source.kafka.start", "timestamp is too large", NULL},
    {START("timestamp:9223372036854775808"), 8, 16,
     "pipelines[0].source.kafka.start", "timestamp is too large", NULL},
    {START("timestamp:-1"), 8, 16, "pipelines[0].source.kafka.start",
     "timestamp must be a Unix time in milliseconds", NULL},
    {START("timestamp:12x"), 8, 16, "pipelines[0].source.kafka.start",
     "timestamp must be a Unix time in milliseconds", NULL},
    {START("timestamp: 12"), 8, 16, "pipelines[0].source.kafka.start",
     "timestamp must be a Unix time in milliseconds", NULL},
    {START("timestamp:"), 8, 16, "pipelines[0].source.kafka.start",
     "timestamp must be a Unix time in milliseconds", NULL},
    /* topics: a ^regex must compile as librdkafka compiles it */
    {KAFKA_HEAD "        brokers: \"k:9092\"\n        topics: [ok, \"^a(\"]\n"
     "        group_id: g\n" FN, 6, 22, "pipelines[0].source.kafka.topics[1]",
     "is not a valid regular expression (a topic starting with ^ is a POSIX "
     "extended regex to librdkafka): Unmatched ( or \\(", NULL},
    {KAFKA_HEAD "        brokers: \"k:9092\"\n        topics: [\"^x[\"]\n"
     "        group_id: g\n" FN, 6, 18, "pipelines[0].source.kafka.topics[0]",
     "is not a valid regular expression", NULL},
    {KAFKA_HEAD "        brokers: \"k:9092\"\n        topics: [\"^a{2,1}\"]\n"
     "        group_id: g\n" FN, 6, 18, "pipelines[0].source.kafka.topics[0]",
     "is not a valid regular expression", NULL},
    {PIPE_HEAD "    function: {http: {url: \"ftp://example.com/f\"}}\n", 4, 28,
     "pipelines[0].function.http.url", "must be an http:// or https:// URL", NULL},
    /* runtime-api: Lambda's reserved variables are not the env map's */
    {PIPE_HEAD "    function:\n      exec:\n        mode: runtime-api\n"
     "        command: [./bootstrap]\n"
     "        env: {TZ: Europe/Paris, LANG: C.UTF-8, AWS_REGION: eu-west-1}\n", 8, 48,
     "pipelines[0].function.exec.env.AWS_REGION",
     "AWS_REGION is reserved by Lambda: fnbridge sets it from `region`", NULL},
    {PIPE_HEAD "    function: {exec: {env: {_HANDLER: a.b}, command: [x], "
     "mode: runtime-api}}\n", 4, 29, "pipelines[0].function.exec.env._HANDLER",
     "_HANDLER is reserved by Lambda: fnbridge sets it from `handler`", NULL},
    {PIPE_HEAD "    function: {exec: {mode: runtime-api, command: [x],\n"
     "      env: {AWS_LAMBDA_LOG_STREAM_NAME: s}}}\n", 5, 13,
     "pipelines[0].function.exec.env.AWS_LAMBDA_LOG_STREAM_NAME",
     "AWS_LAMBDA_LOG_STREAM_NAME is reserved by Lambda", NULL},
    {PIPE_HEAD "    function: {exec: {mode: runtime-api, command: [x], region: \"eu west\"}}\n",
     4, 64, "pipelines[0].function.exec.region", "must be a region name", NULL},
    {PIPE_HEAD "    function: {exec: {mode: runtime-api, command: [x], runtime: \"node js\"}}\n",
     4, 65, "pipelines[0].function.exec.runtime", "must be a Lambda runtime identifier", NULL},
    /* cross-field checks */
    {PIPE "    retry: {backoff: {initial: 1m, max: 30s}}\n", 5, 32,
     "pipelines[0].retry.backoff.initial",
     "must not be longer than retry.backoff.max", NULL},
    {PIPE "    max_inflight: {records: 50}\n", 5, 29,
     "pipelines[0].max_inflight.records",
     "max_inflight.records (50) must be at least batch.max_records (100)", NULL},
    /* interpolation */
    {PIPE_HEAD "    function: {http: {url: \"${env:FNB_TEST_UNSET}\"}}\n", 4,
     28, "pipelines[0].function.http.url",
     "environment variable FNB_TEST_UNSET is not set", NULL},
    {"state_dir: ${file:/nonexistent/fnbridge/secret}\n" PIPE, 1, 12,
     "state_dir", "cannot read file /nonexistent/fnbridge/secret: No such "
     "file or directory", NULL},
    {"state_dir: \"${vault:kv/x}\"\n" PIPE, 1, 12, "state_dir",
     "unknown interpolation '${vault...}'", NULL},
    {"state_dir: \"${env:HOME\"\n" PIPE, 1, 12, "state_dir",
     "unterminated ${", NULL},
    {"state_dir: \"${env:1BAD}\"\n" PIPE, 1, 12, "state_dir",
     "invalid environment variable name", NULL},
    /* a name longer than the buffer was cut and the cut name looked up */
    {"state_dir: \"${env:" A256 "}\"\n" PIPE, 1, 12, "state_dir",
     "environment variable name in ${env:...} is longer than 255 characters",
     NULL},
    {"state_dir: \"${file:/" X4096 "}\"\n" PIPE, 1, 12, "state_dir",
     "the path in ${file:...} is longer than 4095 bytes", NULL},
    /* a device is never read (stdin, or a FIFO, would block) */
    {"state_dir: ${file:/dev/null}\n" PIPE, 1, 12, "state_dir",
     "cannot read file /dev/null: not a regular file", NULL},

    {"log: {level: \"${env:FNB_TEST_SECRET}\"}\n" PIPE, 1, 14, "log.level",
     "must be one of: debug, info, warn, error", SECRET},
    {PIPE_HEAD "    function: {http: {url: \"x${env:FNB_TEST_SECRET}\"}}\n", 4,
     28, "pipelines[0].function.http.url", "must be an http", SECRET},
    {PIPE "    concurrency: \"${env:FNB_TEST_SECRET}\"\n", 5, 18,
     "pipelines[0].concurrency", "must be an integer", SECRET},
    /* YAML itself */
    {"a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
     "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
     "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
     "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
     "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
     "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
     "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
     "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n", 6, 8, "f[0]",
     "document expands beyond 100000 nodes (alias bomb?)", NULL},
    {PIPE "    batch: {max_records: 5, max_records: 6}\n", 5, 29,
     "pipelines[0].batch", "duplicate key 'max_records' (first at line 5, "
     "column 13)", NULL},
    {"state_dir: a: b\n" PIPE, 1, 13, "",
     "invalid YAML: mapping values are not allowed in this context", NULL},
    {"pipelines: [\n", 2, 1, "", "invalid YAML: did not find expected node "
     "content (while parsing a flow node", NULL},
    {"", 1, 1, "", "the config file is empty", NULL},
    {"# only a comment\n", 1, 1, "", "the config file is empty", NULL},
    {PIPE "---\nstate_dir: x\n", 5, 1, "", "only one YAML document", NULL},
    {"base: &b {max_records: 5}\n" PIPE "    batch: {<<: *b}\n", 6, 13,
     "pipelines[0].batch", "merge keys (<<) are not supported", NULL},
    {PIPE "    batch: *nope\n", 5, 12, "pipelines[0].batch",
     "unknown anchor '*nope'", NULL},
    {"a: &a " L16 L16 L16 "[[[[[[[[[[[[x]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
     "]]]]]]]]]]]]]]]]]]]]\nb: [[[[[[[[[[[[*a]]]]]]]]]]]]\n", 2, 16,
     "b[0][0][0][0][0][0][0][0][0][0][0][0]",
     "nested deeper than 64 levels (through aliases)", NULL},
    {"state_dir: \"caf\xc3\xa9\"\nlog: \xff\n" PIPE, 2, 6, "",
     "invalid YAML: invalid leading UTF-8 octet", NULL},
    {"state_dir: x\n\tlog: {}\n" PIPE, 2, 1, "",
     "invalid YAML: found a tab character that violates indentation", NULL},
    /* 65 nested lists: the 65th '[' (column 12 + 64) is one too deep */
    {"state_dir: " L16 L16 L16 L16 "[\n", 1, 76,
     "state_dir" Z16 Z16 Z16 Z16, "nested deeper than 64 levels", NULL},
};

static bool has_error(const struct br_errors *errs, const struct bad *c)
{
    for (size_t i = 0; i < errs->n; i++) {
        const struct br_error *e = &errs->v[i];
        if (e->line == c->line && e->col == c->col &&
            strcmp(e->path, c->path) == 0 && strstr(e->message, c->msg))
            return true;
    }
    return false;
}

static void run_bad(size_t idx, const struct bad *c)
{
    char *path = write_temp(c->yaml);
    struct br_errors errs = {0};
    struct br_config *cfg = br_config_load(path, &errs);
    CHECK_MSG(cfg == NULL, "bad case %zu loaded", idx);
    CHECK_MSG(errs.n > 0, "bad case %zu: no errors", idx);
    char *text = errors_text(&errs);
    CHECK_MSG(has_error(&errs, c), "bad case %zu: want %d:%d: %s: %s\n"
              "got:\n%s", idx, c->line, c->col, c->path, c->msg, text);
    if (c->forbid)
        CHECK_MSG(!strstr(text, c->forbid), "bad case %zu: secret leaked:\n%s",
                  idx, text);
    free(text);
    br_config_free(cfg);
    br_errors_free(&errs);
    unlink(path);
    free(path);
}

static void test_bad_configs(void)
{
    setenv("FNB_TEST_SECRET", SECRET, 1);
    unsetenv("FNB_TEST_UNSET");
    size_t n = sizeof bad_cases / sizeof bad_cases[0];
    for (size_t i = 0; i < n; i++)
        run_bad(i, &bad_cases[i]);
}

/* The alias bomb is refused by the node budget, which bounds both work and
 * memory (no timing here: speed belongs to `make bench`). */
static void test_alias_bomb_is_refused(void)
{
    const struct bad *bomb = NULL;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
        if (strstr(bad_cases[i].msg, "alias bomb"))
            bomb = &bad_cases[i];
    struct br_errors errs = {0};
    struct br_node *root = br_node_load_string(bomb->yaml, strlen(bomb->yaml),
                                               &errs);
    CHECK(root == NULL);
    CHECK_INT(errs.n, 1);
    CHECK(errs.n == 1 && strstr(errs.v[0].message, "100000 nodes") != NULL);
    br_errors_free(&errs);
}

static void test_missing_file(void)
{
    struct br_errors errs = {0};
    CHECK(br_config_load("/nonexistent/fnbridge.yaml", &errs) == NULL);
    char *text = errors_text(&errs);
    CHECK_STR(text, "/nonexistent/fnbridge.yaml: cannot read the config "
                    "file: No such file or directory\n");
    free(text);
    br_errors_free(&errs);
}

/* All problems are reported, not only the first. */
static void test_collects_all_errors(void)
{
    char *path = write_temp("logg: 1\nshutdown_timeout: 5\n" PIPE
                            "    concurrency: 0\n"
                            "    batch: {max_wait: 1y}\n");
    struct br_errors errs = {0};
    CHECK(br_config_load(path, &errs) == NULL);
    CHECK_INT(errs.n, 4);
    br_errors_free(&errs);
    unlink(path);
    free(path);
}

static void test_errors_print(void)
{
    struct br_errors errs = {.file = "f.yaml"};
    br_errors_add_pos(&errs, 3, 7, "pipelines[0].batch", "must be %s", "x");
    br_errors_add_pos(&errs, 1, 1, "", "the config file is empty");
    char *text = errors_text(&errs);
    CHECK_STR(text, "f.yaml:3:7: pipelines[0].batch: must be x\n"
                    "f.yaml:1:1: the config file is empty\n");
    free(text);
    br_errors_free(&errs);
}

/* ------------------------------------------------------------ good configs */

static char *secret_file;     /* basename of a temp file next to the config */

static const char *good_yaml =
    "state_dir: /var/lib/fnbridge\n"
    "log: {level: debug, format: json}\n"
    "shutdown_timeout: 45s\n"
    "pipelines:\n"
    "  - name: orders.v2_main-1\n"
    "    source:\n"
    "      kafka:\n"
    "        brokers: \"k1:9092,k2:9092\"\n"
    "        topics: [orders, refunds]\n"
    "        group_id: fnbridge-orders\n"
    "        start: \"timestamp:1700000000000\"\n"
    "        ordering: key\n"
    "        librdkafka: {security.protocol: SASL_SSL,\n"
    "                     session.timeout.ms: 10000,\n"
    "                     enable.partition.eof: true}\n"
    "    batch: {max_records: 50, max_bytes: 2MiB, max_wait: 2s}\n"
    "    function:\n"
    "      http:\n"
    "        url: http://127.0.0.1:8080/function/orders\n"
    "        format: json\n"
    "        timeout: 10s\n"
    "        max_payload: 1MiB\n"
    "        headers:\n"
    "          Authorization: \"Bearer ${env:FNB_TEST_TOKEN}\"\n"
    "          X-Literal: \"$${not_interpolated}\"\n"
    "          X-Count: 3\n"
    "    concurrency: 16\n"
    "    max_inflight: {records: 500, bytes: 128MiB}\n"
    "    retry:\n"
    "      max_attempts: 7\n"
    "      backoff: {initial: 250ms, max: 1m, multiplier: 1.5, jitter: none}\n"
    "      max_record_age: 2h\n"
    "      bisect_on_error: false\n"
    "    dead_letter:\n"
    "      file: {path: ./state/dlq/orders.jsonl}\n"
    "  - name: local\n"
    "    source: {kafka: {brokers: \"localhost:9092\", topics: [t], "
    "group_id: g}}\n"
    "    function:\n"
    "      exec:\n"
    "        command: [python3, handler.py, \"--x=${env:FNB_TEST_UNSET:-dflt}\"]\n"
    "        env: {TABLE: orders, PASSWORD: \"${file:%s}\", RETRIES: 3}\n"
    "        cwd: /srv/fn\n";

static void check_kafka(const struct br_pipeline_conf *pl)
{
    CHECK_STR(pl->source_ops->name, "kafka");
    const struct kafka_options *k = pl->source_ctx;
    CHECK_STR(k->brokers, "k1:9092,k2:9092");
    CHECK_INT(k->topics.n, 2);
    CHECK_STR(k->topics.v[0], "orders");
    CHECK_STR(k->topics.v[1], "refunds");
    CHECK_STR(k->group_id, "fnbridge-orders");
    CHECK_STR(k->start, "timestamp:1700000000000");
    CHECK_INT(k->ordering, KAFKA_ORDER_KEY);
    CHECK_INT(k->librdkafka.n, 3);
    CHECK_STR(k->librdkafka.keys[0], "security.protocol");
    CHECK_STR(k->librdkafka.values[0], "SASL_SSL");
    CHECK_STR(k->librdkafka.keys[1], "session.timeout.ms");
    CHECK_STR(k->librdkafka.values[1], "10000");
    CHECK_STR(k->librdkafka.keys[2], "enable.partition.eof");
    CHECK_STR(k->librdkafka.values[2], "true");
}

static void check_http(const struct br_pipeline_conf *pl)
{
    CHECK_STR(pl->target_ops->name, "http");
    const struct http_options *h = pl->target_ctx;
    CHECK_STR(h->url, "http://127.0.0.1:8080/function/orders");
    CHECK_INT(h->common.format, 1);
    CHECK_INT(h->common.timeout_ms, 10000);
    CHECK_INT(h->common.max_payload, 1048576);
    CHECK_INT(h->headers.n, 3);
    CHECK_STR(h->headers.keys[0], "Authorization");
    CHECK_STR(h->headers.values[0], "Bearer tok-123");
    CHECK_STR(h->headers.keys[1], "X-Literal");
    CHECK_STR(h->headers.values[1], "${not_interpolated}");
    CHECK_STR(h->headers.keys[2], "X-Count");
    CHECK_STR(h->headers.values[2], "3");
}

static void check_core(const struct br_pipeline_conf *pl)
{
    CHECK_STR(pl->name, "orders.v2_main-1");
    CHECK_INT(pl->line, 5);
    CHECK_INT(pl->col, 5);
    CHECK_INT(pl->batch_max_records, 50);
    CHECK_INT(pl->batch_max_bytes, 2 * 1048576);
    CHECK_INT(pl->batch_max_wait_ms, 2000);
    CHECK_INT(pl->concurrency, 16);
    CHECK_INT(pl->inflight_max_records, 500);
    CHECK_INT(pl->inflight_max_bytes, 128 * 1048576);
    CHECK_INT(pl->retry_max_attempts, 7);
    CHECK_INT(pl->backoff_initial_ms, 250);
    CHECK_INT(pl->backoff_max_ms, 60000);
    CHECK(pl->backoff_multiplier == 1.5);
    CHECK_INT(pl->backoff_jitter, 1);
    CHECK_INT(pl->max_record_age_ms, 7200000);
    CHECK(pl->bisect_on_error == false);
    CHECK_STR(pl->dlq_file_path, "./state/dlq/orders.jsonl");
}

/* The second pipeline: exec target, and every core default. */
static void check_exec_and_defaults(const struct br_pipeline_conf *pl)
{
    CHECK_STR(pl->name, "local");
    CHECK_STR(pl->target_ops->name, "exec");
    const struct exec_options *x = pl->target_ctx;
    CHECK_INT(x->command.n, 3);
    CHECK_STR(x->command.v[0], "python3");
    CHECK_STR(x->command.v[1], "handler.py");
    CHECK_STR(x->command.v[2], "--x=dflt");
    CHECK_INT(x->mode, EXEC_MODE_STDIO);
    CHECK_INT(x->env.n, 3);
    CHECK_STR(x->env.keys[1], "PASSWORD");
    CHECK_STR(x->env.values[1], "file-secret");
    CHECK_STR(x->env.values[2], "3");
    CHECK_STR(x->cwd, "/srv/fn");
    CHECK_INT(x->common.format, -1);
    CHECK_INT(x->common.timeout_ms, 30000);
    CHECK_INT(x->common.max_payload, 6 * 1048576);
    CHECK_STR(x->region, "us-east-1");
    CHECK(x->runtime == NULL);
    const struct kafka_options *k = pl->source_ctx;
    CHECK_STR(k->start, "earliest");
    CHECK_INT(k->ordering, KAFKA_ORDER_PARTITION);
    CHECK_INT(k->librdkafka.n, 0);
    CHECK_INT(pl->batch_max_records, 100);
    CHECK_INT(pl->batch_max_bytes, 1048576);
    CHECK_INT(pl->batch_max_wait_ms, 500);
    CHECK_INT(pl->concurrency, 8);
    CHECK_INT(pl->inflight_max_records, 10000);
    CHECK_INT(pl->inflight_max_bytes, 64 * 1048576);
    CHECK_INT(pl->retry_max_attempts, 5);
    CHECK_INT(pl->backoff_initial_ms, 100);
    CHECK_INT(pl->backoff_max_ms, 30000);
    CHECK(pl->backoff_multiplier == 2.0);
    CHECK_INT(pl->backoff_jitter, 0);
    CHECK_INT(pl->max_record_age_ms, 3600000);
    CHECK(pl->bisect_on_error == true);
    CHECK(pl->dlq_file_path == NULL);
}

static void test_good_config(void)
{
    setenv("FNB_TEST_TOKEN", "tok-123", 1);
    unsetenv("FNB_TEST_UNSET");
    char *secret_path = write_temp("file-secret\n");
    secret_file = strrchr(secret_path, '/') + 1;   /* relative to the config */
    char yaml[4096];
    snprintf(yaml, sizeof yaml, good_yaml, secret_file);
    char *path = write_temp(yaml);
    struct br_errors errs = {0};
    struct br_config *cfg = br_config_load(path, &errs);
    char *text = errors_text(&errs);
    CHECK_MSG(cfg != NULL, "good config refused:\n%s", text);
    if (cfg) {
        CHECK_STR(cfg->path, path);
        CHECK_STR(cfg->state_dir, "/var/lib/fnbridge");
        CHECK_INT(cfg->log_level, BR_LOG_DEBUG);
        CHECK_INT(cfg->log_format, BR_LOG_JSON);
        CHECK_INT(cfg->shutdown_timeout_ms, 45000);
        CHECK_INT(cfg->n_pipelines, 2);
        check_core(&cfg->pipelines[0]);
        check_kafka(&cfg->pipelines[0]);
        check_http(&cfg->pipelines[0]);
        check_exec_and_defaults(&cfg->pipelines[1]);
        CHECK(br_config_pipeline(cfg, "local") == &cfg->pipelines[1]);
        CHECK(br_config_pipeline(cfg, "nope") == NULL);
    }
    free(text);
    br_config_free(cfg);
    br_errors_free(&errs);
    unlink(path);
    unlink(secret_path);
    free(path);
    free(secret_path);
}

static void test_top_level_defaults(void)
{
    /* null values keep the defaults, as if the keys were absent */
    char *path = write_temp("state_dir: ~\nshutdown_timeout:\nlog: {level: "
                            "null}\n" PIPE);
    struct br_errors errs = {0};
    struct br_config *cfg = br_config_load(path, &errs);
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK_STR(cfg->state_dir, "./state");
        CHECK_INT(cfg->log_level, 1);
        CHECK_INT(cfg->log_format, 0);
        CHECK_INT(cfg->shutdown_timeout_ms, 30000);
        CHECK_INT(cfg->n_pipelines, 1);
    }
    br_config_free(cfg);
    br_errors_free(&errs);
    unlink(path);
    free(path);
}

/* ------------------------------------------------------------ the disk */

/* What `run` needs of the filesystem, judged without creating anything
 * (br_config_check_paths). "@" in yaml and msg stands for a fresh temp
 * directory holding: file (a regular file), fifo, sd/dlq (a file where
 * the default dead-letter directory goes). */
struct disk_case {
    const char *yaml;          /* after "state_dir: ", before PIPE's lines */
    const char *extra;         /* appended to PIPE (pipeline keys) */
    int line, col;
    const char *path;          /* exact */
    const char *msg;           /* substring; NULL: no error at all */
};

static const struct disk_case disk_cases[] = {
    {"@/file", "", 1, 12, "state_dir", "@/file is not a directory"},
    {"@/file/sub", "", 1, 12, "state_dir",
     "cannot create @/file/sub: @/file is not a directory"},
    {"@/file/a/b/c", "", 1, 12, "state_dir",
     "cannot create @/file/a/b/c: @/file is not a directory"},
    {"@/fifo", "", 1, 12, "state_dir", "@/fifo is not a directory"},
    {"@/new/state", "    dead_letter: {file: {path: @/file/x/d.jsonl}}\n", 6, 32,
     "pipelines[0].dead_letter.file.path",
     "cannot create @/file/x/d.jsonl: @/file is not a directory"},
    {"@/new/state", "    dead_letter: {file: {path: @}}\n", 6, 32,
     "pipelines[0].dead_letter.file.path", "@ is a directory"},
    {"@/new/state", "    dead_letter: {file: {path: @/fifo}}\n", 6, 32,
     "pipelines[0].dead_letter.file.path", "@/fifo is not a regular file"},
    {"@/new/state", "    dead_letter: {file: {path: @/x/}}\n", 6, 32,
     "pipelines[0].dead_letter.file.path", "names a directory, not a file"},
    /* the default dead-letter file, STATE/dlq/NAME.jsonl */
    {"@/sd", "", 3, 5, "pipelines[0]", "the default dead-letter file (no "
     "dead_letter given): cannot create @/sd/dlq/orders.jsonl: @/sd/dlq is not a "
     "directory"},
    /* fine: what is missing can be made, what is there can be written */
    {"@/new/deeper/state", "    dead_letter: {file: {path: @/n2/x/d.jsonl}}\n",
     0, 0, NULL, NULL},
    {"@", "    dead_letter: {file: {path: @/file}}\n", 0, 0, NULL, NULL},
    {"@/new/./x/../state/", "", 0, 0, NULL, NULL},
};

/* s with every "@" replaced by dir; malloc'd. */
static char *subst_dir(const char *s, const char *dir)
{
    size_t n = 1;
    for (const char *c = s; *c; c++)
        n += *c == '@' ? strlen(dir) : 1;
    char *out = malloc(n), *o = out;
    for (const char *c = s; *c; c++) {
        if (*c == '@') {
            strcpy(o, dir);
            o += strlen(dir);
        } else {
            *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

static char *make_temp_dir(void)
{
    char *dir = strdup("/tmp/fnbridge-disk-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    return dir;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* Loads the config text (with "@" replaced) and runs the disk checks;
 * returns the printed errors (malloc'd; "" when none), or NULL when the
 * config did not load. */
static char *disk_errors(const char *yaml, const char *dir,
                         struct br_errors *errs)
{
    char *text = subst_dir(yaml, dir);
    char *path = write_temp(text);
    struct br_config *cfg = br_config_load(path, errs);
    char *printed = NULL;
    if (cfg) {
        br_config_check_paths(cfg, errs);
        printed = errors_text(errs);
    }
    br_config_free(cfg);
    unlink(path);
    free(path);
    free(text);
    return printed;
}

static void cleanup_disk_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_disk_checks(void)
{
    char *dir = make_temp_dir();
    char sd[512], fifo[512];
    write_file(dir, "file", "x");
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(sd, sizeof sd, "%s/sd", dir);
    CHECK(mkfifo(fifo, 0600) == 0 && mkdir(sd, 0700) == 0);
    write_file(dir, "sd/dlq", "not a directory");
    for (size_t i = 0; i < sizeof disk_cases / sizeof disk_cases[0]; i++) {
        const struct disk_case *c = &disk_cases[i];
        char yaml[1024];
        snprintf(yaml, sizeof yaml, "state_dir: %s\n" PIPE "%s", c->yaml,
                 c->extra);
        struct br_errors errs = {0};
        char *printed = disk_errors(yaml, dir, &errs);
        CHECK_MSG(printed != NULL, "disk case %zu: the config did not load", i);
        if (!c->msg) {
            CHECK_MSG(printed && errs.n == 0, "disk case %zu: want no error, "
                      "got:\n%s", i, printed ? printed : "");
        } else {
            char *msg = subst_dir(c->msg, dir);
            bool found = false;
            for (size_t j = 0; j < errs.n; j++)
                found |= errs.v[j].line == c->line && errs.v[j].col == c->col &&
                         strcmp(errs.v[j].path, c->path) == 0 &&
                         strstr(errs.v[j].message, msg) != NULL;
            CHECK_MSG(found && errs.n == 1, "disk case %zu: want %d:%d: %s: %s\n"
                      "got:\n%s", i, c->line, c->col, c->path, msg,
                      printed ? printed : "");
            free(msg);
        }
        free(printed);
        br_errors_free(&errs);
    }
    /* Nothing was created by looking. */
    char probe[512];
    snprintf(probe, sizeof probe, "%s/new", dir);
    CHECK_MSG(access(probe, F_OK) != 0, "checking created %s", probe);
    snprintf(probe, sizeof probe, "%s/n2", dir);
    CHECK_MSG(access(probe, F_OK) != 0, "checking created %s", probe);
    cleanup_disk_dir(dir);
    free(dir);
}

/* A state_dir from a secret: the error says what is wrong, not where. */
static void test_disk_check_keeps_secret_paths(void)
{
    char *dir = make_temp_dir();
    write_file(dir, "file", "x");
    char value[600];
    snprintf(value, sizeof value, "%s/file/" SECRET, dir);
    setenv("FNB_TEST_STATE", value, 1);
    struct br_errors errs = {0};
    char *printed = disk_errors("state_dir: ${env:FNB_TEST_STATE}\n" PIPE, dir,
                                &errs);
    CHECK(printed && errs.n == 1);
    CHECK_MSG(printed && strstr(printed, "state_dir: cannot be created: a parent "
                                "is not a directory"), "got %s", printed ? printed : "");
    CHECK_MSG(printed && !strstr(printed, SECRET) && !strstr(printed, dir),
              "secret path printed: %s", printed ? printed : "");
    free(printed);
    br_errors_free(&errs);
    unsetenv("FNB_TEST_STATE");
    cleanup_disk_dir(dir);
    free(dir);
}

/* Permissions: root writes anywhere, so as root the check runs in a child
 * that became nobody (65534), in a directory root owns (0755); as anyone
 * else, in a directory of their own made read-only (0555). Either way
 * `run` could not create state_dir there, so neither may `check`. */
static void test_disk_check_permissions(void)
{
    char *dir = make_temp_dir();
    char ro[512];
    snprintf(ro, sizeof ro, "%s/ro", dir);
    CHECK(mkdir(ro, 0700) == 0);
    write_file(dir, "ro/f.jsonl", "");
    bool root = geteuid() == 0;
    CHECK(chmod(dir, 0755) == 0 && chmod(ro, root ? 0755 : 0555) == 0);
    char f_path[600];
    snprintf(f_path, sizeof f_path, "%s/f.jsonl", ro);
    CHECK(chmod(f_path, root ? 0644 : 0444) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (root && (setgroups(0, NULL) < 0 || setgid(65534) < 0 ||
                     setuid(65534) < 0))
            _exit(3);
        struct br_errors errs = {0};
        char *printed = disk_errors(
            "state_dir: @/ro/state\n" PIPE
            "    dead_letter: {file: {path: @/ro/f.jsonl}}\n", dir, &errs);
        char *want1 = subst_dir("state_dir: cannot create @/ro/state: cannot "
                                "write in @/ro: Permission denied", dir);
        char *want2 = subst_dir("pipelines[0].dead_letter.file.path: cannot "
                                "write @/ro/f.jsonl: Permission denied", dir);
        bool ok = printed && errs.n == 2 && strstr(printed, want1) &&
                  strstr(printed, want2);
        if (!ok)
            fprintf(stderr, "FAIL permissions: got:\n%s", printed ? printed : "");
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "permission check as %s: status %d", root ? "nobody" : "owner",
              status);
    chmod(ro, 0700);
    cleanup_disk_dir(dir);
    free(dir);
}

/* ${file:FIFO} is refused at once: opening it would wait for a writer
 * (the alarm fails the test if it does). */
static void test_file_interp_refuses_a_fifo(void)
{
    char *dir = make_temp_dir();
    char fifo[512], yaml[700];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    snprintf(yaml, sizeof yaml, "state_dir: ${file:%s}\n" PIPE, fifo);
    alarm(20);
    struct br_errors errs = {0};
    CHECK(br_node_load_string(yaml, strlen(yaml), &errs) == NULL);
    alarm(0);
    char want[600];
    snprintf(want, sizeof want, "cannot read file %s: not a regular file", fifo);
    CHECK_MSG(errs.n == 1 && errs.v[0].line == 1 && errs.v[0].col == 12 &&
              strstr(errs.v[0].message, want), "got %zu errors: %s", errs.n,
              errs.n ? errs.v[0].message : "");
    br_errors_free(&errs);
    cleanup_disk_dir(dir);
    free(dir);
}

/* ------------------------------------------------------------ nodes */

static void test_nodes(void)
{
    setenv("FNB_TEST_TOKEN", "tok-123", 1);
    const char *y = "a: 1\nb: 'q'\nc:\nd: ~\ne: null\n"
                    "f: \"${env:FNB_TEST_TOKEN}\"\ng: ${env:FNB_TEST_UNSET:-x}\n"
                    "h: [x, {k: v}]\ni: a$b$${c}\nj: &j {z: 1}\nk: *j\n";
    unsetenv("FNB_TEST_UNSET");
    struct br_errors errs = {0};
    struct br_node *root = br_node_load_string(y, strlen(y), &errs);
    CHECK(root != NULL && root->type == BR_NODE_MAP && root->n == 11);
    if (!root)
        return;
    const struct br_node *n = br_node_get(root, "b");
    CHECK(n->quoted && !n->secret && n->line == 2 && n->col == 4);
    CHECK(root->keys[1]->line == 2 && root->keys[1]->col == 1);
    n = br_node_get(root, "c");
    CHECK(n->type == BR_NODE_SCALAR && !n->quoted && n->value[0] == '\0');
    CHECK_STR(br_node_get(root, "d")->value, "");
    CHECK_STR(br_node_get(root, "e")->value, "");
    n = br_node_get(root, "f");
    CHECK(n->secret && n->quoted);
    CHECK_STR(n->value, "tok-123");
    CHECK(br_node_get(root, "g")->secret);
    CHECK_STR(br_node_get(root, "g")->value, "x");
    n = br_node_get(root, "h");
    CHECK(n->type == BR_NODE_SEQ && n->n == 2 && n->items[1]->line == 8 &&
          n->items[1]->col == 8);
    CHECK_STR(br_node_get(n->items[1], "k")->value, "v");
    CHECK_STR(br_node_get(root, "i")->value, "a$b${c}");
    CHECK(!br_node_get(root, "i")->secret);
    n = br_node_get(root, "k");
    CHECK(n->type == BR_NODE_MAP && n->line == 11 && n->col == 4);
    CHECK_STR(br_node_get(n, "z")->value, "1");
    CHECK(br_node_get(root, "zz") == NULL);
    CHECK_INT(errs.n, 0);
    br_node_free(root);
    br_errors_free(&errs);
}

/* Aliases find the latest definition of their anchor. */
static void test_anchor_shadowing(void)
{
    const char *y = "a: &x 1\nb: *x\nc: &x [2]\nd: *x\ne: &y 3\nf: *y\n"
                    "g: *x\n";
    struct br_errors errs = {0};
    struct br_node *root = br_node_load_string(y, strlen(y), &errs);
    CHECK(root != NULL);
    if (!root)
        return;
    CHECK_STR(br_node_get(root, "b")->value, "1");
    const struct br_node *d = br_node_get(root, "d");
    CHECK(d->type == BR_NODE_SEQ && d->n == 1 &&
          strcmp(d->items[0]->value, "2") == 0);
    CHECK_STR(br_node_get(root, "f")->value, "3");
    CHECK(br_node_get(root, "g")->type == BR_NODE_SEQ);
    br_node_free(root);
    br_errors_free(&errs);
}

/* A 10 MB document of 49,000 anchors, each aliased once (98,002 nodes,
 * under the 100,000 budget): every alias gets its own anchor's text. The
 * anchors were a list searched from the end, so this took seconds; the
 * time is printed, not asserted (speed belongs to benchmarks). */
static void test_many_anchors(void)
{
    enum { N = 49000, PAD = 190 };
    size_t cap = (size_t)N * (PAD + 64) + 64, len = 0;
    char *y = malloc(cap), pad[PAD + 1];
    memset(pad, 'v', PAD);
    pad[PAD] = '\0';
    len += (size_t)snprintf(y + len, cap - len, "l:\n");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(y + len, cap - len, "  - &a%06d %s%d\n", i,
                                pad, i);
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(y + len, cap - len, "  - *a%06d\n", i);
    CHECK(len > 10 * 1000 * 1000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct br_errors errs = {0};
    struct br_node *root = br_node_load_string(y, len, &errs);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("many anchors: %zu bytes, %d anchors and aliases, loaded in "
           "%.3f s\n", len, N, (double)(t1.tv_sec - t0.tv_sec) +
                                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    CHECK_INT(errs.n, 0);
    const struct br_node *l = root ? br_node_get(root, "l") : NULL;
    CHECK(l && l->n == 2 * N);
    for (int i = 0; l && l->n == 2 * N && i < N; i++) {
        char want[PAD + 16];
        snprintf(want, sizeof want, "%s%d", pad, i);
        if (strcmp(l->items[N + i]->value, want) != 0) {
            CHECK_MSG(false, "alias %d got the wrong anchor", i);
            break;
        }
    }
    br_node_free(root);
    br_errors_free(&errs);
    free(y);
}

/* ------------------------------------------------------------ opts */

struct two_a { int64_t n; char *s; };
struct two_b { bool on; struct br_strlist l; };

static const struct br_opt two_a_opts[] = {
    {.name = "n", .type = BR_OPT_INT, .def = "7",
     .offset = offsetof(struct two_a, n)},
    {.name = "s", .type = BR_OPT_STR, .def = "dflt",
     .offset = offsetof(struct two_a, s)},
    {0},
};
static const struct br_opt two_b_opts[] = {
    {.name = "on", .type = BR_OPT_BOOL, .offset = offsetof(struct two_b, on)},
    {.name = "l", .type = BR_OPT_STRLIST, .offset = offsetof(struct two_b, l),
     .flags = BR_OPT_REQUIRED},
    {0},
};

static void test_opts_multi(void)
{
    const char *y = "s: given\non: true\nl: [p, q]\n";
    struct br_errors errs = {0};
    struct br_node *root = br_node_load_string(y, strlen(y), &errs);
    struct two_a a = {0};
    struct two_b b = {0};
    const struct br_opt *const tables[] = {two_a_opts, two_b_opts};
    void *const bases[] = {&a, &b};
    CHECK_INT(br_opts_apply_multi(tables, bases, 2, root, "x", &errs), 0);
    CHECK_INT(a.n, 7);
    CHECK_STR(a.s, "given");
    CHECK(b.on);
    CHECK(b.l.n == 2 && strcmp(b.l.v[1], "q") == 0);
    br_opts_free(two_a_opts, &a);
    br_opts_free(two_b_opts, &b);
    CHECK(a.s == NULL && b.l.v == NULL);
    /* NULL map: all defaults, and the missing required key is reported */
    CHECK_INT(br_opts_apply(two_b_opts, NULL, &b, "y", &errs), 1);
    CHECK_STR(errs.v[0].path, "y.l");
    br_opts_free(two_b_opts, &b);
    br_node_free(root);
    br_errors_free(&errs);
}

/* ------------------------------------------------------------ parsers */

struct parse_case {
    const char *text;
    int rc;
    int64_t want;
};

static const struct parse_case durations[] = {
    {"250ms", 0, 250}, {"30s", 0, 30000}, {"5m", 0, 300000},
    {"1h", 0, 3600000}, {"1d", 0, 86400000}, {"0s", 0, 0}, {"0ms", 0, 0},
    {"007s", 0, 7000}, {"106751991167d", 0, 106751991167LL * 86400000},
    {"", -1, 0}, {"5", -1, 0}, {"s", -1, 0}, {"-1s", -1, 0},
    {"1.5s", -1, 0}, {"5 s", -1, 0}, {" 5s", -1, 0}, {"5S", -1, 0},
    {"1w", -1, 0}, {"1sm", -1, 0}, {"99999999999999999999s", -1, 0},
    {"106751991168d", -1, 0}, {"9223372036854775807ms", 0, INT64_MAX},
};

static const struct parse_case sizes[] = {
    {"0", 0, 0}, {"100", 0, 100}, {"100B", 0, 100}, {"512KiB", 0, 524288},
    {"1MiB", 0, 1048576}, {"1GiB", 0, 1073741824}, {"1KB", 0, 1000},
    {"2MB", 0, 2000000}, {"1GB", 0, 1000000000},
    {"16GiB", 0, 17179869184LL}, {"", -1, 0}, {"1.5MiB", -1, 0},
    {"-1", -1, 0}, {"1kib", -1, 0}, {"MiB", -1, 0}, {"1 MiB", -1, 0},
    {"9223372036854775807GiB", -1, 0}, {"1TiB", -1, 0},
};

static void test_parsers(void)
{
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        int64_t v = -7;
        int rc = br_parse_duration(durations[i].text, &v);
        CHECK_MSG(rc == durations[i].rc, "duration '%s': rc %d",
                  durations[i].text, rc);
        if (rc == 0)
            CHECK_INT(v, durations[i].want);
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int64_t v = -7;
        int rc = br_parse_size(sizes[i].text, &v);
        CHECK_MSG(rc == sizes[i].rc, "size '%s': rc %d", sizes[i].text, rc);
        if (rc == 0)
            CHECK_INT(v, sizes[i].want);
    }
}


/* ------------------------------------------------------------ secrets */

static void check_mask(const char *text, const char *want)
{
    char *got = br_secrets_mask_dup(text);
    CHECK_MSG(got && strcmp(got, want) == 0, "mask '%s': got '%s', want '%s'", text,
              got ? got : "(null)", want);
    free(got);
}

/* What interpolation produced is printed as written; secret keys as ***;
 * URLs without userinfo and query (README, "What is never printed"). */
static void test_secrets_mask(void)
{
    br_secrets_clear();
    setenv("FNB_T_PW", "pa ss/w@rd", 1);
    setenv("FNB_T_BROKERS", "b1.example:9092,b2.example:9092", 1);
    setenv("FNB_T_SHORT", "ab", 1);
    unsetenv("FNB_T_UNSET");
    char *file = write_temp("from-a-file\n");
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "a: \"x-${env:FNB_T_PW}-y\"\n"
             "b: \"${env:FNB_T_UNSET:-dflt-value}\"\n"
             "c: \"${file:%s}\"\n"
             "d: \"${env:FNB_T_BROKERS}\"\n"
             "e: \"${env:FNB_T_SHORT}\"\n", file);
    struct br_errors errs = {.file = "t.yaml"};
    struct br_node *root = br_node_load_string(yaml, strlen(yaml), &errs);
    CHECK(root != NULL);
    br_node_free(root);
    br_errors_free(&errs);
    char want_file[300];
    snprintf(want_file, sizeof want_file, "read ${file:%s} ok", file);
    check_mask("pw pa ss/w@rd end", "pw ${env:FNB_T_PW} end");
    check_mask("enc pa%20ss%2Fw%40rd", "enc ${env:FNB_T_PW}");
    check_mask("default dflt-value", "default ${env:FNB_T_UNSET}");
    check_mask("read from-a-file ok", want_file);
    check_mask("thrd:b2.example:9092/bootstrap", "thrd:${env:FNB_T_BROKERS}/bootstrap");
    check_mask("ab", "${env:FNB_T_SHORT}");
    check_mask("tab absent", "tab absent");
    check_mask("to mqtt://u:p@host:1883 now", "to mqtt://***@host:1883 now");
    check_mask("'http://h/fn?k=v#f'", "'http://h/fn?***#f'");
    check_mask("http://h/p, no query", "http://h/p, no query");
    check_mask("mqtt://user:pa ss/w@rd@h", "mqtt://***@h");
    br_secrets_add("literal-pw", 10, NULL);
    check_mask("pw=literal-pw.", "pw=***.");
    CHECK(br_secret_key_name("sasl.password"));
    CHECK(br_secret_key_name("Authorization"));
    CHECK(br_secret_key_name("session_token"));
    CHECK(br_secret_key_name("ssl.key.pem"));
    CHECK(!br_secret_key_name("password_file"));
    CHECK(!br_secret_key_name("access_key"));
    CHECK(!br_secret_key_name("url"));
    unlink(file);
    free(file);
    br_secrets_clear();
}

/* Many secrets alike (one prefix, several lengths): each is found wherever
 * it stands, and the longest wins where one contains another. */
static void test_secrets_mask_many_alike(void)
{
    br_secrets_clear();
    char value[32], shown[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(value, sizeof value, "value%0*d", 4 + i % 5, i);
        snprintf(shown, sizeof shown, "<%d>", i);
        br_secrets_add(value, (size_t)n, shown);
    }
    br_secrets_add("valu", 4, "<short>");
    br_secrets_add("value0012345", 12, "<long>");
    /* i has 4 + i % 5 digits: value1235, value000017 */
    check_mask("a value1235 b value0012345c value000017 valu", "a <1235> b <long>c <17> <short>");
    check_mask("valuevalue1235", "<short>e<1235>");
    check_mask("nothing here", "nothing here");
    br_secrets_clear();
}

/* A secret holding a NUL (a ${file:} of binary content: an error, but its
 * text is registered first) is kept whole: registering it again compared
 * past a copy cut at the NUL (found by make fuzz, under ASan). */
static void test_secret_with_a_nul(void)
{
    br_secrets_clear();
    br_secrets_add("abc\0defgh", 9, "<nul>");
    br_secrets_add("abc\0defgh", 9, "<nul>");
    br_secrets_add("abc\0xyz", 7, "<other>");
    check_mask("x abc y", "x abc y");
    br_secrets_clear();
}

/* A key named as a secret is registered whatever its text. */
static void test_secret_keys_registered(void)
{
    br_secrets_clear();
    const char *yaml = KAFKA_HEAD
        "        {brokers: \"k:9092\", topics: [t], group_id: g,\n"
        "         librdkafka: {sasl.password: plain-pw-1}}\n"
        "    function: {http: {url: \"http://127.0.0.1:8080/fn\", "
        "headers: {Authorization: \"Bearer tok-9\"}}}\n";
    char *path = write_temp(yaml);
    struct br_errors errs = {.file = path};
    struct br_config *cfg = br_config_load(path, &errs);
    CHECK(cfg != NULL);
    check_mask("a plain-pw-1 b", "a *** b");
    check_mask("Bearer tok-9", "***");
    br_config_free(cfg);
    br_errors_free(&errs);
    unlink(path);
    free(path);
    br_secrets_clear();
}

/* What the env map may set: under runtime-api, the credentials and the
 * variables Lambda lets a function set; under stdio, anything (the
 * process is no Lambda function). */
static void test_exec_env_allowed(void)
{
    static const char *const functions[] = {
        "{exec: {mode: runtime-api, command: [x], env: {AWS_ACCESS_KEY_ID: a, "
        "AWS_SECRET_ACCESS_KEY: b, AWS_SESSION_TOKEN: c, TZ: \"Europe/Paris\", "
        "LANG: C.UTF-8, PATH: /bin, LD_LIBRARY_PATH: /opt/lib, NODE_PATH: /opt/n}}}",
        "{exec: {command: [x], env: {AWS_REGION: eu-west-1, _HANDLER: a.b, "
        "LAMBDA_TASK_ROOT: /srv}}}",
    };
    for (size_t i = 0; i < sizeof(functions) / sizeof(*functions); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml), PIPE_HEAD "    function: %s\n", functions[i]);
        char *path = write_temp(yaml);
        struct br_errors errs = {0};
        struct br_config *cfg = br_config_load(path, &errs);
        char *text = errors_text(&errs);
        CHECK_MSG(cfg != NULL, "function %zu refused:\n%s", i, text);
        free(text);
        br_config_free(cfg);
        br_errors_free(&errs);
        unlink(path);
        free(path);
    }
}

/* ------------------------------------------------ circuit breaker, rate limit */

static const struct bad limit_cases[] = {
    {PIPE "    circuit_breaker: {failures: 0, cooldown: 1s}\n", 5, 33,
     "pipelines[0].circuit_breaker.failures", "must be between 1 and 1000000", NULL},
    {PIPE "    circuit_breaker: {failures: 3}\n", 5, 22,
     "pipelines[0].circuit_breaker.cooldown", "missing required key 'cooldown'", NULL},
    {PIPE "    circuit_breaker: {failures: 3, cooldown: 30}\n", 5, 46,
     "pipelines[0].circuit_breaker.cooldown", "needs a unit", NULL},
    {PIPE "    circuit_breaker: {failures: 3, cooldown: 1s, half: 1}\n", 5, 50,
     "pipelines[0].circuit_breaker", "unknown key 'half'", NULL},
    {PIPE "    circuit_breaker: 3\n", 5, 22, "pipelines[0].circuit_breaker",
     "must be a mapping", NULL},
    {PIPE "    rate_limit: {invocations_per_second: 0}\n", 5, 42,
     "pipelines[0].rate_limit.invocations_per_second", "must be at least 0.000001", NULL},
    /* a rate so small its wait would overflow (review) */
    {PIPE "    rate_limit: {invocations_per_second: 1e-300}\n", 5, 42,
     "pipelines[0].rate_limit.invocations_per_second", "must be at least 0.000001", NULL},
    {PIPE "    rate_limit: {invocations_per_second: -2}\n", 5, 42,
     "pipelines[0].rate_limit.invocations_per_second", "must be between 0 and", NULL},
    {PIPE "    rate_limit: {invocations_per_second: fast}\n", 5, 42,
     "pipelines[0].rate_limit.invocations_per_second", "must be a number", NULL},
    {PIPE "    rate_limit: {burst: 5}\n", 5, 17, "pipelines[0].rate_limit."
     "invocations_per_second", "missing required key", NULL},
    {PIPE "    rate_limit: {invocations_per_second: 1, burst: 0}\n", 5, 52,
     "pipelines[0].rate_limit.burst", "must be between 1 and 1000000", NULL},
    /* a zero rate is found beside other errors of the pipeline */
    {PIPE "    concurrency: 0\n    rate_limit: {invocations_per_second: 0.0}\n", 6, 42,
     "pipelines[0].rate_limit.invocations_per_second", "must be at least 0.000001", NULL},
};

static const struct br_pipeline_conf *load_one(const char *yaml, struct br_config **cfg)
{
    char *path = write_temp(yaml);
    struct br_errors errs = {0};
    *cfg = br_config_load(path, &errs);
    CHECK_MSG(*cfg && errs.n == 0, "limits config refused:\n%s", yaml);
    br_errors_free(&errs);
    unlink(path);
    free(path);
    return *cfg ? &(*cfg)->pipelines[0] : NULL;
}

static void test_limits(void)
{
    for (size_t i = 0; i < sizeof limit_cases / sizeof limit_cases[0]; i++)
        run_bad(i, &limit_cases[i]);
    struct br_config *cfg;
    const struct br_pipeline_conf *pl = load_one(PIPE, &cfg);
    CHECK(pl && !pl->breaker_on && !pl->rate_limit_on);
    br_config_free(cfg);
    pl = load_one(PIPE "    circuit_breaker:\n    rate_limit:\n", &cfg);
    CHECK(pl && !pl->breaker_on && !pl->rate_limit_on);   /* null: not given */
    br_config_free(cfg);
    pl = load_one(PIPE "    circuit_breaker: {failures: 4, cooldown: 2s}\n"
                  "    rate_limit: {invocations_per_second: 0.5}\n", &cfg);
    CHECK(pl && pl->breaker_on && pl->rate_limit_on);
    if (pl) {
        CHECK_INT(pl->breaker_failures, 4);
        CHECK_INT(pl->breaker_cooldown_ms, 2000);
        CHECK(pl->rate_per_second == 0.5);
        CHECK_INT(pl->rate_burst, 1);
    }
    br_config_free(cfg);
}

int main(void)
{
    test_parsers();
    test_errors_print();
    test_nodes();
    test_anchor_shadowing();
    test_many_anchors();
    test_opts_multi();
    test_bad_configs();
    test_exec_env_allowed();
    test_alias_bomb_is_refused();
    test_collects_all_errors();
    test_missing_file();
    test_good_config();
    test_limits();
    test_top_level_defaults();
    test_secrets_mask();
    test_secrets_mask_many_alike();
    test_secret_with_a_nul();
    test_secret_keys_registered();
    test_disk_checks();
    test_disk_check_keeps_secret_paths();
    test_disk_check_permissions();
    test_file_interp_refuses_a_fifo();
    return UNIT_DONE("config");
}
