/* batcher.c - ordering lanes and batch formation.
 *
 * Records wait in lanes. With ordering "partition" a lane is a shard (one
 * Kafka partition); with "key" a lane is a hash of shard and key; with
 * "none" there is one lane. An exclusive lane gives records to at most one
 * batch at a time (held > 0 means busy), which is what keeps per-partition
 * (or per-key) order through retries and bisection. */
#include <stdlib.h>
#include <string.h>

#include "connectors/kafka/source_kafka.h"
#include "batch.h"
#include "clock.h"
#include "dispatcher.h"
#include "hash.h"
#include "log.h"

#define KEY_LANES 1024

struct lane {
    struct br_record_list pending;
    size_t held;                  /* records of this lane inside batches */
    bool queued;                  /* in the ready queue */
};

struct br_batcher {
    struct br_pipeline *pl;
    struct lane *lanes;
    size_t n_lanes;
    int ordering;                 /* enum kafka_ordering */
    int *ready;                   /* FIFO ring of lane indices */
    size_t ready_head, ready_count;
    struct br_batch_list runnable;  /* retries and halves due now */
    struct br_batch_list waiting;   /* in backoff */
    struct br_batch_list flight;    /* invocations in progress */
    struct br_record_list acks;     /* settled this round */
    unsigned seen_revoke_epoch;
};

struct br_batcher *br_batcher_create(struct br_pipeline *pl)
{
    struct br_batcher *bt = calloc(1, sizeof(*bt));
    if (!bt)
        return NULL;
    bt->pl = pl;
    const struct kafka_options *ko = pl->conf->source_ctx;
    bt->ordering = strcmp(pl->conf->source_ops->name, "kafka") == 0
                       ? ko->ordering : KAFKA_ORDER_NONE;
    bt->n_lanes = bt->ordering == KAFKA_ORDER_PARTITION ? BR_MAX_SHARDS
                  : bt->ordering == KAFKA_ORDER_KEY     ? KEY_LANES : 1;
    bt->lanes = calloc(bt->n_lanes, sizeof(*bt->lanes));
    bt->ready = calloc(bt->n_lanes, sizeof(*bt->ready));
    if (!bt->lanes || !bt->ready) {
        br_batcher_destroy(bt);
        return NULL;
    }
    return bt;
}

static void free_batches(struct br_batch_list *l)
{
    struct br_batch *b;
    while ((b = l->head)) {
        br_batch_list_remove(l, b);
        for (struct br_batch *s = b->successor; s;) {
            struct br_batch *next = s->successor;
            for (size_t i = 0; i < s->n; i++)
                br_record_free(s->recs[i]);
            br_batch_free(s);
            s = next;
        }
        for (size_t i = 0; i < b->n; i++)
            br_record_free(b->recs[i]);
        br_batch_free(b);
    }
}

void br_batcher_destroy(struct br_batcher *bt)
{
    if (!bt)
        return;
    free_batches(&bt->runnable);
    free_batches(&bt->waiting);
    free_batches(&bt->flight);
    for (size_t i = 0; bt->lanes && i < bt->n_lanes; i++)
        br_record_list_free(&bt->lanes[i].pending);
    br_record_list_free(&bt->acks);
    free(bt->lanes);
    free(bt->ready);
    free(bt);
}

static size_t lane_of(const struct br_batcher *bt, const struct br_record *rec)
{
    if (bt->ordering == KAFKA_ORDER_PARTITION)
        return (size_t)rec->shard;
    if (bt->ordering != KAFKA_ORDER_KEY)
        return 0;
    /* FNV-1a over the shard and the key: equal keys share a lane. */
    uint64_t h = br_fnv1a(BR_FNV_BASIS ^ (uint64_t)rec->shard, rec->key, rec->key_len);
    return (size_t)(h % KEY_LANES);
}

bool br_batcher_ordered(const struct br_batcher *bt)
{
    return bt->ordering != KAFKA_ORDER_NONE;
}

size_t br_batcher_lanes(const struct br_batcher *bt)
{
    return bt->n_lanes;
}

size_t br_batcher_lane(const struct br_batcher *bt, const struct br_record *rec)
{
    return lane_of(bt, rec);
}

static bool lane_ready(const struct br_batcher *bt, const struct lane *ln)
{
    if (!ln->pending.count)
        return false;
    return bt->ordering == KAFKA_ORDER_NONE || ln->held == 0;
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
    br_record_list_push(&bt->acks, rec);
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
        size_t idx = lane_of(bt, rec);
        br_record_list_push(&bt->lanes[idx].pending, rec);
        ready_push(bt, idx);
    }
}

void br_batcher_settle(struct br_batcher *bt, struct br_record *rec,
                       enum br_settle how)
{
    size_t idx = lane_of(bt, rec);
    rec->settle = how;
    if (bt->lanes[idx].held)
        bt->lanes[idx].held--;
    ready_push(bt, idx);
    br_record_list_push(&bt->acks, rec);
}

void br_batcher_flush_acks(struct br_batcher *bt)
{
    if (bt->acks.count)
        br_pipeline_ack(bt->pl, &bt->acks);
}

void br_batcher_run_now(struct br_batcher *bt, struct br_batch *b)
{
    br_batch_list_push(&bt->runnable, b);
}

void br_batcher_run_later(struct br_batcher *bt, struct br_batch *b, int64_t due_ms)
{
    b->due_ms = due_ms;
    br_batch_list_push(&bt->waiting, b);
}

