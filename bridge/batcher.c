/* batcher.c - ordering lanes and batch formation.
 *
 * Records wait in lanes. With ordering by shard a lane is a shard (one
 * Kafka partition); by key a lane is a hash of shard and key; with none
 * there is one lane. An exclusive lane gives records to at most one
 * batch at a time (held > 0 means busy), which is what keeps per-partition
 * (or per-key) order through retries and bisection. */
#include <stdlib.h>
#include <string.h>

#include "batcher.h"
#include "pipeline.h"

struct lane {
    struct br_record_list pending;
    size_t held;                  /* records of this lane inside batches */
    bool queued;                  /* in the ready queue */
};

struct br_batcher {
    struct br_pipeline *pl;
    struct lane *lanes;
    size_t n_lanes;
    enum br_ordering ordering;
    int *ready;                   /* FIFO ring of lane indices */
    size_t ready_head, ready_count;
    size_t max_records;           /* per batch */
    size_t max_payload;           /* the target's */
    struct br_record_list *abandoned;  /* borrowed */
};

/* The payload format sends one record's bytes as the body: one per batch. */
static size_t max_records_of(const struct br_pipeline *pl)
{
    return pl->format == BR_FORMAT_PAYLOAD ? 1 : (size_t)pl->conf->batch_max_records;
}

struct br_batcher *br_batcher_create(struct br_pipeline *pl, enum br_ordering ordering,
                                     struct br_record_list *abandoned)
{
    struct br_batcher *bt = calloc(1, sizeof(*bt));
    if (!bt)
        return NULL;
    bt->pl = pl;
    bt->ordering = ordering;
    bt->n_lanes = br_lane_count(ordering);
    bt->max_records = max_records_of(pl);
    bt->max_payload = (size_t)br_target_common(&pl->tgt)->max_payload;
    bt->abandoned = abandoned;
    bt->lanes = calloc(bt->n_lanes, sizeof(*bt->lanes));
    bt->ready = calloc(bt->n_lanes, sizeof(*bt->ready));
    if (!bt->lanes || !bt->ready) {
        br_batcher_destroy(bt);
        return NULL;
    }
    return bt;
}

void br_batcher_destroy(struct br_batcher *bt)
{
    if (!bt)
        return;
    for (size_t i = 0; bt->lanes && i < bt->n_lanes; i++)
        br_record_list_free(&bt->lanes[i].pending);
    free(bt->lanes);
    free(bt->ready);
    free(bt);
}

static bool lane_ready(const struct br_batcher *bt, const struct lane *ln)
{
    if (!ln->pending.count)
        return false;
    return bt->ordering == BR_ORDER_NONE || ln->held == 0;
}

static void ready_push(struct br_batcher *bt, size_t idx)
{
    struct lane *ln = &bt->lanes[idx];
    if (ln->queued || !lane_ready(bt, ln))
        return;
    ln->queued = true;
    bt->ready[(bt->ready_head + bt->ready_count) % bt->n_lanes] = (int)idx;
    bt->ready_count++;
}

static int ready_pop(struct br_batcher *bt)
{
    if (!bt->ready_count)
        return -1;
    int idx = bt->ready[bt->ready_head];
    bt->ready_head = (bt->ready_head + 1) % bt->n_lanes;
    bt->ready_count--;
    bt->lanes[idx].queued = false;
    return idx;
}

static void abandon(struct br_batcher *bt, struct br_record *rec)
{
    rec->settle = BR_SETTLE_ABANDONED;
    br_record_list_push(bt->abandoned, rec);
}

void br_batcher_intake(struct br_batcher *bt, struct br_record_list *recs)
{
    struct br_record *rec;
    while ((rec = br_record_list_pop(recs))) {
        /* Revoked while on its way here: the purge for this revoke may
         * already have run, so it goes back now rather than waiting in a
         * lane (and the revoke waiting for it). */
        if (br_pipeline_record_stale(bt->pl, rec)) {
            abandon(bt, rec);
            continue;
        }
        size_t idx = br_lane_of(bt->ordering, rec);
        br_record_list_push(&bt->lanes[idx].pending, rec);
        ready_push(bt, idx);
    }
}

void br_batcher_release(struct br_batcher *bt, struct br_record *rec)
{
    size_t idx = br_lane_of(bt->ordering, rec);
    if (bt->lanes[idx].held)
        bt->lanes[idx].held--;
    ready_push(bt, idx);
}

