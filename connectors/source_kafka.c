/* source_kafka.c - the Kafka source: a librdkafka high-level consumer whose
 * offsets are stored only once the core says every record up to them is
 * settled (at-least-once; librdkafka's auto-commit then commits what we
 * stored). Owns the consumer, the topic-partition <-> shard tables and the
 * pause state. Everything runs on the source thread: rebalance, error and
 * commit callbacks are served from our own poll calls. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "../bridge/clock.h"
#include "../bridge/log.h"
#include "../bridge/pipeline.h"
#include "source_kafka.h"

#define KAFKA_BATCH 1000              /* messages per consume call */
#define KAFKA_IDLE_WAIT_MS 100        /* poll wait with nothing in flight */
#define KAFKA_BUSY_WAIT_MS 5          /* poll wait while acks are expected */
#define KAFKA_REVOKE_MAX_MS 10000     /* longest wait for a revoked partition */
#define KAFKA_LOOKUP_TIMEOUT_MS 10000 /* committed / offsets_for_times */
#define KAFKA_ERR_REPEAT_MS 10000     /* same consume error logged once per */

/* One subscribed topic seen in an assignment: shard of each partition. */
struct kafka_topic {
    char *name;
    int *shard_of;                    /* [partition] -> shard, -1 = none */
    int32_t n;
};

/* One shard (topic-partition), indexed by the core's shard number. */
struct kafka_shard {
    const char *topic;                /* borrowed from kafka_topic.name */
    int32_t partition;
    bool owned;                       /* assigned to us right now */
    bool paused;                      /* we paused it and have not resumed */
};

struct kafka_ctx {
    struct kafka_options opts;        /* must stay first: the option table */
    struct br_source *src;
    rd_kafka_conf_t *conf;            /* until rd_kafka_new takes it */
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;          /* the consumer queue */
    int64_t start_ts;                 /* start: timestamp:<ms>, else -1 */
    char client_id[128];

    struct kafka_topic *topics;
    size_t n_topics;
    size_t last_topic;                /* lookup hint: batches come by partition */
    struct kafka_shard *shards;
    size_t n_shards;

    bool paused;                      /* backpressure is on */
    bool closing;                     /* inside rd_kafka_consumer_close */
    bool lost;                        /* revoking lost partitions: no stores */
    atomic_bool fatal;                /* librdkafka raised a fatal error */

    rd_kafka_message_t **batch;
    struct br_header *hdrs;           /* scratch for one record's headers */
    size_t hdrs_cap;
    rd_kafka_resp_err_t last_err;     /* consume error log suppression */
    int64_t last_err_ms;
};

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

/* The shard the core uses for (topic, partition) if we own it, else -1.
 * The hot path: one strcmp and two array reads per message. */
static int shard_lookup(struct kafka_ctx *ctx, const char *topic, int32_t partition)
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

static struct kafka_shard *shard_get(struct kafka_ctx *ctx, int shard)
{
    return shard >= 0 && (size_t)shard < ctx->n_shards ? &ctx->shards[shard] : NULL;
}

/* --------------------------------------------------------------- helpers */

static int64_t revoke_timeout_ms(const struct br_source *src)
{
    int64_t t = KAFKA_REVOKE_MAX_MS;
    if (src->pl && src->pl->cfg && src->pl->cfg->shutdown_timeout_ms < t)
        t = src->pl->cfg->shutdown_timeout_ms;
    return t;
}