void br_batcher_finished(struct br_batcher *bt, struct br_batch *b)
{
    if (b->successor)
        br_batcher_run_now(bt, b->successor);
    b->successor = NULL;
    br_batch_free(b);
}

void br_batcher_track_flight(struct br_batcher *bt, struct br_batch *b, bool on)
{
    b->in_flight = on;
    if (on)
        br_batch_list_push(&bt->flight, b);
    else
        br_batch_list_remove(&bt->flight, b);
}

/* The payload format sends one record's bytes as the body: one per batch. */
static size_t max_records(const struct br_batcher *bt)
{
    return bt->pl->format == BR_FORMAT_PAYLOAD ? 1 : (size_t)bt->pl->conf->batch_max_records;
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
        if (count >= max_records(bt) || bytes >= (size_t)c->batch_max_bytes)
            return true;
    }
    if (!count)
        return false;
    if (atomic_load(&bt->pl->stopping) || now >= oldest + c->batch_max_wait_ms)
        return true;
    *wait_ms = oldest + c->batch_max_wait_ms - now;
    return false;
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
    size_t max_payload = (size_t)br_target_common(&bt->pl->tgt)->max_payload;
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
    size_t idx = lane_of(bt, rec);
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

static struct br_batch *form_batch(struct br_batcher *bt)
{
    struct fill f = {.max = max_records(bt)};
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
    struct br_batch *b = br_batch_create(bt->pl, f.recs, f.n);
    if (!b) {           /* out of memory: the records wait in their lanes */
        while (f.n)
            lane_unpop(bt, f.recs[--f.n]);
        free(f.recs);
    }
    return b;
}

static void promote_waiting(struct br_batcher *bt, int64_t now)
{
    struct br_batch *b = bt->waiting.head;
    while (b) {
        struct br_batch *next = b->next;
        if (b->due_ms <= now) {
            br_batch_list_remove(&bt->waiting, b);
            if (b->dlq_condition)
                br_batch_dead_letter(b, b->dlq_condition);
            else
                br_batcher_run_now(bt, b);
        }
        b = next;
    }
}

/* Drops the records of revoked shards from the successors of b, freeing
 * those left empty (b itself may be in flight). */
static void drop_stale_successors(struct br_batch *b)
{
    for (struct br_batch **sp = &b->successor; *sp;) {
        struct br_batch *s = *sp;
        if (br_batch_drop_stale(s)) {
            sp = &s->successor;
            continue;
        }
        *sp = s->successor;
        s->successor = NULL;
        br_batch_free(s);
    }
}

/* Batches waiting for a retry, or behind a bisected half, are not in
 * flight: their records of revoked shards go back now too. Of a batch in
 * flight only the successors are looked at. */
static void purge_stale_batches(struct br_batcher *bt, struct br_batch_list *l)
{
    for (struct br_batch *b = l->head, *next; b; b = next) {
        next = b->next;
        drop_stale_successors(b);
        if (l != &bt->flight && !br_batch_drop_stale(b)) {
            br_batch_list_remove(l, b);
            br_batcher_finished(bt, b);
        }
    }
}

/* Returns the queued records of revoked shards at once, so a revoke never
 * waits for a busy pipeline to reach them. */
static void purge_stale(struct br_batcher *bt)
{
    unsigned epoch = atomic_load(&bt->pl->revoke_epoch);
    if (epoch == bt->seen_revoke_epoch)
        return;
    bt->seen_revoke_epoch = epoch;
    for (size_t i = 0; i < bt->n_lanes; i++) {
        struct br_record_list keep = {0};
        struct br_record *rec;
        while ((rec = br_record_list_pop(&bt->lanes[i].pending))) {
            if (br_pipeline_record_stale(bt->pl, rec)) {
                abandon(bt, rec);
            } else {
                br_record_list_push(&keep, rec);
            }
        }
        bt->lanes[i].pending = keep;
    }
    purge_stale_batches(bt, &bt->flight);
    purge_stale_batches(bt, &bt->waiting);
    purge_stale_batches(bt, &bt->runnable);
}

void br_batcher_pump(struct br_batcher *bt, int64_t now)
{
    int64_t wait;
    purge_stale(bt);
    promote_waiting(bt, now);
    while (bt->flight.count < (size_t)bt->pl->conf->concurrency) {
        struct br_batch *b = bt->runnable.head;
        if (b) {
            br_batch_list_remove(&bt->runnable, b);
        } else {
            if (!batch_due(bt, now, &wait) || !(b = form_batch(bt)))
                break;
        }
        br_batch_start(b, now);
    }
}

int64_t br_batcher_next_due(struct br_batcher *bt, int64_t now)
{
    int64_t best = -1, wait;
    if (bt->flight.count < (size_t)bt->pl->conf->concurrency) {
        if (bt->runnable.count)
            return 0;
        if (batch_due(bt, now, &wait))
            return 0;
        best = wait;
    }
    for (struct br_batch *b = bt->waiting.head; b; b = b->next) {
        int64_t w = b->due_ms > now ? b->due_ms - now : 0;
        if (best < 0 || w < best)
            best = w;
    }
    return best;
}

void br_batcher_abort(struct br_batcher *bt)
{
    struct br_target *tgt = &bt->pl->tgt;
    for (struct br_batch *b = bt->flight.head; b; b = b->next)
        if (tgt->ops->cancel)
            tgt->ops->cancel(tgt, &b->inv);
}
