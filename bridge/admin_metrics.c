/* admin_metrics.c - the Prometheus rendering of /metrics (admin_metrics.h).
 * Each family is a row of a table: its name, type, help and how to get its
 * samples of one pipeline; families are printed whole, pipeline after
 * pipeline, as the format requires. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_metrics.h"
#include "dlq_json.h"
#include "pipeline.h"

#define LABELS_LEN 512
#define MIB 1048576.0

int br_metrics_put_label_value(struct br_buf *out, const char *value)
{
    static const char replacement[] = "\xEF\xBF\xBD";   /* U+FFFD */
    const unsigned char *p = (const unsigned char *)value;
    for (size_t left = strlen(value); left;) {
        /* The format is UTF-8: a scraper refuses the whole exposition
         * for one label that is not, so a stray byte becomes U+FFFD. */
        size_t len = br_utf8_len(p, left);
        int rc = *p == '\\' ? br_buf_puts(out, "\\\\")
               : *p == '"'  ? br_buf_puts(out, "\\\"")
               : *p == '\n' ? br_buf_puts(out, "\\n")
               : len        ? br_buf_append(out, p, len)
                            : br_buf_puts(out, replacement);
        if (rc < 0)
            return -1;
        len = len ? len : 1;
        p += len;
        left -= len;
    }
    return 0;
}

/* v as the format writes numbers into text (32 bytes): NaN, +Inf, -Inf;
 * integers exact; others with the fewest digits that read back as v. The
 * integer test comes before any conversion (a double past int64 does not
 * convert). */
static void format_number(char *text, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(text, n, "NaN");
    } else if (isinf(v)) {
        snprintf(text, n, v > 0 ? "+Inf" : "-Inf");
    } else if (v > -0x1p53 && v < 0x1p53 && v == trunc(v)) {
        snprintf(text, n, "%" PRId64, (int64_t)v);
    } else {
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(text, n, "%.*g", digits, v);
            if (strtod(text, NULL) == v)
                break;
        }
    }
}

int br_metrics_put_value(struct br_buf *out, double v)
{
    char text[32];
    format_number(text, sizeof(text), v);
    return br_buf_puts(out, text);
}

static int put_sample(struct br_buf *out, const char *name, const char *labels,
                      const char *extra, double v)
{
    if (br_buf_printf(out, "%s{%s%s%s} ", name, labels, extra && *extra ? "," : "",
                      extra ? extra : "") < 0 ||
        br_metrics_put_value(out, v) < 0)
        return -1;
    return br_buf_putc(out, '\n');
}

int br_metrics_put_histogram(struct br_buf *out, const char *name, const char *labels,
                             const struct br_histogram *h)
{
    char series[256], le[64], bound[32];
    uint64_t cumulative = 0;
    snprintf(series, sizeof(series), "%s_bucket", name);
    for (int i = 0; i <= h->n_bounds; i++) {
        cumulative += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        format_number(bound, sizeof(bound), i < h->n_bounds ? h->bounds[i] : INFINITY);
        snprintf(le, sizeof(le), "le=\"%s\"", bound);
        if (put_sample(out, series, labels, le, (double)cumulative) < 0)
            return -1;
    }
    double sum = (double)atomic_load_explicit(&h->sum_micro, memory_order_relaxed) / 1e6;
    snprintf(series, sizeof(series), "%s_sum", name);
    if (put_sample(out, series, labels, NULL, sum) < 0)
        return -1;
    snprintf(series, sizeof(series), "%s_count", name);
    return put_sample(out, series, labels, NULL, (double)cumulative);
}

/* ------------------------------------------------------------ families */

typedef int (*samples_fn)(struct br_buf *out, const char *name, const char *labels,
                          struct br_pipeline *pl);
typedef double (*value_fn)(struct br_pipeline *pl);

struct family {
    const char *name;
    const char *type;            /* counter | gauge | histogram */
    const char *help;
    value_fn value;              /* one sample per pipeline, or */
    samples_fn samples;          /* any number of samples */
};

#define LOAD(x) ((double)atomic_load_explicit(&(x), memory_order_relaxed))

