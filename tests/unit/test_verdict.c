/* test_verdict.c - the outcome rules (bridge/verdict.c), one table row per
 * rule: what a result does to each record of a batch, and what becomes
 * of the rest (retry at which time, bisect, dead-letter as which
 * condition). The function is pure, so each row is one call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/verdict.h"
#include "connectors/kafka/kafka_event.h"
#include "unit.h"

#define NOW 1000000000LL
#define HOUR 3600000LL
#define MAXN 8

struct row {
    const char *rule;
    enum br_result_kind kind;
    const char *body;           /* the function's answer (BR_RES_OK) */
    const char *parts;          /* one char per record: its partition (= shard) */
    const char *stale;          /* one char per record: 1 = shard revoked */
    int attempts;
    int64_t age_ms;             /* of the oldest record */
    int64_t retry_after_ms;
    enum br_ordering ordering;
    bool no_bisect, opaque;
    /* expected */
    enum br_action action;
    const char *condition;
    int64_t due_in_ms;          /* BR_ACT_RETRY: due - now */
    enum br_answer answer;
    const char *fates;          /* per record: D delivered, A abandoned, S stays */
};

/* Policy: 3 attempts, 1 h record age, backoff 100 ms doubling to 1 s,
 * no jitter (so a retry's time is exact), bisect unless no_bisect. */
