/* kafka_rebalance.c - partition ownership for the Kafka source: the
 * rebalance callback (eager and cooperative), the start-time seek, and the
 * topic-partition <-> shard tables they keep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/log.h"
#include "kafka_consumer.h"

#define KAFKA_REVOKE_MAX_MS 10000     /* longest wait for a revoked partition */
#define KAFKA_LOOKUP_TIMEOUT_MS 10000 /* committed / offsets_for_times */

/* ------------------------------------------------------------ shard tables */

static struct kafka_topic *topic_find(struct kafka_ctx *ctx, const char *name)
{
    if (ctx->last_topic < ctx->n_topics &&
        strcmp(ctx->topics[ctx->last_topic].name, name) == 0)
        return &ctx->topics[ctx->last_topic];
    for (size_t i = 0; i < ctx->n_topics; i++)
        if (strcmp(ctx->topics[i].name, name) == 0) {
            ctx->last_topic = i;
            return &ctx->topics[i];
        }
    return NULL;
}

static struct kafka_topic *topic_add(struct kafka_ctx *ctx, const char *name)
{
    struct kafka_topic *t = realloc(ctx->topics, (ctx->n_topics + 1) * sizeof(*t));
    if (!t)
        return NULL;
    ctx->topics = t;
    t = &ctx->topics[ctx->n_topics];
    *t = (struct kafka_topic){.name = strdup(name)};
    if (!t->name)
        return NULL;
    return &ctx->topics[ctx->n_topics++];
}

int kafka_shard_lookup(struct kafka_ctx *ctx, const char *topic, int32_t partition)
{
    struct kafka_topic *t = topic_find(ctx, topic);
    if (!t || partition < 0 || partition >= t->n || t->shard_of[partition] < 0)
        return -1;
    return t->shard_of[partition];
}

/* Records that shard belongs to (topic, partition); grows both tables. */
static int shard_remember(struct kafka_ctx *ctx, const char *topic,
                          int32_t partition, int shard)
{
    struct kafka_topic *t = topic_find(ctx, topic);
    if (!t && !(t = topic_add(ctx, topic)))
        return -1;
    if (partition >= t->n) {
        int *s = realloc(t->shard_of, (size_t)(partition + 1) * sizeof(*s));
        if (!s)
            return -1;
        for (int32_t p = t->n; p <= partition; p++)
            s[p] = -1;
        t->shard_of = s;
        t->n = partition + 1;
    }
    t->shard_of[partition] = shard;
    if ((size_t)shard >= ctx->n_shards) {
        struct kafka_shard *s = realloc(ctx->shards, (size_t)(shard + 1) * sizeof(*s));
        if (!s)
            return -1;
        memset(s + ctx->n_shards, 0, (shard + 1 - ctx->n_shards) * sizeof(*s));
        ctx->shards = s;
        ctx->n_shards = (size_t)shard + 1;
    }
    ctx->shards[shard].topic = t->name;
    ctx->shards[shard].partition = partition;
    return 0;
}

struct kafka_shard *kafka_shard_get(struct kafka_ctx *ctx, int shard)
{
    return shard >= 0 && (size_t)shard < ctx->n_shards ? &ctx->shards[shard] : NULL;
}

void kafka_tables_free(struct kafka_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_topics; i++) {
        free(ctx->topics[i].name);
        free(ctx->topics[i].shard_of);
    }
    free(ctx->topics);
    free(ctx->shards);
    ctx->topics = NULL;
    ctx->shards = NULL;
    ctx->n_topics = ctx->n_shards = 0;
}

/* --------------------------------------------------------------- helpers */

/* How long a revoke may wait for its records: the shutdown timeout, at
 * most 10 s, and while draining no later than the drain's deadline. */
static int64_t revoke_timeout_ms(const struct kafka_ctx *ctx)
{
    const struct br_source *src = ctx->src;
    int64_t t = KAFKA_REVOKE_MAX_MS;
    if (src->shutdown_timeout_ms < t)
        t = src->shutdown_timeout_ms;
    if (ctx->draining) {
        int64_t left = ctx->drain_deadline_ms - br_now_ms();
        t = left < 0 ? 0 : left < t ? left : t;
    }
    return t;
}

