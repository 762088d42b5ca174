/* runner.h - a pipeline's batches from formation to their last record's
 * settling. The runner owns every list a batch can be in (runnable,
 * waiting for a retry or for the dead-letter sink, in flight) and the
 * acks of a round; it starts invocations, asks verdict.c what an answer
 * means and does it. Dispatcher thread only (tests drive it directly). */
#ifndef BR_RUNNER_H
#define BR_RUNNER_H

#include <stdint.h>

#include "record.h"

struct br_pipeline;
struct br_runner;

/* For a pipeline whose source and target are initialised. */
struct br_runner *br_runner_create(struct br_pipeline *pl);
/* Frees queued records and batches (shutdown: nothing is acked). */
void br_runner_destroy(struct br_runner *r);
/* Takes records handed over by the source (the list is emptied). */
void br_runner_intake(struct br_runner *r, struct br_record_list *recs);
/* Forms batches and starts invocations while concurrency allows. */
void br_runner_pump(struct br_runner *r, int64_t now);
/* Milliseconds until the runner has something to do (-1: nothing). */
int64_t br_runner_next_due(struct br_runner *r, int64_t now);
/* Sends the records settled this round back to the source. */
void br_runner_flush_acks(struct br_runner *r);
/* Cancels in-flight invocations (shutdown, before destroy). */
void br_runner_abort(struct br_runner *r);

#endif