static void set_fatal(struct kafka_ctx *ctx)
{
    atomic_store(&ctx->fatal, true);
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

/* Commits the stored offsets now (synchronously). Called before partitions
 * change hands and at shutdown, so the next owner starts where we ended. */
static void commit_sync(struct kafka_ctx *ctx, const char *when)
{
    rd_kafka_resp_err_t err = rd_kafka_commit(ctx->rk, NULL, 0);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        br_warn(ctx->src->scope, "offset commit at %s failed: %s; records "
                "after the last commit will be delivered again", when,
                rd_kafka_err2str(err));
}

/* Pauses or resumes parts, and notes it in the shard table. */
static void pause_parts(struct kafka_ctx *ctx,
                        rd_kafka_topic_partition_list_t *parts, bool pause)
{
    rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(ctx->rk, parts)
                                    : rd_kafka_resume_partitions(ctx->rk, parts);
    if (err)
        br_warn(ctx->src->scope, "%s partitions failed: %s",
                pause ? "pausing" : "resuming", rd_kafka_err2str(err));
    for (int i = 0; i < parts->cnt; i++) {
        struct kafka_shard *s = shard_get(ctx, shard_lookup(ctx,
                                parts->elems[i].topic, parts->elems[i].partition));
        if (s)
            s->paused = pause;
    }
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
            set_fatal(ctx);
            continue;
        }
        br_source_assign(src, shard);
        ctx->shards[shard].owned = true;
    }
    if (ctx->start_ts >= 0)
        seek_to_start_time(ctx, parts);

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
    /* A rebalance while we hold back must not open new taps. */
    if (ctx->paused && parts->cnt)
        pause_parts(ctx, parts, true);
    br_info(src->scope, "assigned %d partition(s): %s", parts->cnt,
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
    int64_t timeout = lost || ctx->closing ? 0 : revoke_timeout_ms(src);
    int64_t deadline = br_now_ms() + timeout;
    char buf[512];

    br_info(src->scope, "%s %d partition(s): %s", lost ? "lost" : "revoking",
            parts->cnt, parts_str(parts, buf, sizeof(buf)));
    ctx->lost = lost;
    for (int i = 0; i < parts->cnt; i++) {
        int shard = shard_lookup(ctx, parts->elems[i].topic, parts->elems[i].partition);
        struct kafka_shard *s = shard_get(ctx, shard);
        if (!s || !s->owned)
            continue;
        int64_t left = deadline - br_now_ms();
        br_source_revoke(src, shard, left > 0 ? left : 0);
        s->owned = false;
    }
    ctx->lost = false;
    if (!lost)
        commit_sync(ctx, "rebalance");

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

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
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

/* --------------------------------------------------------------- callbacks */

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const struct br_source *src = rd_kafka_opaque(rk);
    enum br_log_level lvl = level <= 3 ? BR_LOG_ERROR     /* EMERG..ERR */
                          : level == 4 ? BR_LOG_WARN      /* WARNING */
                          : level <= 6 ? BR_LOG_INFO      /* NOTICE, INFO */
                          : BR_LOG_DEBUG;
    if (br_log_enabled(lvl))
        br_log(lvl, src ? src->scope : "kafka", "librdkafka %s: %s", fac, buf);
}

/* Served from our poll calls (rd_kafka_poll_set_consumer). Most errors are
 * transient (brokers down, timeouts) and librdkafka recovers by itself; a
 * fatal one leaves the consumer unusable, so run returns -1. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct br_source *src = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
        br_error(src->scope, "fatal Kafka error %s: %s", rd_kafka_err2name(orig), why);
        set_fatal(src->ctx);
        return;
    }
    br_warn(src->scope, "Kafka error %s: %s", rd_kafka_err2name(err), reason);
}

/* ---------------------------------------------------------------- consume */

static void consume_error(struct kafka_ctx *ctx, const rd_kafka_message_t *rkm)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    /* Topic-level errors repeat on every metadata refresh: say it once. */
    int64_t now = br_now_ms();
    if (rkm->err == ctx->last_err && now - ctx->last_err_ms < KAFKA_ERR_REPEAT_MS)
        return;
    ctx->last_err = rkm->err;
    ctx->last_err_ms = now;
    if (rkm->rkt)
        br_warn(ctx->src->scope, "consume error on %s-%d: %s",
                rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
                rd_kafka_message_errstr(rkm));
    else
        br_warn(ctx->src->scope, "consume error: %s", rd_kafka_message_errstr(rkm));
}

/* Points ctx->hdrs at the message's headers; returns their count. */
static size_t read_headers(struct kafka_ctx *ctx, const rd_kafka_message_t *rkm)
{
    rd_kafka_headers_t *hdrs;
    if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    size_t n = rd_kafka_header_cnt(hdrs);
    if (n > ctx->hdrs_cap) {
        struct br_header *h = realloc(ctx->hdrs, n * sizeof(*h));
        if (!h)
            return (size_t)-1;
        ctx->hdrs = h;
        ctx->hdrs_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        const void *value;
        size_t size;
        struct br_header *h = &ctx->hdrs[i];
        if (rd_kafka_header_get_all(hdrs, i, &h->name, &value, &size))
            return i;
        h->value = value;
        h->value_len = value ? size : 0;
    }
    return n;
}