static double received(struct br_pipeline *pl) { return LOAD(pl->stats.received); }
static double filtered(struct br_pipeline *pl) { return LOAD(pl->stats.filtered); }
static double delivered(struct br_pipeline *pl) { return LOAD(pl->stats.delivered); }
static double dead_lettered(struct br_pipeline *pl) { return LOAD(pl->stats.dead_lettered); }
static double retries(struct br_pipeline *pl) { return LOAD(pl->stats.retries); }
static double inflight_records(struct br_pipeline *pl) { return LOAD(pl->obs.inflight_records); }
static double inflight_bytes(struct br_pipeline *pl) { return LOAD(pl->obs.inflight_bytes); }
static double source_paused(struct br_pipeline *pl) { return atomic_load(&pl->obs.paused); }
static double breaker_opened(struct br_pipeline *pl) { return LOAD(pl->obs.breaker_opened); }
static double sink_failures(struct br_pipeline *pl) { return LOAD(pl->obs.sink_failures); }
static double requests(struct br_pipeline *pl) { return LOAD(pl->obs.meter.requests); }
static double fn_errors(struct br_pipeline *pl) { return LOAD(pl->obs.meter.errors); }
static double throttles(struct br_pipeline *pl) { return LOAD(pl->obs.meter.throttles); }
static double cold_starts(struct br_pipeline *pl) { return LOAD(pl->obs.meter.cold_starts); }
static double concurrent(struct br_pipeline *pl) { return LOAD(pl->obs.meter.concurrent); }
static double concurrent_max(struct br_pipeline *pl) { return LOAD(pl->obs.meter.concurrent_max); }

static double source_up(struct br_pipeline *pl)
{
    return atomic_load(&pl->obs.source_state) == BR_SOURCE_CONNECTED;
}

static double circuit_open(struct br_pipeline *pl)
{
    return atomic_load(&pl->obs.breaker_state) == BR_BREAKER_OPEN;
}

static double sink_up(struct br_pipeline *pl)
{
    return atomic_load(&pl->obs.sink_state) == BR_SINK_OK;
}

static double billed_seconds(struct br_pipeline *pl)
{
    return LOAD(pl->obs.meter.billed_ms) / 1000.0;
}

static double gb_seconds(struct br_pipeline *pl)
{
    return billed_seconds(pl) * (double)pl->conf->memory_size_mb / 1024.0;
}

static double init_seconds(struct br_pipeline *pl)
{
    return LOAD(pl->obs.meter.init_ms) / 1000.0;
}

static double memory_bytes(struct br_pipeline *pl)
{
    return (double)pl->conf->memory_size_mb * MIB;
}

static double gauge_of(struct br_pipeline *pl, enum br_source_gauge g)
{
    return LOAD(pl->obs.gauges[g]);
}

static int invocations(struct br_buf *out, const char *name, const char *labels,
                       struct br_pipeline *pl)
{
    char extra[64];
    for (int i = 0; i < BR_OUTCOME_COUNT; i++) {
        snprintf(extra, sizeof(extra), "outcome=\"%s\"", br_outcome_names[i]);
        if (put_sample(out, name, labels, extra, LOAD(pl->obs.invocations[i])) < 0)
            return -1;
    }
    return 0;
}

static int circuit_state(struct br_buf *out, const char *name, const char *labels,
                         struct br_pipeline *pl)
{
    char extra[64];
    int now = atomic_load(&pl->obs.breaker_state);
    for (int i = 0; br_breaker_state_names[i]; i++) {
        snprintf(extra, sizeof(extra), "state=\"%s\"", br_breaker_state_names[i]);
        if (put_sample(out, name, labels, extra, now == i) < 0)
            return -1;
    }
    return 0;
}