static const struct row rows[] = {
    {"an empty answer delivers the batch", BR_RES_OK, "", "000", NULL, 1, 0, -1,
     BR_ORDER_SHARD, 0, 0, BR_ACT_NONE, NULL, 0, BR_ANSWER_OK, "DDD"},
    {"plain text is a return value: delivered", BR_RES_OK, "ok", "00", NULL, 1, 0, -1,
     BR_ORDER_SHARD, 0, 0, BR_ACT_NONE, NULL, 0, BR_ANSWER_OK, "DD"},
    {"an empty batchItemFailures delivers", BR_RES_OK, "{\"batchItemFailures\":[]}", "00",
     NULL, 1, 0, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_NONE, NULL, 0, BR_ANSWER_OK, "DD"},
    {"stale records of a full success are delivered all the same", BR_RES_OK, "", "01",
     "01", 1, 0, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_NONE, NULL, 0, BR_ANSWER_OK, "DD"},
    {"partial, unordered: only the named record is retried", BR_RES_OK,
     "{\"batchItemFailures\":[{\"itemIdentifier\":\"t-0-1\"}]}", "000", NULL, 1, 0, -1,
     BR_ORDER_NONE, 0, 0, BR_ACT_RETRY, NULL, 100, BR_ANSWER_OK, "DSD"},
    {"partial, ordered by partition: the rest of its partition is retried", BR_RES_OK,
     "{\"batchItemFailures\":[{\"itemIdentifier\":\"t-1-1\"}]}", "0110", NULL, 1, 0, -1,
     BR_ORDER_SHARD, 0, 0, BR_ACT_RETRY, NULL, 100, BR_ANSWER_OK, "DSSD"},
    {"partial, ordered by partition, unordered policy: the rest is delivered", BR_RES_OK,
     "{\"batchItemFailures\":[{\"itemIdentifier\":\"t-1-1\"}]}", "0110", NULL, 1, 0, -1,
     BR_ORDER_NONE, 0, 0, BR_ACT_RETRY, NULL, 100, BR_ANSWER_OK, "DSDD"},
    {"partial, object identifier form", BR_RES_OK,
     "{\"batchItemFailures\":[{\"itemIdentifier\":{\"partition\":\"t-1\",\"offset\":1}}]}",
     "010", NULL, 1, 0, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_RETRY, NULL, 100, BR_ANSWER_OK,
     "DSD"},
    {"partial: a retried record of a revoked shard goes back", BR_RES_OK,
     "{\"batchItemFailures\":[{\"itemIdentifier\":\"t-0-0\"}]}", "001", "010", 1, 0, -1,
     BR_ORDER_SHARD, 0, 0, BR_ACT_RETRY, NULL, 100, BR_ANSWER_OK, "SAD"},
    {"partial: an identifier naming no record fails the batch", BR_RES_OK,
     "{\"batchItemFailures\":[{\"itemIdentifier\":\"t-0-9\"}]}", "00", NULL, 1, 0, -1,
     BR_ORDER_SHARD, 0, 0, BR_ACT_RETRY, NULL, 100, BR_ANSWER_OK, "SS"},
    {"an object that does not parse fails the batch", BR_RES_OK, "{\"batchItemFailures\":",
     "00", NULL, 1, 0, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_RETRY, NULL, 100,
     BR_ANSWER_INVALID, "SS"},
    {"fnbridge invoke: the answer's batchItemFailures are the user's", BR_RES_OK,
     "{\"batchItemFailures\":[{\"itemIdentifier\":\"x\"}]}", "0", NULL, 1, 0, -1,
     BR_ORDER_SHARD, 0, 1, BR_ACT_NONE, NULL, 0, BR_ANSWER_OK, "D"},
    {"fnbridge invoke: an answer that does not parse still fails", BR_RES_OK, "{x", "0",
     NULL, 1, 0, -1, BR_ORDER_SHARD, 0, 1, BR_ACT_RETRY, NULL, 100, BR_ANSWER_INVALID, "S"},
    {"a transient failure is retried after the first backoff", BR_RES_RETRY, NULL, "00",
     NULL, 1, 0, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_RETRY, NULL, 100, BR_ANSWER_NONE, "SS"},
    {"a function error is retried, backoff doubling", BR_RES_FUNCTION_ERROR, NULL, "00",
     NULL, 2, 0, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_RETRY, NULL, 200, BR_ANSWER_NONE, "SS"},
    {"Retry-After longer than the backoff is honoured", BR_RES_RETRY, NULL, "0", NULL, 1,
     0, 5000, BR_ORDER_SHARD, 0, 0, BR_ACT_RETRY, NULL, 5000, BR_ANSWER_NONE, "S"},
    {"Retry-After shorter than the backoff is not", BR_RES_RETRY, NULL, "0", NULL, 1, 0,
     10, BR_ORDER_SHARD, 0, 0, BR_ACT_RETRY, NULL, 100, BR_ANSWER_NONE, "S"},
    {"Retry-After is capped by the record age budget", BR_RES_RETRY, NULL, "0", NULL, 1,
     HOUR - 2000, 10 * HOUR, BR_ORDER_SHARD, 0, 0, BR_ACT_RETRY, NULL, 2000,
     BR_ANSWER_NONE, "S"},
    {"a failure's revoked records go back, the rest is retried", BR_RES_RETRY, NULL, "012",
     "100", 1, 0, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_RETRY, NULL, 100, BR_ANSWER_NONE, "ASS"},
    {"a failure with every shard revoked finishes the batch", BR_RES_RETRY, NULL, "01",
     "11", 1, 0, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_NONE, NULL, 0, BR_ANSWER_NONE, "AA"},
    {"attempts exhausted: a batch of several is bisected", BR_RES_RETRY, NULL, "00", NULL,
     3, 0, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_BISECT, NULL, 0, BR_ANSWER_NONE, "SS"},
    {"attempts exhausted: one record is dead-lettered", BR_RES_RETRY, NULL, "0", NULL, 3,
     0, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_DEAD_LETTER, "RetryAttemptsExhausted", 0,
     BR_ANSWER_NONE, "S"},
    {"attempts exhausted without bisect: dead-lettered whole", BR_RES_RETRY, NULL, "00",
     NULL, 3, 0, -1, BR_ORDER_SHARD, 1, 0, BR_ACT_DEAD_LETTER, "RetryAttemptsExhausted", 0,
     BR_ANSWER_NONE, "SS"},
    {"records past max_record_age are not retried but bisected", BR_RES_RETRY, NULL, "00",
     NULL, 1, HOUR, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_BISECT, NULL, 0, BR_ANSWER_NONE, "SS"},
    {"one record past max_record_age is dead-lettered", BR_RES_RETRY, NULL, "0", NULL, 1,
     HOUR, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_DEAD_LETTER, "MaximumRecordAgeExceeded", 0,
     BR_ANSWER_NONE, "S"},
    {"too large: a batch of several is halved", BR_RES_TOO_LARGE, NULL, "00", "01", 1, 0,
     -1, BR_ORDER_SHARD, 1, 0, BR_ACT_BISECT, NULL, 0, BR_ANSWER_NONE, "SS"},
    {"too large: one record is dead-lettered", BR_RES_TOO_LARGE, NULL, "0", NULL, 1, 0, -1,
     BR_ORDER_SHARD, 0, 0, BR_ACT_DEAD_LETTER, "MaximumPayloadSizeExceeded", 0,
     BR_ANSWER_NONE, "S"},
    {"a permanent error is dead-lettered at once", BR_RES_PERMANENT, NULL, "00", "01", 1,
     0, -1, BR_ORDER_SHARD, 0, 0, BR_ACT_DEAD_LETTER, "NonRetryableError", 0,
     BR_ANSWER_NONE, "SS"},
};

static char fate_char(enum br_settle s)
{
    return s == BR_SETTLE_DELIVERED ? 'D' : s == BR_SETTLE_ABANDONED ? 'A'
         : s == BR_SETTLE_NONE      ? 'S' : '?';
}

