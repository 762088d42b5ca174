/* runner.c - applies the outcome rules to a pipeline's batches: forms
 * them (batcher.c), starts their invocations (invoke.c), asks
 * br_verdict_decide what each answer means, and settles, retries,
 * bisects or dead-letters accordingly. It owns every batch list and the
 * round's acks, so a batch's life is in this one file. */
#include <stdlib.h>
#include <string.h>

#include "batcher.h"
#include "clock.h"
#include "dlq_sink.h"
#include "gate.h"
#include "invoke.h"
#include "log.h"
#include "pipeline.h"
#include "runner.h"
#include "verdict.h"

#define SINK_RETRY_MS 1000        /* a failed dead-letter write, or no memory to split */

struct br_runner {
    struct br_pipeline *pl;
    struct br_batcher *batcher;
    struct br_policy policy;
    size_t max_payload;
    size_t concurrency;
    struct br_batch_list runnable;  /* retries and halves due now */
    struct br_batch_list waiting;   /* in backoff, or for the sink */
    struct br_batch_list flight;    /* invocations in progress */
    struct br_batch_list sinking;   /* at the dead-letter sink, unanswered */
    int64_t sink_retry_ms;          /* while the sink fails: its next try */
    struct br_record_list acks;     /* settled this round */
    unsigned seen_revoke_epoch;
    struct br_gate gate;            /* circuit breaker and rate limit */
    /* scratch for one verdict: a batch never holds more records */
    size_t scratch_n;
    enum br_settle *fate;
    bool *stale;
    bool *none_stale;             /* all false: a verdict's first look */
};

static struct br_policy policy_of(const struct br_pipeline *pl)
{
    const struct br_pipeline_conf *c = pl->conf;
    return (struct br_policy){
        .max_attempts = (int)c->retry_max_attempts,
        .max_record_age_ms = c->max_record_age_ms,
        .backoff = {c->backoff_initial_ms, c->backoff_max_ms, c->backoff_multiplier,
                    c->backoff_jitter},
        .bisect_on_error = c->bisect_on_error,
        .ordering = pl->src.ordering,
    };
}

struct br_runner *br_runner_create(struct br_pipeline *pl)
{
    struct br_runner *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->pl = pl;
    r->policy = policy_of(pl);
    r->max_payload = (size_t)br_target_common(&pl->tgt)->max_payload;
    r->concurrency = (size_t)pl->conf->concurrency;
    r->scratch_n = (size_t)pl->conf->batch_max_records;
    r->fate = calloc(r->scratch_n, sizeof(*r->fate));
    r->stale = calloc(r->scratch_n, sizeof(*r->stale));
    r->none_stale = calloc(r->scratch_n, sizeof(*r->none_stale));
    r->batcher = br_batcher_create(pl, pl->src.ordering, &r->acks);
    br_gate_init(&r->gate, pl, br_now_ms());
    if (!r->fate || !r->stale || !r->none_stale || !r->batcher) {
        br_runner_destroy(r);
        return NULL;
    }
    return r;
}

static void free_batches(struct br_batch_list *l)
{
    struct br_batch *b;
    while ((b = l->head)) {
        br_batch_list_remove(l, b);
        br_batch_free_all(b);
    }
}

void br_runner_destroy(struct br_runner *r)
{
    if (!r)
        return;
    free_batches(&r->runnable);
    free_batches(&r->waiting);
    free_batches(&r->flight);
    free_batches(&r->sinking);
    br_batcher_destroy(r->batcher);
    br_record_list_free(&r->acks);
    free(r->fate);
    free(r->stale);
    free(r->none_stale);
    free(r);
}

void br_runner_intake(struct br_runner *r, struct br_record_list *recs)
{
    br_batcher_intake(r->batcher, recs);
}

void br_runner_flush_acks(struct br_runner *r)
{
    if (r->acks.count)
        br_pipeline_ack(r->pl, &r->acks);
}

