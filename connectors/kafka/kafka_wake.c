/* kafka_wake.c - wakes librdkafka's fetchers as soon as its prefetch queue
 * has room again.
 *
 * librdkafka 2.0.2 stops fetching while the consumer's queue holds
 * queued.max.messages.kbytes (or queued.min.messages), and looks again
 * only when that broker's thread next wakes up: on its next network event
 * or op, at worst a second later (2.1 added fetch.queue.backoff.ms for
 * exactly this). A queue small enough to keep memory low then runs dry at
 * every refill and the pipeline idles for most of that second (measured:
 * 80k-230k records/s with a 4 MiB queue, 540k-620k with this wake-up).
 *
 * Any request for a broker wakes its thread. So once the queue, having
 * been near full, has drained to half, we ask for our partitions' end
 * offsets with rd_kafka_offsets_for_times and a zero timeout: the ListOffsets
 * requests are queued at once and their answers dropped. It is read-only,
 * changes no fetch state (pause/resume or seek would bump the partition's
 * version and refetch from the assignment's start offset), and is sent at
 * most every KAFKA_WAKE_MIN_MS, only while records flow. */
#include <stdlib.h>

#include "bridge/clock.h"
#include "bridge/log.h"
#include "kafka_consumer.h"

#define KAFKA_WAKE_MIN_MS 5
#define KAFKA_WAKE_DEFAULT_LEN 1024   /* average value size before any */

static size_t conf_size(rd_kafka_t *rk, const char *key, size_t fallback)
{
    char value[64];
    size_t size = sizeof(value);
    if (rd_kafka_conf_get(rd_kafka_conf(rk), key, value, &size) != RD_KAFKA_CONF_OK)
        return fallback;
    long long n = atoll(value);
    return n > 0 ? (size_t)n : fallback;
}

void kafka_wake_setup(struct kafka_ctx *ctx)
{
    struct kafka_wake *w = &ctx->wake;
    w->cap_bytes = conf_size(ctx->rk, "queued.max.messages.kbytes", 65536) * 1024;
    w->cap_msgs = conf_size(ctx->rk, "queued.min.messages", 100000);
    w->avg_len = KAFKA_WAKE_DEFAULT_LEN;
}

void kafka_wake_note(struct kafka_ctx *ctx, size_t n_msgs, size_t value_bytes)
{
    if (!n_msgs)
        return;
    /* librdkafka counts a queued message by its value's length. */
    size_t len = value_bytes / n_msgs + 1;
    ctx->wake.avg_len = (ctx->wake.avg_len * 7 + len) / 8;
}

/* How many messages fill the queue at the current average size. */
static size_t capacity(const struct kafka_wake *w)
{
    size_t by_bytes = w->cap_bytes / (w->avg_len ? w->avg_len : 1);
    return by_bytes < w->cap_msgs ? by_bytes : w->cap_msgs;
}

static void send_wake(struct kafka_ctx *ctx)
{
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new((int)ctx->n_shards);
    for (size_t i = 0; i < ctx->n_shards; i++)
        if (ctx->shards[i].owned)
            rd_kafka_topic_partition_list_add(parts, ctx->shards[i].topic,
                                              ctx->shards[i].partition)->offset =
                RD_KAFKA_OFFSET_END;
    if (parts->cnt > 0) {
        /* _TIMED_OUT is the expected answer: we never wait for it. */
        rd_kafka_offsets_for_times(ctx->rk, parts, 0);
        ctx->wake.sent++;
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

void kafka_wake_check(struct kafka_ctx *ctx)
{
    struct kafka_wake *w = &ctx->wake;
    size_t queued = rd_kafka_queue_length(ctx->msgq);
    size_t cap = capacity(w);
    if (queued >= cap / 4 * 3) {
        w->was_full = true;           /* a fetcher may have stopped */
        return;
    }
    if (!w->was_full || queued > cap / 2)
        return;
    int64_t now = br_now_ms();
    if (now - w->last_ms < KAFKA_WAKE_MIN_MS)
        return;
    w->was_full = false;
    w->last_ms = now;
    send_wake(ctx);
    if (w->sent == 1)
        br_debug(ctx->src->scope, "prefetch queue drained to %zu of %zu messages: "
                 "waking the fetchers (logged once)", queued, cap);
}
