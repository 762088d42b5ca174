/* test_admin_metrics.c - the admin server's renderers and rules without a
 * server: Prometheus label escaping (kept UTF-8), sample values (NaN, the
 * infinities, past int64), histogram lines (hostile observations too), a
 * whole /metrics of a pipeline built by hand, and each readiness rule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/admin_metrics.h"
#include "bridge/pipeline.h"
#include "bridge/readiness.h"
#include "unit.h"

static void test_label_escaping(void)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    CHECK(br_metrics_put_label_value(&b, "a\\b\"c\nd ${env:X}") == 0);
    CHECK_STR(b.data, "a\\\\b\\\"c\\nd ${env:X}");
    br_buf_free(&b);
}

static void test_histogram_lines(void)
{
    static const double bounds[] = {1, 2.5};
    struct br_histogram h;
    br_histogram_init(&h, bounds, 2);
    br_histogram_observe(&h, 0.5);
    br_histogram_observe(&h, 1);      /* le is inclusive */
    br_histogram_observe(&h, 2);
    br_histogram_observe(&h, 7);
    struct br_buf b;
    br_buf_init(&b, 0);
    CHECK(br_metrics_put_histogram(&b, "x_seconds", "pipeline=\"p\"", &h) == 0);
    CHECK_STR(b.data,
              "x_seconds_bucket{pipeline=\"p\",le=\"1\"} 2\n"
              "x_seconds_bucket{pipeline=\"p\",le=\"2.5\"} 3\n"
              "x_seconds_bucket{pipeline=\"p\",le=\"+Inf\"} 4\n"
              "x_seconds_sum{pipeline=\"p\"} 10.5\n"
              "x_seconds_count{pipeline=\"p\"} 4\n");
    br_buf_free(&b);
}

/* Regression: a label value that was not UTF-8 was written as it was,
 * and a scraper refuses the whole exposition for it. */
static void test_label_not_utf8(void)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    CHECK(br_metrics_put_label_value(&b, "a\xff" "b\xc3\xa9\xed\xa0\x80\"") == 0);
    CHECK_STR(b.data, "a\xef\xbf\xbd" "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\\\"");
    br_buf_free(&b);
}

/* Regression: a sample value was converted to int64 before its range was
 * checked (undefined past 2^63, and NaN), integers from 9e15 and reals
 * were printed with 15 digits (2^53 + 2 came out as 9.00719925474099e+15,
 * which reads back as another number),
 * and NaN and the infinities as printf spells them ("nan", "inf"), which
 * the format does not read. */
static void test_values(void)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0, "0"}, {-0.0, "0"}, {42, "42"}, {-7, "-7"}, {0.1, "0.1"}, {2.052, "2.052"},
        {9007199254740994.0, "9007199254740994"},
        {0x1p63, "9.223372036854776e+18"}, {-0x1p63, "-9.223372036854776e+18"},
        {1.0 / 3, "0.3333333333333333"}, {1e300, "1e+300"}, {5e-324, "4.94065645841247e-324"},
        {NAN, "NaN"}, {INFINITY, "+Inf"}, {-INFINITY, "-Inf"},
    };
    struct br_buf b;
    br_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        br_buf_reset(&b);
        CHECK(br_metrics_put_value(&b, cases[i].v) == 0);
        CHECK_STR(b.data, cases[i].text);
    }
    br_buf_free(&b);
}

/* Regression: a NaN observed was counted in the lowest bucket (NaN <= b
 * is false for every b: +Inf alone holds it), and a value too large for
 * the sum's micro-units added what llround made of it (unspecified). An
 * infinite duration was converted to the billed milliseconds (undefined). */
static void test_hostile_observations(void)
{
    static const double bounds[] = {1, 2.5};
    struct br_histogram h;
    br_histogram_init(&h, bounds, 2);
    br_histogram_observe(&h, NAN);
    br_histogram_observe(&h, 1e300);
    br_histogram_observe(&h, -INFINITY);
    struct br_buf b;
    br_buf_init(&b, 0);
    CHECK(br_metrics_put_histogram(&b, "x", "pipeline=\"p\"", &h) == 0);
    CHECK_STR(b.data,
              "x_bucket{pipeline=\"p\",le=\"1\"} 1\n"
              "x_bucket{pipeline=\"p\",le=\"2.5\"} 1\n"
              "x_bucket{pipeline=\"p\",le=\"+Inf\"} 3\n"
              "x_sum{pipeline=\"p\"} 0\n"
              "x_count{pipeline=\"p\"} 3\n");
    br_buf_free(&b);

    struct br_observe o;
    br_observe_init(&o);
    br_observe_invocation_start(&o);
    br_observe_invocation_end(&o, BR_OUTCOME_SUCCESS, true, INFINITY, 1);
    br_observe_invocation_start(&o);
    br_observe_invocation_end(&o, BR_OUTCOME_SUCCESS, true, NAN, 1);
    CHECK_INT(atomic_load(&o.meter.billed_ms), 2);
    br_observe_destroy(&o);
}

