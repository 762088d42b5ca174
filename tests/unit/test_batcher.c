/* test_batcher.c - batch limits and the outcome contract, driven through
 * the real batcher and outcome logic with a scripted target (it records
 * each invocation; the test answers them: OK, retry, 429 + Retry-After,
 * non-retryable, partial batch responses). No threads: the test calls
 * intake and pump itself and reads the acks the source would get. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/batch.h"
#include "bridge/runner.h"
#include "bridge/clock.h"
#include "bridge/log.h"
#include "bridge/pipeline.h"
#include "scripted.h"
#include "unit.h"

static char dir[] = "/tmp/fnbridge-test-batcher-XXXXXX";

static struct br_config *cfg;

static struct br_pipeline *make_pipeline(const char *name)
{
    return scripted_pipeline(cfg, name);
}

static size_t dlq_lines(const char *name, const char *want_condition)
{
    char path[256], line[1 << 16];
    snprintf(path, sizeof(path), "%s/%s.dlq", dir, name);
    FILE *f = fopen(path, "r");
    size_t n = 0;
    while (f && fgets(line, sizeof(line), f)) {
        n++;
        CHECK_MSG(strstr(line, want_condition) != NULL, "dlq line lacks %s: %.200s",
                  want_condition, line);
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
        {"limits", "batch: {max_records: 10, max_bytes: 1KiB, max_wait: 10m}\n"
                   "    concurrency: 4\n"},
        {"retry", "batch: {max_records: 4, max_wait: 0ms}\n"
                  "    retry: {max_attempts: 2, backoff: {initial: 50ms, max: 50ms, jitter: none},"
                  " bisect_on_error: true}\n"},
        {"nobisect", "batch: {max_records: 4, max_wait: 0ms}\n"
                     "    retry: {max_attempts: 1, bisect_on_error: false}\n"},
        {"unordered", "batch: {max_records: 5, max_wait: 0ms}\n    concurrency: 3\n"},
    };
    for (size_t i = 0; i < sizeof(pipes) / sizeof(*pipes); i++)
        fprintf(f, "  - name: %s\n"
                   "    source: {kafka: {brokers: \"127.0.0.1:1\", topics: [t], group_id: g%s}}\n"
                   "    function: {http: {url: \"http://127.0.0.1:1/\", max_payload: 4KiB}}\n"
                   "    dead_letter: {file: {path: \"%s/%s.dlq\"}}\n"
                   "    %s",
                pipes[i][0], !strcmp(pipes[i][0], "unordered") ? ", ordering: none" : "",
                dir, pipes[i][0], pipes[i][1]);
    fclose(f);
    cfg = load_test_config(path);
}

/* ------------------------------------------------------------- limits */

static void test_max_records_and_max_wait(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 0, 0, 25, 10);
    int64_t now = br_now_ms();
    br_runner_pump(pl->runner, now);
    CHECK_INT(n_calls, 1);                   /* one batch per partition */
    CHECK_INT(calls[0]->n_recs, 10);
    answer(BR_RES_OK, 200, -1, NULL);
    br_runner_pump(pl->runner, now);
    CHECK_INT(n_calls, 1);
    CHECK_INT(n_calls ? calls[0]->n_recs : 0, 10);
    answer(BR_RES_OK, 200, -1, "{}");
    br_runner_pump(pl->runner, now);
    CHECK_INT(n_calls, 0);                   /* 5 left: waits for max_wait */
    int64_t due = br_runner_next_due(pl->runner, now);
    CHECK_MSG(due > 590000 && due <= 600000, "next due in %lld ms", (long long)due);
    br_runner_pump(pl->runner, now + 600001);
    CHECK_INT(n_calls, 1);
    CHECK_INT(n_calls ? calls[0]->n_recs : 0, 5);
    answer(BR_RES_OK, 200, -1, NULL);
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 25);
    bool in_order = true;
    for (size_t i = 0; i < a.delivered; i++)
        in_order &= a.offsets[i] == (int64_t)i;
    CHECK(in_order);
}

static void test_max_bytes(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 1, 0, 12, 200);                 /* 5 x 200 B fit in 1 KiB */
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 1);
    CHECK_INT(n_calls ? calls[0]->n_recs : 0, 5);
    while (n_calls) {
        answer(BR_RES_OK, 200, -1, NULL);
        br_runner_pump(pl->runner, br_now_ms() + 600001);
    }
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 12);
}

