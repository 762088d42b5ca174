/* readiness.c - readiness and liveness rules (readiness.h). */
#include <stdarg.h>
#include <stdio.h>

#include "clock.h"
#include "pipeline.h"
#include "readiness.h"

static void add_reason(struct br_readiness *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_reason(struct br_readiness *out, const char *fmt, ...)
{
    if (out->n >= BR_READY_MAX_REASONS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reasons[out->n++], BR_READY_REASON_LEN, fmt, ap);
    va_end(ap);
}

static void judge_source(const struct br_ready_facts *f, struct br_readiness *out)
{
    const char *err = f->source_error && *f->source_error ? f->source_error : NULL;
    switch (f->source_state) {
    case BR_SOURCE_CONNECTED:
        return;
    case BR_SOURCE_STARTING:
        add_reason(out, "source not connected yet%s%s", err ? ": " : "", err ? err : "");
        return;
    case BR_SOURCE_DISCONNECTED:
        add_reason(out, "source disconnected%s%s", err ? ": " : "", err ? err : "");
        return;
    default:
        add_reason(out, "source stopped");
    }
}

static void judge_breaker(const struct br_ready_facts *f, struct br_readiness *out)
{
    char until[32];
    if (f->breaker_state == BR_BREAKER_OPEN) {
        br_utc_text(f->breaker_open_until_wall, until, sizeof(until));
        add_reason(out, "circuit open: no calls to the function until %s", until);
    } else if (f->breaker_state == BR_BREAKER_HALF_OPEN) {
        add_reason(out, "circuit half-open: one probe batch is testing the function");
    }
}

static void judge_stall(const struct br_ready_facts *f, struct br_readiness *out)
{
    if (f->inflight_records <= 0)
        return;
    int64_t since = f->last_settle_ms > f->idle_ms ? f->last_settle_ms : f->idle_ms;
    int64_t waited = f->now_ms - since;
    if (waited > f->stall_bound_ms)
        add_reason(out, "stalled: %lld records in flight and none settled for %.1f s "
                   "(the bound is %.1f s)", (long long)f->inflight_records,
                   (double)waited / 1000.0, (double)f->stall_bound_ms / 1000.0);
}

bool br_readiness_judge(const struct br_ready_facts *f, struct br_readiness *out)
{
    out->n = 0;
    judge_source(f, out);
    judge_breaker(f, out);
    if (f->sink_state == BR_SINK_FAILING)
        add_reason(out, "dead-letter sink failing%s%s",
                   f->sink_error && *f->sink_error ? ": " : "",
                   f->sink_error ? f->sink_error : "");
    judge_stall(f, out);
    return out->n == 0;
}

/* A rate limit spaces invocations 1 / rate apart: a pipeline that waits
 * for its next token is slow by design, not stalled (two tokens: one may
 * go to a retry). */
static int64_t rate_wait_ms(double rate_per_second)
{
    if (rate_per_second <= 0)
        return 0;
    double ms = 2000.0 / rate_per_second;
    return ms < 86400000.0 ? (int64_t)ms : 86400000;
}

int64_t br_readiness_stall_bound_ms(int64_t batch_max_wait_ms, int64_t timeout_ms,
                                    int64_t backoff_max_ms, double rate_per_second)
{
    return batch_max_wait_ms + 2 * timeout_ms + backoff_max_ms + BR_STALL_SLACK_MS +
           rate_wait_ms(rate_per_second);
}

bool br_pipeline_ready(struct br_pipeline *pl, struct br_readiness *out)
{
    struct br_observe *o = &pl->obs;
    const struct br_pipeline_conf *c = pl->conf;
    char source_error[BR_OBSERVE_ERROR_LEN], sink_error[BR_OBSERVE_ERROR_LEN];
    br_observe_source_last_error(o, source_error, sizeof(source_error));
    br_observe_sink_last_error(o, sink_error, sizeof(sink_error));
    struct br_ready_facts f = {
        .source_state = atomic_load(&o->source_state),
        .source_error = source_error,
        .breaker_state = atomic_load(&o->breaker_state),
        .breaker_open_until_wall = atomic_load(&o->breaker_open_until),
        .sink_state = atomic_load(&o->sink_state),
        .sink_error = sink_error,
        .inflight_records = atomic_load(&o->inflight_records),
        .last_settle_ms = atomic_load(&o->last_settle_ms),
        .idle_ms = atomic_load(&o->idle_ms),
        .stall_bound_ms = br_readiness_stall_bound_ms(
            c->batch_max_wait_ms, br_target_common(&pl->tgt)->timeout_ms,
            c->backoff_max_ms, c->rate_limit_on ? c->rate_per_second : 0),
        .now_ms = br_now_ms(),
    };
    return br_readiness_judge(&f, out);
}

bool br_pipeline_alive(struct br_pipeline *pl, int64_t now_ms, char *why, size_t n)
{
    struct br_observe *o = &pl->obs;
    int64_t source_quiet = now_ms - atomic_load(&o->source_beat_ms);
    int64_t dispatch_quiet = now_ms - atomic_load(&o->dispatch_beat_ms);
    if (atomic_load(&pl->source_done)) {
        snprintf(why, n, "%s: the source thread ended", pl->name_shown);
        return false;
    }
    if (source_quiet > BR_LIVENESS_BOUND_MS) {
        snprintf(why, n, "%s: the source thread has not turned for %lld s",
                 pl->name_shown, (long long)(source_quiet / 1000));
        return false;
    }
    if (dispatch_quiet > BR_LIVENESS_BOUND_MS) {
        snprintf(why, n, "%s: the dispatcher thread has not turned for %lld s",
                 pl->name_shown, (long long)(dispatch_quiet / 1000));
        return false;
    }
    return true;
}
