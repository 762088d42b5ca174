/* connector.h - the two connector interfaces (sources and function targets)
 * and the static registry that names them.
 *
 * A connector is a const ops struct: its option table (parsed into the
 * first bytes of its ctx), the ctx size, and callbacks. The core owns the
 * br_source / br_target handle; the connector owns what it puts in ctx.
 * Native library errors stay inside the connector: the core sees only
 * 0 / negative returns, error sentences, and invocation results. */
#ifndef BR_CONNECTOR_H
#define BR_CONNECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "format.h"
#include "lane.h"
#include "observe.h"
#include "record.h"
#include "config/opts.h"

struct br_pipeline;
struct br_source;
struct br_target;
struct br_invocation;

/* ---------------------------------------------------------------- sources */

struct br_source_ops {
    const char *name;                 /* config key: "kafka" */
    const struct br_opt *opts;        /* option table, offsets into ctx */
    size_t ctx_size;                  /* zeroed, then filled by opts */
    const char *default_format;       /* "lambda" | "json" */
    unsigned formats;                 /* BR_FORMAT_BIT()s this source's
                                         records can be sent in */

    /* Validates options and prepares the client; no network I/O needed.
     * Called from the main thread. On failure fills err with a sentence
     * and leaves nothing allocated (destroy is not called). */
    int (*init)(struct br_source *src, char *err, size_t errlen);

    /* The source thread: connect, poll, br_source_emit() records, call
     * br_source_service() every round, until br_source_stopping(); then
     * br_source_drain() and final commits. Returns 0, or -1 on a fatal
     * error (already logged). */
    int (*run)(struct br_source *src);

    /* Called by br_source_service() from the source thread. */
    int (*commit)(struct br_source *src, int shard, int64_t next_pos);
    /* Optional, for sources that acknowledge each record on its own (the
     * MQTT spool): rec was delivered, dead-lettered or filtered. Called
     * before commit, from the source thread; rec is freed after. */
    void (*settled)(struct br_source *src, const struct br_record *rec);
    /* Optional: the function answered the batch recs[0..n) with body (a
     * full success). Called from the dispatcher thread, before the records
     * settle; must be thread-safe and must not block. */
    void (*response)(struct br_source *src, struct br_record *const *recs, size_t n,
                     const char *body, size_t body_len);
    void (*pause)(struct br_source *src);
    void (*resume)(struct br_source *src);

    /* Frees everything in ctx (not the option values: the core does that). */
    void (*destroy)(struct br_source *src);
};

struct br_source {
    const struct br_source_ops *ops;
    void *ctx;                        /* ops->ctx_size bytes, owned by core */
    struct br_pipeline *pl;           /* borrowed */
    char scope[96];                   /* log prefix "orders/kafka" */
    /* For the lambda event format: "bootstrapServers" and similar. Set by
     * the connector in init; owned by the connector; the event carries it
     * masked (secrets.h). */
    const char *event_origin;
    /* How the records must be kept in order through batches and retries;
     * set by the connector in init (BR_ORDER_NONE unless it says). */
    enum br_ordering ordering;

    /* What the instance may know of its pipeline, set by the core before
     * init (borrowed from the config, valid until destroy): */
    const char *pipeline_name;        /* as configured (not masked): for
                                         paths on disk and client ids */
    const char *state_dir;            /* the config's state_dir */
    bool state_dir_secret;            /* state_dir came through
                                         interpolation: errors must not
                                         show paths under it */
    int64_t shutdown_timeout_ms;      /* the config's shutdown_timeout */
};

/* Core API for source connectors; call from the source thread only. */

/* Stable shard index for (topic, partition), created on first use; -1
 * once a pipeline has BR_MAX_SHARDS (lane.h) of them (or out of memory). */
int br_source_shard(struct br_source *src, const char *topic, int32_t partition);
/* The shard is (re)assigned to us: starts a new generation. */
void br_source_assign(struct br_source *src, int shard);
/* The shard is being taken away: waits up to timeout_ms for its records in
 * flight to settle (serving acks and commits meanwhile), commits what is
 * settled, and abandons the rest (they will be redelivered to the next
 * owner). */
