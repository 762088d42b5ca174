/* scripted.h - a scripted function target for unit tests of the core, and
 * the harness around it: the target records each invocation and the test
 * answers them (ok, retry, 429 + Retry-After, non-retryable, partial
 * responses); records are fed straight to the batcher and the acks the
 * source would get are counted. No threads. Header-only: each test is one
 * program. */
#ifndef BR_TEST_SCRIPTED_H
#define BR_TEST_SCRIPTED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/batch.h"
#include "bridge/runner.h"
#include "bridge/clock.h"
#include "bridge/pipeline.h"
#include "unit.h"
#include "connectors/kafka/kafka_event.h"

#define MAX_CALLS 64
static struct br_invocation *calls[MAX_CALLS];
static size_t n_calls;

static int script_submit(struct br_target *tgt, struct br_invocation *inv)
{
    (void)tgt;
    if (n_calls < MAX_CALLS)
        calls[n_calls++] = inv;
    return 0;
}

static void script_destroy(struct br_target *tgt)
{
    (void)tgt;
}

static const struct br_target_ops script_ops = {
    .name = "script", .submit = script_submit, .destroy = script_destroy,
};

/* Answers the oldest pending invocation. */
static void answer(enum br_result_kind kind, long status, int64_t retry_after_ms,
                   const char *body)
{
    if (!n_calls)
        return;
    struct br_invocation *inv = calls[0];
    memmove(calls, calls + 1, --n_calls * sizeof(*calls));
    inv->result.kind = kind;
    inv->result.status = status;
    inv->result.retry_after_ms = retry_after_ms;
    if (body) {
        inv->result.body = strdup(body);
        inv->result.body_len = strlen(body);
    }
    br_invocation_done(inv);
}

struct acks {
    size_t delivered, dead, abandoned;
    int64_t offsets[256];       /* delivered offsets in ack order */
};

static void take_acks(struct br_pipeline *pl, struct acks *a)
{
    struct br_record *rec;
    br_runner_flush_acks(pl->runner);
    while ((rec = br_record_list_pop(&pl->acks))) {
        if (rec->settle == BR_SETTLE_DELIVERED && a->delivered < 256)
            a->offsets[a->delivered] = rec->offset;
        a->delivered += rec->settle == BR_SETTLE_DELIVERED;
        a->dead += rec->settle == BR_SETTLE_DEAD_LETTERED;
        a->abandoned += rec->settle == BR_SETTLE_ABANDONED;
        br_record_free(rec);
    }
}

static struct br_record *make_record(int32_t partition, int64_t offset, size_t value_len)
{
    char *value = calloc(1, value_len + 1);
    memset(value, 'x', value_len);
    struct br_record_init init = { .kind = &br_kind_kafka,.topic = "t", .partition = partition, .offset = offset,
                                  .timestamp_ms = 1, .timestamp_type = BR_TS_CREATE,
                                  .value = value, .value_len = value_len};
    struct br_record *rec = br_record_create(&init);
    free(value);
    return rec;
}

/* n records of partition `shard` (its own shard), offsets from first. */
static void feed(struct br_pipeline *pl, int shard, int64_t first, size_t n,
                 size_t value_len)
{
    struct br_record_list l = {0};
    for (size_t i = 0; i < n; i++) {
        struct br_record *rec = make_record(shard, first + (int64_t)i, value_len);
        rec->shard = shard;
        rec->received_ms = br_now_ms();
        br_record_list_push(&l, rec);
    }
    br_runner_intake(pl->runner, &l);
}

/* Loads the test's config file; a test with a broken config stops here. */
static struct br_config *load_test_config(const char *path)
{
    struct br_errors errs = {.file = path};
    struct br_config *cfg = br_config_load(path, &errs);
    if (!cfg) {
        br_errors_print(&errs, stderr);
        exit(1);
    }
    br_errors_free(&errs);
    return cfg;
}

/* The named pipeline of cfg, with the scripted target in place of its own. */
static struct br_pipeline *scripted_pipeline(const struct br_config *cfg,
                                             const char *name)
{
    char err[512] = "";
    const struct br_pipeline_conf *conf = br_config_pipeline(cfg, name);
    struct br_pipeline *pl = br_pipeline_create(cfg, conf, err, sizeof(err));
    CHECK_MSG(pl != NULL, "pipeline %s: %s", name, err);
    if (!pl)
        exit(1);
    pl->tgt.ops->destroy(&pl->tgt);
    pl->tgt.ops = &script_ops;
    pl->tgt.name_for_dlq = "scripted";   /* the target's own name is gone */
    n_calls = 0;
    return pl;
}

#endif
