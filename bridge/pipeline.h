/* pipeline.h - one configured pipeline: its source, its target, and the
 * two small locked queues between the source thread and the dispatcher.
 *
 * Source thread owns: the ackset, the shard table, inflight counters.
 * Dispatcher thread owns: the runner (lanes, batches), the target.
 * Shared: `inbound` and `acks` (under `lock`, handoff.c), shard
 * generations (atomic), the stop flag (atomic). */
#ifndef BR_PIPELINE_H
#define BR_PIPELINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "connector.h"
#include "format.h"
#include "observe.h"
#include "record.h"
#include "record_doc.h"

struct br_ackset;
struct br_runner;
struct br_dlq_sink;
struct br_batch;

struct br_shard_info {
    char *topic;                 /* owned; set before n_shards_shown counts it */
    int32_t partition;
    size_t held;                 /* emitted, not yet acked back */
    /* read by the admin server: */
    atomic_bool assigned;        /* ours now (br_source_assign / revoke) */
    _Atomic int64_t lag;         /* br_source_report_lag; -1 unknown */
};

/* Why a pipeline's source is held paused whatever max_inflight allows:
 * set and cleared by the dispatcher (br_pipeline_hold), obeyed by the
 * source thread at its next round. */
enum br_hold {
    BR_HOLD_BREAKER = 1u << 0,   /* the target's circuit is open */
    BR_HOLD_SINK = 1u << 1,      /* the dead-letter sink is failing */
};

/* Counters kept for logs, /metrics and tests. */
struct br_pipeline_stats {
    atomic_uint_fast64_t received;
    atomic_uint_fast64_t filtered;
    atomic_uint_fast64_t delivered;
    atomic_uint_fast64_t dead_lettered;
    atomic_uint_fast64_t invocations_ok;
    atomic_uint_fast64_t invocations_failed;
    atomic_uint_fast64_t retries;
};

struct br_pipeline {
    const struct br_pipeline_conf *conf;   /* borrowed from the config */
    const struct br_config *cfg;           /* borrowed */
    char scope[80];                        /* log prefix: name_shown */
    /* As printed (config/secrets.h), owned: the name in logs, dead letters
     * and events; the target's name_for_dlq (functionArn); the source's
     * event_origin (bootstrapServers). */
    char *name_shown;
    char *fn_shown;
    char *origin_shown;
    struct br_source src;
    struct br_target tgt;
    enum br_format format;
    struct br_event_ctx event;
    /* Wakes the thread that serves the inbound queue; set once by
     * br_dispatcher_add (NULL: unit tests drive the runner themselves). */
    void (*wake)(void *wake_arg);
    void *wake_arg;

    /* shared between the threads */
    pthread_mutex_t lock;
    pthread_cond_t ack_cond;               /* signalled when acks arrive */
    struct br_record_list inbound;         /* source -> dispatcher */
    struct br_record_list acks;            /* dispatcher -> source */
    _Atomic uint32_t shard_gen[BR_MAX_SHARDS];
    atomic_uint revoke_epoch;              /* bumped on every revoke */
    atomic_bool stopping;                  /* shutdown began */
    atomic_uint hold;                      /* BR_HOLD_* bits: while any is
                                              set the source is paused */
    _Atomic int64_t stop_deadline_ms;      /* monotonic; set at shutdown */
    atomic_bool source_done;               /* source thread returned */
    struct br_pipeline_stats stats;
    struct br_observe obs;                 /* states, histograms, metering */
    atomic_int n_shards_shown;             /* shards[0..n) the admin server
                                              may read (release/acquire) */

    /* source thread only */
    struct br_ackset *ackset;
    struct br_shard_info *shards;
    int n_shards;
    struct br_record_list emitted;         /* not yet handed over */
    /* Records the filter left out (settle BR_SETTLE_FILTERED): settled
     * with the next acks, by the same path (apply_acks). */
    struct br_record_list filtered;
    struct br_doc doc;                     /* the filter's view of a record,
                                              reused (filter.h) */
    bool filter_unjudged_said;             /* logged once */
    size_t inflight_records;
    size_t inflight_bytes;
    size_t inflight_most;                  /* the most records held at once */
    bool paused;
    pthread_t thread;
    int source_rc;

    /* dispatcher thread only */
    struct br_runner *runner;
    struct br_dlq_sink *dlq;               /* NULL with conf->no_dead_letter;
                                              it locks itself: the source
                                              thread writes records too large
                                              for an event there too
                                              (br_source_dead_letter) */
    /* Optional, set before start (`fnbridge invoke`): told how each batch
     * ended; condition is NULL on success, else the dead-letter condition
     * (and with no_dead_letter nothing is written). body is the function's
     * response (on failure its first 4 KiB), may be NULL. */
    void (*report)(struct br_pipeline *pl, struct br_batch *b, const char *condition,
                   const char *body, size_t body_len);
    /* `fnbridge invoke`: a successful answer is the user's to read, not a
     * partial batch response (the event's records are not ours). */
    bool opaque_response;
};

/* Builds the pipeline (inits source and target: may fail with err). */
struct br_pipeline *br_pipeline_create(const struct br_config *cfg,
                                       const struct br_pipeline_conf *conf,
                                       char *err, size_t errlen);
void br_pipeline_destroy(struct br_pipeline *pl);
/* What only the connectors can validate (librdkafka properties, the exec
 * command, header syntax): inits the source and the target without
 * starting anything, then frees them. Returns 0, or -1 with err as
 * "FILE:LINE:COL: path: message". */
int br_pipeline_check(const struct br_config *cfg,
                      const struct br_pipeline_conf *conf, char *err,
                      size_t errlen);
/* Starts the source thread (after br_dispatcher_add). */
int br_pipeline_start(struct br_pipeline *pl);
/* Asks the source to stop polling and drain (returns at once). */
void br_pipeline_stop(struct br_pipeline *pl);
/* Joins the source thread; returns its result (0 or -1). */
int br_pipeline_join(struct br_pipeline *pl);

/* ---- the queues between the threads (handoff.c) ---- */

/* Source thread: moves the emitted records to inbound, waking the
 * dispatcher when inbound was empty. */
void br_pipeline_hand_over(struct br_pipeline *pl);
/* Dispatcher: takes everything inbound holds (out is overwritten). */
void br_pipeline_take_inbound(struct br_pipeline *pl, struct br_record_list *out);
/* Dispatcher: returns records to the source with their settle state. */
void br_pipeline_ack(struct br_pipeline *pl, struct br_record_list *settled);
/* Source thread: takes the acks that came back (out is overwritten). */
void br_pipeline_take_acks(struct br_pipeline *pl, struct br_record_list *out);
/* Source thread: sleeps until acks arrive or slice_ms pass. */
void br_pipeline_wait_acks(struct br_pipeline *pl, int64_t slice_ms);

/* Sets (on) or clears one BR_HOLD_* reason; any thread. */
static inline void br_pipeline_hold(struct br_pipeline *pl, enum br_hold why, bool on)
{
    if (on)
        atomic_fetch_or(&pl->hold, (unsigned)why);
    else
        atomic_fetch_and(&pl->hold, ~(unsigned)why);
}

static inline void br_pipeline_wake(struct br_pipeline *pl)
{
    if (pl->wake)
        pl->wake(pl->wake_arg);
}

/* True if the record's shard was revoked since it was received. */
static inline bool br_pipeline_record_stale(struct br_pipeline *pl,
                                            const struct br_record *rec)
{
    return atomic_load_explicit(&pl->shard_gen[rec->shard],
                                memory_order_relaxed) != rec->shard_gen;
}

#endif
