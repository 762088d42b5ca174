/* report.c - what connectors report of themselves (connector.h): the
 * source's state, lag and gauges, a target's cold starts. Each lands in
 * the pipeline's observe block, which the admin server reads. */
#include "clock.h"
#include "log.h"
#include "pipeline.h"

void br_source_report_state(struct br_source *src, enum br_source_state state,
                            const char *why)
{
    struct br_observe *o = &src->pl->obs;
    int was = atomic_exchange(&o->source_state, (int)state);
    /* A new state without a reason makes the old reason history (it stays
     * the last error until another comes): brokers back but no partition
     * yet is no longer "every broker is down". */
    if (why && *why)
        br_observe_source_error(o, why);
    else if (was != (int)state)
        br_observe_source_error(o, "");
    if (was != (int)state)
        atomic_store(&o->source_state_since, br_wall_ms());
}

void br_source_report_lag(struct br_source *src, int shard, int64_t lag)
{
    if (shard >= 0 && shard < BR_MAX_SHARDS)
        atomic_store_explicit(&src->pl->shards[shard].lag, lag, memory_order_relaxed);
}

void br_source_report_gauge(struct br_source *src, enum br_source_gauge gauge,
                            int64_t value)
{
    struct br_observe *o = &src->pl->obs;
    if (gauge < 0 || gauge >= BR_GAUGE_COUNT)
        return;
    atomic_store_explicit(&o->gauges[gauge], value, memory_order_relaxed);
    atomic_store(&o->gauge_set[gauge], true);
}

void br_target_report_cold_start(struct br_target *tgt, int64_t init_ms)
{
    struct br_metering *m = &tgt->pl->obs.meter;
    atomic_fetch_add_explicit(&m->cold_starts, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->init_ms, init_ms > 0 ? (uint64_t)init_ms : 0,
                              memory_order_relaxed);
}
