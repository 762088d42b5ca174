/* gate.c - the circuit breaker and rate limit in front of a pipeline's
 * target, and what the breaker's transitions do to the pipeline
 * (gate.h). */
#include <stdio.h>

#include "clock.h"
#include "config/opts.h"
#include "gate.h"
#include "log.h"
#include "pipeline.h"

void br_gate_init(struct br_gate *g, struct br_pipeline *pl, int64_t now)
{
    const struct br_pipeline_conf *c = pl->conf;
    g->pl = pl;
    br_breaker_init(&g->breaker, c->breaker_on ? c->breaker_failures : 0,
                    c->breaker_cooldown_ms);
    br_ratelimit_init(&g->rate, c->rate_limit_on ? c->rate_per_second : 0,
                      c->rate_burst, now);
}

/* Which outcomes say the function is unwell. A rejection (a 4xx other
 * than 408, 425 and 429, or 413) is an answer about that batch, whose
 * records are dead-lettered at once and never retried: it is no failure,
 * and like a success it ends a run of failures and closes a half-open
 * circuit. So is an answer with batchItemFailures: the function ran and
 * said which records failed. */
static bool is_failure(enum br_outcome outcome)
{
    switch (outcome) {
    case BR_OUTCOME_FUNCTION_ERROR:
    case BR_OUTCOME_TIMEOUT:
    case BR_OUTCOME_THROTTLED:
    case BR_OUTCOME_TRANSIENT:
        return true;
    case BR_OUTCOME_SUCCESS:
    case BR_OUTCOME_REJECTED:
    case BR_OUTCOME_COUNT:
        break;
    }
    return false;
}

/* The failure in words, for the line that says why the circuit opened. */
static void describe(char *out, size_t n, enum br_outcome outcome,
                     const struct br_result *res)
{
    int len = snprintf(out, n, "%s", br_outcome_names[outcome]);
    if (res->status > 0 && len >= 0 && (size_t)len < n)
        len += snprintf(out + len, n - (size_t)len, ", status %ld", res->status);
    if (res->error[0] && len >= 0 && (size_t)len < n)
        snprintf(out + len, n - (size_t)len, ": %s", res->error);
}

static void publish(struct br_gate *g, int64_t now)
{
    struct br_observe *o = &g->pl->obs;
    const struct br_breaker *b = &g->breaker;
    bool open = b->state == BR_BREAKER_OPEN;
    atomic_store(&o->breaker_open_until,
                 open ? br_wall_ms() + (b->open_until_ms - now) : 0);
    atomic_store(&o->breaker_state, (int)b->state);
    br_pipeline_hold(g->pl, BR_HOLD_BREAKER, open);
}

static void opened(struct br_gate *g, enum br_breaker_change change, const char *why)
{
    char cool[32];
    const struct br_breaker *b = &g->breaker;
    atomic_fetch_add(&g->pl->obs.breaker_opened, 1);
    br_fmt_duration(b->cooldown_ms, cool, sizeof cool);
    if (change == BR_BREAKER_OPENED)
        br_warn(g->pl->scope, "circuit breaker open after %lld failed invocation%s in "
                "a row (last: %s): no invocations for %s, the source pauses",
                (long long)b->failures, b->failures == 1 ? "" : "s", why, cool);
    else
        br_warn(g->pl->scope, "circuit breaker open again: the probe failed (%s): "
                "no invocations for %s", why, cool);
}

/* Does what a transition means for the pipeline, once. */
static void changed(struct br_gate *g, enum br_breaker_change change, const char *why,
                    int64_t now)
{
    if (change == BR_BREAKER_SAME)
        return;
    publish(g, now);
    if (change == BR_BREAKER_OPENED || change == BR_BREAKER_REOPENED)
        opened(g, change, why);
    else if (change == BR_BREAKER_PROBING)
        br_info(g->pl->scope, "circuit breaker half-open: one probe batch decides");
    else
        br_info(g->pl->scope, "circuit breaker closed: the probe succeeded");
}

void br_gate_tick(struct br_gate *g, int64_t now)
{
    changed(g, br_breaker_tick(&g->breaker, now), NULL, now);
}

int64_t br_gate_wait(struct br_gate *g, int64_t now)
{
    int64_t circuit = br_breaker_wait(&g->breaker, now);
    if (circuit < 0)
        return -1;
    int64_t token = br_ratelimit_wait(&g->rate, now);
    return token > circuit ? token : circuit;
}

int64_t br_gate_timer(const struct br_gate *g, int64_t now)
{
    if (g->breaker.state != BR_BREAKER_OPEN)
        return -1;
    return br_breaker_wait(&g->breaker, now);
}

unsigned br_gate_start(struct br_gate *g, int64_t now)
{
    br_ratelimit_take(&g->rate, now);
    return br_breaker_start(&g->breaker);
}

void br_gate_end(struct br_gate *g, unsigned ticket, enum br_outcome outcome,
                 const struct br_result *res, int64_t now)
{
    bool failed = is_failure(outcome);
    enum br_breaker_change change = br_breaker_end(&g->breaker, ticket, failed, now);
    if (change == BR_BREAKER_SAME)
        return;
    char why[320] = "";
    if (failed)
        describe(why, sizeof why, outcome, res);
    changed(g, change, why, now);
}
