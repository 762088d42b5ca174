/* admin_status.c - the /status document (admin_status.h), built with
 * jansson: one object per pipeline, shaped as README: Operations shows. */
#include <jansson.h>
#include <stdlib.h>

#include "admin_status.h"
#include "dlq_sink.h"
#include "clock.h"
#include "pipeline.h"
#include "readiness.h"
#include "version.h"

#define LOAD(x) ((json_int_t)atomic_load_explicit(&(x), memory_order_relaxed))

static json_t *utc_or_null(int64_t wall_ms)
{
    char text[32];
    if (wall_ms <= 0)
        return json_null();
    br_utc_text(wall_ms, text, sizeof(text));
    return json_string(text);
}

static json_t *gauge_or_null(struct br_observe *o, enum br_source_gauge g)
{
    if (!atomic_load(&o->gauge_set[g]))
        return json_null();
    return json_integer(LOAD(o->gauges[g]));
}

static json_t *assigned(struct br_pipeline *pl)
{
    json_t *list = json_array();
    int n = atomic_load_explicit(&pl->n_shards_shown, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        struct br_shard_info *s = &pl->shards[i];
        if (!atomic_load(&s->assigned))
            continue;
        int64_t lag = atomic_load_explicit(&s->lag, memory_order_relaxed);
        json_array_append_new(list, json_pack("{s:s, s:I, s:o}", "topic", s->topic,
                                              "partition", (json_int_t)s->partition,
                                              "lag", lag >= 0 ? json_integer(lag)
                                                              : json_null()));
    }
    return list;
}

static json_t *source(struct br_pipeline *pl)
{
    struct br_observe *o = &pl->obs;
    int state = atomic_load(&o->source_state);
    char err[BR_OBSERVE_ERROR_LEN];
    br_observe_source_last_error(o, err, sizeof(err));
    return json_pack("{s:s, s:s, s:o, s:o, s:b, s:o, s:o, s:o}",
                     "kind", pl->src.ops->name,
                     "state", br_source_state_names[state],
                     "since", utc_or_null(atomic_load(&o->source_state_since)),
                     "error", *err ? json_string(err) : json_null(),
                     "paused", (int)atomic_load(&o->paused),
                     "assigned", assigned(pl),
                     "spool_records", gauge_or_null(o, BR_GAUGE_SPOOL_RECORDS),
                     "events_pending", gauge_or_null(o, BR_GAUGE_EVENTS_PENDING));
}

static json_t *usage(struct br_pipeline *pl)
{
    struct br_metering *m = &pl->obs.meter;
    json_int_t billed = LOAD(m->billed_ms);
    double gb_seconds = (double)billed / 1000.0 * (double)pl->conf->memory_size_mb / 1024.0;
    return json_pack("{s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                     "requests", LOAD(m->requests), "billed_ms", billed,
                     "gb_seconds", gb_seconds, "errors", LOAD(m->errors),
                     "throttles", LOAD(m->throttles), "cold_starts", LOAD(m->cold_starts),
                     "init_ms", LOAD(m->init_ms), "concurrent", LOAD(m->concurrent),
                     "concurrent_max", LOAD(m->concurrent_max),
                     "memory_size_mb", (json_int_t)pl->conf->memory_size_mb);
}

static json_t *function(struct br_pipeline *pl)
{
    struct br_observe *o = &pl->obs;
    int state = atomic_load(&o->breaker_state);
    json_t *breaker = json_pack("{s:s, s:o, s:I}", "state", br_breaker_state_names[state],
                                "open_until", state == BR_BREAKER_OPEN ?
                                utc_or_null(atomic_load(&o->breaker_open_until)) : json_null(),
                                "opened", LOAD(o->breaker_opened));
    return json_pack("{s:s, s:o, s:o, s:o}", "kind", pl->tgt.ops->name,
                     "name", pl->fn_shown ? json_string(pl->fn_shown) : json_null(),
                     "breaker", breaker, "usage", usage(pl));
}

static json_t *dead_letter(struct br_pipeline *pl)
{
    struct br_observe *o = &pl->obs;
    char err[BR_OBSERVE_ERROR_LEN];
    br_observe_sink_last_error(o, err, sizeof(err));
    bool failing = atomic_load(&o->sink_state) == BR_SINK_FAILING;
    /* The file sink is the only one this build knows of. */
    return json_pack("{s:o, s:s, s:I, s:o}",
                     "sink", pl->dlq ? json_string(br_dlq_sink_kind(pl->dlq)) : json_null(),
                     "state", failing ? "failing" : "ok",
                     "failures", LOAD(o->sink_failures),
                     "error", *err ? json_string(err) : json_null());
}

static json_t *last_error(struct br_pipeline *pl)
{
    char err[BR_OBSERVE_ERROR_LEN];
    int64_t at = br_observe_last_error(&pl->obs, err, sizeof(err));
    if (!*err)
        return json_null();
    return json_pack("{s:s, s:o}", "message", err, "at", utc_or_null(at));
}

static json_t *counts(struct br_pipeline *pl)
{
    json_t *inv = json_object();
    for (int i = 0; i < BR_OUTCOME_COUNT; i++)
        json_object_set_new(inv, br_outcome_names[i],
                            json_integer(LOAD(pl->obs.invocations[i])));
    return inv;
}

static json_t *pipeline(struct br_pipeline *pl, bool *all_ready)
{
    struct br_readiness r;
    bool ready = br_pipeline_ready(pl, &r);
    json_t *reasons = json_array();
    for (int i = 0; i < r.n; i++)
        json_array_append_new(reasons, json_string(r.reasons[i]));
    *all_ready = *all_ready && ready;
    struct br_pipeline_stats *s = &pl->stats;
    return json_pack("{s:s, s:b, s:o, s:o, s:o, s:{s:I, s:I}, s:{s:I, s:I, s:I, s:I}, "
                     "s:o, s:I, s:o, s:o}",
                     "name", pl->name_shown, "ready", ready, "not_ready", reasons,
                     "source", source(pl), "function", function(pl),
                     "inflight", "records", LOAD(pl->obs.inflight_records),
                     "bytes", LOAD(pl->obs.inflight_bytes),
                     "records", "received", LOAD(s->received), "filtered", LOAD(s->filtered),
                     "delivered", LOAD(s->delivered), "dead_lettered", LOAD(s->dead_lettered),
                     "invocations", counts(pl), "retries", LOAD(s->retries),
                     "dead_letter", dead_letter(pl), "last_error", last_error(pl));
}

char *br_status_render(struct br_pipeline *const *pls, size_t n, double uptime_seconds)
{
    bool all_ready = true;
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++)
        if (json_array_append_new(list, pipeline(pls[i], &all_ready)) < 0) {
            json_decref(list);
            return NULL;
        }
    json_t *doc = json_pack("{s:s, s:f, s:b, s:o}", "version", BR_VERSION,
                            "uptime_seconds", uptime_seconds, "ready", all_ready,
                            "pipelines", list);
    if (!doc)
        return NULL;
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return text;
}
