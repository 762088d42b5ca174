/* observe.h - what a pipeline shows of itself while it runs: its counters,
 * histograms, metering, and the states its source, breaker and dead-letter
 * sink report. Written from the source and dispatcher threads with atomics
 * (strings under a small lock); read from the admin server's thread for
 * /metrics, /status and /readyz (README: Operations). Nothing here is ever
 * a secret: errors are masked when they are set. */
#ifndef BR_OBSERVE_H
#define BR_OBSERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* What a source says of its connection (br_source_report_state). */
enum br_source_state {
    BR_SOURCE_STARTING = 0,   /* not connected yet: not ready */
    BR_SOURCE_CONNECTED,      /* connected and has what it needs */
    BR_SOURCE_DISCONNECTED,   /* lost its broker or store: not ready */
    BR_SOURCE_STOPPED,        /* its thread returned */
};
extern const char *const br_source_state_names[];   /* "starting", ... */

/* A gauge only some sources have (br_source_report_gauge). */
enum br_source_gauge {
    BR_GAUGE_SPOOL_RECORDS,   /* MQTT: messages in the LMDB spool */
    BR_GAUGE_EVENTS_PENDING,  /* S3: listed events not yet done */
    BR_GAUGE_COUNT,
};

/* Circuit breaker of the pipeline's target. */
enum br_breaker_state { BR_BREAKER_CLOSED = 0, BR_BREAKER_OPEN, BR_BREAKER_HALF_OPEN };
extern const char *const br_breaker_state_names[];  /* "closed", "open", "half_open" */

/* Dead-letter sink health. */
enum br_sink_state { BR_SINK_OK = 0, BR_SINK_FAILING };

/* How an invocation ended, the `outcome` label of invocations_total. */
enum br_outcome {
    BR_OUTCOME_SUCCESS = 0,   /* the answer was read (maybe partial failures) */
    BR_OUTCOME_FUNCTION_ERROR,/* the function ran and failed, or answered
                                 with an invalid body */
    BR_OUTCOME_TIMEOUT,       /* no answer within the target's timeout */
    BR_OUTCOME_THROTTLED,     /* 429 */
    BR_OUTCOME_TRANSIENT,     /* connect errors, 408, 425, 5xx */
    BR_OUTCOME_REJECTED,      /* other 4xx, 413: not retried */
    BR_OUTCOME_COUNT,
};
extern const char *const br_outcome_names[];        /* "success", ... */

/* A histogram with fixed bucket bounds (le), cumulative when printed. */
#define BR_HIST_MAX_BUCKETS 16
struct br_histogram {
    const double *bounds;                 /* static, ascending */
    int n_bounds;
    atomic_uint_fast64_t counts[BR_HIST_MAX_BUCKETS + 1];   /* last: +Inf */
    atomic_uint_fast64_t sum_micro;       /* sum of values × 1e6 */
};
void br_histogram_init(struct br_histogram *h, const double *bounds, int n_bounds);
void br_histogram_observe(struct br_histogram *h, double value);

/* Usage metering of the pipeline's function, on Lambda's billing basis. */
struct br_metering {
    atomic_uint_fast64_t requests;        /* invocations the function received */
    atomic_uint_fast64_t billed_ms;       /* each invocation rounded up to 1 ms */
    atomic_uint_fast64_t errors;          /* of those, the ones that failed */
    atomic_uint_fast64_t throttles;       /* 429 answers */
    atomic_uint_fast64_t cold_starts;     /* runtime-api workers started */
    atomic_uint_fast64_t init_ms;         /* their init duration, summed */
    atomic_int_fast64_t concurrent;       /* invocations in flight now */
    atomic_int_fast64_t concurrent_max;   /* the most there were at once */
};

#define BR_OBSERVE_ERROR_LEN 256

struct br_observe {
    /* Histograms of finished invocations. */
    struct br_histogram duration_seconds;
    struct br_histogram batch_records;
    atomic_uint_fast64_t invocations[BR_OUTCOME_COUNT];
    struct br_metering meter;

    /* The source's state, as it reports it. */
    _Atomic int source_state;             /* enum br_source_state */
    _Atomic int64_t source_state_since;   /* wall ms */
    _Atomic int64_t gauges[BR_GAUGE_COUNT];   /* -1: the source has none */
    atomic_bool gauge_set[BR_GAUGE_COUNT];

    /* In flight, mirrored by the source thread each round. */
    _Atomic int64_t inflight_records;
    _Atomic int64_t inflight_bytes;
    atomic_bool paused;                   /* by max_inflight */

    /* Liveness: each thread's last turn (monotonic ms). */
    _Atomic int64_t source_beat_ms;
    _Atomic int64_t dispatch_beat_ms;
    /* Progress: the last time a record settled (monotonic ms). */
    _Atomic int64_t last_settle_ms;
    /* The last round the source thread had nothing in flight (monotonic
     * ms): with last_settle_ms, how long records have waited unsettled. */
    _Atomic int64_t idle_ms;

    _Atomic int breaker_state;            /* enum br_breaker_state */
    _Atomic int64_t breaker_open_until;   /* wall ms, while open */
    atomic_uint_fast64_t breaker_opened;  /* times it opened */

    _Atomic int sink_state;               /* enum br_sink_state */
    atomic_uint_fast64_t sink_failures;   /* failed dead-letter writes */

    pthread_mutex_t lock;                 /* for the strings below */
    char last_error[BR_OBSERVE_ERROR_LEN];        /* masked; "" when none */
    int64_t last_error_at;                        /* wall ms */
    char sink_error[BR_OBSERVE_ERROR_LEN];        /* masked */
    char source_error[BR_OBSERVE_ERROR_LEN];      /* masked; the source's own */
};

void br_observe_init(struct br_observe *o);
void br_observe_destroy(struct br_observe *o);
/* Records why (masked, cut to BR_OBSERVE_ERROR_LEN) as the last error. */
void br_observe_error(struct br_observe *o, const char *why);
void br_observe_sink_error(struct br_observe *o, const char *why);
/* The source's own error: it is also the last error, and it stays what
 * /readyz quotes for a source not connected while other errors (a
 * function's) come and go; "" (or NULL) clears it. */
void br_observe_source_error(struct br_observe *o, const char *why);
void br_observe_source_last_error(struct br_observe *o, char *out, size_t n);
/* Copies the last error (and when it was set) into out; "" when none. */
int64_t br_observe_last_error(struct br_observe *o, char *out, size_t n);
void br_observe_sink_last_error(struct br_observe *o, char *out, size_t n);
/* An invocation of batch_records records started / ended after
 * duration_ms with outcome. It is metered (a request, its billed time, an
 * error) only when it reached the function (reached: answered or timed
 * out) and was not throttled: Lambda bills neither a call refused at the
 * door nor a 429. */
void br_observe_invocation_start(struct br_observe *o);
void br_observe_invocation_end(struct br_observe *o, enum br_outcome outcome, bool reached,
                               double duration_ms, size_t batch_records);

#endif