void br_source_revoke(struct br_source *src, int shard, int64_t timeout_ms);
/* Takes ownership of rec: tracks it in the ackset and queues it for the
 * dispatcher (handed over at the next br_source_service / flush), or,
 * when the pipeline's filter leaves it out, settles it at the next
 * br_source_service without an invocation (ops->settled, commit). Returns
 * -1 when out of memory: rec stays the caller's, and the source must emit
 * nothing more of that shard (stop), or a later record could be committed
 * past this one. */
__attribute__((warn_unused_result))
int br_source_emit(struct br_source *src, int shard, struct br_record *rec);
/* Hands emitted records to the dispatcher, applies acks that came back
 * (ackset -> ops->commit), and pauses/resumes the source against
 * max_inflight (ops->pause / ops->resume). */
void br_source_service(struct br_source *src);
/* True once shutdown has begun: stop polling for new records. */
bool br_source_stopping(const struct br_source *src);
/* After stopping: waits (serving acks) until every emitted record settled
 * or the shutdown timeout passed; then commits what is settled. */
void br_source_drain(struct br_source *src);
/* The pipeline's largest event (its target's max_payload): a record
 * whose value is larger fits no event. Final once the target is
 * initialised (after the source's init): ask from run on. */
int64_t br_source_max_payload(const struct br_source *src);
/* Records emitted and not yet settled. */
size_t br_source_inflight(const struct br_source *src);
/* How many more records may be emitted before max_inflight is reached:
 * a source that takes records from its client in chunks takes at most
 * this many, so the bound holds exactly in records (in bytes it may pass
 * by what the last chunk held). 0 once either limit is reached. */
size_t br_source_room(const struct br_source *src);
/* What br_source_wait() waits for. */
enum br_source_wait_for {
    BR_WAIT_ROUND,      /* one round: for a source with nothing else to
                           wait on (disconnected, say) */
    BR_WAIT_RESUMED,    /* max_inflight holds the source back no more
                           (ops->resume, after ops->pause) */
    BR_WAIT_SETTLED,    /* every record emitted so far settled */
};
/* Waits, serving acks and commits meanwhile. Each round sleeps until acks
 * come back or a short while (20 ms) passes, then calls serve(src), or
 * br_source_service(src) when serve is NULL: a source with more to do
 * each round (saving its checkpoint) passes its own, which must call
 * br_source_service. BR_WAIT_ROUND does one round; the others do rounds
 * until what they wait for holds or shutdown began (none if it already
 * does). */
void br_source_wait(struct br_source *src, enum br_source_wait_for until,
                    void (*serve)(struct br_source *src));
/* Dead-letters a record that cannot become an event (too large for any),
 * without emitting it: its value goes from where it lies into the
 * pipeline's dead-letter sink, durably, before this returns. rec is
 * borrowed (it may live on the caller's stack and point into a receive
 * buffer; no shard or ack bookkeeping applies). Returns 0 once durable
 * (or dropped, with dead-lettering off, or left out by the pipeline's
 * filter), -1 when the sink failed (logged): the source must not
 * acknowledge the message. */
int br_source_dead_letter(struct br_source *src, const struct br_record *rec,
                          const char *condition);

/* What a source reports of itself, for /readyz, /status and /metrics
 * (observe.h). Any thread; cheap (atomics), so call on every change. */

/* The connection's state; why (masked before it is kept) says what went
 * wrong when the state is not BR_SOURCE_CONNECTED, and becomes the
 * pipeline's last error; NULL when there is nothing to say. A source is
 * ready only once it says BR_SOURCE_CONNECTED: say it when it has what it
 * needs (Kafka: a partition assignment; MQTT: CONNACK and SUBACK; S3: a
 * listing that succeeded). */
