/* dlq_sink.h - the dead-letter sink interface (README: Dead-letter sinks)
 * and the per-pipeline handle that runs one on its own worker thread.
 *
 * A sink kind is a const ops struct like a connector's: its option table
 * (parsed into the first bytes of its ctx), ctx_size and callbacks. The
 * file sink lives in the core (dlq_file.c); kafka, mqtt and http live with
 * their connector families and are named in connectors/registry.c.
 *
 * A write counts only when durable: ops->write returns 0 only once the
 * sink holds the records (fsync, delivery report, PUBACK, 2xx). It may
 * block: it runs on the sink's worker thread, never on the dispatcher's. */
#ifndef BR_DLQ_SINK_H
#define BR_DLQ_SINK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "record.h"
#include "config/opts.h"

struct br_batch;
struct br_pipeline;
struct br_source_ops;
struct br_dlq_sink;

/* What one write dead-letters: a failed batch, or one record that never
 * became an event (too large for any; then batch is a batch of one made
 * for the call, attempts 0). Everything is borrowed for the write. */
struct br_dlq_item {
    const struct br_batch *batch;     /* for br_dlq_item_line */
    struct br_record *const *recs;    /* the records, in batch order */
    size_t n;
    const char *condition;            /* "RetryAttemptsExhausted", ... */
    int attempts;                     /* invocations made */
    const char *pipeline;             /* the pipeline's name as printed */
    bool alone;                       /* a record too large for any event */
    /* `fnbridge dlq replay --from FILE`: a letter of a dead-letter file
     * that failed again, as the line to keep (replayCount raised, no
     * newline); then batch and recs are NULL, n is 0. */
    const char *line;
    size_t line_len;
    int64_t line_replay_count;        /* its replayCount */
};

/* The JSON line the file sink writes for item (without its newline), in
 * out (reset first): for sinks that send one message per failed batch;
 * item->line as it is when set.
 * A record too large for any event is copied here as base64, whole.
 * Returns 0, or -1 when out of memory. */
int br_dlq_item_line(struct br_buf *out, const struct br_dlq_item *item);

/* A sink instance: what its kind may know of its pipeline. */
struct br_sink {
    const struct br_sink_ops *ops;
    void *ctx;                        /* ops->ctx_size, options set; owned
                                         by the config */
    struct br_pipeline *pl;           /* borrowed */
    char scope[96];                   /* log prefix "orders/dlq-kafka" */
    /* Set by init (owned by the kind, never a secret: masked): where the
     * records go, for log lines: "kafka topic orders.dlq". */
    const char *where;
    const char *pipeline_name;        /* as configured: for client ids */
    const struct br_source_ops *source_ops;   /* the pipeline's source, */
    const void *source_ctx;                   /* and its options */
};

struct br_sink_ops {
    const char *name;                 /* config key under dead_letter */
    const struct br_opt *opts;
    size_t ctx_size;
    /* Optional: checks between options and against the pipeline's source
     * (a default taken from it), at config load, once opts applied
     * cleanly; may fill defaults into ctx. Returns the errors added. */
    int (*check)(void *ctx, const struct br_source_ops *src_ops, const void *src_ctx,
                 const struct br_node *map, const char *path, struct br_errors *errs);
    /* Validates and prepares; no network I/O, no threads (`check` runs
     * it too). On failure fills err and leaves nothing allocated. */
    int (*init)(struct br_sink *sk, char *err, size_t errlen);
    /* Writes item durably; blocking is fine (the worker thread, or any
     * thread in unit tests), calls never overlap. Returns 0 once durable,
     * -1 with a sentence (never a secret) in err. */
    int (*write)(struct br_sink *sk, const struct br_dlq_item *item, char *err,
                 size_t errlen);
    void (*destroy)(struct br_sink *sk);
};

/* The registry (connectors/registry.c); the file sink is the core's. */
extern const struct br_sink_ops *const br_sinks[];
extern const struct br_sink_ops br_sink_file;
const struct br_sink_ops *br_find_sink(const char *name);

/* ------------------------------------------------------------- the handle */

/* One write handed to the sink. The runner allocates it, the sink owns it
 * from submit until it comes back from take_answers. */
struct br_dlq_job {
    struct br_dlq_job *next;
    struct br_batch *batch;           /* the runner's; not touched by the
                                         runner until answered */
    const char *condition;
    int rc;                           /* 0: durable; -1: failed */
};

/* Opens the sink of kind ops with ctx (the config's) for pl; init runs
 * here. The worker thread starts at the first submit, and only when the
 * pipeline has a wake (the dispatcher's): without one (unit tests) every
 * write is made in the caller's thread. NULL with err filled on failure. */
struct br_dlq_sink *br_dlq_sink_open(struct br_pipeline *pl, const struct br_sink_ops *ops,
                                     void *ctx, char *err, size_t errlen);
/* Stops the worker once its current write ended and frees the jobs not
 * yet taken back (not their batches: the runner's). NULL is fine. */
void br_dlq_sink_close(struct br_dlq_sink *dl);
const char *br_dlq_sink_kind(const struct br_dlq_sink *dl);   /* "kafka" */
const char *br_dlq_sink_where(const struct br_dlq_sink *dl);
/* Failed writes in a row (0 while the sink is fine); any thread. */
int br_dlq_sink_streak(const struct br_dlq_sink *dl);

/* Dispatcher: queues job for the worker and returns at once; its answer
 * comes back through br_dlq_sink_take_answers, after pl's wake. */
void br_dlq_sink_submit(struct br_dlq_sink *dl, struct br_dlq_job *job);
/* Dispatcher: the answered jobs, oldest first (a list through next), now
 * the caller's; NULL when none. */
struct br_dlq_job *br_dlq_sink_take_answers(struct br_dlq_sink *dl);
/* Any thread (a source's record too large for any event): writes rec
 * through the worker and waits for its answer. rec is borrowed for the
 * call. Returns 0 once durable, -1 when the sink failed. */
int br_dlq_sink_write_record(struct br_dlq_sink *dl, const struct br_record *rec,
                             const char *condition);

/* The delay before the sink is tried again after streak failed writes:
 * 500 ms doubling per failure, at most 30 s. */
int64_t br_dlq_sink_backoff_ms(int streak);

#endif