void br_runner_abort(struct br_runner *r)
{
    struct br_target *tgt = &r->pl->tgt;
    for (struct br_batch *b = r->flight.head; b; b = b->next)
        if (tgt->ops->cancel)
            tgt->ops->cancel(tgt, &b->inv);
}

/* ------------------------------------------------------------ settling */

/* Takes the records fate[] names out of b (all with how when fate is
 * NULL) and queues them for the source; their lanes may go on. */
static void settle(struct br_runner *r, struct br_batch *b, const enum br_settle *fate,
                   enum br_settle how)
{
    struct br_record_list out = {0};
    struct br_record *rec;
    br_batch_take(b, fate, how, &out);
    if (out.count)
        atomic_store_explicit(&r->pl->obs.last_settle_ms, br_now_ms(),
                              memory_order_relaxed);
    while ((rec = br_record_list_pop(&out))) {
        br_batcher_release(r->batcher, rec);
        br_record_list_push(&r->acks, rec);
    }
}

/* Every record of b settled: its successor (a bisected half) may run. */
static void finished(struct br_runner *r, struct br_batch *b)
{
    if (b->successor)
        br_batch_list_push(&r->runnable, b->successor);
    b->successor = NULL;
    br_batch_free(b);
}

static void run_later(struct br_runner *r, struct br_batch *b, int64_t due_ms)
{
    b->due_ms = due_ms;
    br_batch_list_push(&r->waiting, b);
}

/* Marks the records of revoked shards in r->stale; returns how many. */
static size_t mark_stale(struct br_runner *r, const struct br_batch *b)
{
    size_t stale = 0;
    for (size_t i = 0; i < b->n; i++)
        stale += r->stale[i] = br_pipeline_record_stale(b->pl, b->recs[i]);
    return stale;
}

/* Returns the records of revoked shards (unsettled); true if any remain.
 * Not for a batch in flight: its event is borrowed by the target. */
static bool drop_stale(struct br_runner *r, struct br_batch *b)
{
    if (!mark_stale(r, b))
        return true;
    for (size_t i = 0; i < b->n; i++)
        r->fate[i] = r->stale[i] ? BR_SETTLE_ABANDONED : BR_SETTLE_NONE;
    settle(r, b, r->fate, BR_SETTLE_NONE);
    return b->n > 0;
}

static void sink_answers(struct br_runner *r, int64_t now);

/* While the sink fails one batch at a time probes it: the others wait
 * for its next try, and go as soon as one write succeeds. A batch whose
 * wait for that try ended (due) only waits for a probe out. */
static bool sink_probing(struct br_runner *r, int64_t now, bool due)
{
    return br_dlq_sink_streak(r->pl->dlq) > 0 &&
           (r->sinking.count > 0 || (!due && now < r->sink_retry_ms));
}

static void sink_later(struct br_runner *r, struct br_batch *b, int64_t now)
{
    int64_t backoff = br_dlq_sink_backoff_ms(br_dlq_sink_streak(r->pl->dlq));
    run_later(r, b, r->sink_retry_ms > now ? r->sink_retry_ms : now + backoff);
}

static void send_to_sink(struct br_runner *r, struct br_batch *b, const char *condition,
                         int64_t now, bool due)
{
    struct br_pipeline *pl = r->pl;
    if (!pl->dlq) {         /* fnbridge invoke: reported, not written */
        if (pl->report)
            pl->report(pl, b, condition, b->last_body, b->last_body_len);
        settle(r, b, NULL, BR_SETTLE_DEAD_LETTERED);
        finished(r, b);
        return;
    }
    if (!b->body.len)
        b->body.max = 0;   /* the record keeps the whole event, however big */
    /* Nothing is acked until the sink holds the records: the lanes of this
     * batch stay blocked while it waits for the sink or for its answer. */
    b->dlq_condition = condition;
    struct br_dlq_job *job;
    /* Without its event (out of memory) the line would not hold the
     * records: like a failed write, it is tried again. */
    if ((!b->body.len && br_invoke_encode(b) < 0) || !(job = calloc(1, sizeof(*job)))) {
        run_later(r, b, now + SINK_RETRY_MS);
        return;
    }
    if (sink_probing(r, now, due)) {
        free(job);
        sink_later(r, b, now);
        return;
    }
    job->batch = b;
    job->condition = condition;
    br_batch_list_push(&r->sinking, b);
    br_dlq_sink_submit(pl->dlq, job);
    sink_answers(r, now);   /* a sink without a worker answered already */
}