void br_source_report_state(struct br_source *src, enum br_source_state state,
                            const char *why);
/* Consumer lag of a shard: the broker's high watermark minus the next
 * position to commit (-1: not known yet). */
void br_source_report_lag(struct br_source *src, int shard, int64_t lag);
/* A gauge only this kind of source has (observe.h). */
void br_source_report_gauge(struct br_source *src, enum br_source_gauge gauge,
                            int64_t value);

/* ---------------------------------------------------------------- targets */

/* Options every target has; a target's ctx struct starts with this, and its
 * option table includes BR_TARGET_COMMON_OPTS(type). */
struct br_target_common {
    enum br_format format;    /* BR_FORMAT_SOURCE_DEFAULT: the source's */
    int64_t timeout_ms;
    int64_t max_payload;      /* bytes; larger events are never sent */
};
BR_OPT_ENUM_FIELD(struct br_target_common, format);

#define BR_TARGET_COMMON_OPTS(ctx_type)                                          \
    {.name = "format", .type = BR_OPT_ENUM,                                  \
     .offset = offsetof(ctx_type, common.format),                                \
     .enum_values = br_format_names,                                         \
     .def_doc = "the source's",                                              \
     .help = "the event's shape (What the function receives, in the README); " \
             "each source names the formats its records can take"},          \
    {.name = "timeout", .type = BR_OPT_DURATION, .def = "30s",               \
     .offset = offsetof(ctx_type, common.timeout_ms), .min = 1,                  \
     .max = 900000, .help = "the time allowed for one invocation"},          \
    {.name = "max_payload", .type = BR_OPT_SIZE, .def = "6MiB",              \
     .offset = offsetof(ctx_type, common.max_payload), .min = 1024,              \
     .max = 1073741824, .help = "the largest event sent; a record that "     \
     "cannot fit alone is dead-lettered with `MaximumPayloadSizeExceeded` "    \
     "and never sent"}

extern const char *const br_format_names[];   /* "lambda", "json", "payload",
                                                 "cloudevents", NULL */

enum br_result_kind {
    BR_RES_OK,               /* delivered (maybe with batchItemFailures) */
    BR_RES_RETRY,            /* transient: connect error, timeout, 408/425/429/5xx */
    BR_RES_FUNCTION_ERROR,   /* the function ran and failed: retryable */
    BR_RES_PERMANENT,        /* other 4xx: straight to dead-letter */
    BR_RES_TOO_LARGE,        /* payload refused as too large (413) */
};

struct br_result {
    enum br_result_kind kind;
    long status;             /* HTTP status, or process exit code */
    int64_t retry_after_ms;  /* -1 when none given */
    char *body;              /* response body, malloc'd, NUL-terminated; core frees */
    size_t body_len;
    char error[256];         /* transport error or function error type */
    bool timed_out;          /* no answer within the target's timeout: the
                                `timeout` outcome of the invocations metric */
    bool not_run;            /* the target knows the function never ran (a
                                gateway or the Lambda service refused the
                                call, the request was never sent, a worker
                                died before taking the event): not metered */
};

struct br_invocation {
    struct br_target *tgt;
    const char *body;              /* the event, borrowed until done */
    size_t body_len;
    const char *content_type;      /* "application/json" */
    /* Request headers the event format adds (CloudEvents binary mode:
     * ce-id, ce-source, ...): "Name: value" lines, each NUL-terminated,
     * headers_len bytes in all; NULL/0 when none. HTTP targets send them;
     * iterate with br_invocation_next_header(). */
    const char *headers;
    size_t headers_len;
    struct br_record *const *recs; /* the batch's records, borrowed */
    size_t n_recs;
    struct br_result result;       /* filled by the target before done */
    void *core;                    /* the core's batch; do not touch */
    void *tgt_state;               /* free for the target's use */
};

