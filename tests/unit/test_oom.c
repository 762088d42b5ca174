/* test_oom.c - out of memory in the core must neither lose a record nor
 * let an offset be committed past one. The test binary is linked with
 * --wrap for malloc, calloc and realloc (see the Makefile), so it can fail
 * chosen allocations of our code; libc and the libraries are unaffected.
 * Same scripted target and harness as test_batcher.c, no threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/ackset.h"
#include "bridge/batch.h"
#include "bridge/runner.h"
#include "bridge/clock.h"
#include "bridge/log.h"
#include "bridge/pattern.h"
#include "bridge/pipeline.h"
#include "scripted.h"
#include "unit.h"

/* ------------------------------------------------------ failing allocator */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static int malloc_fail_in = -1;     /* calls to let pass first; -1: never fail */
static int calloc_fail_in = -1;
static size_t realloc_fail_from;    /* fail reallocs of this size or more; 0: none */

static bool due_to_fail(int *in)
{
    if (*in < 0)
        return false;
    if ((*in)-- > 0)
        return false;
    return true;                    /* now -1: only this call fails */
}

void *__wrap_malloc(size_t n)
{
    return due_to_fail(&malloc_fail_in) ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return due_to_fail(&calloc_fail_in) ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return realloc_fail_from && n >= realloc_fail_from ? NULL : __real_realloc(p, n);
}

/* ------------------------------------------------------------ harness */

static char dir[] = "/tmp/fnbridge-test-oom-XXXXXX";

static struct br_config *cfg;

static struct br_pipeline *make_pipeline(const char *name)
{
    return scripted_pipeline(cfg, name);
}

/* Lines of the dead-letter file that contain want; every line must be a
 * whole record, its payload included. */
static size_t dlq_lines(const char *name, const char *want)
{
    char path[256];
    static char line[1 << 18];
    snprintf(path, sizeof(path), "%s/%s.dlq", dir, name);
    FILE *f = fopen(path, "r");
    size_t n = 0;
    while (f && fgets(line, sizeof(line), f)) {
        n += strstr(line, want) != NULL;
        CHECK_MSG(strstr(line, "\"payload\":{\"eventSource\":") != NULL &&
                  !strcmp(line + strlen(line) - 3, "}}\n"),
                  "dlq line without its payload: %.300s", line);
    }
    if (f)
        fclose(f);
    return n;
}

static void write_config(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/t.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "state_dir: %s/state\nlog: {level: error}\npipelines:\n", dir);
    static const char *const pipes[][2] = {
        {"ordered", "batch: {max_records: 10, max_wait: 0ms}\n"
                    "    retry: {max_attempts: 3, backoff: {initial: 50ms, max: 50ms, jitter: none}}\n"},
        {"dlq", "batch: {max_records: 10, max_wait: 0ms}\n"
                "    retry: {max_attempts: 1, bisect_on_error: false}\n"},
    };
    for (size_t i = 0; i < sizeof(pipes) / sizeof(*pipes); i++)
        fprintf(f, "  - name: %s\n"
                   "    source: {kafka: {brokers: \"127.0.0.1:1\", topics: [t], group_id: g}}\n"
                   "    function: {http: {url: \"http://127.0.0.1:1/\", max_payload: 64KiB}}\n"
                   "    dead_letter: {file: {path: \"%s/%s.dlq\"}}\n"
                   "    %s",
                pipes[i][0], dir, pipes[i][0], pipes[i][1]);
    fclose(f);
    cfg = load_test_config(path);
}

/* ---------------------------------------------------------------- tests */

/* No memory for the batch: its records go back to their lanes (in order)
 * and are sent by the next pump; before, they were leaked and their lane
 * stayed busy for good, so the partition never committed again. */
static void test_batch_allocation_failure_keeps_the_records(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 0, 0, 3, 10);
    calloc_fail_in = 0;                    /* br_batch_create's calloc */
    br_runner_pump(pl->runner, br_now_ms());
    calloc_fail_in = -1;
    CHECK_INT(n_calls, 0);
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 1);
    CHECK_INT(n_calls ? calls[0]->n_recs : 0, 3);
    bool in_order = n_calls && calls[0]->n_recs == 3;
    for (size_t i = 0; in_order && i < 3; i++)
        in_order = calls[0]->recs[i]->offset == (int64_t)i;
    CHECK(in_order);
    answer(BR_RES_OK, 200, -1, NULL);
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 3);
}

/* A partial batch response while out of memory: with ordered partitions,
 * the records after the failed one must not count as done. */
static void test_partial_response_out_of_memory_keeps_partition_order(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 1, 0, 4, 10);
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 1);
    calloc_fail_in = 2;      /* handle_ok's flags, the id index, then mark_retry */
    answer(BR_RES_OK, 200, -1,
           "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"t-1\",\"offset\":1}}]}");
    calloc_fail_in = -1;
    take_acks(pl, &a);
    CHECK_MSG(a.delivered <= 1, "%zu delivered: offsets after the failed one among them",
              a.delivered);
    br_runner_pump(pl->runner, br_now_ms() + 60);
    CHECK_INT(n_calls, 1);
    CHECK_INT(n_calls ? (long long)calls[0]->n_recs : 0, (long long)(4 - a.delivered));
    answer(BR_RES_OK, 200, -1, NULL);
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 4);
}

/* Emitting a record the ackset cannot track (out of memory) must be
 * refused: an untracked record in flight would let the commit of a later
 * record of its partition pass it. */