static void test_partitions_run_in_parallel(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 2, 0, 10, 10);
    feed(pl, 3, 0, 10, 10);
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 2);
    for (size_t i = 0; i < n_calls; i++) {
        bool one_partition = true;
        for (size_t j = 1; j < calls[i]->n_recs; j++)
            one_partition &= calls[i]->recs[j]->shard == calls[i]->recs[0]->shard;
        CHECK(one_partition);
    }
    answer(BR_RES_OK, 200, -1, NULL);
    answer(BR_RES_OK, 200, -1, NULL);
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 20);
}

static void test_oversized_record_is_dead_lettered(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 4, 0, 1, 5000);                 /* more than max_payload 4KiB */
    br_runner_pump(pl->runner, br_now_ms() + 600001);
    CHECK_INT(n_calls, 0);                   /* never sent */
    take_acks(pl, &a);
    CHECK_INT(a.dead, 1);
    CHECK_INT(dlq_lines("limits", "\"MaximumPayloadSizeExceeded\""), 1);
}

static void test_revoked_records_are_abandoned(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 5, 0, 3, 10);
    atomic_fetch_add(&pl->shard_gen[5], 1);
    atomic_fetch_add(&pl->revoke_epoch, 1);
    br_runner_pump(pl->runner, br_now_ms() + 600001);
    CHECK_INT(n_calls, 0);
    take_acks(pl, &a);
    CHECK_INT(a.abandoned, 3);
    CHECK_INT(a.delivered, 0);
}

/* ------------------------------------------------------------ outcomes */

static void test_retry_then_bisect_in_order(struct br_pipeline *pl)
{
    struct acks a = {0};
    int64_t now = br_now_ms();
    feed(pl, 0, 0, 4, 10);
    br_runner_pump(pl->runner, now);
    CHECK_INT(n_calls, 1);
    answer(BR_RES_RETRY, 503, -1, "busy");
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 0);                   /* backing off 50 ms */
    br_runner_pump(pl->runner, br_now_ms() + 60);
    CHECK_INT(n_calls, 1);                   /* attempt 2 */
    answer(BR_RES_FUNCTION_ERROR, 200, -1, NULL);
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 1);                   /* the first half only */
    CHECK_INT(n_calls ? calls[0]->n_recs : 0, 2);
    CHECK_INT(n_calls ? calls[0]->recs[0]->offset : -1, 0);
    answer(BR_RES_OK, 200, -1, NULL);
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 1);                   /* then the second half */
    CHECK_INT(n_calls ? calls[0]->recs[0]->offset : -1, 2);
    answer(BR_RES_OK, 200, -1, NULL);
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 4);
    CHECK(a.offsets[0] == 0 && a.offsets[1] == 1 && a.offsets[2] == 2 && a.offsets[3] == 3);
}

static void test_retry_after_is_honoured(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 1, 0, 1, 10);
    br_runner_pump(pl->runner, br_now_ms());
    answer(BR_RES_RETRY, 429, 5000, NULL);
    int64_t now = br_now_ms();
    br_runner_pump(pl->runner, now + 1000);
    CHECK_INT(n_calls, 0);                   /* backoff alone would be 50 ms */
    br_runner_pump(pl->runner, now + 5100);
    CHECK_INT(n_calls, 1);
    answer(BR_RES_OK, 200, -1, NULL);
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 1);
}

static void test_partial_failure_retries_the_rest_of_the_partition(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 2, 100, 4, 10);
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 1);
    answer(BR_RES_OK, 200, -1,
           "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"t-2\",\"offset\":102}}]}");
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 2);               /* 100 and 101 */
    br_runner_pump(pl->runner, br_now_ms() + 60);
    CHECK_INT(n_calls, 1);
    CHECK_INT(n_calls ? calls[0]->n_recs : 0, 2);   /* 102 and 103 */
    CHECK_INT(n_calls ? calls[0]->recs[0]->offset : -1, 102);
    answer(BR_RES_OK, 200, -1, "");
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 4);
}

static void test_unknown_item_fails_whole_batch(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 3, 0, 2, 10);
    br_runner_pump(pl->runner, br_now_ms());
    answer(BR_RES_OK, 200, -1,
           "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"t-3\",\"offset\":99}}]}");
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 0);
    br_runner_pump(pl->runner, br_now_ms() + 60);
    CHECK_INT(n_calls, 1);
    CHECK_INT(n_calls ? calls[0]->n_recs : 0, 2);
    answer(BR_RES_OK, 200, -1, NULL);
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 2);
}

