/* batch.h - a batch of records on its way through a target, and the
 * per-pipeline batcher that forms batches from ordering lanes. Both live
 * in the dispatcher thread only. */
#ifndef BR_BATCH_H
#define BR_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "connector.h"
#include "buf.h"
#include "pipeline.h"

struct br_batch {
    struct br_pipeline *pl;
    struct br_record **recs;      /* owned array; the records are held */
    size_t n;
    int attempts;                 /* invocations made so far */
    int64_t oldest_ms;            /* received_ms of the oldest record */
    int64_t due_ms;               /* when a waiting batch runs again */
    const char *dlq_condition;    /* set: waiting to be dead-lettered */
    struct br_buf body;           /* the event as last sent */
    struct br_buf headers;        /* the format's request headers for it */
    struct br_invocation inv;
    bool in_flight;
    /* what the last attempt got back, for the dead-letter record */
    long last_status;
    char last_error[256];
    char *last_body;              /* first 4 KiB (cut at a UTF-8 character
                                     boundary), NUL-terminated, owned */
    size_t last_body_len;         /* its length: it may hold NULs */
    struct br_batch *successor;   /* released when this batch finished:
                                     keeps bisected halves in order */
    struct br_batch *next;        /* in a runnable / waiting / flight list */
    struct br_batch *prev;
};

struct br_batch_list {
    struct br_batch *head;
    struct br_batch *tail;
    size_t count;
};

void br_batch_list_push(struct br_batch_list *l, struct br_batch *b);
void br_batch_list_remove(struct br_batch_list *l, struct br_batch *b);

/* Creates a batch that takes over recs (array and records). */
struct br_batch *br_batch_create(struct br_pipeline *pl, struct br_record **recs,
                                 size_t n);
/* Frees the batch but not its records. */
void br_batch_free(struct br_batch *b);

/* ---- batcher: ordering lanes and batch formation (batcher.c) ---- */

struct br_batcher *br_batcher_create(struct br_pipeline *pl);
/* Frees queued records and batches (shutdown: nothing is acked). */
void br_batcher_destroy(struct br_batcher *bt);
/* Takes records handed over by the source. */
void br_batcher_intake(struct br_batcher *bt, struct br_record_list *recs);
/* Forms batches and starts invocations while concurrency allows. */
void br_batcher_pump(struct br_batcher *bt, int64_t now);
/* Milliseconds until the batcher has something to do (-1: nothing). */
int64_t br_batcher_next_due(struct br_batcher *bt, int64_t now);
/* Records that left the core (delivered / dead-lettered / abandoned):
 * frees their lanes and queues them for the source. */
void br_batcher_settle(struct br_batcher *bt, struct br_record *rec,
                       enum br_settle how);
/* Sends the settled records of this round back to the source. */
void br_batcher_flush_acks(struct br_batcher *bt);
/* Batch scheduling, used by the outcome logic (invoke.c). */
void br_batcher_run_now(struct br_batcher *bt, struct br_batch *b);
void br_batcher_run_later(struct br_batcher *bt, struct br_batch *b, int64_t due_ms);
/* The batch is done (all its records settled): releases its successor. */
void br_batcher_finished(struct br_batcher *bt, struct br_batch *b);
void br_batcher_track_flight(struct br_batcher *bt, struct br_batch *b, bool on);
/* Cancels in-flight invocations and frees everything (shutdown). */
void br_batcher_abort(struct br_batcher *bt);
/* Ordering lanes: partial failures retry the rest of an ordered lane. */
bool br_batcher_ordered(const struct br_batcher *bt);
size_t br_batcher_lanes(const struct br_batcher *bt);
size_t br_batcher_lane(const struct br_batcher *bt, const struct br_record *rec);

/* ---- the life of a batch: submit, outcome, retry, dead-letter (invoke.c) */

/* Encodes (if needed) and starts the invocation. */
void br_batch_start(struct br_batch *b, int64_t now);
/* Returns the records of revoked shards (unsettled); true if any remain.
 * Not for a batch in flight: its event is borrowed by the target. */
bool br_batch_drop_stale(struct br_batch *b);
/* Dead-letters the batch right away (condition as in DESIGN section 5). */
void br_batch_dead_letter(struct br_batch *b, const char *condition);

#endif
