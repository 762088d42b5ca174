/* dlq_replay_topic.h - dead letters replayed from a topic (`fnbridge dlq
 * replay --from-topic`, README: Replaying dead letters): each message is
 * the record it was again, and goes through the pipeline as configured
 * (its format, batching, function, retry policy and dead-letter sink). */
#ifndef BR_DLQ_REPLAY_TOPIC_H
#define BR_DLQ_REPLAY_TOPIC_H

#include "config.h"
#include "dlq_input.h"
#include "dlq_replay_run.h"

/* One run from a topic input: in is opened, borrowed. */
struct br_dlq_topic_run {
    const struct br_dlq_topic_ops *ops;
    void *in;
    struct br_dlq_run *run;          /* counts, limit, dry_run, complete, fatal */
};

/* Runs every message of t through the pipeline conf of cfg: one that
 * names another pipeline is skipped (its own group reads it), one past
 * the replay limit is parked, the others are emitted; the group's
 * position moves past each message only once it succeeded, was written
 * back through the pipeline's dead-letter sink (its replay count raised)
 * or was parked. With run->dry_run only reads and counts. Returns 0, or
 * -1 when the pipeline could not be built (printed). */
int br_dlq_run_topic(struct br_config *cfg, struct br_pipeline_conf *conf,
                     struct br_dlq_topic_run *t);

#endif
