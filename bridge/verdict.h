/* verdict.h - the outcome rules of a batch (bridge/README.md, "A batch's
 * life"): retry with backoff, the record age limit, bisection,
 * dead-lettering, and partial answers with ordered lanes, as one pure
 * function. It reads the batch, the invocation's result, the policy and
 * the time, and says what becomes of every record; it changes nothing,
 * so one table-driven test (tests/unit/test_verdict.c) covers every rule. */
#ifndef BR_VERDICT_H
#define BR_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "connector.h"
#include "lane.h"
#include "outcome.h"
#include "record.h"

/* A pipeline's retry policy (retry.*, and the source's ordering). */
struct br_policy {
    int max_attempts;            /* invocations of a batch, the first included */
    int64_t max_record_age_ms;
    struct br_backoff backoff;
    bool bisect_on_error;
    enum br_ordering ordering;
    /* `fnbridge invoke`: a successful answer is the user's to read, not a
     * partial batch response (the event's records are not ours). */
    bool opaque_response;
};

/* What the batch as it was invoked looks like to the rules. */
struct br_verdict_batch {
    struct br_record *const *recs;
    size_t n;
    const bool *stale;           /* per record: its shard was revoked */
    int attempts;                /* invocations made, this one included */
    int64_t oldest_ms;           /* received_ms of its oldest record */
};

/* What becomes of the records that stay in the batch. */
enum br_action {
    BR_ACT_NONE,          /* none stays: the batch is finished */
    BR_ACT_RETRY,         /* run again at due_ms */
    BR_ACT_BISECT,        /* two halves, run one after the other */
    BR_ACT_DEAD_LETTER,   /* written to the sink as condition */
};

enum br_answer {
    BR_ANSWER_NONE,       /* no answer to count (transport failure...) */
    BR_ANSWER_OK,         /* the function answered */
    BR_ANSWER_INVALID,    /* it answered with a JSON object that does not parse */
};

struct br_verdict {
    /* Per record (caller's array of n): BR_SETTLE_DELIVERED, or
     * BR_SETTLE_ABANDONED (a revoked shard's), or BR_SETTLE_NONE: it
     * stays, and action applies to what stays. */
    enum br_settle *fate;
    size_t delivered;            /* how many fate[] marks delivered */
    size_t stay;                 /* how many stay */
    enum br_action action;
    int64_t due_ms;              /* BR_ACT_RETRY: now + delay_ms */
    int64_t delay_ms;
    const char *condition;       /* BR_ACT_DEAD_LETTER: the README's Outcomes */
    enum br_answer answer;
    bool all_delivered;          /* a full success: the source may read it */
    char why[BR_OUTCOME_WHY_MAX];/* BR_ANSWER_INVALID: the parser's reason */
};

/* Decides. body is the function's answer (for BR_RES_OK), rnd a uniform
 * random value for the backoff's jitter. v->fate must point to n
 * entries. Allocates only scratch space, freed before it returns; out of
 * memory it errs on the side of retrying. */
void br_verdict_decide(const struct br_policy *p, const struct br_verdict_batch *b,
                       const struct br_result *res, const char *body, size_t body_len,
                       int64_t now, uint64_t rnd, struct br_verdict *v);

#endif
