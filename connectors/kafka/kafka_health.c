/* kafka_health.c - what the Kafka source tells /readyz, /status and
 * /metrics of itself: connected once it has an assignment and a broker
 * answers, disconnected while no broker connection is up, and each
 * assigned partition's lag (README: Operations, Readiness).
 *
 * librdkafka says when every broker is down (the error callback's
 * ALL_BROKERS_DOWN) but has no event for one coming back, so the way back
 * is read from its statistics, emitted each second through our poll
 * calls: a broker whose connection is UP. A statistics report with none
 * up also counts as down, in case the error is not raised. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/log.h"
#include "kafka_consumer.h"

#define KAFKA_LAG_EVERY_MS 1000

void kafka_health_on_error(struct kafka_ctx *ctx, int err, const char *reason)
{
    if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        return;
    ctx->health.brokers_down = true;
    snprintf(ctx->health.why, sizeof(ctx->health.why), "%s", reason);
}

/* Brokers whose connection is up: those named in the bootstrap list or
 * learned from metadata, not librdkafka's internal and logical ones. */
static int brokers_up(json_t *brokers)
{
    const char *name;
    json_t *b;
    int up = 0;
    json_object_foreach(brokers, name, b) {
        const char *source = json_string_value(json_object_get(b, "source"));
        const char *state = json_string_value(json_object_get(b, "state"));
        if (source && state && (!strcmp(source, "learned") || !strcmp(source, "configured")) &&
            !strcmp(state, "UP"))
            up++;
    }
    return up;
}

/* The committed offsets of the partitions nothing was received of yet:
 * what their lag counts from. */
static void read_committed(struct kafka_ctx *ctx, json_t *topics)
{
    char id[16];
    for (size_t i = 0; i < ctx->n_shards; i++) {
        struct kafka_shard *s = &ctx->shards[i];
        if (!s->owned || s->next_commit >= 0)
            continue;
        snprintf(id, sizeof(id), "%d", (int)s->partition);
        json_t *p = json_object_get(json_object_get(json_object_get(topics, s->topic),
                                                    "partitions"), id);
        json_t *committed = json_object_get(p, "committed_offset");
        if (json_is_integer(committed))
            s->committed = json_integer_value(committed);
    }
}

void kafka_health_on_stats(struct kafka_ctx *ctx, const char *json, size_t len)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    read_committed(ctx, json_object_get(root, "topics"));
    json_t *brokers = json_object_get(root, "brokers");
    if (json_is_object(brokers)) {
        int up = brokers_up(brokers);
        /* Before the first connection nothing is up yet: not news. */
        if (up > 0)
            ctx->health.brokers_down = false;
        else if (ctx->health.assigned && !ctx->health.brokers_down) {
            ctx->health.brokers_down = true;
            snprintf(ctx->health.why, sizeof(ctx->health.why),
                     "no connection to any broker is up");
        }
    }
    json_decref(root);
}

/* An assignment, even an empty one, says the group works: a member of a
 * group with more members than partitions gets none and is still
 * connected (it takes partitions over at the next rebalance). Through a
 * later rebalance the source stays connected: it is the brokers' doing. */
void kafka_health_on_assign(struct kafka_ctx *ctx)
{
    ctx->health.assigned = true;
}

static void report_state(struct kafka_ctx *ctx)
{
    struct kafka_health *h = &ctx->health;
    int state = h->brokers_down ? BR_SOURCE_DISCONNECTED
              : h->assigned     ? BR_SOURCE_CONNECTED
                                : BR_SOURCE_STARTING;
    if (state == h->reported)
        return;
    if (state == BR_SOURCE_DISCONNECTED) {
        br_warn(ctx->src->scope, "brokers unreachable (%s): not ready until one answers",
                h->why);
        br_source_report_state(ctx->src, BR_SOURCE_DISCONNECTED, h->why);
    } else {
        if (h->reported == BR_SOURCE_DISCONNECTED)
            br_info(ctx->src->scope, "brokers answer again");
        br_source_report_state(ctx->src, (enum br_source_state)state, NULL);
    }
    h->reported = state;
}

/* Where a partition starts when nothing of it was received since the
 * assignment: its committed offset, or where auto.offset.reset goes when
 * the group has none (start: timestamp:... is taken as earliest). */
static int64_t start_position(const struct kafka_ctx *ctx, const struct kafka_shard *s,
                              int64_t low, int64_t high)
{
    if (s->committed >= 0)
        return s->committed;
    if (s->committed != RD_KAFKA_OFFSET_INVALID)
        return -1;
    return strcmp(ctx->opts.start, "latest") == 0 ? high : low;
}

/* The high watermark is the one librdkafka cached from its last fetch
 * response: no request, no wait. */
static void report_lag(struct kafka_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_shards; i++) {
        struct kafka_shard *s = &ctx->shards[i];
        int64_t low, high;
        if (!s->owned)
            continue;
        if (rd_kafka_get_watermark_offsets(ctx->rk, s->topic, s->partition, &low,
                                           &high) || high < 0)
            continue;
        int64_t next = s->next_commit >= 0 ? s->next_commit
                                           : start_position(ctx, s, low, high);
        if (next < 0)
            continue;
        br_source_report_lag(ctx->src, (int)i, high > next ? high - next : 0);
    }
}

void kafka_health_tick(struct kafka_ctx *ctx)
{
    report_state(ctx);
    int64_t now = br_now_ms();
    if (now - ctx->health.last_lag_ms < KAFKA_LAG_EVERY_MS)
        return;
    ctx->health.last_lag_ms = now;
    report_lag(ctx);
}
