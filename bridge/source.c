/* source.c - the core API source connectors call from their own thread:
 * shards, emitting records, applying acks (the ackset decides commits),
 * backpressure, revocation and drain. */
#include <stdlib.h>
#include <string.h>

#include "ackset.h"
#include "clock.h"
#include "dlq_sink.h"
#include "filter.h"
#include "log.h"
#include "pipeline.h"

#define WAIT_SLICE_MS 20
#define SOFT_STALL_MS 1000

int br_source_shard(struct br_source *src, const char *topic, int32_t partition)
{
    struct br_pipeline *pl = src->pl;
    for (int i = 0; i < pl->n_shards; i++)
        if (pl->shards[i].partition == partition && !strcmp(pl->shards[i].topic, topic))
            return i;
    if (pl->n_shards == BR_MAX_SHARDS)
        return -1;
    char *copy = strdup(topic);
    if (!copy)
        return -1;
    struct br_shard_info *s = &pl->shards[pl->n_shards];
    s->topic = copy;
    s->partition = partition;
    atomic_store(&s->lag, -1);
    atomic_store_explicit(&pl->n_shards_shown, pl->n_shards + 1, memory_order_release);
    return pl->n_shards++;
}

void br_source_assign(struct br_source *src, int shard)
{
    if (shard < 0)
        return;
    atomic_fetch_add(&src->pl->shard_gen[shard], 1);
    atomic_store(&src->pl->shards[shard].assigned, true);
}

/* The filter's verdict on a record (README: Filters): true when it is to
 * be left out. One the filter cannot judge passes, and is said once. */
static bool filtered_out(struct br_pipeline *pl, const struct br_record *rec)
{
    enum br_filter_verdict v = br_filter_judge(pl->conf->filter, &pl->doc, &pl->event, rec);
    if (v == BR_FILTER_UNJUDGED && !pl->filter_unjudged_said) {
        pl->filter_unjudged_said = true;
        br_warn(pl->scope, "a record too large for the filter's document (or out of "
                "memory) passes unfiltered; said once");
    }
    return v == BR_FILTER_OUT;
}

int br_source_emit(struct br_source *src, int shard, struct br_record *rec)
{
    struct br_pipeline *pl = src->pl;
    /* An untracked record would let the commit of a later one pass it. */
    uint64_t seq = br_ackset_track(pl->ackset, shard, rec->offset);
    if (seq == UINT64_MAX)
        return -1;
    rec->shard = shard;
    rec->shard_gen = atomic_load_explicit(&pl->shard_gen[shard], memory_order_relaxed);
    rec->shard_seq = seq;
    rec->received_ms = br_now_ms();
    rec->settle = BR_SETTLE_NONE;
    pl->shards[shard].held++;
    pl->inflight_records++;
    pl->inflight_bytes += rec->size;
    if (pl->conf->filter && filtered_out(pl, rec)) {
        /* Tracked like any record, so the commit neither passes an earlier
         * one still out nor waits for this one: it settles with the next
         * acks, as if the dispatcher had sent it back at once. */
        rec->settle = BR_SETTLE_FILTERED;
        atomic_fetch_add(&pl->stats.received, 1);
        atomic_fetch_add(&pl->stats.filtered, 1);
        br_record_list_push(&pl->filtered, rec);
        return 0;
    }
    br_record_list_push(&pl->emitted, rec);
    return 0;
}

/* Every record from emit to ack counts, wherever it waits: in a lane,
 * a retry's backoff, behind an open circuit or the rate limit, or for
 * the dead-letter sink. The most held at once is logged (debug) when it
 * grows, so max_inflight can be seen to hold without the admin server. */
static void note_most(struct br_pipeline *pl)
{
    if (pl->inflight_records <= pl->inflight_most)
        return;
    pl->inflight_most = pl->inflight_records;
    br_debug(pl->scope, "in flight: %zu records, %zu bytes (the most so far)",
             pl->inflight_records, pl->inflight_bytes);
}

/* What the admin server shows of the source thread: it turns, and what
 * it holds in flight. */
