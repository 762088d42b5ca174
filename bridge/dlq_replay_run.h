/* dlq_replay_run.h - dead letters re-driven through a pipeline's function
 * and retry policy, one after the other (`fnbridge dlq replay`, README:
 * Replaying dead letters). */
#ifndef BR_DLQ_REPLAY_RUN_H
#define BR_DLQ_REPLAY_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dlq_input.h"

struct br_batch;
struct br_pipeline;

/* Lines and the records they stand for. */
struct br_dlq_tally {
    size_t lines;
    size_t records;
};

struct br_dlq_counts {
    struct br_dlq_tally succeeded;   /* (dry run: would be sent) */
    struct br_dlq_tally failed;      /* failed again, written back */
    struct br_dlq_tally parked;      /* past the replay limit, kept aside */
    struct br_dlq_tally other;       /* another pipeline's, left in place */
    size_t malformed;                /* not dead letters, left in place */
};

/* One run: what it reads, where letters go, what it counted. in and out
 * are borrowed. */
struct br_dlq_run {
    struct br_dlq_input *in;
    struct br_dlq_output *out;
    int64_t max_replays;
    bool dry_run;
    struct br_dlq_counts counts;
    bool complete;                   /* the input was read to its end */
    bool fatal;                      /* it stopped on an error (printed) */
};

enum br_dlq_action {
    BR_DLQ_SEND,
    BR_DLQ_PARK,                     /* its replayCount reached the limit */
    BR_DLQ_OTHER,                    /* it names another pipeline */
};

/* What becomes of l in a replay through the pipeline shown as pipeline. */
enum br_dlq_action br_dlq_classify(const struct br_dlq_run *run,
                                   const struct br_dlq_letter *l, const char *pipeline);

/* Counts a line that is not a dead letter and names it (msg) on stderr. */
void br_dlq_note_malformed(struct br_dlq_run *run, const char *msg);

/* Parks l (out->park, then in->done); counts it. 0, or -1 (printed). */
int br_dlq_park(struct br_dlq_run *run, const struct br_dlq_letter *l);

/* Runs every letter of run->in through the pipeline conf of cfg: sent as
 * the payload exactly, with conf's target, retries, backoff and
 * Retry-After; a success leaves the input, a failure is written back, a
 * letter past the limit is parked. Returns 0, or -1 when the pipeline
 * could not be built or run (printed). */
int br_dlq_run_pipeline(struct br_config *cfg, struct br_pipeline_conf *conf,
                        struct br_dlq_run *run);
/* Builds a pipeline of conf (its source swapped in by the caller), runs it
 * until its source returns, and frees it; report, when not NULL, is told
 * how each batch ended (pipeline.h). Returns 0, or -1 (printed). */
int br_dlq_run_conf(struct br_config *cfg, const struct br_pipeline_conf *conf,
                    void (*report)(struct br_pipeline *, struct br_batch *, const char *,
                                   const char *, size_t));

#endif