/* Is a new batch due? Sets *wait_ms to the time until it will be when
 * only max_wait is missing (-1: nothing queued that may run). */
static bool batch_due(struct br_batcher *bt, int64_t now, int64_t *wait_ms)
{
    const struct br_pipeline_conf *c = bt->pl->conf;
    size_t count = 0, bytes = 0;
    int64_t oldest = INT64_MAX;
    *wait_ms = -1;
    for (size_t i = 0; i < bt->ready_count; i++) {
        const struct lane *ln = &bt->lanes[bt->ready[(bt->ready_head + i) % bt->n_lanes]];
        if (!ln->pending.head)
            continue;
        count += ln->pending.count;
        bytes += ln->pending.bytes;
        if (ln->pending.head->received_ms < oldest)
            oldest = ln->pending.head->received_ms;
        if (count >= bt->max_records || bytes >= (size_t)c->batch_max_bytes)
            return true;
    }
    if (!count)
        return false;
    if (atomic_load(&bt->pl->stopping) || now >= oldest + c->batch_max_wait_ms)
        return true;
    *wait_ms = oldest + c->batch_max_wait_ms - now;
    return false;
}

int64_t br_batcher_wait(struct br_batcher *bt, int64_t now)
{
    int64_t wait;
    return batch_due(bt, now, &wait) ? 0 : wait;
}

struct fill {
    struct br_record **recs;
    size_t n, max, bytes, payload;
    bool full;
};

/* Moves records from one lane into the batch being filled. */
static void fill_from_lane(struct br_batcher *bt, struct lane *ln, struct fill *f)
{
    const struct br_pipeline_conf *c = bt->pl->conf;
    size_t max_payload = bt->max_payload;
    struct br_record *rec;
    while (!f->full && f->n < f->max && (rec = ln->pending.head)) {
        if (br_pipeline_record_stale(bt->pl, rec)) {
            abandon(bt, br_record_list_pop(&ln->pending));
            continue;
        }
        size_t bound = br_format_record_bound(bt->pl->format, &bt->pl->event, rec);
        if (f->n && (f->bytes + rec->size > (size_t)c->batch_max_bytes ||
                     f->payload + bound > max_payload || bound > max_payload)) {
            f->full = true;
            break;
        }
        f->recs[f->n++] = br_record_list_pop(&ln->pending);
        ln->held++;
        f->bytes += rec->size;
        f->payload += bound;
        if (bound > max_payload)
            f->full = true;     /* an oversized record travels alone */
    }
    if (f->n >= f->max)
        f->full = true;
}

/* Puts a record taken by fill_from_lane back at the head of its lane;
 * called in reverse order, this restores the lanes as they were. */
static void lane_unpop(struct br_batcher *bt, struct br_record *rec)
{
    size_t idx = br_lane_of(bt->ordering, rec);
    struct lane *ln = &bt->lanes[idx];
    rec->next = ln->pending.head;
    ln->pending.head = rec;
    if (!ln->pending.tail)
        ln->pending.tail = rec;
    ln->pending.count++;
    ln->pending.bytes += rec->size;
    ln->held--;
    ready_push(bt, idx);
}

struct br_batch *br_batcher_form(struct br_batcher *bt, int64_t now)
{
    int64_t wait;
    if (!batch_due(bt, now, &wait))
        return NULL;
    struct fill f = {.max = bt->max_records};
    f.recs = malloc(f.max * sizeof(*f.recs));
    if (!f.recs)
        return NULL;
    int idx;
    while (!f.full && (idx = ready_pop(bt)) >= 0) {
        fill_from_lane(bt, &bt->lanes[idx], &f);
        ready_push(bt, (size_t)idx);
    }
    if (!f.n) {
        free(f.recs);
        return NULL;
    }
    struct br_batch *b = br_batch_create(bt->pl, f.recs, f.n, bt->max_payload);
    if (!b) {           /* out of memory: the records wait in their lanes */
        while (f.n)
            lane_unpop(bt, f.recs[--f.n]);
        free(f.recs);
    }
    return b;
}

void br_batcher_purge_stale(struct br_batcher *bt)
{
    for (size_t i = 0; i < bt->n_lanes; i++) {
        struct br_record_list keep = {0};
        struct br_record *rec;
        while ((rec = br_record_list_pop(&bt->lanes[i].pending))) {
            if (br_pipeline_record_stale(bt->pl, rec))
                abandon(bt, rec);
            else
                br_record_list_push(&keep, rec);
        }
        bt->lanes[i].pending = keep;
    }
}