/* The header line after h (h NULL: the first), or NULL after the last. */
static inline const char *br_invocation_next_header(const struct br_invocation *inv,
                                                    const char *h)
{
    const char *end = inv->headers + inv->headers_len;
    if (!inv->headers)
        return NULL;
    h = h ? h + __builtin_strlen(h) + 1 : inv->headers;
    return h < end ? h : NULL;
}

/* A target that starts its function's processes (exec runtime-api) says
 * when one started cold and how long its init took (for usage metering:
 * Lambda's cold starts and init duration). Any thread. */
void br_target_report_cold_start(struct br_target *tgt, int64_t init_ms);

/* Called by a target (from the dispatcher thread) when inv finished. */
void br_invocation_done(struct br_invocation *inv);

struct br_target_ops {
    const char *name;                 /* config key: "http" */
    const struct br_opt *opts;
    size_t ctx_size;                  /* ctx starts with br_target_common */
    /* The function sees the request's headers (HTTP endpoints, OpenFaaS;
     * not Lambda's Invoke API or a local process): only then can
     * CloudEvents go in binary mode, attributes as ce-* headers. */
    bool passes_headers;

    /* Optional: checks between options that one table cannot express,
     * run when the config is loaded (so `fnbridge check` finds them) once
     * the table applied cleanly. ctx holds the parsed options, map is the
     * target's mapping (for the place of each error), path its key path.
     * Returns the number of errors added to errs. */
    int (*check)(const void *ctx, const struct br_node *map, const char *path,
                 struct br_errors *errs);
    /* As for sources: err filled, nothing left allocated on failure. */
    int (*init)(struct br_target *tgt, char *err, size_t errlen);
    /* Starts inv asynchronously; br_invocation_done() follows later from
     * the dispatcher thread (never from inside submit). Returns -1 if it
     * could not start (inv->result filled; the core retries it). */
    int (*submit)(struct br_target *tgt, struct br_invocation *inv);
    /* Aborts inv at shutdown without calling done (optional). */
    void (*cancel)(struct br_target *tgt, struct br_invocation *inv);
    /* Optional, for targets driven by file descriptors (child processes):
     * add up to max fds to watch and lower *timeout_ms to the next deadline;
     * returns the number of fds added. */
    int (*fds)(struct br_target *tgt, struct curl_waitfd *fds, int max,
               int64_t *timeout_ms);
    /* Optional: called after every wait of the dispatcher loop. */
    void (*service)(struct br_target *tgt);
    void (*destroy)(struct br_target *tgt);
};

struct br_target {
    const struct br_target_ops *ops;
    void *ctx;
    struct br_pipeline *pl;           /* borrowed */
    struct br_dispatcher *disp;       /* borrowed; set before submit */
    char scope[96];
    const char *name_for_dlq;         /* functionArn in dead-letter records:
                                         the URL or command; set in init;
                                         the core masks it (secrets.h) */

    /* What the instance may know of its pipeline, set by the core before
     * init (borrowed from the config, valid until destroy): */
    const char *pipeline_name;        /* as configured (not masked) */
    int concurrency;                  /* the pipeline's concurrency */
};

static inline struct br_target_common *br_target_common(struct br_target *tgt)
{
    return (struct br_target_common *)tgt->ctx;
}

/* For curl-based targets: an easy handle whose CURLOPT_PRIVATE points to a
 * struct br_curl_req is added to the dispatcher's multi handle; when the
 * transfer ends the dispatcher removes it and calls done(req, code). */
struct br_dispatcher;
struct br_curl_req {
    CURL *easy;
    void (*done)(struct br_curl_req *req, CURLcode code);
};
int br_dispatcher_add_curl(struct br_dispatcher *disp, struct br_curl_req *req);
/* A shared, keep-alive-friendly curl share/settings could live here later. */

/* ---------------------------------------------------------------- registry */

const struct br_source_ops *br_find_source(const char *name);
const struct br_target_ops *br_find_target(const char *name);
/* NULL-terminated lists, for help and error messages. */
extern const struct br_source_ops *const br_sources[];
extern const struct br_target_ops *const br_targets[];

#endif
