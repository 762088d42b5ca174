/* batch.h - a batch of records on its way through a target: the data
 * structure alone (what it holds, the lists it sits in, halving it,
 * taking out the records of revoked shards). What happens to a batch is
 * decided by verdict.c and done by runner.c; dispatcher thread only. */
#ifndef BR_BATCH_H
#define BR_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "connector.h"
#include "record.h"

struct br_pipeline;

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
    int64_t started_us;           /* when its invocation started (metering) */
    unsigned gate_ticket;         /* its circuit breaker ticket (gate.h) */
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

/* A doubly linked list of batches; a batch is in at most one. */
struct br_batch_list {
    struct br_batch *head;
    struct br_batch *tail;
    size_t count;
};

void br_batch_list_push(struct br_batch_list *l, struct br_batch *b);
void br_batch_list_remove(struct br_batch_list *l, struct br_batch *b);

/* Creates a batch that takes over recs (array and records); its event
 * buffer is bounded by max_payload. NULL when out of memory (recs stay
 * the caller's). */
struct br_batch *br_batch_create(struct br_pipeline *pl, struct br_record **recs,
                                 size_t n, size_t max_payload);
/* Frees the batch but not its records. */
void br_batch_free(struct br_batch *b);
/* Frees the batch, its records and its chain of successors (shutdown:
 * nothing is acknowledged). */
void br_batch_free_all(struct br_batch *b);

/* Splits b into two batches, *first then *second (its successor, which
 * inherits b's): order is kept. b gives its records up and is freed.
 * Returns -1 when out of memory, b untouched. */
int br_batch_halve(struct br_batch *b, size_t max_payload, struct br_batch **first,
                   struct br_batch **second);

/* Keeps in b the records fate[] leaves at BR_SETTLE_NONE, in order, and
 * moves the others to out with their fate set; the event must be encoded
 * again for what is kept. fate NULL: every record goes with how. */
void br_batch_take(struct br_batch *b, const enum br_settle *fate, enum br_settle how,
                   struct br_record_list *out);

/* Keeps the first 4 KiB of the answer (cut at a character) and the
 * masked error text, for the dead-letter record. */
void br_batch_note_answer(struct br_batch *b, const struct br_result *res,
                          const char *body, size_t body_len);

#endif
