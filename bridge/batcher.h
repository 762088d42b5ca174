/* batcher.h - ordering lanes and batch formation: records wait in lanes
 * until a batch is due, then leave them in a new batch. It owns the
 * records in its lanes only; batches belong to the runner (runner.c).
 * Dispatcher thread only. */
#ifndef BR_BATCHER_H
#define BR_BATCHER_H

#include <stdint.h>

#include "batch.h"
#include "lane.h"
#include "record.h"

struct br_pipeline;

/* abandoned: where records of revoked shards go, settled ABANDONED (the
 * runner's acks; borrowed). */
struct br_batcher *br_batcher_create(struct br_pipeline *pl, enum br_ordering ordering,
                                     struct br_record_list *abandoned);
/* Frees the records in the lanes (shutdown: nothing is acked). */
void br_batcher_destroy(struct br_batcher *bt);
/* Takes records handed over by the source. */
void br_batcher_intake(struct br_batcher *bt, struct br_record_list *recs);
/* A new batch if one is due at now (max_records, max_bytes, max_wait, or
 * shutdown), else NULL. Its records are held by their lanes until
 * released. */
struct br_batch *br_batcher_form(struct br_batcher *bt, int64_t now);
/* Milliseconds until a batch will be due (0: now, -1: nothing queued). */
int64_t br_batcher_wait(struct br_batcher *bt, int64_t now);
/* A record that left its batch settled: its lane may give out more. */
void br_batcher_release(struct br_batcher *bt, struct br_record *rec);
/* Sends the queued records of revoked shards back at once. */
void br_batcher_purge_stale(struct br_batcher *bt);

#endif