static struct br_record *make_record(struct kafka_ctx *ctx, const char *topic,
                                     const rd_kafka_message_t *rkm)
{
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(rkm, &tstype);
    size_t n_hdrs = read_headers(ctx, rkm);
    if (n_hdrs == (size_t)-1)
        return NULL;
    struct br_record_init init = {
        .topic = topic,
        .partition = rkm->partition,
        .offset = rkm->offset,
        .timestamp_ms = ts,
        .timestamp_type = tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME ? BR_TS_CREATE
                        : tstype == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? BR_TS_LOG_APPEND
                        : BR_TS_NONE,
        .key = rkm->key,
        .key_len = rkm->key ? rkm->key_len : 0,
        .value = rkm->payload,
        .value_len = rkm->payload ? rkm->len : 0,
        .headers = ctx->hdrs,
        .n_headers = n_hdrs,
    };
    return br_record_create(&init);
}

/* Emits one message. A message of a partition we do not own is dropped:
 * its owner reads it. Out of memory is fatal: skipping a record would let
 * a later offset be committed past it. Returns -1 to stop the batch. */
static int emit_message(struct kafka_ctx *ctx, const rd_kafka_message_t *rkm)
{
    if (rkm->err) {
        consume_error(ctx, rkm);
        return 0;
    }
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    int shard = shard_lookup(ctx, topic, rkm->partition);
    if (shard < 0 || !ctx->shards[shard].owned)
        return 0;
    struct br_record *rec = make_record(ctx, topic, rkm);
    if (!rec) {
        br_error(ctx->src->scope, "out of memory reading %s-%d; stopping",
                 topic, (int)rkm->partition);
        set_fatal(ctx);
        return -1;
    }
    br_source_emit(ctx->src, shard, rec);
    return 0;
}

/* Takes what is ready without waiting; if nothing is, waits for the first
 * message only (a batch call waits for a full batch), then takes the rest.
 * Rebalance and error callbacks run inside these calls. */
static ssize_t consume(struct kafka_ctx *ctx)
{
    ssize_t n = rd_kafka_consume_batch_queue(ctx->queue, 0, ctx->batch, KAFKA_BATCH);
    if (n != 0)
        return n;
    /* With records in flight, acks are due soon: wake up sooner to apply
     * them (commits, resume after backpressure). */
    int wait = br_source_inflight(ctx->src) ? KAFKA_BUSY_WAIT_MS : KAFKA_IDLE_WAIT_MS;
    n = rd_kafka_consume_batch_queue(ctx->queue, wait, ctx->batch, 1);
    if (n != 1)
        return n;
    ssize_t more = rd_kafka_consume_batch_queue(ctx->queue, 0, ctx->batch + 1,
                                                KAFKA_BATCH - 1);
    return more > 0 ? 1 + more : 1;
}

