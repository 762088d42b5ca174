/* invoke.c - the life of a batch: encode the event, invoke the target,
 * read the outcome, then settle, retry with backoff, bisect, or
 * dead-letter (DESIGN section 5). Dispatcher thread only. */
#include <stdlib.h>
#include <string.h>

#include "config/secrets.h"
#include "backoff.h"
#include "batch.h"
#include "clock.h"
#include "deadletter.h"
#include "dlq_json.h"
#include "log.h"
#include "outcome.h"

#define LAST_BODY_MAX 4096

void br_batch_list_push(struct br_batch_list *l, struct br_batch *b)
{
    b->next = NULL;
    b->prev = l->tail;
    if (l->tail)
        l->tail->next = b;
    else
        l->head = b;
    l->tail = b;
    l->count++;
}

void br_batch_list_remove(struct br_batch_list *l, struct br_batch *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        l->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        l->tail = b->prev;
    b->next = b->prev = NULL;
    l->count--;
}

struct br_batch *br_batch_create(struct br_pipeline *pl, struct br_record **recs,
                                 size_t n)
{
    struct br_batch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->pl = pl;
    b->recs = recs;
    b->n = n;
    b->oldest_ms = INT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (recs[i]->received_ms < b->oldest_ms)
            b->oldest_ms = recs[i]->received_ms;
    br_buf_init(&b->body, (size_t)br_target_common(&pl->tgt)->max_payload);
    br_buf_init(&b->headers, 0);
    return b;
}

void br_batch_free(struct br_batch *b)
{
    if (!b)
        return;
    br_buf_free(&b->body);
    br_buf_free(&b->headers);
    free(b->inv.result.body);
    free(b->last_body);
    free(b->recs);
    free(b);
}

/* Settles records [0..n) that keep[] does not mark, and keeps the rest in
 * order. The event must be encoded again for what is kept. */
static void settle_except(struct br_batch *b, const bool *keep, enum br_settle how)
{
    size_t kept = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (keep && keep[i])
            b->recs[kept++] = b->recs[i];
        else
            br_batcher_settle(b->pl->batcher, b->recs[i], how);
    }
    b->n = kept;
    br_buf_reset(&b->body);
}

static void settle_all(struct br_batch *b, enum br_settle how)
{
    settle_except(b, NULL, how);
    br_batcher_finished(b->pl->batcher, b);
}

bool br_batch_drop_stale(struct br_batch *b)
{
    size_t stale = 0;
    for (size_t i = 0; i < b->n; i++)
        stale += br_pipeline_record_stale(b->pl, b->recs[i]);
    if (!stale)
        return true;
    bool *keep = malloc(b->n * sizeof(*keep));
    if (!keep)
        return true;   /* they will be dropped next time */
    for (size_t i = 0; i < b->n; i++)
        keep[i] = !br_pipeline_record_stale(b->pl, b->recs[i]);
    settle_except(b, keep, BR_SETTLE_ABANDONED);
    free(keep);
    return b->n > 0;
}

/* Splits b into two halves run one after the other (order is kept). */
static void split(struct br_batch *b)
{
    size_t half = b->n / 2;
    struct br_record **ra = malloc(half * sizeof(*ra));
    struct br_record **rb = malloc((b->n - half) * sizeof(*rb));
    struct br_batch *first = NULL, *second = NULL;
    if (ra && rb) {
        memcpy(ra, b->recs, half * sizeof(*ra));
        memcpy(rb, b->recs + half, (b->n - half) * sizeof(*rb));
        first = br_batch_create(b->pl, ra, half);
        second = first ? br_batch_create(b->pl, rb, b->n - half) : NULL;
    }
    if (!first || !second) {   /* out of memory: try the whole batch later */
        br_batch_free(first);
        free(first ? NULL : ra);
        free(rb);
        br_batcher_run_later(b->pl->batcher, b, br_now_ms() + 1000);
        return;
    }
    second->successor = b->successor;
    first->successor = second;
    b->successor = NULL;
    b->n = 0;
    br_batch_free(b);
    br_batcher_run_now(first->pl->batcher, first);
}

static int encode(struct br_batch *b)
{
    br_buf_reset(&b->body);
    br_buf_reset(&b->headers);
    if (br_format_encode(b->pl->format, &b->pl->event, b->recs, b->n, &b->body) < 0)
        return -1;
    if (br_format_headers(b->pl->format, &b->pl->event, b->recs, b->n, &b->headers) < 0) {
        /* Out of memory: the caller's retry starts from an empty body. */
        br_buf_reset(&b->body);
        return -1;
    }
    return 0;
}