/* A pipeline as the admin server sees it, without a source or target. */
struct fake {
    struct br_pipeline pl;
    struct br_pipeline_conf conf;
    struct br_shard_info shards[2];
};

static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    br_observe_init(&f->pl.obs);
    f->conf.memory_size_mb = 256;
    f->pl.conf = &f->conf;
    f->pl.name_shown = "we\"ird";
    f->pl.shards = f->shards;
    f->shards[0] = (struct br_shard_info){.topic = "t\"x", .partition = 3};
    f->shards[1] = (struct br_shard_info){.topic = "gone", .partition = 1};
    atomic_store(&f->shards[0].assigned, true);
    atomic_store(&f->shards[0].lag, 7);
    atomic_store(&f->shards[1].lag, 9);     /* revoked: not shown */
    atomic_store(&f->pl.n_shards_shown, 2);
}

static void test_render(void)
{
    struct fake f;
    fake_init(&f);
    struct br_pipeline *pls[] = {&f.pl};
    atomic_store(&f.pl.stats.received, 42);
    atomic_store(&f.pl.stats.delivered, (uint64_t)1 << 63);   /* past int64 */
    atomic_store(&f.pl.obs.meter.billed_ms, 2048);
    atomic_store(&f.pl.obs.breaker_state, BR_BREAKER_OPEN);
    br_observe_invocation_start(&f.pl.obs);
    br_observe_invocation_end(&f.pl.obs, BR_OUTCOME_THROTTLED, true, 5.0, 10);
    br_observe_invocation_start(&f.pl.obs);
    br_observe_invocation_end(&f.pl.obs, BR_OUTCOME_SUCCESS, true, 3.2, 10);
    struct br_buf b;
    br_buf_init(&b, 0);
    CHECK(br_metrics_render(&b, pls, 1) == 0);
    const char *want[] = {
        "# HELP fnbridge_records_received_total ",
        "# TYPE fnbridge_records_received_total counter\n"
        "fnbridge_records_received_total{pipeline=\"we\\\"ird\"} 42\n",
        "fnbridge_invocations_total{pipeline=\"we\\\"ird\",outcome=\"throttled\"} 1\n",
        "fnbridge_records_delivered_total{pipeline=\"we\\\"ird\"} 9.223372036854776e+18\n",
        "# TYPE fnbridge_invocation_duration_seconds histogram\n",
        "fnbridge_batch_records_bucket{pipeline=\"we\\\"ird\",le=\"10\"} 2\n",
        "fnbridge_kafka_consumer_lag{pipeline=\"we\\\"ird\",topic=\"t\\\"x\",partition=\"3\"} 7\n",
        /* 2048 + 4 ms (3.2 rounded up) billed, times 256 MB; the 429 is
         * neither a request nor billed */
        "fnbridge_function_requests_total{pipeline=\"we\\\"ird\"} 1\n",
        "fnbridge_function_billed_duration_seconds_total{pipeline=\"we\\\"ird\"} 2.052\n",
        "fnbridge_function_gigabyte_seconds_total{pipeline=\"we\\\"ird\"} 0.513\n",
        "fnbridge_function_throttles_total{pipeline=\"we\\\"ird\"} 1\n",
        "fnbridge_function_memory_size_bytes{pipeline=\"we\\\"ird\"} 268435456\n",
        "fnbridge_circuit_open{pipeline=\"we\\\"ird\"} 1\n",
        "fnbridge_circuit_state{pipeline=\"we\\\"ird\",state=\"open\"} 1\n",
        "fnbridge_circuit_state{pipeline=\"we\\\"ird\",state=\"closed\"} 0\n",
        "# TYPE fnbridge_spool_records gauge\n# HELP fnbridge_s3_events_pending",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        CHECK_MSG(strstr(b.data, want[i]), "missing: %s", want[i]);
    CHECK(!strstr(b.data, "topic=\"gone\""));
    br_buf_free(&b);
    /* A cap reached is an error, not a cut exposition. */
    br_buf_init(&b, 512);
    CHECK(br_metrics_render(&b, pls, 1) < 0);
    br_buf_free(&b);
    br_observe_destroy(&f.pl.obs);
}

/* ------------------------------------------------------------ readiness */

static const struct br_ready_facts healthy = {
    .source_state = BR_SOURCE_CONNECTED, .breaker_state = BR_BREAKER_CLOSED,
    .sink_state = BR_SINK_OK, .inflight_records = 0, .last_settle_ms = 1000,
    .idle_ms = 1000, .stall_bound_ms = 95500, .now_ms = 500000,
};

static bool judged(struct br_ready_facts f, const char *reason)
{
    struct br_readiness r;
    bool ready = br_readiness_judge(&f, &r);
    if (!reason)
        return ready && r.n == 0;
    for (int i = 0; i < r.n; i++)
        if (strstr(r.reasons[i], reason))
            return !ready;
    return false;
}

static void test_readiness_rules(void)
{
    struct br_ready_facts f = healthy;
    CHECK(judged(f, NULL));
    f.source_state = BR_SOURCE_STARTING;
    CHECK(judged(f, "source not connected yet"));
    f.source_state = BR_SOURCE_DISCONNECTED;
    f.source_error = "3/3 brokers are down";
    CHECK(judged(f, "source disconnected: 3/3 brokers are down"));
    f.source_state = BR_SOURCE_STOPPED;
    CHECK(judged(f, "source stopped"));

    f = healthy;
    f.breaker_state = BR_BREAKER_OPEN;
    f.breaker_open_until_wall = 86400000;
    CHECK(judged(f, "circuit open: no calls to the function until 1970-01-02T00:00:00.000Z"));
    f.breaker_state = BR_BREAKER_HALF_OPEN;
    CHECK(judged(f, "circuit half-open"));

    f = healthy;
    f.sink_state = BR_SINK_FAILING;
    f.sink_error = "disk full";
    CHECK(judged(f, "dead-letter sink failing: disk full"));

    /* Stalled: records wait and nothing settled past the bound... */
    f = healthy;
    f.inflight_records = 5;
    f.last_settle_ms = f.idle_ms = f.now_ms - 95501;
    CHECK(judged(f, "stalled: 5 records in flight and none settled for 95.5 s"));
    f.last_settle_ms = f.idle_ms = f.now_ms - 95500;
    CHECK(judged(f, NULL));
    /* ...counted from when they began to wait, not from an idle spell's
     * last settle; and nothing in flight is never a stall. */
    f.last_settle_ms = 0;
    f.idle_ms = f.now_ms - 10;
    CHECK(judged(f, NULL));
    f.inflight_records = 0;
    f.idle_ms = 0;
    CHECK(judged(f, NULL));

    /* Every reason is listed. */
    f = healthy;
    f.source_state = BR_SOURCE_DISCONNECTED;
    f.breaker_state = BR_BREAKER_OPEN;
    f.sink_state = BR_SINK_FAILING;
    f.inflight_records = 1;
    f.last_settle_ms = f.idle_ms = 0;
    struct br_readiness r;
    CHECK(!br_readiness_judge(&f, &r));
    CHECK_INT(r.n, 4);

    CHECK_INT(br_readiness_stall_bound_ms(500, 30000, 30000, 0), 95500);
    CHECK_INT(br_readiness_stall_bound_ms(0, 1000, 0, 0), 7000);
    /* A slow rate limit is no stall (review: one call every 20 s flapped
     * /readyz with a bound of 10.5 s). */
    CHECK_INT(br_readiness_stall_bound_ms(500, 2000, 1000, 0.05), 10500 + 40000);
    CHECK(br_readiness_stall_bound_ms(0, 1000, 0, 1e-6) > 0);
}

static void test_liveness(void)
{
    struct fake f;
    fake_init(&f);
    char why[256];
    int64_t now = atomic_load(&f.pl.obs.source_beat_ms);
    CHECK(br_pipeline_alive(&f.pl, now + BR_LIVENESS_BOUND_MS, why, sizeof(why)));
    atomic_store(&f.pl.obs.dispatch_beat_ms, now + BR_LIVENESS_BOUND_MS);
    CHECK(!br_pipeline_alive(&f.pl, now + BR_LIVENESS_BOUND_MS + 1, why, sizeof(why)));
    CHECK(strstr(why, "the source thread has not turned for 60 s"));
    atomic_store(&f.pl.obs.source_beat_ms, now + 2 * BR_LIVENESS_BOUND_MS);
    CHECK(!br_pipeline_alive(&f.pl, now + 2 * BR_LIVENESS_BOUND_MS + 1, why, sizeof(why)));
    CHECK(strstr(why, "the dispatcher thread has not turned"));
    atomic_store(&f.pl.source_done, true);
    CHECK(!br_pipeline_alive(&f.pl, now, why, sizeof(why)));
    CHECK(strstr(why, "the source thread ended"));
    br_observe_destroy(&f.pl.obs);
}

int main(void)
{
    test_label_escaping();
    test_histogram_lines();
    test_label_not_utf8();
    test_values();
    test_hostile_observations();
    test_render();
    test_readiness_rules();
    test_liveness();
    return UNIT_DONE("admin_metrics");
}