static void test_emit_refuses_a_record_it_cannot_track(struct br_pipeline *pl)
{
    struct br_source *src = &pl->src;
    int shard = br_source_shard(src, "t", 5);
    CHECK(shard >= 0);
    struct br_record *r0 = make_record(5, 0, 10);
    malloc_fail_in = 0;                    /* the ackset ring for the shard */
    int rc = br_source_emit(src, shard, r0);
    malloc_fail_in = -1;
    CHECK_INT(rc, -1);
    CHECK_INT(pl->emitted.count, 0);
    CHECK_INT(br_source_inflight(src), 0);
    if (rc < 0)
        br_record_free(r0);
    /* Memory is back: the next record is tracked and commits normally. */
    struct br_record *r1 = make_record(5, 0, 10);
    CHECK_INT(br_source_emit(src, shard, r1), 0);
    CHECK_INT(pl->emitted.count, 1);
    br_record_list_pop(&pl->emitted);
    r1->settle = BR_SETTLE_DELIVERED;
    br_pipeline_ack(pl, &(struct br_record_list){.head = r1, .tail = r1, .count = 1,
                                                 .bytes = r1->size});
    br_source_service(src);
    CHECK_INT(br_ackset_commit_point(pl->ackset, shard), 1);
    CHECK_INT(br_source_inflight(src), 0);
}

/* The dead-letter line could not be built whole (out of memory): nothing
 * is acked and the write is tried again. Before, the line was written
 * without its payload ("payload":}) and the records acked as durable.
 * The payload now goes to the file from the event itself; what is built
 * in memory is the line's head (about 600 bytes here, in a buffer that
 * doubles from 64 bytes: failing reallocs from 512 bytes fails it). */
static void test_dead_letter_line_out_of_memory_is_retried(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 0, 0, 4, 2000);               /* an event of about 11 KB */
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 1);
    realloc_fail_from = 512;               /* the line's head */
    answer(BR_RES_PERMANENT, 400, -1, NULL);
    realloc_fail_from = 0;
    take_acks(pl, &a);
    CHECK_INT(a.dead, 0);
    CHECK_INT(dlq_lines("dlq", "NonRetryableError"), 0);
    br_runner_pump(pl->runner, br_now_ms() + 1100);
    take_acks(pl, &a);
    CHECK_INT(a.dead, 4);
    CHECK_INT(dlq_lines("dlq", "NonRetryableError"), 1);
}

/* The same when the event of an oversized record cannot be encoded for
 * its dead-letter line: it was written with "payload":null and acked. */
static void test_dead_letter_event_out_of_memory_is_retried(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 1, 0, 1, 70000);              /* more than max_payload */
    realloc_fail_from = 8192;
    br_runner_pump(pl->runner, br_now_ms());
    realloc_fail_from = 0;
    CHECK_INT(n_calls, 0);
    take_acks(pl, &a);
    CHECK_INT(a.dead, 0);
    br_runner_pump(pl->runner, br_now_ms() + 1100);
    take_acks(pl, &a);
    CHECK_INT(a.dead, 1);
    CHECK_INT(dlq_lines("dlq", "\"MaximumPayloadSizeExceeded\",\"approximateInvokeCount\":0"), 1);
}

/* A pattern compiled while one of its allocations fails: refused with
 * "out of memory" (nothing else), or compiled when that allocation was
 * not needed, and leak-free either way (ASan). Its wildcards, $or and
 * fields under an array reach every allocation of the compiler. */
static void compile_failing(int *in, int k, const char *text, int *refused)
{
    char err[128] = "";
    *in = k;
    struct br_pattern *p = br_pattern_compile(text, strlen(text), err, sizeof err);
    *in = -1;
    CHECK_MSG(p || strcmp(err, "out of memory") == 0, "allocation %d: %s", k, err);
    *refused += !p;
    static const char ev[] = "{\"r\": [{\"a\": \"xy\", \"b\": 2}]}";
    if (p)
        CHECK(br_pattern_match_text(p, ev, sizeof ev - 1, NULL, 0) == 1);
    br_pattern_free(p);
}

static void test_pattern_compile_out_of_memory(void)
{
    static const char text[] =
        "{\"r\": {\"a\": [{\"wildcard\": \"x*\"}, \"z\"], \"b\": [2, {\"anything-but\": [3]}],"
        " \"$or\": [{\"c\": [{\"exists\": false}]}, {\"d\": [{\"prefix\": \"q\"}]}]}}";
    int refused = 0;
    for (int k = 0; k < 64; k++)
        compile_failing(&malloc_fail_in, k, text, &refused);
    CHECK(refused > 5);
    refused = 0;
    for (int k = 0; k < 16; k++)
        compile_failing(&calloc_fail_in, k, text, &refused);
    CHECK(refused > 2);
    for (size_t from = 8; from <= 4096; from *= 2) {
        char err[128] = "";
        realloc_fail_from = from;
        struct br_pattern *p = br_pattern_compile(text, strlen(text), err, sizeof err);
        realloc_fail_from = 0;
        CHECK_MSG(p || strcmp(err, "out of memory") == 0, "reallocs from %zu: %s", from, err);
        br_pattern_free(p);
    }
}

int main(void)
{
    test_pattern_compile_out_of_memory();
    if (!mkdtemp(dir))
        return 1;
    br_log_setup(BR_LOG_ERROR, BR_LOG_LOGFMT);
    write_config();
    struct br_pipeline *pl = make_pipeline("ordered");
    test_batch_allocation_failure_keeps_the_records(pl);
    test_partial_response_out_of_memory_keeps_partition_order(pl);
    test_emit_refuses_a_record_it_cannot_track(pl);
    br_pipeline_destroy(pl);
    pl = make_pipeline("dlq");
    test_dead_letter_line_out_of_memory_is_retried(pl);
    test_dead_letter_event_out_of_memory_is_retried(pl);
    br_pipeline_destroy(pl);
    br_config_free(cfg);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return UNIT_DONE("oom");
}