static void run_row(const struct row *t)
{
    struct br_record *recs[MAXN];
    bool stale[MAXN] = {0};
    size_t n = strlen(t->parts);
    for (size_t i = 0; i < n; i++) {
        struct br_record_init init = {.kind = &br_kind_kafka, .topic = "t",
                                      .partition = t->parts[i] - '0', .offset = (int64_t)i};
        recs[i] = br_record_create(&init);
        recs[i]->shard = t->parts[i] - '0';
        recs[i]->received_ms = NOW - t->age_ms;
        stale[i] = t->stale && t->stale[i] == '1';
    }
    struct br_policy p = {.max_attempts = 3, .max_record_age_ms = HOUR,
                          .backoff = {100, 1000, 2.0, BR_JITTER_NONE},
                          .bisect_on_error = !t->no_bisect, .ordering = t->ordering,
                          .opaque_response = t->opaque};
    struct br_verdict_batch b = {.recs = recs, .n = n, .stale = stale,
                                 .attempts = t->attempts, .oldest_ms = NOW - t->age_ms};
    struct br_result res = {.kind = t->kind, .retry_after_ms = t->retry_after_ms};
    enum br_settle fate[MAXN];
    struct br_verdict v = {.fate = fate};
    br_verdict_decide(&p, &b, &res, t->body, t->body ? strlen(t->body) : 0, NOW, 12345, &v);

    char got[MAXN + 1] = "";
    size_t stay = 0, delivered = 0;
    for (size_t i = 0; i < n; i++) {
        got[i] = fate_char(fate[i]);
        stay += fate[i] == BR_SETTLE_NONE;
        delivered += fate[i] == BR_SETTLE_DELIVERED;
    }
    CHECK_MSG(strcmp(got, t->fates) == 0, "%s: fates %s, want %s", t->rule, got, t->fates);
    CHECK_MSG(v.action == t->action, "%s: action %d, want %d", t->rule, v.action, t->action);
    CHECK_MSG(v.answer == t->answer, "%s: answer %d, want %d", t->rule, v.answer, t->answer);
    CHECK_MSG(v.stay == stay && v.delivered == delivered, "%s: counts %zu/%zu", t->rule,
              v.stay, v.delivered);
    CHECK_MSG(v.all_delivered == (delivered == n), "%s: all_delivered", t->rule);
    if (t->condition)
        CHECK_MSG(v.condition && strcmp(v.condition, t->condition) == 0,
                  "%s: condition %s", t->rule, v.condition ? v.condition : "(none)");
    else
        CHECK_MSG(!v.condition, "%s: unexpected condition %s", t->rule, v.condition);
    if (t->action == BR_ACT_RETRY)
        CHECK_MSG(v.due_ms - NOW == t->due_in_ms && v.delay_ms == t->due_in_ms, "%s: due in %lld, want %lld", t->rule,
                  (long long)(v.due_ms - NOW), (long long)t->due_in_ms);
    if (t->answer == BR_ANSWER_INVALID)
        CHECK_MSG(strstr(v.why, "line 1") != NULL, "%s: why \"%s\"", t->rule, v.why);
    for (size_t i = 0; i < n; i++)
        br_record_free(recs[i]);
}

/* Full jitter stays within [0, the ceiling] of the attempt. */
static void test_jitter_bounds(void)
{
    struct br_record_init init = {.kind = &br_kind_kafka, .topic = "t"};
    struct br_record *rec = br_record_create(&init);
    rec->received_ms = NOW;
    struct br_record *recs[1] = {rec};
    bool stale[1] = {false};
    struct br_policy p = {.max_attempts = 9, .max_record_age_ms = HOUR,
                          .backoff = {100, 1000, 2.0, BR_JITTER_FULL}, .bisect_on_error = true};
    struct br_verdict_batch b = {.recs = recs, .n = 1, .stale = stale, .attempts = 2,
                                 .oldest_ms = NOW};
    struct br_result res = {.kind = BR_RES_RETRY, .retry_after_ms = -1};
    enum br_settle fate[1];
    bool spread = false;
    int64_t first = -1;
    for (uint64_t rnd = 1; rnd < 2000; rnd += 7) {
        struct br_verdict v = {.fate = fate};
        br_verdict_decide(&p, &b, &res, NULL, 0, NOW, rnd * 0x9E3779B97F4A7C15ULL, &v);
        CHECK_MSG(v.due_ms >= NOW && v.due_ms <= NOW + 200, "due in %lld",
                  (long long)(v.due_ms - NOW));
        if (first < 0)
            first = v.due_ms;
        spread |= v.due_ms != first;
    }
    CHECK(spread);
    br_record_free(rec);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++)
        run_row(&rows[i]);
    test_jitter_bounds();
    return UNIT_DONE("verdict");
}