static void dead_letter(struct br_runner *r, struct br_batch *b, const char *condition)
{
    send_to_sink(r, b, condition, br_now_ms(), false);
}

static void sink_written(struct br_runner *r, struct br_batch *b)
{
    struct br_pipeline *pl = r->pl;
    br_warn(pl->scope, "dead-lettered %zu record%s (%s) to %s", b->n,
            b->n == 1 ? "" : "s", b->dlq_condition, br_dlq_sink_where(pl->dlq));
    atomic_fetch_add(&pl->stats.dead_lettered, b->n);
    settle(r, b, NULL, BR_SETTLE_DEAD_LETTERED);
    finished(r, b);
}

/* The sink answered: a durable write settles its batch; a failure keeps
 * it for the sink's next try (the sink logged it and holds the source).
 * After a success the batches kept for the sink go now. */
static void sink_answers(struct br_runner *r, int64_t now)
{
    struct br_dlq_job *job = r->pl->dlq ? br_dlq_sink_take_answers(r->pl->dlq) : NULL;
    bool wrote = false;
    while (job) {
        struct br_dlq_job *next = job->next;
        struct br_batch *b = job->batch;
        br_batch_list_remove(&r->sinking, b);
        if (job->rc == 0) {
            sink_written(r, b);
            wrote = true;
        } else {
            r->sink_retry_ms = now + br_dlq_sink_backoff_ms(br_dlq_sink_streak(r->pl->dlq));
            run_later(r, b, r->sink_retry_ms);
        }
        free(job);
        job = next;
    }
    if (!wrote || br_dlq_sink_streak(r->pl->dlq) > 0)
        return;
    r->sink_retry_ms = 0;
    for (struct br_batch *b = r->waiting.head; b; b = b->next)
        if (b->dlq_condition && b->due_ms > now)
            b->due_ms = now;
}

/* Two halves run one after the other; out of memory, the whole batch is
 * tried again later. */
static void bisect(struct br_runner *r, struct br_batch *b)
{
    struct br_batch *first, *second;
    if (br_batch_halve(b, r->max_payload, &first, &second) < 0) {
        run_later(r, b, br_now_ms() + SINK_RETRY_MS);
        return;
    }
    br_batch_list_push(&r->runnable, first);
}

/* ------------------------------------------------------------ verdicts */

/* The `outcome` label of an invocation that ended with res. */
static enum br_outcome outcome_of(const struct br_result *res, const struct br_verdict *v)
{
    if (res->timed_out)
        return BR_OUTCOME_TIMEOUT;
    switch (res->kind) {
    case BR_RES_OK:
        return v->answer == BR_ANSWER_INVALID ? BR_OUTCOME_FUNCTION_ERROR
                                              : BR_OUTCOME_SUCCESS;
    case BR_RES_RETRY:
        return res->status == 429 ? BR_OUTCOME_THROTTLED : BR_OUTCOME_TRANSIENT;
    case BR_RES_FUNCTION_ERROR:
        return BR_OUTCOME_FUNCTION_ERROR;
    case BR_RES_PERMANENT:
    case BR_RES_TOO_LARGE:
        break;
    }
    return BR_OUTCOME_REJECTED;
}

/* Metering and the invocation metrics of b's invocation, which ended;
 * and the circuit breaker learns how. */