void br_batch_start(struct br_batch *b, int64_t now)
{
    struct br_pipeline *pl = b->pl;
    (void)now;
    if (!br_batch_drop_stale(b)) {
        br_batcher_finished(pl->batcher, b);
        return;
    }
    if (!b->body.len && encode(b) < 0) {
        if (b->n > 1)
            split(b);
        else
            br_batch_dead_letter(b, "MaximumPayloadSizeExceeded");
        return;
    }
    b->attempts++;
    free(b->inv.result.body);
    memset(&b->inv, 0, sizeof(b->inv));
    b->inv.tgt = &pl->tgt;
    b->inv.body = b->body.data;
    b->inv.body_len = b->body.len;
    b->inv.content_type = br_format_content_type(pl->format, &pl->event, b->recs, b->n);
    b->inv.headers = b->headers.len ? b->headers.data : NULL;
    b->inv.headers_len = b->headers.len;
    b->inv.recs = b->recs;
    b->inv.n_recs = b->n;
    b->inv.core = b;
    b->inv.result.retry_after_ms = -1;
    br_batcher_track_flight(pl->batcher, b, true);
    if (pl->tgt.ops->submit(&pl->tgt, &b->inv) < 0)
        br_invocation_done(&b->inv);
}

static void remember_response(struct br_batch *b, const struct br_result *res,
                              const char *body, size_t body_len)
{
    b->last_status = res->status;
    /* A transport error may quote the URL or host: dead letters print it */
    br_secrets_mask(res->error, b->last_error, sizeof(b->last_error));
    free(b->last_body);
    b->last_body = NULL;
    b->last_body_len = 0;
    if (body) {
        /* Not in the middle of a character: a cut one is not text. */
        size_t n = br_dlq_cut((const unsigned char *)body, body_len, LAST_BODY_MAX);
        if ((b->last_body = malloc(n + 1))) {
            memcpy(b->last_body, body, n);
            b->last_body[n] = '\0';
            b->last_body_len = n;
        }
    }
}

static uint64_t random_u64(void)
{
    /* xorshift64*: only for jitter, so a per-thread state is enough. */
    static _Thread_local uint64_t state;
    if (!state)
        state = (uint64_t)br_wall_ms() * 2654435761u | 1;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ull;
}

/* The batch failed as a whole: retry after backoff, bisect, or give up. */
static void failed(struct br_batch *b, int64_t retry_after_ms)
{
    const struct br_pipeline_conf *c = b->pl->conf;
    /* Records of a shard revoked meanwhile will not be committed: they go
     * back now, so the revoke need not wait for a retry. */
    if (!br_batch_drop_stale(b)) {
        br_batcher_finished(b->pl->batcher, b);
        return;
    }
    int64_t now = br_now_ms();
    int64_t age = now - b->oldest_ms;
    if (b->attempts < c->retry_max_attempts && age < c->max_record_age_ms) {
        struct br_backoff bo = {c->backoff_initial_ms, c->backoff_max_ms,
                                c->backoff_multiplier, (enum br_jitter)c->backoff_jitter};
        int64_t delay = br_backoff_delay(&bo, b->attempts, random_u64());
        /* Retry-After is honoured within the record age budget: a huge
         * value neither overflows the due time nor parks the records past
         * max_record_age (then they are retried once more and given up). */
        int64_t budget = c->max_record_age_ms - age;
        if (retry_after_ms > delay)
            delay = retry_after_ms < budget ? retry_after_ms : budget;
        atomic_fetch_add(&b->pl->stats.retries, 1);
        br_debug(b->pl->scope, "retrying %zu records in %lld ms (attempt %d failed)",
                 b->n, (long long)delay, b->attempts);
        br_batcher_run_later(b->pl->batcher, b, now + delay);
        return;
    }
    if (c->bisect_on_error && b->n > 1) {
        br_debug(b->pl->scope, "bisecting a failing batch of %zu records", b->n);
        split(b);
        return;
    }
    br_batch_dead_letter(b, age >= c->max_record_age_ms ? "MaximumRecordAgeExceeded"
                                                         : "RetryAttemptsExhausted");
}

/* Which records a partial batch response sends back for retry: the failed
 * ones, and with ordered lanes also every later record of their lane. */
static void mark_retry(struct br_batch *b, const bool *failed_ids, bool *retry)
{
    bool ordered = br_batcher_ordered(b->pl->batcher);
    size_t n_lanes = br_batcher_lanes(b->pl->batcher);
    bool *lane_failed = ordered ? calloc(n_lanes, sizeof(*lane_failed)) : NULL;
    for (size_t i = 0; i < b->n; i++) {
        /* Out of memory with ordered lanes: retry everything rather than
         * count a later record of a failed one's lane as done. */
        retry[i] = failed_ids[i] || (ordered && !lane_failed);
        if (!lane_failed)
            continue;
        size_t lane = br_batcher_lane(b->pl->batcher, b->recs[i]);
        if (failed_ids[i])
            lane_failed[lane] = true;
        retry[i] = lane_failed[lane];
    }
    free(lane_failed);
}

/* The function answered with a body that opens as a JSON object and does
 * not parse: it may hide failures, so it is a function error of the whole
 * batch, named in the dead letter's functionError. */
