/* test_source.c - what the core gives a source connector: the handle it
 * fills (what an instance may know of its pipeline, with no look into
 * struct br_pipeline) and br_source_wait, the one loop sources wait in
 * while paused, until their records settled, or for one round. The
 * source is a counting stand-in for the configured one; acks are given
 * back as the dispatcher would (br_pipeline_ack). No threads, no network. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/ackset.h"
#include "bridge/log.h"
#include "bridge/pipeline.h"
#include "connectors/kafka/kafka_event.h"
#include "unit.h"

static char dir[] = "/tmp/fnbridge-test-source-XXXXXX";

/* ------------------------------------------------------- the stand-in */

static size_t n_pauses, n_resumes, n_rounds;
static bool ack_in_serve;          /* serve acks what was handed over */

static int stub_commit(struct br_source *src, int shard, int64_t next_pos)
{
    (void)src;
    (void)shard;
    (void)next_pos;
    return 0;
}

static void stub_pause(struct br_source *src)
{
    (void)src;
    n_pauses++;
}

static void stub_resume(struct br_source *src)
{
    (void)src;
    n_resumes++;
}

static void stub_destroy(struct br_source *src)
{
    (void)src;
}

static const struct br_source_ops stub_ops = {
    .name = "stub", .commit = stub_commit, .pause = stub_pause,
    .resume = stub_resume, .destroy = stub_destroy,
};

/* A round's service, as a source with its own (a checkpoint) passes it:
 * br_source_service, then the dispatcher's part, done here: what was
 * handed over is delivered and acked. */
static void serve(struct br_source *src)
{
    struct br_pipeline *pl = src->pl;
    n_rounds++;
    br_source_service(src);
    if (!ack_in_serve || !pl->inbound.count)
        return;
    struct br_record_list done = pl->inbound;
    memset(&pl->inbound, 0, sizeof(pl->inbound));
    for (struct br_record *r = done.head; r; r = r->next)
        r->settle = BR_SETTLE_DELIVERED;
    br_pipeline_ack(pl, &done);
}

static void emit(struct br_source *src, int shard, int64_t offset)
{
    struct br_record_init init = {.kind = &br_kind_kafka, .topic = "t", .partition = 5,
                                  .offset = offset,
                                  .timestamp_ms = 1, .timestamp_type = BR_TS_CREATE,
                                  .value = "0123456789", .value_len = 10};
    struct br_record *rec = br_record_create(&init);
    CHECK(rec != NULL);
    CHECK_INT(br_source_emit(src, shard, rec), 0);
}

/* ------------------------------------------------------------- config */

static struct br_config *load(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/t.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "state_dir: \"${env:FNB_TEST_STATE}\"\n"
               "shutdown_timeout: 7s\nlog: {level: error}\npipelines:\n"
               "  - name: hand\n"
               "    source: {kafka: {brokers: \"127.0.0.1:1\", topics: [t], group_id: g}}\n"
               "    function: {http: {url: \"http://127.0.0.1:1/\", max_payload: 64KiB}}\n"
               "    concurrency: 3\n"
               "    batch: {max_records: 1}\n"
               "    max_inflight: {records: 2}\n"
               "    dead_letter: {file: {path: \"%s/hand.dlq\"}}\n", dir);
    fclose(f);
    char state[300];
    snprintf(state, sizeof(state), "%s/state", dir);
    setenv("FNB_TEST_STATE", state, 1);
    struct br_errors errs = {.file = path};
    struct br_config *cfg = br_config_load(path, &errs);
    if (!cfg)
        br_errors_print(&errs, stderr);
    br_errors_free(&errs);
    return cfg;
}

/* The pipeline as the daemon builds it (its source is replaced by the
 * stand-in after the handle test; the target is never called). */
static struct br_pipeline *make_pipeline(const struct br_config *cfg)
{
    char err[512] = "";
    struct br_pipeline *pl = br_pipeline_create(cfg, br_config_pipeline(cfg, "hand"), err,
                                                sizeof(err));
    CHECK_MSG(pl != NULL, "pipeline: %s", err);
    return pl;
}