static void show_progress(struct br_pipeline *pl)
{
    struct br_observe *o = &pl->obs;
    note_most(pl);
    int64_t now = br_now_ms();
    atomic_store_explicit(&o->source_beat_ms, now, memory_order_relaxed);
    if (!pl->inflight_records)
        atomic_store_explicit(&o->idle_ms, now, memory_order_relaxed);
    atomic_store_explicit(&o->inflight_records, (int64_t)pl->inflight_records,
                          memory_order_relaxed);
    atomic_store_explicit(&o->inflight_bytes, (int64_t)pl->inflight_bytes,
                          memory_order_relaxed);
    atomic_store_explicit(&o->paused, pl->paused, memory_order_relaxed);
}

/* Applies the acks that came back; then commits what the ackset allows. */
static void apply_acks(struct br_source *src)
{
    struct br_pipeline *pl = src->pl;
    struct br_record_list acks;
    show_progress(pl);
    br_pipeline_take_acks(pl, &acks);
    br_record_list_concat(&acks, &pl->filtered);
    if (!acks.count)
        return;
    struct br_record *rec;
    while ((rec = br_record_list_pop(&acks))) {
        pl->shards[rec->shard].held--;
        pl->inflight_records--;
        pl->inflight_bytes -= rec->size;
        if (rec->settle != BR_SETTLE_ABANDONED) {
            br_ackset_settle(pl->ackset, rec->shard, rec->shard_seq);
            if (src->ops->settled)
                src->ops->settled(src, rec);
        }
        br_record_free(rec);
    }
    for (int shard = 0; shard < pl->n_shards; shard++) {
        int64_t next = br_ackset_take_commit(pl->ackset, shard);
        if (next >= 0)
            src->ops->commit(src, shard, next);
    }
}

static bool over_limit(const struct br_pipeline *pl)
{
    const struct br_pipeline_conf *c = pl->conf;
    return pl->inflight_records >= (size_t)c->inflight_max_records ||
           pl->inflight_bytes >= (size_t)c->inflight_max_bytes;
}

static bool below_resume_mark(const struct br_pipeline *pl)
{
    const struct br_pipeline_conf *c = pl->conf;
    return pl->inflight_records <= (size_t)c->inflight_max_records / 2 &&
           pl->inflight_bytes <= (size_t)c->inflight_max_bytes / 2;
}

static void wait_for_acks(struct br_pipeline *pl);

/* Over max_inflight the source first just stops taking records and waits
 * for acks: a short stall costs nothing. Only a stall longer than
 * SOFT_STALL_MS pauses the source through the connector (for Kafka that
 * discards the client's prefetched records, so it is kept for real
 * backlogs), and the connector keeps polling to stay in its group. */
static void apply_backpressure(struct br_source *src)
{
    struct br_pipeline *pl = src->pl;
    bool held = atomic_load_explicit(&pl->hold, memory_order_relaxed) != 0;
    if (held && !pl->paused && !br_source_stopping(src)) {
        /* An open circuit or a failing sink: taking more records would
         * only queue them in memory. */
        pl->paused = true;
        br_info(src->scope, "pausing: %s", pl->hold & BR_HOLD_BREAKER
                ? "the circuit breaker is open" : "the dead-letter sink is failing");
        src->ops->pause(src);
        return;
    }
    if (pl->paused) {
        if (!held && below_resume_mark(pl)) {
            pl->paused = false;
            br_debug(src->scope, "resuming: %zu records in flight", pl->inflight_records);
            src->ops->resume(src);
        }
        return;
    }
    int64_t stall_end = br_now_ms() + SOFT_STALL_MS;
    while (over_limit(pl) && !br_source_stopping(src) && br_now_ms() < stall_end) {
        wait_for_acks(pl);
        apply_acks(src);
    }
    if (over_limit(pl) && !br_source_stopping(src)) {
        pl->paused = true;
        br_debug(src->scope, "pausing: %zu records in flight", pl->inflight_records);
        src->ops->pause(src);
    }
}

void br_source_service(struct br_source *src)
{
    br_pipeline_hand_over(src->pl);
    apply_acks(src);
    apply_backpressure(src);
    show_progress(src->pl);
}

bool br_source_stopping(const struct br_source *src)
{
    return atomic_load(&src->pl->stopping);
}