/* "t-0, t-1, u-3" for logs, truncated with "..." when long. */
static const char *parts_str(const rd_kafka_topic_partition_list_t *parts,
                             char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < parts->cnt && off < len; i++) {
        int n = snprintf(buf + off, len - off, "%s%s-%d", i ? ", " : "",
                         parts->elems[i].topic, (int)parts->elems[i].partition);
        if (n < 0 || (size_t)n >= len - off) {
            if (len > 4)
                strcpy(buf + len - 4, "...");
            break;
        }
        off += (size_t)n;
    }
    return buf;
}

/* Called before partitions change hands and at shutdown, so the next
 * owner starts where we ended. */
/* How long a commit may wait for its answer. */
static int64_t commit_wait_ms(const struct kafka_ctx *ctx)
{
    int64_t left = ctx->draining ? ctx->drain_deadline_ms - br_now_ms() : 0;
    return left > KAFKA_COMMIT_WAIT_MS ? left : KAFKA_COMMIT_WAIT_MS;
}

/* Not rd_kafka_commit(rk, NULL, 0): with no broker answering it waits for
 * the group coordinator for ever (seen with 2.0.2), and shutdown with it.
 * The commit goes to a queue of its own, waited on with a bound. */
bool kafka_commit_sync(struct kafka_ctx *ctx, const char *when)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(ctx->rk);
    rd_kafka_resp_err_t err = q ? rd_kafka_commit_queue(ctx->rk, NULL, q, NULL, NULL)
                                : RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE;
    int64_t deadline = br_now_ms() + commit_wait_ms(ctx);
    bool answered = err != RD_KAFKA_RESP_ERR_NO_ERROR;
    while (!answered && br_now_ms() < deadline) {
        int64_t left = deadline - br_now_ms();
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, left < 100 ? (int)left : 100);
        if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
            err = rd_kafka_event_error(ev);
            answered = true;
        }
        rd_kafka_event_destroy(ev);
    }
    if (q)
        rd_kafka_queue_destroy(q);
    if (!answered) {
        br_warn(ctx->src->scope, "offset commit at %s got no answer within %lld ms (is the "
                "group coordinator reachable?); records after the last commit will be "
                "delivered again", when, (long long)commit_wait_ms(ctx));
        return false;
    }
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        br_warn(ctx->src->scope, "offset commit at %s failed: %s; records "
                "after the last commit will be delivered again", when,
                rd_kafka_err2str(err));
    return true;
}

/* Sends the partition's messages to msgq rather than the consumer queue,
 * so rebalance and error events can be served while backpressure leaves
 * the messages where they are. Done before assign: no message can slip
 * into the consumer queue first. The forward outlives the handle. */
static void forward_partition(struct kafka_ctx *ctx, const char *topic,
                              int32_t partition)
{
    rd_kafka_queue_t *q = rd_kafka_queue_get_partition(ctx->rk, topic, partition);
    if (!q)
        return;
    rd_kafka_queue_forward(q, ctx->msgq);
    rd_kafka_queue_destroy(q);
}

/* --------------------------------------------------------------- rebalance */

/* For start: timestamp:<ms>: partitions with no committed offset start at
 * the first record at or after that time (the end if there is none). On
 * any lookup failure the offsets stay unset and auto.offset.reset=earliest
 * applies: more records rather than lost ones. */
static void seek_to_start_time(struct kafka_ctx *ctx,
                               rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_topic_partition_list_t *lookup = rd_kafka_topic_partition_list_new(parts->cnt);
    rd_kafka_resp_err_t err = rd_kafka_committed(ctx->rk, committed, KAFKA_LOOKUP_TIMEOUT_MS);
    if (err)
        goto fail;
    for (int i = 0; i < committed->cnt; i++) {
        rd_kafka_topic_partition_t *c = &committed->elems[i];
        if (!c->err && c->offset == RD_KAFKA_OFFSET_INVALID)
            rd_kafka_topic_partition_list_add(lookup, c->topic, c->partition)
                ->offset = ctx->start_ts;
    }
    if (lookup->cnt == 0)
        goto out;
    err = rd_kafka_offsets_for_times(ctx->rk, lookup, KAFKA_LOOKUP_TIMEOUT_MS);
    if (err)
        goto fail;
    for (int i = 0; i < lookup->cnt; i++) {
        rd_kafka_topic_partition_t *l = &lookup->elems[i];
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(parts, l->topic, l->partition);
        if (l->err)
            br_warn(ctx->src->scope, "%s-%d: no offset for the start time: %s; "
                    "starting at the earliest record", l->topic,
                    (int)l->partition, rd_kafka_err2str(l->err));
        else if (p)
            p->offset = l->offset;   /* -1 (end) when nothing is that new */
    }
    goto out;
fail:
    br_warn(ctx->src->scope, "looking up the start time's offsets failed: %s; "
            "starting at the earliest record", rd_kafka_err2str(err));
out:
    rd_kafka_topic_partition_list_destroy(lookup);
    rd_kafka_topic_partition_list_destroy(committed);
}