static void invalid_answer(struct br_batch *b, const char *why)
{
    snprintf(b->last_error, sizeof(b->last_error), "invalid JSON response: %s", why);
    br_warn(b->pl->tgt.scope, "invalid JSON response (%s); the batch of %zu record%s "
            "failed (attempt %d)", why, b->n, b->n == 1 ? "" : "s", b->attempts);
}

static void handle_ok(struct br_batch *b, const char *body, size_t body_len)
{
    bool *flags = calloc(2 * b->n, sizeof(*flags));
    if (!flags) {
        atomic_fetch_add(&b->pl->stats.invocations_ok, 1);
        failed(b, -1);
        return;
    }
    char why[BR_OUTCOME_WHY_MAX];
    enum br_partial p = br_outcome_partial_why(body, body_len, b->recs, b->n, flags,
                                               why, sizeof(why));
    /* fnbridge invoke: the answer's batchItemFailures name the user's
     * records, not ours; only an answer that does not parse counts. */
    if (b->pl->opaque_response && p != BR_PARTIAL_INVALID)
        p = BR_PARTIAL_ALL_OK;
    atomic_fetch_add(p == BR_PARTIAL_INVALID ? &b->pl->stats.invocations_failed
                                             : &b->pl->stats.invocations_ok, 1);
    if (p == BR_PARTIAL_INVALID) {
        invalid_answer(b, why);
        failed(b, -1);
    } else if (p == BR_PARTIAL_ALL_OK) {
        const struct br_source_ops *src_ops = b->pl->src.ops;
        if (src_ops->response && body_len)
            src_ops->response(&b->pl->src, b->recs, b->n, body, body_len);
        if (b->pl->report)
            b->pl->report(b->pl, b, NULL, body, body_len);
        atomic_fetch_add(&b->pl->stats.delivered, b->n);
        settle_all(b, BR_SETTLE_DELIVERED);
    } else if (p == BR_PARTIAL_ALL_FAILED) {
        failed(b, -1);
    } else {
        bool *retry = flags + b->n;
        mark_retry(b, flags, retry);
        size_t before = b->n;
        settle_except(b, retry, BR_SETTLE_DELIVERED);
        atomic_fetch_add(&b->pl->stats.delivered, before - b->n);
        failed(b, -1);
    }
    free(flags);
}

void br_invocation_done(struct br_invocation *inv)
{
    struct br_batch *b = inv->core;
    struct br_result *res = &inv->result;
    /* Only its first 4 KiB (last_body) outlive this call: a batch waiting
     * for a retry must not hold a response body of up to 6 MiB. */
    char *body = res->body;
    size_t body_len = res->body_len;
    res->body = NULL;
    res->body_len = 0;
    br_batcher_track_flight(b->pl->batcher, b, false);
    remember_response(b, res, body, body_len);
    /* A success is counted once its answer is read (handle_ok). */
    if (res->kind != BR_RES_OK) {
        atomic_fetch_add(&b->pl->stats.invocations_failed, 1);
        br_debug(b->pl->scope, "invocation of %zu records failed: status %ld %s",
                 b->n, res->status, res->error);
    }
    switch (res->kind) {
    case BR_RES_OK:
        handle_ok(b, body, body_len);
        break;
    case BR_RES_TOO_LARGE:
        if (b->n > 1)
            split(b);
        else
            br_batch_dead_letter(b, "MaximumPayloadSizeExceeded");
        break;
    case BR_RES_PERMANENT:
        br_batch_dead_letter(b, "NonRetryableError");
        break;
    default:
        failed(b, res->retry_after_ms);
        break;
    }
    free(body);
}

void br_batch_dead_letter(struct br_batch *b, const char *condition)
{
    struct br_pipeline *pl = b->pl;
    if (!pl->dlq) {         /* fnbridge invoke: reported, not written */
        if (pl->report)
            pl->report(pl, b, condition, b->last_body, b->last_body_len);
        settle_all(b, BR_SETTLE_DEAD_LETTERED);
        return;
    }
    if (!b->body.len)
        b->body.max = 0;   /* the record keeps the whole event, however big */
    /* Without its event (out of memory) the line would not hold the
     * records: like a failed write, nothing is acked and it is retried. */
    if ((!b->body.len && encode(b) < 0) ||
        br_deadletter_write(pl->dlq, b, condition) < 0) {
        /* Nothing is acked until the sink holds the records: the lanes of
         * this batch stay blocked and the write is tried again. */
        b->dlq_condition = condition;
        br_batcher_run_later(pl->batcher, b, br_now_ms() + 1000);
        return;
    }
    br_warn(pl->scope, "dead-lettered %zu record%s (%s) to %s", b->n,
            b->n == 1 ? "" : "s", condition, br_deadletter_path(pl->dlq));
    atomic_fetch_add(&pl->stats.dead_lettered, b->n);
    settle_all(b, BR_SETTLE_DEAD_LETTERED);
}
