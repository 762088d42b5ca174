/* verdict.c - the outcome rules as a pure function (verdict.h): from a
 * batch, its result, the policy and the time to what becomes of each
 * record. */
#include <stdlib.h>
#include <string.h>

#include "verdict.h"

/* The records that stay for another try: the non-revoked ones of retry[]
 * (all when retry is NULL). */
static void keep_for_retry(const struct br_verdict_batch *b, const bool *retry,
                           struct br_verdict *v)
{
    for (size_t i = 0; i < b->n; i++) {
        if (retry && !retry[i]) {
            v->fate[i] = BR_SETTLE_DELIVERED;
            v->delivered++;
        } else if (b->stale[i]) {
            /* Its shard was revoked: it will not be committed, so it goes
             * back now and the revoke need not wait for a retry. */
            v->fate[i] = BR_SETTLE_ABANDONED;
        } else {
            v->fate[i] = BR_SETTLE_NONE;
            v->stay++;
        }
    }
}

/* What stays failed as a whole: retry after backoff, bisect, or give up. */
static void failed(const struct br_policy *p, const struct br_verdict_batch *b,
                   int64_t retry_after_ms, int64_t now, uint64_t rnd,
                   struct br_verdict *v)
{
    if (!v->stay) {
        v->action = BR_ACT_NONE;
        return;
    }
    int64_t age = now - b->oldest_ms;
    if (b->attempts < p->max_attempts && age < p->max_record_age_ms) {
        int64_t delay = br_backoff_delay(&p->backoff, b->attempts, rnd);
        /* Retry-After is honoured within the record age budget: a huge
         * value neither overflows the due time nor parks the records past
         * max_record_age (then they are retried once more and given up). */
        int64_t budget = p->max_record_age_ms - age;
        if (retry_after_ms > delay)
            delay = retry_after_ms < budget ? retry_after_ms : budget;
        v->action = BR_ACT_RETRY;
        v->delay_ms = delay;
        v->due_ms = now + delay;
    } else if (p->bisect_on_error && v->stay > 1) {
        v->action = BR_ACT_BISECT;
    } else {
        v->action = BR_ACT_DEAD_LETTER;
        v->condition = age >= p->max_record_age_ms ? "MaximumRecordAgeExceeded"
                                                   : "RetryAttemptsExhausted";
    }
}

/* Every record stays, whatever its shard, for the action. */
static void all_stay(const struct br_verdict_batch *b, struct br_verdict *v,
                     enum br_action action, const char *condition)
{
    for (size_t i = 0; i < b->n; i++)
        v->fate[i] = BR_SETTLE_NONE;
    v->stay = b->n;
    v->action = action;
    v->condition = condition;
}

/* Which records a partial batch response sends back for retry: the failed
 * ones, and with ordered lanes also every later record of their lane. */
static void mark_retry(enum br_ordering o, const struct br_verdict_batch *b,
                       const bool *failed_ids, bool *retry)
{
    bool ordered = o != BR_ORDER_NONE;
    bool *lane_failed = ordered ? calloc(br_lane_count(o), sizeof(*lane_failed)) : NULL;
    for (size_t i = 0; i < b->n; i++) {
        /* Out of memory with ordered lanes: retry everything rather than
         * count a later record of a failed one's lane as done. */
        retry[i] = failed_ids[i] || (ordered && !lane_failed);
        if (!lane_failed)
            continue;
        size_t lane = br_lane_of(o, b->recs[i]);
        if (failed_ids[i])
            lane_failed[lane] = true;
        retry[i] = lane_failed[lane];
    }
    free(lane_failed);
}

/* The function answered: read its answer against the batch. */
static void answered(const struct br_policy *p, const struct br_verdict_batch *b,
                     const char *body, size_t body_len, int64_t now, uint64_t rnd,
                     struct br_verdict *v)
{
    bool *flags = calloc(2 * b->n, sizeof(*flags));
    v->answer = BR_ANSWER_OK;
    if (!flags) {           /* out of memory: the whole batch is tried again */
        keep_for_retry(b, NULL, v);
        failed(p, b, -1, now, rnd, v);
        return;
    }
    enum br_partial r = br_outcome_partial_why(body, body_len, b->recs, b->n, flags,
                                               v->why, sizeof(v->why));
    if (p->opaque_response && r != BR_PARTIAL_INVALID)
        r = BR_PARTIAL_ALL_OK;
    if (r == BR_PARTIAL_ALL_OK) {
        for (size_t i = 0; i < b->n; i++)
            v->fate[i] = BR_SETTLE_DELIVERED;
        v->delivered = b->n;
        v->all_delivered = true;
        v->action = BR_ACT_NONE;
    } else if (r == BR_PARTIAL_SOME_FAILED) {
        bool *retry = flags + b->n;
        mark_retry(p->ordering, b, flags, retry);
        keep_for_retry(b, retry, v);
        failed(p, b, -1, now, rnd, v);
    } else {
        if (r == BR_PARTIAL_INVALID)
            v->answer = BR_ANSWER_INVALID;
        keep_for_retry(b, NULL, v);
        failed(p, b, -1, now, rnd, v);
    }
    free(flags);
}

void br_verdict_decide(const struct br_policy *p, const struct br_verdict_batch *b,
                       const struct br_result *res, const char *body, size_t body_len,
                       int64_t now, uint64_t rnd, struct br_verdict *v)
{
    enum br_settle *fate = v->fate;
    memset(v, 0, sizeof(*v));
    v->fate = fate;
    switch (res->kind) {
    case BR_RES_OK:
        answered(p, b, body, body_len, now, rnd, v);
        break;
    case BR_RES_TOO_LARGE:
        /* Halves until one record is left, which no event can carry. */
        if (b->n > 1)
            all_stay(b, v, BR_ACT_BISECT, NULL);
        else
            all_stay(b, v, BR_ACT_DEAD_LETTER, "MaximumPayloadSizeExceeded");
        break;
    case BR_RES_PERMANENT:
        all_stay(b, v, BR_ACT_DEAD_LETTER, "NonRetryableError");
        break;
    default:
        keep_for_retry(b, NULL, v);
        failed(p, b, res->retry_after_ms, now, rnd, v);
        break;
    }
}