static void observe_end(struct br_runner *r, const struct br_batch *b,
                        const struct br_result *res, const struct br_verdict *v)
{
    double ms = (double)(br_now_us() - b->started_us) / 1000.0;
    enum br_outcome outcome = outcome_of(res, v);
    br_gate_end(&r->gate, b->gate_ticket, outcome, res, br_now_ms());
    br_observe_invocation_end(&r->pl->obs, outcome, br_result_reached(res), ms, b->n);
    if (res->kind == BR_RES_OK)
        return;
    if (res->error[0]) {
        br_observe_error(&r->pl->obs, res->error);
    } else if (res->status) {
        /* A plain HTTP error says nothing more: the status is the error. */
        char why[64];
        snprintf(why, sizeof(why), "the function answered status %ld", res->status);
        br_observe_error(&r->pl->obs, why);
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

static struct br_verdict decide_with(struct br_runner *r, const struct br_batch *b,
                                     const bool *stale, const struct br_result *res,
                                     const char *body, size_t body_len)
{
    struct br_verdict_batch vb = {.recs = b->recs, .n = b->n, .stale = stale,
                                  .attempts = b->attempts, .oldest_ms = b->oldest_ms};
    struct br_verdict v = {.fate = r->fate};
    r->policy.opaque_response = r->pl->opaque_response;   /* set after create */
    br_verdict_decide(&r->policy, &vb, res, body, body_len, br_now_ms(), random_u64(), &v);
    return v;
}

/* Revoked shards matter only to records that stay: a full success never
 * looks at them, so their per-record check is made only when some stay,
 * and the verdict taken again only when one of them is revoked. */
static struct br_verdict decide(struct br_runner *r, struct br_batch *b,
                                const struct br_result *res, const char *body,
                                size_t body_len)
{
    struct br_verdict v = decide_with(r, b, r->none_stale, res, body, body_len);
    if (v.stay && mark_stale(r, b))
        v = decide_with(r, b, r->stale, res, body, body_len);
    return v;
}

/* The function answered with a body that opens as a JSON object and does
 * not parse: it may hide failures, so it is a function error of the whole
 * batch, named in the dead letter's functionError. */
static void count_answer(struct br_runner *r, struct br_batch *b, const struct br_verdict *v)
{
    struct br_pipeline *pl = r->pl;
    if (v->answer == BR_ANSWER_OK) {
        atomic_fetch_add(&pl->stats.invocations_ok, 1);
    } else if (v->answer == BR_ANSWER_INVALID) {
        atomic_fetch_add(&pl->stats.invocations_failed, 1);
        snprintf(b->last_error, sizeof(b->last_error), "invalid JSON response: %s", v->why);
        br_warn(pl->tgt.scope, "invalid JSON response (%s); the batch of %zu record%s "
                "failed (attempt %d)", v->why, b->n, b->n == 1 ? "" : "s", b->attempts);
    }
}

/* A full success: the source and `fnbridge invoke` may read the answer. */
static void delivered_all(struct br_runner *r, struct br_batch *b, const char *body,
                          size_t body_len)
{
    struct br_pipeline *pl = r->pl;
    if (pl->src.ops->response && body_len)
        pl->src.ops->response(&pl->src, b->recs, b->n, body, body_len);
    if (pl->report)
        pl->report(pl, b, NULL, body, body_len);
}

static void apply(struct br_runner *r, struct br_batch *b, const struct br_verdict *v,
                  const char *body, size_t body_len)
{
    struct br_pipeline *pl = r->pl;
    count_answer(r, b, v);
    if (v->all_delivered)
        delivered_all(r, b, body, body_len);
    atomic_fetch_add(&pl->stats.delivered, v->delivered);
    if (v->stay < b->n)
        settle(r, b, v->fate, BR_SETTLE_NONE);
    switch (v->action) {
    case BR_ACT_NONE:
        finished(r, b);
        break;
    case BR_ACT_RETRY:
        atomic_fetch_add(&pl->stats.retries, 1);
        br_debug(pl->scope, "retrying %zu records in %lld ms (attempt %d failed)", b->n,
                 (long long)v->delay_ms, b->attempts);
        /* The event is made again for the next attempt (the same bytes:
         * nothing in it depends on the attempt). Kept while waiting, every
         * batch behind a function that is down would hold its event on
         * top of its records, which max_inflight does not count. */
        br_buf_free(&b->body);
        br_buf_free(&b->headers);
        run_later(r, b, v->due_ms);
        break;
    case BR_ACT_BISECT:
        br_debug(pl->scope, "bisecting a failing batch of %zu records", b->n);
        bisect(r, b);
        break;
    case BR_ACT_DEAD_LETTER:
        dead_letter(r, b, v->condition);
        break;
    }
}

void br_invocation_done(struct br_invocation *inv)
{
    struct br_batch *b = inv->core;
    struct br_runner *r = b->pl->runner;
    struct br_result *res = &inv->result;
    /* Only its first 4 KiB (last_body) outlive this call: a batch waiting
     * for a retry must not hold a response body of up to 6 MiB. */
    char *body = res->body;
    size_t body_len = res->body_len;
    res->body = NULL;
    res->body_len = 0;
    b->in_flight = false;
    br_batch_list_remove(&r->flight, b);
    br_batch_note_answer(b, res, body, body_len);
    /* A success is counted once its answer is read (count_answer). */
    if (res->kind != BR_RES_OK) {
        atomic_fetch_add(&b->pl->stats.invocations_failed, 1);
        br_debug(b->pl->scope, "invocation of %zu records failed: status %ld %s",
                 b->n, res->status, res->error);
    }
    struct br_verdict v = decide(r, b, res, body, body_len);
    observe_end(r, b, res, &v);
    apply(r, b, &v, body, body_len);
    free(body);
}

/* ------------------------------------------------------------ starting */

/* Starts b's invocation; the gate allowed one at now. */
static void start(struct br_runner *r, struct br_batch *b, int64_t now)
{
    if (!drop_stale(r, b)) {
        finished(r, b);
        return;
    }
    if (!b->body.len && br_invoke_encode(b) < 0) {
        /* No event can carry it: the rules for an answer "too large". */
        struct br_result too_large = {.kind = BR_RES_TOO_LARGE, .retry_after_ms = -1};
        struct br_verdict v = decide(r, b, &too_large, NULL, 0);
        apply(r, b, &v, NULL, 0);
        return;
    }
    b->in_flight = true;
    b->gate_ticket = br_gate_start(&r->gate, now);
    b->started_us = br_now_us();
    br_observe_invocation_start(&r->pl->obs);
    br_batch_list_push(&r->flight, b);
    if (br_invoke_submit(b) < 0)
        br_invocation_done(&b->inv);
}

/* True while a batch waits for the dead-letter sink (its answer or its
 * next try). */
static bool waits_for_sink(const struct br_runner *r)
{
    if (r->sinking.count)
        return true;
    for (const struct br_batch *b = r->waiting.head; b; b = b->next)
        if (b->dlq_condition)
            return true;
    return false;
}

/* A failing sink holds the source only while records wait for it. When
 * none do (the write that failed was the source's own, for a message the
 * broker will send again; or the batch's partition was revoked), the hold
 * is lifted once the sink's backoff passed: the source goes on and the
 * next dead letter tries the sink again. Until a write succeeds the sink
 * still counts as failing (/readyz, fnbridge_dead_letter_sink_up). */
static void release_idle_sink_hold(struct br_runner *r, int64_t now)
{
    struct br_pipeline *pl = r->pl;
    if (!pl->dlq || !(atomic_load(&pl->hold) & BR_HOLD_SINK) ||
        br_dlq_sink_streak(pl->dlq) == 0 || waits_for_sink(r))
        return;
    if (!r->sink_retry_ms) {
        r->sink_retry_ms = now + br_dlq_sink_backoff_ms(br_dlq_sink_streak(pl->dlq));
        return;
    }
    if (now < r->sink_retry_ms)
        return;
    br_info(pl->scope, "no record waits for the failing dead-letter sink: the source "
            "resumes, and the next dead letter tries the sink again");
    r->sink_retry_ms = 0;
    br_pipeline_hold(pl, BR_HOLD_SINK, false);
}

/* Batches due again: retried, or their dead-letter write tried again. */
static void promote_waiting(struct br_runner *r, int64_t now)
{
    sink_answers(r, now);
    release_idle_sink_hold(r, now);
    struct br_batch *b = r->waiting.head;
    while (b) {
        struct br_batch *next = b->next;
        if (b->due_ms <= now) {
            br_batch_list_remove(&r->waiting, b);
            if (b->dlq_condition)
                send_to_sink(r, b, b->dlq_condition, now, true);
            else
                br_batch_list_push(&r->runnable, b);
        }
        b = next;
    }
}

/* Drops the records of revoked shards from the successors of b, freeing
 * those left empty (b itself may be in flight). */
static void drop_stale_successors(struct br_runner *r, struct br_batch *b)
{
    for (struct br_batch **sp = &b->successor; *sp;) {
        struct br_batch *s = *sp;
        if (drop_stale(r, s)) {
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
static void purge_stale_batches(struct br_runner *r, struct br_batch_list *l)
{
    for (struct br_batch *b = l->head, *next; b; b = next) {
        next = b->next;
        drop_stale_successors(r, b);
        if (l != &r->flight && !drop_stale(r, b)) {
            br_batch_list_remove(l, b);
            finished(r, b);
        }
    }
}

/* Returns the queued records of revoked shards at once, so a revoke never
 * waits for a busy pipeline to reach them. */
static void purge_stale(struct br_runner *r)
{
    unsigned epoch = atomic_load(&r->pl->revoke_epoch);
    if (epoch == r->seen_revoke_epoch)
        return;
    r->seen_revoke_epoch = epoch;
    br_batcher_purge_stale(r->batcher);
    purge_stale_batches(r, &r->flight);
    purge_stale_batches(r, &r->waiting);
    purge_stale_batches(r, &r->runnable);
}

/* Batches due while the circuit is open or no token is there wait in
 * runnable: a retry that falls due then waits too, and spends no
 * attempt (its records' age goes on counting). */
void br_runner_pump(struct br_runner *r, int64_t now)
{
    purge_stale(r);
    promote_waiting(r, now);
    br_gate_tick(&r->gate, now);
    while (r->flight.count < r->concurrency && br_gate_wait(&r->gate, now) == 0) {
        struct br_batch *b = r->runnable.head;
        if (b)
            br_batch_list_remove(&r->runnable, b);
        else if (!(b = br_batcher_form(r->batcher, now)))
            break;
        start(r, b, now);
    }
}

/* The later of two waits (-1: never). */
static int64_t later(int64_t a, int64_t b)
{
    return a < 0 || b < 0 ? -1 : a > b ? a : b;
}

static int64_t sooner(int64_t a, int64_t b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

int64_t br_runner_next_due(struct br_runner *r, int64_t now)
{
    int64_t best = -1;
    if (r->flight.count < r->concurrency) {
        /* A batch ready to start waits for the gate too. */
        best = r->runnable.count ? 0 : br_batcher_wait(r->batcher, now);
        best = later(best, br_gate_wait(&r->gate, now));
        if (best == 0)
            return 0;
    }
    for (struct br_batch *b = r->waiting.head; b; b = b->next)
        best = sooner(best, b->due_ms > now ? b->due_ms - now : 0);
    /* The cooldown's end releases the source even with nothing queued. */
    return sooner(best, br_gate_timer(&r->gate, now));
}
