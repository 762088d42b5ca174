/* observe.c - the counters, histograms and reported states of a pipeline
 * (observe.h): atomics for the figures, a lock only for the error texts,
 * which are masked before they are kept. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/secrets.h"
#include "clock.h"
#include "utf8.h"
#include "observe.h"

const char *const br_source_state_names[] = {"starting", "connected", "disconnected",
                                             "stopped", NULL};
const char *const br_breaker_state_names[] = {"closed", "open", "half_open", NULL};
const char *const br_outcome_names[] = {"success", "function_error", "timeout",
                                        "throttled", "transient", "rejected", NULL};

/* Prometheus' default buckets, widened to Lambda's 15-minute limit. */
static const double duration_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                         1, 2.5, 5, 10, 30, 60, 300, 900};
static const double batch_bounds[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000,
                                      2500, 10000};
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

void br_histogram_init(struct br_histogram *h, const double *bounds, int n_bounds)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->n_bounds = n_bounds < BR_HIST_MAX_BUCKETS ? n_bounds : BR_HIST_MAX_BUCKETS;
}

void br_histogram_observe(struct br_histogram *h, double value)
{
    int i = 0;
    /* Bucket le=b counts values <= b: a NaN is <= none, so it is counted
     * in +Inf alone. */
    while (i < h->n_bounds && !(value <= h->bounds[i]))
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    /* The sum takes what its micro-units can hold (llround of more, or
     * of a NaN, gives no defined value). */
    if (value > 0 && value * 1e6 < 0x1p62)
        atomic_fetch_add_explicit(&h->sum_micro, (uint64_t)llround(value * 1e6),
                                  memory_order_relaxed);
}

void br_observe_init(struct br_observe *o)
{
    memset(o, 0, sizeof(*o));
    br_histogram_init(&o->duration_seconds, duration_bounds, COUNT(duration_bounds));
    br_histogram_init(&o->batch_records, batch_bounds, COUNT(batch_bounds));
    atomic_store(&o->source_state_since, br_wall_ms());
    int64_t now = br_now_ms();
    atomic_store(&o->source_beat_ms, now);
    atomic_store(&o->dispatch_beat_ms, now);
    atomic_store(&o->last_settle_ms, now);
    atomic_store(&o->idle_ms, now);
    pthread_mutex_init(&o->lock, NULL);
}

void br_observe_destroy(struct br_observe *o)
{
    pthread_mutex_destroy(&o->lock);
}

/* The admin server hands these texts to a JSON encoder that refuses
 * anything but UTF-8 (a function's error type, a runtime's message: bytes
 * it chose), hence br_utf8_copy. */
static void keep_masked(struct br_observe *o, char *slot, const char *why)
{
    char shown[BR_OBSERVE_ERROR_LEN];
    /* Masked whole, then cut (a cut through a secret would show its start). */
    char *masked = br_secrets_mask_dup(why ? why : "");
    br_utf8_copy(shown, sizeof(shown), masked ? masked : "(not shown: out of memory)");
    free(masked);
    pthread_mutex_lock(&o->lock);
    memcpy(slot, shown, sizeof(shown));
    if (slot == o->last_error)
        o->last_error_at = br_wall_ms();
    pthread_mutex_unlock(&o->lock);
}

void br_observe_error(struct br_observe *o, const char *why)
{
    keep_masked(o, o->last_error, why);
}

void br_observe_sink_error(struct br_observe *o, const char *why)
{
    keep_masked(o, o->sink_error, why);
}

void br_observe_source_error(struct br_observe *o, const char *why)
{
    keep_masked(o, o->source_error, why);
    if (why && *why)
        keep_masked(o, o->last_error, why);
}

void br_observe_source_last_error(struct br_observe *o, char *out, size_t n)
{
    pthread_mutex_lock(&o->lock);
    snprintf(out, n, "%s", o->source_error);
    pthread_mutex_unlock(&o->lock);
}

int64_t br_observe_last_error(struct br_observe *o, char *out, size_t n)
{
    pthread_mutex_lock(&o->lock);
    snprintf(out, n, "%s", o->last_error);
    int64_t at = o->last_error_at;
    pthread_mutex_unlock(&o->lock);
    return at;
}

void br_observe_sink_last_error(struct br_observe *o, char *out, size_t n)
{
    pthread_mutex_lock(&o->lock);
    snprintf(out, n, "%s", o->sink_error);
    pthread_mutex_unlock(&o->lock);
}

void br_observe_invocation_start(struct br_observe *o)
{
    struct br_metering *m = &o->meter;
    int64_t now = atomic_fetch_add_explicit(&m->concurrent, 1, memory_order_relaxed) + 1;
    int64_t max = atomic_load_explicit(&m->concurrent_max, memory_order_relaxed);
    while (now > max && !atomic_compare_exchange_weak(&m->concurrent_max, &max, now))
        ;
}

/* Lambda's requests and billed time: calls the function ran. */
static void meter_end(struct br_metering *m, enum br_outcome outcome, bool reached,
                      double duration_ms)
{
    if (outcome == BR_OUTCOME_THROTTLED) {
        atomic_fetch_add_explicit(&m->throttles, 1, memory_order_relaxed);
        return;
    }
    if (!reached)
        return;
    atomic_fetch_add_explicit(&m->requests, 1, memory_order_relaxed);
    /* Lambda bills every invocation rounded up to the next millisecond
     * (at least 1). A duration past 2^53 ms, or not a number, is no
     * clock's: converted it would be undefined. */
    uint64_t billed = duration_ms > 1 && duration_ms < 0x1p53 ? (uint64_t)ceil(duration_ms)
                                                              : 1;
    atomic_fetch_add_explicit(&m->billed_ms, billed, memory_order_relaxed);
    if (outcome != BR_OUTCOME_SUCCESS)
        atomic_fetch_add_explicit(&m->errors, 1, memory_order_relaxed);
}

void br_observe_invocation_end(struct br_observe *o, enum br_outcome outcome, bool reached,
                               double duration_ms, size_t batch_records)
{
    atomic_fetch_sub_explicit(&o->meter.concurrent, 1, memory_order_relaxed);
    meter_end(&o->meter, outcome, reached, duration_ms);
    atomic_fetch_add_explicit(&o->invocations[outcome], 1, memory_order_relaxed);
    br_histogram_observe(&o->duration_seconds, duration_ms / 1000.0);
    br_histogram_observe(&o->batch_records, (double)batch_records);
}