/* -------------------------------------------------------------- tests */

static void test_handles_carry_what_the_instance_may_know(struct br_pipeline *pl)
{
    char state[300];
    snprintf(state, sizeof(state), "%s/state", dir);
    CHECK_STR(pl->src.pipeline_name, "hand");
    CHECK_STR(pl->src.state_dir, state);
    CHECK_MSG(pl->src.state_dir_secret, "state_dir came through interpolation");
    CHECK_INT(pl->src.shutdown_timeout_ms, 7000);
    CHECK_INT(br_source_max_payload(&pl->src), 64 * 1024);
    CHECK_STR(pl->tgt.pipeline_name, "hand");
    CHECK_INT(pl->tgt.concurrency, 3);
}

static void test_one_round_serves_once(struct br_pipeline *pl)
{
    n_rounds = 0;
    br_source_wait(&pl->src, BR_WAIT_ROUND, serve);
    CHECK_INT(n_rounds, 1);
    /* Nothing in flight, not paused: nothing to wait out. */
    br_source_wait(&pl->src, BR_WAIT_SETTLED, serve);
    br_source_wait(&pl->src, BR_WAIT_RESUMED, serve);
    CHECK_INT(n_rounds, 1);
}

static void test_waits_until_settled(struct br_pipeline *pl)
{
    struct br_source *src = &pl->src;
    int shard = br_source_shard(src, "t", 5);
    emit(src, shard, 0);
    n_rounds = 0;
    ack_in_serve = true;
    br_source_wait(src, BR_WAIT_SETTLED, serve);
    ack_in_serve = false;
    /* One round hands over (and the stand-in dispatcher acks), the next
     * applies the acks. */
    CHECK_INT(n_rounds, 2);
    CHECK_INT(br_source_inflight(src), 0);
    CHECK_INT(br_ackset_commit_point(pl->ackset, shard), 1);
}

/* Over max_inflight (2 records) the core pauses the source; the wait ends
 * once acks brought it below the resume mark and it was resumed. */
static void test_waits_while_paused(struct br_pipeline *pl)
{
    struct br_source *src = &pl->src;
    int shard = br_source_shard(src, "t", 5);
    CHECK_INT(br_source_room(src), 2);
    emit(src, shard, 1);
    CHECK_INT(br_source_room(src), 1);
    emit(src, shard, 2);
    CHECK_INT(br_source_room(src), 0);   /* what a chunked source may take */
    br_source_service(src);        /* stalls a second, then pauses */
    CHECK_INT(n_pauses, 1);
    CHECK(pl->paused);
    n_rounds = 0;
    atomic_store(&pl->stopping, true);
    br_source_wait(src, BR_WAIT_RESUMED, serve);    /* stopping: no round */
    CHECK_INT(n_rounds, 0);
    atomic_store(&pl->stopping, false);
    ack_in_serve = true;
    br_source_wait(src, BR_WAIT_RESUMED, serve);
    ack_in_serve = false;
    CHECK_INT(n_resumes, 1);
    CHECK(!pl->paused);
    CHECK_INT(n_rounds, 2);
    CHECK_INT(br_source_inflight(src), 0);
    CHECK_INT(br_ackset_commit_point(pl->ackset, shard), 3);
    CHECK_INT(br_source_room(src), 2);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    br_log_setup(BR_LOG_ERROR, BR_LOG_LOGFMT);
    struct br_config *cfg = load();
    CHECK_MSG(cfg != NULL, "the test's config loads");
    struct br_pipeline *pl = cfg ? make_pipeline(cfg) : NULL;
    if (!pl)
        return UNIT_DONE("source");
    test_handles_carry_what_the_instance_may_know(pl);
    pl->src.ops->destroy(&pl->src);
    pl->src.ops = &stub_ops;
    test_one_round_serves_once(pl);
    test_waits_until_settled(pl);
    test_waits_while_paused(pl);
    br_pipeline_destroy(pl);
    br_config_free(cfg);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return UNIT_DONE("source");
}