static int poll_round(struct kafka_ctx *ctx)
{
    ssize_t n = consume(ctx);
    if (n < 0) {
        br_error(ctx->src->scope, "consuming failed: %s",
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    int rc = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = emit_message(ctx, ctx->batch[i]);
        rd_kafka_message_destroy(ctx->batch[i]);
    }
    return rc;
}

/* ------------------------------------------------------------------- ops */

static int subscribe(struct kafka_ctx *ctx)
{
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new((int)ctx->opts.topics.n);
    for (size_t i = 0; i < ctx->opts.topics.n; i++)
        rd_kafka_topic_partition_list_add(topics, ctx->opts.topics.v[i],
                                          RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(ctx->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        br_error(ctx->src->scope, "subscribing to the topics failed: %s",
                 rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static int create_consumer(struct kafka_ctx *ctx)
{
    char errstr[512];
    ctx->rk = rd_kafka_new(RD_KAFKA_CONSUMER, ctx->conf, errstr, sizeof(errstr));
    if (!ctx->rk) {
        br_error(ctx->src->scope, "cannot create the Kafka consumer: %s", errstr);
        return -1;
    }
    ctx->conf = NULL;                 /* now owned by rk */
    /* Route errors, logs and rebalances to the consumer queue we poll. */
    rd_kafka_poll_set_consumer(ctx->rk);
    ctx->queue = rd_kafka_queue_get_consumer(ctx->rk);
    return 0;
}

/* Stops: waits for in-flight records, commits, leaves the group. */
static void shutdown_consumer(struct kafka_ctx *ctx, bool drain)
{
    if (drain) {
        br_source_drain(ctx->src);
        commit_sync(ctx, "shutdown");
    }
    ctx->closing = true;              /* the revoke inside close: no wait */
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(ctx->rk);
    if (err)
        br_warn(ctx->src->scope, "closing the consumer: %s", rd_kafka_err2str(err));
    rd_kafka_queue_destroy(ctx->queue);
    ctx->queue = NULL;
    rd_kafka_destroy(ctx->rk);
    ctx->rk = NULL;
}

static int kafka_run(struct br_source *src)
{
    struct kafka_ctx *ctx = src->ctx;
    if (create_consumer(ctx) < 0)
        return -1;
    if (subscribe(ctx) < 0) {
        shutdown_consumer(ctx, false);
        return -1;
    }
    br_info(src->scope, "consuming %zu topic(s) from %s as group %s",
            ctx->opts.topics.n, ctx->opts.brokers, ctx->opts.group_id);
    int rc = 0;
    while (!br_source_stopping(src)) {
        if (poll_round(ctx) < 0 || atomic_load(&ctx->fatal)) {
            rc = -1;
            break;
        }
        br_source_service(src);
    }
    /* After a fatal error nothing can be committed: waiting is pointless. */
    shutdown_consumer(ctx, rc == 0);
    return rc;
}

static int kafka_commit(struct br_source *src, int shard, int64_t next_pos)
{
    struct kafka_ctx *ctx = src->ctx;
    struct kafka_shard *s = shard_get(ctx, shard);
    if (!ctx->rk || !s || !s->owned || ctx->lost)
        return 0;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, s->topic, s->partition)->offset = next_pos;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(ctx->rk, list);
    if (!err)
        err = list->elems[0].err;
    rd_kafka_topic_partition_list_destroy(list);
    /* __STATE / __UNKNOWN_PARTITION: no longer assigned; the next owner
     * redelivers from the last commit. */
    if (!err || err == RD_KAFKA_RESP_ERR__STATE ||
        err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
        return 0;
    br_warn(src->scope, "storing offset %lld for %s-%d failed: %s",
            (long long)next_pos, s->topic, (int)s->partition, rd_kafka_err2str(err));
    return -1;
}

static void kafka_pause(struct br_source *src)
{
    struct kafka_ctx *ctx = src->ctx;
    rd_kafka_topic_partition_list_t *parts;
    ctx->paused = true;
    if (!ctx->rk || rd_kafka_assignment(ctx->rk, &parts))
        return;
    if (parts->cnt)
        pause_parts(ctx, parts, true);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Resumes every partition we paused, owned or not: a paused partition
 * that was revoked keeps librdkafka's pause flag and would otherwise stay
 * paused when it comes back. */
static void kafka_resume(struct br_source *src)
{
    struct kafka_ctx *ctx = src->ctx;
    ctx->paused = false;
    if (!ctx->rk)
        return;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < ctx->n_shards; i++)
        if (ctx->shards[i].paused)
            rd_kafka_topic_partition_list_add(parts, ctx->shards[i].topic,
                                              ctx->shards[i].partition);
    if (parts->cnt)
        pause_parts(ctx, parts, false);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* ------------------------------------------------------------------ init */

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                    char *err, size_t errlen)
{
    char why[512];
    if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) == RD_KAFKA_CONF_OK)
        return 0;
    snprintf(err, errlen, "librdkafka property '%s': %s", key, why);
    return -1;
}

/* Keys fnbridge sets from its own options or needs for at-least-once. */
static const char *managed_key(const char *key)
{
    if (!strcmp(key, "bootstrap.servers") || !strcmp(key, "metadata.broker.list"))
        return "set it with the kafka source's 'brokers' option";
    if (!strcmp(key, "group.id"))
        return "set it with the kafka source's 'group_id' option";
    if (!strcmp(key, "enable.auto.offset.store"))
        return "fnbridge stores offsets itself, only after records are "
               "delivered or dead-lettered";
    return NULL;
}

static int build_conf(struct kafka_ctx *ctx, char *err, size_t errlen)
{
    struct kafka_options *o = &ctx->opts;
    const char *reset = strcmp(o->start, "latest") == 0 ? "latest" : "earliest";
    const char *defaults[][2] = {
        {"bootstrap.servers", o->brokers},
        {"group.id", o->group_id},
        {"client.id", ctx->client_id},
        {"enable.auto.offset.store", "false"},
        {"enable.auto.commit", "true"},
        {"auto.commit.interval.ms", "1000"},
        {"enable.partition.eof", "false"},
        {"auto.offset.reset", reset},
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (conf_set(ctx->conf, defaults[i][0], defaults[i][1], err, errlen) < 0)
            return -1;
    for (size_t i = 0; i < o->librdkafka.n; i++) {
        const char *key = o->librdkafka.keys[i];
        const char *why = managed_key(key);
        if (why) {
            snprintf(err, errlen, "librdkafka property '%s': %s", key, why);
            return -1;
        }
        if (conf_set(ctx->conf, key, o->librdkafka.values[i], err, errlen) < 0)
            return -1;
    }
    rd_kafka_conf_set_opaque(ctx->conf, ctx->src);
    rd_kafka_conf_set_log_cb(ctx->conf, on_log);
    rd_kafka_conf_set_error_cb(ctx->conf, on_error);
    rd_kafka_conf_set_rebalance_cb(ctx->conf, on_rebalance);
    return 0;
}

/* No network I/O here: the consumer is created when run starts. */
static int kafka_init(struct br_source *src, char *err, size_t errlen)
{
    struct kafka_ctx *ctx = src->ctx;
    ctx->src = src;
    ctx->start_ts = -1;
    src->event_origin = ctx->opts.brokers;
    if (strncmp(ctx->opts.start, "timestamp:", 10) == 0)
        ctx->start_ts = strtoll(ctx->opts.start + 10, NULL, 10);
    snprintf(ctx->client_id, sizeof(ctx->client_id), "fnbridge-%s",
             src->pl && src->pl->conf ? src->pl->conf->name : "source");

    ctx->batch = malloc(KAFKA_BATCH * sizeof(*ctx->batch));
    ctx->conf = rd_kafka_conf_new();
    if (!ctx->batch || !ctx->conf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return build_conf(ctx, err, errlen);
}

static void kafka_destroy(struct br_source *src)
{
    struct kafka_ctx *ctx = src->ctx;
    if (!ctx)
        return;
    if (ctx->rk) {                    /* run never finished: tear down */
        if (ctx->queue)
            rd_kafka_queue_destroy(ctx->queue);
        rd_kafka_destroy(ctx->rk);
    }
    if (ctx->conf)
        rd_kafka_conf_destroy(ctx->conf);
    for (size_t i = 0; i < ctx->n_topics; i++) {
        free(ctx->topics[i].name);
        free(ctx->topics[i].shard_of);
    }
    free(ctx->topics);
    free(ctx->shards);
    free(ctx->batch);
    free(ctx->hdrs);
    ctx->rk = NULL;
    ctx->queue = NULL;
    ctx->conf = NULL;
    ctx->topics = NULL;
    ctx->shards = NULL;
    ctx->batch = NULL;
    ctx->hdrs = NULL;
    ctx->n_topics = ctx->n_shards = ctx->hdrs_cap = 0;
}

const struct br_source_ops br_source_kafka = {
    .name = "kafka",
    .opts = kafka_source_opts,
    .ctx_size = sizeof(struct kafka_ctx),
    .default_format = "lambda",
    .init = kafka_init,
    .run = kafka_run,
    .commit = kafka_commit,
    .pause = kafka_pause,
    .resume = kafka_resume,
    .destroy = kafka_destroy,
};