static void on_assign(struct kafka_ctx *ctx, rd_kafka_topic_partition_list_t *parts,
                      bool coop)
{
    struct br_source *src = ctx->src;
    char buf[512];
    for (int i = 0; i < parts->cnt; i++) {
        const char *topic = parts->elems[i].topic;
        int32_t partition = parts->elems[i].partition;
        int shard = br_source_shard(src, topic, partition);
        if (shard < 0 || shard_remember(ctx, topic, partition, shard) < 0) {
            br_error(src->scope, "cannot track %s-%d: more than %d partitions "
                     "or out of memory; stopping", topic, (int)partition,
                     BR_MAX_SHARDS);
            atomic_store(&ctx->fatal, true);
            continue;
        }
        br_source_assign(src, shard);
        ctx->shards[shard].owned = true;
        ctx->shards[shard].next_commit = -1;
        ctx->shards[shard].committed = RD_KAFKA_OFFSET_INVALID;
        forward_partition(ctx, topic, partition);
    }
    if (ctx->start_ts >= 0)
        seek_to_start_time(ctx, parts);
    kafka_health_on_assign(ctx);

    if (coop) {
        rd_kafka_error_t *error = rd_kafka_incremental_assign(ctx->rk, parts);
        if (error) {
            br_error(src->scope, "incremental assign failed: %s",
                     rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    } else {
        rd_kafka_resp_err_t err = rd_kafka_assign(ctx->rk, parts);
        if (err)
            br_error(src->scope, "assign failed: %s", rd_kafka_err2str(err));
    }
    /* Cooperative rebalances often assign nothing new: not worth a line. */
    enum br_log_level lvl = parts->cnt ? BR_LOG_INFO : BR_LOG_DEBUG;
    if (br_log_enabled(lvl))
        br_log(lvl, src->scope, "assigned %d partition(s): %s", parts->cnt,
               parts_str(parts, buf, sizeof(buf)));
}

/* Waits (bounded) for the revoked partitions' records in flight, commits
 * what settled, then gives the partitions up. Lost partitions (session
 * timed out) belong to someone else already: nothing is waited for or
 * committed. At close, drain already waited: commit only. */
static void on_revoke(struct kafka_ctx *ctx, rd_kafka_topic_partition_list_t *parts,
                      bool coop)
{
    struct br_source *src = ctx->src;
    bool lost = rd_kafka_assignment_lost(ctx->rk);
    int64_t timeout = lost || ctx->closing ? 0 : revoke_timeout_ms(ctx);
    int64_t deadline = br_now_ms() + timeout;
    char buf[512];

    br_info(src->scope, "%s %d partition(s): %s", lost ? "lost" : "revoking",
            parts->cnt, parts_str(parts, buf, sizeof(buf)));
    ctx->lost = lost;
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int shard = kafka_shard_lookup(ctx, p->topic, p->partition);
        struct kafka_shard *s = kafka_shard_get(ctx, shard);
        if (!s || !s->owned)
            continue;
        int64_t left = deadline - br_now_ms();
        br_source_revoke(src, shard, left > 0 ? left : 0);
        s->owned = false;
    }
    ctx->lost = false;
    if (!lost)
        kafka_commit_sync(ctx, "rebalance");

    if (coop) {
        rd_kafka_error_t *error = rd_kafka_incremental_unassign(ctx->rk, parts);
        if (error) {
            br_warn(src->scope, "incremental unassign failed: %s",
                    rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    } else {
        rd_kafka_assign(ctx->rk, NULL);
    }
}

void kafka_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct br_source *src = opaque;
    struct kafka_ctx *ctx = src->ctx;
    const char *proto = rd_kafka_rebalance_protocol(rk);
    bool coop = proto && strcmp(proto, "COOPERATIVE") == 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(ctx, parts, coop);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(ctx, parts, coop);
    } else {
        br_error(src->scope, "rebalance failed: %s", rd_kafka_err2str(err));
        on_revoke(ctx, parts, coop);
    }
}