static void test_non_retryable_goes_to_dead_letter(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 0, 0, 4, 10);
    br_runner_pump(pl->runner, br_now_ms());
    answer(BR_RES_PERMANENT, 400, -1, "bad request");
    br_runner_pump(pl->runner, br_now_ms() + 60000);
    CHECK_INT(n_calls, 0);
    take_acks(pl, &a);
    CHECK_INT(a.dead, 4);
    CHECK_INT(dlq_lines("nobisect", "\"NonRetryableError\",\"approximateInvokeCount\":1"), 1);
    feed(pl, 1, 0, 2, 10);
    br_runner_pump(pl->runner, br_now_ms());
    answer(BR_RES_RETRY, 500, -1, NULL);     /* max_attempts 1, no bisect */
    take_acks(pl, &a);
    CHECK_INT(a.dead, 6);
}

static void test_ordering_none_runs_one_partition_in_parallel(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 0, 0, 15, 10);
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 3);
    while (n_calls)
        answer(BR_RES_OK, 200, -1, NULL);
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 15);
}


/* ------------------------------------------------------- regressions */

/* Revoke race: the dispatcher purged the lanes for a new revoke epoch just
 * before taking in records of the revoked shard that the source had handed
 * over earlier. They must go back at once, not wait for max_wait (10 min
 * here) while the revoke waits for them. */
static void test_stale_records_taken_in_after_the_purge_go_back_at_once(struct br_pipeline *pl)
{
    struct acks a = {0};
    atomic_fetch_add(&pl->shard_gen[6], 1);
    atomic_fetch_add(&pl->revoke_epoch, 1);
    br_runner_pump(pl->runner, br_now_ms());      /* purge: lanes empty */
    feed(pl, 6, 0, 3, 10);                          /* handed over before */
    br_runner_pump(pl->runner, br_now_ms());
    take_acks(pl, &a);
    CHECK_INT(a.abandoned, 3);
    CHECK_INT(n_calls, 0);
}

/* A batch waiting out its backoff is not in flight: a revoke of its shard
 * must not wait for the backoff to end. */
static void test_revoke_returns_batches_in_backoff_at_once(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 7, 0, 3, 10);
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 1);
    answer(BR_RES_RETRY, 503, 60000, NULL);          /* back in a minute */
    atomic_fetch_add(&pl->shard_gen[7], 1);
    atomic_fetch_add(&pl->revoke_epoch, 1);
    br_runner_pump(pl->runner, br_now_ms());
    take_acks(pl, &a);
    CHECK_INT(a.abandoned, 3);
    CHECK_INT(n_calls, 0);
    CHECK_INT(br_runner_next_due(pl->runner, br_now_ms()), -1);
}

/* The half of a bisected batch waiting behind the one in flight is not in
 * flight either: its records of a revoked shard go back at once. */
static void test_revoke_returns_a_bisected_half_waiting_its_turn(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 12, 0, 2, 10);
    feed(pl, 13, 0, 2, 10);
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls ? calls[0]->n_recs : 0, 4);
    answer(BR_RES_RETRY, 503, -1, NULL);
    br_runner_pump(pl->runner, br_now_ms() + 60);
    answer(BR_RES_FUNCTION_ERROR, 200, -1, NULL);    /* attempts exhausted */
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 1);                           /* partition 12's half */
    CHECK_INT(n_calls ? calls[0]->recs[0]->partition : -1, 12);
    atomic_fetch_add(&pl->shard_gen[13], 1);
    atomic_fetch_add(&pl->revoke_epoch, 1);
    br_runner_pump(pl->runner, br_now_ms());
    take_acks(pl, &a);
    CHECK_INT(a.abandoned, 2);
    answer(BR_RES_OK, 200, -1, NULL);
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 0);
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 2);
    CHECK_INT(a.abandoned, 2);
}

/* An invocation that fails after its shard was revoked is not scheduled
 * for a retry of records that can no longer be committed. */
