/* readiness.h - the one judge of whether a pipeline is ready (/readyz,
 * /status) and whether its threads still turn (/healthz). The rules are
 * listed in README: Operations, Readiness; they read only the pipeline's
 * observe block, so any thread may ask. */
#ifndef BR_READINESS_H
#define BR_READINESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct br_pipeline;

/* A thread that has not turned for this long is taken for hung. Generous:
 * a source thread may legitimately wait up to 10 s in a revoke or a
 * broker lookup, the dispatcher wakes at least every second. */
#define BR_LIVENESS_BOUND_MS 60000
/* Slack added to the stall bound, for scheduling and batching. */
#define BR_STALL_SLACK_MS 5000

#define BR_READY_MAX_REASONS 6
#define BR_READY_REASON_LEN 320

/* What readiness is judged from: a snapshot of one pipeline. Times are
 * monotonic ms except the *_wall ones. */
struct br_ready_facts {
    int source_state;             /* enum br_source_state */
    const char *source_error;     /* masked; "" or NULL when none */
    int breaker_state;            /* enum br_breaker_state */
    int64_t breaker_open_until_wall;
    int sink_state;               /* enum br_sink_state */
    const char *sink_error;       /* masked */
    int64_t inflight_records;
    int64_t last_settle_ms;       /* a record last settled */
    int64_t idle_ms;              /* nothing was in flight */
    int64_t stall_bound_ms;       /* br_readiness_stall_bound_ms */
    int64_t now_ms;
};

/* Why a pipeline is not ready: one sentence per reason, none when ready. */
struct br_readiness {
    int n;
    char reasons[BR_READY_MAX_REASONS][BR_READY_REASON_LEN];
};

/* Judges f into out; returns true when ready (out->n == 0). */
bool br_readiness_judge(const struct br_ready_facts *f, struct br_readiness *out);

/* How long records may wait in flight with nothing settling before the
 * pipeline counts as stalled: a partial batch's wait, then an attempt
 * that runs into the function's timeout, the longest backoff, and a
 * second attempt that times out too, plus BR_STALL_SLACK_MS. A healthy
 * pipeline settles something well within it; a failing function that is
 * still being retried may pass it, and is then rightly not ready. With a
 * rate limit (rate_per_second > 0; 0: none) two tokens' wait is added: a
 * pipeline waiting for its next token is slow by design, not stalled. */
int64_t br_readiness_stall_bound_ms(int64_t batch_max_wait_ms, int64_t timeout_ms,
                                    int64_t backoff_max_ms, double rate_per_second);

/* Judges pipeline pl now; returns true when ready. */
bool br_pipeline_ready(struct br_pipeline *pl, struct br_readiness *out);

/* Liveness of pl's threads: true when both its source thread and the
 * dispatcher turned within BR_LIVENESS_BOUND_MS of now_ms; else false
 * with a sentence in why naming which did not. */
bool br_pipeline_alive(struct br_pipeline *pl, int64_t now_ms, char *why, size_t n);

#endif
