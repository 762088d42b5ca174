/* dispatcher.h - the one thread that batches records, invokes targets and
 * handles outcomes for every pipeline: all HTTP goes through one libcurl
 * multi handle (many invocations in flight, keep-alive reuse), child
 * processes of exec targets are watched on the same poll. */
#ifndef BR_DISPATCHER_H
#define BR_DISPATCHER_H

#include <curl/curl.h>

struct br_pipeline;
struct br_dispatcher;

struct br_dispatcher *br_dispatcher_create(char *err, size_t errlen);
void br_dispatcher_destroy(struct br_dispatcher *disp);
#define BR_DISPATCHER_MAX_PIPELINES 64

/* Registers a pipeline (before start): the one place that gives it and
 * its target the dispatcher (pl->wake, pl->tgt.disp).
 * Returns -1 past BR_DISPATCHER_MAX_PIPELINES: the pipeline would never
 * be served. */
int br_dispatcher_add(struct br_dispatcher *disp, struct br_pipeline *pl);
int br_dispatcher_start(struct br_dispatcher *disp);
/* Thread-safe: makes the dispatcher look at its queues now. */
void br_dispatcher_wake(struct br_dispatcher *disp);
/* Stops the thread once the sources are done: invocations still in flight
 * are cancelled (their records were not acked, so they are redelivered). */
void br_dispatcher_stop(struct br_dispatcher *disp);
/* The multi handle, for targets that add their own easy handles. */
CURLM *br_dispatcher_multi(struct br_dispatcher *disp);

#endif