static void test_failure_after_revoke_returns_the_records(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 8, 0, 2, 10);
    feed(pl, 9, 0, 2, 10);
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 1);                           /* both partitions */
    CHECK_INT(n_calls ? calls[0]->n_recs : 0, 4);
    atomic_fetch_add(&pl->shard_gen[8], 1);
    atomic_fetch_add(&pl->revoke_epoch, 1);
    br_runner_pump(pl->runner, br_now_ms());
    answer(BR_RES_RETRY, 503, -1, NULL);
    take_acks(pl, &a);
    CHECK_INT(a.abandoned, 2);                       /* partition 8 at once */
    br_runner_pump(pl->runner, br_now_ms() + 60);
    CHECK_INT(n_calls, 1);                           /* partition 9 retried */
    CHECK_INT(n_calls ? calls[0]->n_recs : 0, 2);
    CHECK_INT(n_calls ? calls[0]->recs[0]->partition : -1, 9);
    answer(BR_RES_OK, 200, -1, NULL);
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 2);
}

/* A failed batch waiting for its retry keeps the first 4 KiB of the answer
 * (for the dead-letter record), not the whole response body: up to 6 MiB
 * per batch, times every batch in backoff, outside max_inflight. */
static void test_batch_in_backoff_does_not_keep_the_response_body(struct br_pipeline *pl)
{
    struct acks a = {0};
    feed(pl, 14, 0, 1, 10);
    br_runner_pump(pl->runner, br_now_ms());
    CHECK_INT(n_calls, 1);
    struct br_invocation *inv = n_calls ? calls[0] : NULL;
    char *big = malloc(1 << 20);
    memset(big, 'e', (1 << 20) - 1);
    big[(1 << 20) - 1] = '\0';
    answer(BR_RES_RETRY, 500, -1, big);
    free(big);
    CHECK(inv && inv->result.body == NULL);          /* the batch is waiting */
    br_runner_pump(pl->runner, br_now_ms() + 60);
    answer(BR_RES_OK, 200, -1, NULL);
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 1);
}

/* Retry-After is honoured within max_record_age (1 h here): an absurd
 * value must neither overflow the due time nor park the records for
 * centuries past their age limit. */
static void test_retry_after_is_bounded_by_max_record_age(struct br_pipeline *pl)
{
    struct acks a = {0};
    const int64_t hour = 3600 * 1000;
    int64_t huge[] = {(int64_t)1e13, INT64_MAX};
    for (size_t i = 0; i < 2; i++) {
        feed(pl, 10 + (int)i, 0, 1, 10);
        int64_t now = br_now_ms();
        br_runner_pump(pl->runner, now);
        CHECK_INT(n_calls, 1);
        answer(BR_RES_RETRY, 429, huge[i], NULL);
        br_runner_pump(pl->runner, now + 1000);
        CHECK_INT(n_calls, 0);                       /* Retry-After honoured */
        int64_t due = br_runner_next_due(pl->runner, now);
        CHECK_MSG(due >= 0 && due <= hour, "next due in %lld ms", (long long)due);
        br_runner_pump(pl->runner, now + hour + 1);
        CHECK_INT(n_calls, 1);                       /* retried at the age limit */
        answer(BR_RES_OK, 200, -1, NULL);
    }
    take_acks(pl, &a);
    CHECK_INT(a.delivered, 2);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    br_log_setup(BR_LOG_ERROR, BR_LOG_LOGFMT);
    write_config();
    struct br_pipeline *pl = make_pipeline("limits");
    test_max_records_and_max_wait(pl);
    test_max_bytes(pl);
    test_partitions_run_in_parallel(pl);
    test_oversized_record_is_dead_lettered(pl);
    test_revoked_records_are_abandoned(pl);
    test_stale_records_taken_in_after_the_purge_go_back_at_once(pl);
    br_pipeline_destroy(pl);
    pl = make_pipeline("retry");
    test_retry_then_bisect_in_order(pl);
    test_retry_after_is_honoured(pl);
    test_partial_failure_retries_the_rest_of_the_partition(pl);
    test_unknown_item_fails_whole_batch(pl);
    test_revoke_returns_batches_in_backoff_at_once(pl);
    test_failure_after_revoke_returns_the_records(pl);
    test_revoke_returns_a_bisected_half_waiting_its_turn(pl);
    test_batch_in_backoff_does_not_keep_the_response_body(pl);
    test_retry_after_is_bounded_by_max_record_age(pl);
    br_pipeline_destroy(pl);
    pl = make_pipeline("nobisect");
    test_non_retryable_goes_to_dead_letter(pl);
    br_pipeline_destroy(pl);
    pl = make_pipeline("unordered");
    test_ordering_none_runs_one_partition_in_parallel(pl);
    br_pipeline_destroy(pl);
    br_config_free(cfg);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return UNIT_DONE("batcher");
}