int64_t br_source_max_payload(const struct br_source *src)
{
    return br_target_common(&src->pl->tgt)->max_payload;
}

size_t br_source_inflight(const struct br_source *src)
{
    return src->pl->inflight_records;
}

size_t br_source_room(const struct br_source *src)
{
    const struct br_pipeline *pl = src->pl;
    if (over_limit(pl))
        return 0;
    return (size_t)pl->conf->inflight_max_records - pl->inflight_records;
}

/* True while what br_source_wait waits for does not hold yet. */
static bool still_waiting(const struct br_source *src, enum br_source_wait_for until)
{
    if (br_source_stopping(src))
        return false;
    switch (until) {
    case BR_WAIT_RESUMED:
        return src->pl->paused;
    case BR_WAIT_SETTLED:
        return src->pl->inflight_records > 0;
    case BR_WAIT_ROUND:
        break;
    }
    return false;
}

void br_source_wait(struct br_source *src, enum br_source_wait_for until,
                    void (*serve)(struct br_source *src))
{
    bool round = until == BR_WAIT_ROUND;
    while (round || still_waiting(src, until)) {
        wait_for_acks(src->pl);
        if (serve)
            serve(src);
        else
            br_source_service(src);
        round = false;
    }
}

/* Sleeps until acks arrive or a short slice passes. */
static void wait_for_acks(struct br_pipeline *pl)
{
    br_pipeline_wait_acks(pl, WAIT_SLICE_MS);
}

void br_source_revoke(struct br_source *src, int shard, int64_t timeout_ms)
{
    struct br_pipeline *pl = src->pl;
    if (shard < 0)
        return;
    /* A new generation makes the dispatcher return this shard's queued
     * records at once; only batches already in flight are waited for. */
    atomic_fetch_add(&pl->shard_gen[shard], 1);
    atomic_fetch_add(&pl->revoke_epoch, 1);
    br_pipeline_hand_over(pl);
    br_pipeline_wake(pl);
    int64_t deadline = br_now_ms() + timeout_ms;
    while (pl->shards[shard].held > 0 && br_now_ms() < deadline) {
        wait_for_acks(pl);
        apply_acks(src);
    }
    apply_acks(src);
    if (pl->shards[shard].held)
        br_warn(src->scope, "%s[%d] revoked with %zu records unfinished; they "
                "will be redelivered", pl->shards[shard].topic,
                (int)pl->shards[shard].partition, pl->shards[shard].held);
    br_ackset_reset(pl->ackset, shard);
    atomic_store(&pl->shards[shard].assigned, false);
    atomic_store(&pl->shards[shard].lag, -1);
}

void br_source_drain(struct br_source *src)
{
    struct br_pipeline *pl = src->pl;
    br_pipeline_hand_over(pl);
    br_pipeline_wake(pl);
    while (pl->inflight_records > 0 && br_now_ms() < pl->stop_deadline_ms) {
        wait_for_acks(pl);
        apply_acks(src);
    }
    apply_acks(src);
    if (pl->inflight_records)
        br_warn(src->scope, "shutdown timeout: %zu records unfinished; they will "
                "be redelivered", pl->inflight_records);
}

int br_source_dead_letter(struct br_source *src, const struct br_record *rec,
                          const char *condition)
{
    struct br_pipeline *pl = src->pl;
    /* A record the filter leaves out is not wanted, too large or not. */
    if (pl->conf->filter && filtered_out(pl, rec)) {
        atomic_fetch_add(&pl->stats.received, 1);
        atomic_fetch_add(&pl->stats.filtered, 1);
        br_info(pl->scope, "the filter leaves that record out: not dead-lettered");
        return 0;
    }
    if (pl->dlq && br_dlq_sink_write_record(pl->dlq, rec, condition) < 0)
        return -1;
    atomic_fetch_add(&pl->stats.received, 1);
    atomic_fetch_add(&pl->stats.dead_lettered, 1);
    if (pl->dlq)
        br_warn(pl->scope, "dead-lettered 1 record (%s) to %s", condition,
                br_dlq_sink_where(pl->dlq));
    else
        br_warn(pl->scope, "dropped 1 record (%s): dead-lettering is off", condition);
    return 0;
}