/* Lag of each shard assigned now whose source reported one (Kafka). */
static int consumer_lag(struct br_buf *out, const char *name, const char *labels,
                        struct br_pipeline *pl)
{
    int n = atomic_load_explicit(&pl->n_shards_shown, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        struct br_shard_info *s = &pl->shards[i];
        int64_t lag = atomic_load_explicit(&s->lag, memory_order_relaxed);
        if (!atomic_load(&s->assigned) || lag < 0)
            continue;
        struct br_buf extra;
        br_buf_init(&extra, LABELS_LEN);
        int rc = br_buf_puts(&extra, "topic=\"");
        rc |= br_metrics_put_label_value(&extra, s->topic);
        rc |= br_buf_printf(&extra, "\",partition=\"%d\"", (int)s->partition);
        if (rc == 0)
            rc = put_sample(out, name, labels, extra.data, (double)lag);
        br_buf_free(&extra);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int spool_records(struct br_buf *out, const char *name, const char *labels,
                         struct br_pipeline *pl)
{
    if (!atomic_load(&pl->obs.gauge_set[BR_GAUGE_SPOOL_RECORDS]))
        return 0;
    return put_sample(out, name, labels, NULL, gauge_of(pl, BR_GAUGE_SPOOL_RECORDS));
}

static int events_pending(struct br_buf *out, const char *name, const char *labels,
                          struct br_pipeline *pl)
{
    if (!atomic_load(&pl->obs.gauge_set[BR_GAUGE_EVENTS_PENDING]))
        return 0;
    return put_sample(out, name, labels, NULL, gauge_of(pl, BR_GAUGE_EVENTS_PENDING));
}

static int duration_hist(struct br_buf *out, const char *name, const char *labels,
                         struct br_pipeline *pl)
{
    return br_metrics_put_histogram(out, name, labels, &pl->obs.duration_seconds);
}

static int batch_hist(struct br_buf *out, const char *name, const char *labels,
                      struct br_pipeline *pl)
{
    return br_metrics_put_histogram(out, name, labels, &pl->obs.batch_records);
}

#define F "fnbridge_"
static const struct family families[] = {
    {F "records_received_total", "counter", "Records the source received.", received, NULL},
    {F "records_filtered_total", "counter", "Records the filter left out (acked without "
     "an invocation).", filtered, NULL},
    {F "records_delivered_total", "counter", "Records the function took.", delivered, NULL},
    {F "records_dead_lettered_total", "counter", "Records written to the dead-letter sink.",
     dead_lettered, NULL},
    {F "invocations_total", "counter", "Invocations of the function, by how they ended.",
     NULL, invocations},
    {F "invocation_duration_seconds", "histogram", "How long invocations took.", NULL,
     duration_hist},
    {F "batch_records", "histogram", "Records per invocation.", NULL, batch_hist},
    {F "retries_total", "counter", "Invocations retried after a failure.", retries, NULL},
    {F "inflight_records", "gauge", "Records received and not yet settled.",
     inflight_records, NULL},
    {F "inflight_bytes", "gauge", "Bytes of the records in flight.", inflight_bytes, NULL},
    {F "source_up", "gauge", "1 when the source says it is connected.", source_up, NULL},
    {F "source_paused", "gauge", "1 while the source is paused (max_inflight, an open "
     "circuit or a failing dead-letter sink).", source_paused, NULL},
    {F "kafka_consumer_lag", "gauge", "High watermark minus the next offset to commit, "
     "per assigned partition.", NULL, consumer_lag},
    {F "spool_records", "gauge", "MQTT messages in the durable spool.", NULL, spool_records},
    {F "s3_events_pending", "gauge", "S3 events listed and not yet done.", NULL,
     events_pending},
    {F "circuit_open", "gauge", "1 while the function's circuit breaker is open.",
     circuit_open, NULL},
    {F "circuit_state", "gauge", "The circuit breaker's state: 1 for the current one.",
     NULL, circuit_state},
    {F "circuit_opened_total", "counter", "Times the circuit breaker opened.",
     breaker_opened, NULL},
    {F "dead_letter_sink_up", "gauge", "1 while the dead-letter sink takes writes.",
     sink_up, NULL},
    {F "dead_letter_sink_failures_total", "counter", "Dead-letter writes that failed.",
     sink_failures, NULL},
    {F "function_requests_total", "counter", "Invocations the function "
     "ran (Lambda's requests): not throttled, not refused at connect.",
     requests, NULL},
    {F "function_billed_duration_seconds_total", "counter", "Invocation time, each "
     "invocation rounded up to the millisecond as Lambda bills it.", billed_seconds, NULL},
    /* Not "gb_seconds": promtool refuses abbreviated units in names. */
    {F "function_gigabyte_seconds_total", "counter", "Billed duration times "
     "memory_size in GB (memory_size / 1024), as Lambda's GB-seconds.",
     gb_seconds, NULL},
    {F "function_errors_total", "counter", "Of the requests, those that failed.",
     fn_errors, NULL},
    {F "function_throttles_total", "counter", "Invocations answered 429.", throttles, NULL},
    {F "function_cold_starts_total", "counter", "Function workers started cold "
     "(exec runtime-api).", cold_starts, NULL},
    {F "function_init_duration_seconds_total", "counter", "Init time of the cold starts.",
     init_seconds, NULL},
    {F "function_concurrent_executions", "gauge", "Invocations in flight now.",
     concurrent, NULL},
    {F "function_concurrent_executions_max", "gauge", "The most invocations in flight at "
     "once since start.", concurrent_max, NULL},
    {F "function_memory_size_bytes", "gauge", "The pipeline's memory_size, in bytes.",
     memory_bytes, NULL},
};
#undef F

static int render_family(struct br_buf *out, const struct family *fam,
                         struct br_pipeline *const *pls, size_t n)
{
    if (br_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help,
                      fam->name, fam->type) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct br_buf labels;
        br_buf_init(&labels, LABELS_LEN);
        int rc = br_buf_puts(&labels, "pipeline=\"");
        rc |= br_metrics_put_label_value(&labels, pls[i]->name_shown);
        rc |= br_buf_putc(&labels, '"');
        if (rc == 0)
            rc = fam->value ? put_sample(out, fam->name, labels.data, NULL, fam->value(pls[i]))
                            : fam->samples(out, fam->name, labels.data, pls[i]);
        br_buf_free(&labels);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int br_metrics_render(struct br_buf *out, struct br_pipeline *const *pls, size_t n)
{
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        if (render_family(out, &families[i], pls, n) < 0)
            return -1;
    return 0;
}
