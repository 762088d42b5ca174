/* source_kafka.c - the Kafka source: a librdkafka high-level consumer whose
 * offsets are stored only once the core says every record up to them is
 * settled (at-least-once; librdkafka's auto-commit then commits what we
 * stored). This file: configuration, the poll loop, records, commit and
 * backpressure ops; kafka_rebalance.c owns partition ownership. Everything
 * runs on the source thread: rebalance and error callbacks are served from
 * our own poll calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "bridge/clock.h"
#include "bridge/format.h"
#include "bridge/log.h"
#include "kafka_conf.h"
#include "kafka_consumer.h"
#include "kafka_event.h"

#define KAFKA_BATCH 1000              /* messages per consume call */
#define KAFKA_IDLE_WAIT_MS 100        /* poll wait with nothing in flight */
#define KAFKA_BUSY_WAIT_MS 5          /* poll wait while acks are expected */
#define KAFKA_PAUSED_WAIT_MS 2        /* paused: resume soon after acks */
#define KAFKA_ERR_REPEAT_MS 10000     /* same consume error logged once per */
#define KAFKA_FETCH_MAX_BYTES "1048576" /* our default fetch.max.bytes */

/* --------------------------------------------------------------- callbacks */

/* With no broker answering, destroying the consumer waits for its group
 * to end, which waits for the commit just given up on: about 45 s more
 * with 2.0.2, well past shutdown_timeout. The process is exiting (a
 * source stops with its pipeline), so the handle is left to it, kept
 * reachable here so that a leak checker does not count it; its threads
 * may still log, and their lines are dropped (the pipeline they would
 * name is being freed). */
#define KAFKA_ABANDONED_MAX 64
static _Atomic(const rd_kafka_t *) abandoned[KAFKA_ABANDONED_MAX];

/* False when every slot is taken: the caller destroys it, slowly. */
static bool abandon(rd_kafka_t *rk)
{
    for (int i = 0; i < KAFKA_ABANDONED_MAX; i++) {
        const rd_kafka_t *none = NULL;
        if (atomic_compare_exchange_strong(&abandoned[i], &none, rk))
            return true;
    }
    return false;
}

static bool is_abandoned(const rd_kafka_t *rk)
{
    for (int i = 0; i < KAFKA_ABANDONED_MAX; i++)
        if (atomic_load(&abandoned[i]) == rk)
            return true;
    return false;
}


static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (is_abandoned(rk))
        return;
    const struct br_source *src = rd_kafka_opaque(rk);
    enum br_log_level lvl = level <= 3 ? BR_LOG_ERROR     /* EMERG..ERR */
                          : level == 4 ? BR_LOG_WARN      /* WARNING */
                          : level <= 6 ? BR_LOG_INFO      /* NOTICE, INFO */
                          : BR_LOG_DEBUG;
    if (br_log_enabled(lvl))
        br_log(lvl, src ? src->scope : "kafka", "librdkafka %s: %s", fac, buf);
}

/* Logs librdkafka's fatal error once and makes run stop with -1. */
static void fatal_error(struct kafka_ctx *ctx)
{
    char why[512];
    if (atomic_exchange(&ctx->fatal, true))
        return;
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(ctx->rk, why, sizeof(why));
    br_error(ctx->src->scope, "fatal Kafka error %s: %s; stopping",
             rd_kafka_err2name(orig), why);
}

/* Served from our poll calls (rd_kafka_poll_set_consumer). Most errors are
 * transient (brokers down, timeouts) and librdkafka recovers by itself; a
 * fatal one leaves the consumer unusable, so run returns -1. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct br_source *src = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        fatal_error(src->ctx);
        return;
    }
    kafka_health_on_error(src->ctx, err, reason);
    br_warn(src->scope, "Kafka error %s: %s", rd_kafka_err2name(err), reason);
}

/* librdkafka's statistics, each second: only for the brokers' state. */
static int on_stats(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    struct br_source *src = opaque;
    (void)rk;
    kafka_health_on_stats(src->ctx, json, json_len);
    return 0;                         /* librdkafka frees json */
}

/* ---------------------------------------------------------------- consume */

static void consume_error(struct kafka_ctx *ctx, const rd_kafka_message_t *rkm)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    /* A fatal error may arrive here rather than through on_error. */
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
        fatal_error(ctx);
        return;
    }
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
        .kind = &br_kind_kafka,
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
 * its owner reads it; so is one read while draining (never committed).
 * Out of memory is fatal: skipping a record would let a later offset be
 * committed past it. Returns -1 to stop the batch. */
static int emit_message(struct kafka_ctx *ctx, const rd_kafka_message_t *rkm)
{
    if (rkm->err) {
        consume_error(ctx, rkm);
        return 0;
    }
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    int shard = kafka_shard_lookup(ctx, topic, rkm->partition);
    if (shard < 0 || !ctx->shards[shard].owned || ctx->draining)
        return 0;
    if (ctx->shards[shard].next_commit < 0)   /* for the lag: where we start */
        ctx->shards[shard].next_commit = rkm->offset;
    struct br_record *rec = make_record(ctx, topic, rkm);
    if (!rec || br_source_emit(ctx->src, shard, rec) < 0) {
        br_record_free(rec);
        br_error(ctx->src->scope, "out of memory reading %s-%d; stopping",
                 topic, (int)rkm->partition);
        atomic_store(&ctx->fatal, true);
        return -1;
    }
    return 0;
}

/* Emits (and frees) the n messages of ctx->batch. */
static int emit_batch(struct kafka_ctx *ctx, ssize_t n)
{
    if (n < 0) {
        br_error(ctx->src->scope, "consuming failed: %s",
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    int rc = 0;
    size_t value_bytes = 0;
    for (ssize_t i = 0; i < n; i++) {
        value_bytes += ctx->batch[i]->len;
        if (rc == 0)
            rc = emit_message(ctx, ctx->batch[i]);
        rd_kafka_message_destroy(ctx->batch[i]);
    }
    kafka_wake_note(ctx, (size_t)n, value_bytes);
    return rc;
}

/* Serves rebalance and error events, waiting up to wait_ms. Only consumer
 * errors come back as messages here: partition messages go to msgq. */
static int serve_events(struct kafka_ctx *ctx, int wait_ms)
{
    return emit_batch(ctx, rd_kafka_consume_batch_queue(ctx->queue, wait_ms,
                                                        ctx->batch, KAFKA_BATCH));
}

/* Takes the messages that are ready; if none are, waits for the first one
 * only (a batch call would wait for a full batch), then takes the rest. */
static ssize_t take_messages(struct kafka_ctx *ctx)
{
    /* No more than max_inflight leaves room for: the rest stay queued in
     * librdkafka (at 0 the core's backpressure waits for acks). */
    size_t room = br_source_room(ctx->src);
    size_t most = room < KAFKA_BATCH ? room : KAFKA_BATCH;
    if (most == 0)
        return 0;
    ssize_t n = rd_kafka_consume_batch_queue(ctx->msgq, 0, ctx->batch, most);
    if (n != 0)
        return n;
    /* With records in flight, acks are due soon: come back sooner to
     * apply them (commits, resume). */
    int wait = br_source_inflight(ctx->src) ? KAFKA_BUSY_WAIT_MS : KAFKA_IDLE_WAIT_MS;
    n = rd_kafka_consume_batch_queue(ctx->msgq, wait, ctx->batch, 1);
    if (n != 1)
        return n;
    ssize_t more = rd_kafka_consume_batch_queue(ctx->msgq, 0, ctx->batch + 1,
                                                most - 1);
    return more > 0 ? 1 + more : 1;
}

/* One round of the poll loop. Under backpressure messages stay in
 * librdkafka's queue, which stops fetching once it holds
 * queued.max.messages.kbytes: memory stays bounded and events keep being
 * served; once it drains, kafka_wake.c restarts the fetchers. */
static int poll_round(struct kafka_ctx *ctx)
{
    if (ctx->paused)
        return serve_events(ctx, KAFKA_PAUSED_WAIT_MS);
    if (serve_events(ctx, 0) < 0)
        return -1;
    int rc = emit_batch(ctx, take_messages(ctx));
    kafka_wake_check(ctx);
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
    ctx->msgq = rd_kafka_queue_new(ctx->rk);
    kafka_wake_setup(ctx);
    return 0;
}

/* Waits for the records in flight while still serving rebalances (a
 * replica starting during a rolling restart gets its partitions as soon
 * as their records settled, and our commits stay valid), applying acks
 * meanwhile; br_source_drain then settles the rest up to the deadline. */
static void drain(struct kafka_ctx *ctx)
{
    struct br_source *src = ctx->src;
    ctx->drain_deadline_ms = br_now_ms() + src->shutdown_timeout_ms;
    ctx->draining = true;
    while (br_source_inflight(src) > 0 && br_now_ms() < ctx->drain_deadline_ms &&
           !atomic_load(&ctx->fatal)) {
        serve_events(ctx, KAFKA_PAUSED_WAIT_MS);
        br_source_service(src);
    }
    br_source_drain(src);
}

/* Stops: waits (if wait) for in-flight records, commits, leaves the
 * group. After a fatal librdkafka error the consumer refuses to close, and
 * a plain rd_kafka_destroy then waits forever for the group to terminate
 * (seen with 2.0.2): destroy without the close. When the final commit
 * got no answer no broker answers: closing would wait for that commit for
 * ever, and destroying for the group, so neither is done (abandon). */
static void shutdown_consumer(struct kafka_ctx *ctx, bool wait)
{
    char why[256];
    bool broken = rd_kafka_fatal_error(ctx->rk, why, sizeof(why)) !=
                  RD_KAFKA_RESP_ERR_NO_ERROR, unreachable = false;
    if (wait && !broken) {
        drain(ctx);
        unreachable = !kafka_commit_sync(ctx, "shutdown");
        broken = unreachable;
    }
    ctx->closing = true;              /* the revoke inside close: no wait */
    if (!broken) {
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(ctx->rk);
        if (err)
            br_warn(ctx->src->scope, "closing the consumer: %s",
                    rd_kafka_err2str(err));
    }
    rd_kafka_queue_destroy(ctx->msgq);
    rd_kafka_queue_destroy(ctx->queue);
    ctx->msgq = ctx->queue = NULL;
    if (!unreachable || !abandon(ctx->rk))
        rd_kafka_destroy_flags(ctx->rk, broken ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0);
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
        kafka_health_tick(ctx);
    }
    /* After a fatal error nothing more is committed: waiting is pointless. */
    shutdown_consumer(ctx, rc == 0);
    return rc;
}

static int kafka_commit(struct br_source *src, int shard, int64_t next_pos)
{
    struct kafka_ctx *ctx = src->ctx;
    struct kafka_shard *s = kafka_shard_get(ctx, shard);
    if (!ctx->rk || !s || !s->owned || ctx->lost)
        return 0;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, s->topic, s->partition)->offset = next_pos;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(ctx->rk, list);
    if (!err)
        err = list->elems[0].err;
    if (!err)
        s->next_commit = next_pos;
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

/* Backpressure stops reading msgq (see poll_round) rather than calling
 * rd_kafka_pause_partitions: librdkafka 2.0.2 drops the prefetched
 * messages on pause and, on resume, fetches again only when its broker
 * thread next wakes up, up to a second later (measured: 0.6-0.95 s per
 * resume), which would stall the pipeline at every pause. */
static void kafka_pause(struct br_source *src)
{
    struct kafka_ctx *ctx = src->ctx;
    ctx->paused = true;
}

static void kafka_resume(struct br_source *src)
{
    struct kafka_ctx *ctx = src->ctx;
    ctx->paused = false;
}

/* ------------------------------------------------------------------ init */

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
    if (!strcmp(key, "statistics.interval.ms"))
        return "fnbridge reads librdkafka's statistics each second to tell "
               "/readyz when the brokers answer again";
    return NULL;
}

/* librdkafka refuses a fetch.max.bytes below message.max.bytes: a user
 * who raised only the latter gets our default raised to match. */
static int fit_fetch_max(rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    char fetch_max[32], msg_max[32];
    size_t n1 = sizeof(fetch_max), n2 = sizeof(msg_max);
    if (rd_kafka_conf_get(conf, "fetch.max.bytes", fetch_max, &n1) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_get(conf, "message.max.bytes", msg_max, &n2) != RD_KAFKA_CONF_OK)
        return 0;
    if (strcmp(fetch_max, KAFKA_FETCH_MAX_BYTES) != 0 || atoll(msg_max) <= atoll(fetch_max))
        return 0;
    return kafka_conf_set(conf, "fetch.max.bytes", msg_max, err, errlen);
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
        /* Prefetch bounds: librdkafka's defaults (64 MiB queue, 50 MiB
         * fetch responses) alone would take 80 MB of RSS here. A small
         * queue costs no throughput because kafka_wake.c restarts the
         * fetchers as soon as it has room (measured: 2 MiB as fast as
         * 16 MiB, about 35 MiB less peak RSS). */
        {"queued.max.messages.kbytes", "2048"},
        {"fetch.max.bytes", KAFKA_FETCH_MAX_BYTES},
        {"statistics.interval.ms", "1000"},   /* kafka_health.c */
        /* A broker back after an outage is used again within a second, as
         * Kafka's Java clients do; librdkafka's own maximum, 10 s, kept
         * /readyz at 503 up to 10 s after the broker was back. */
        {"reconnect.backoff.max.ms", "1000"},
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (kafka_conf_set(ctx->conf, defaults[i][0], defaults[i][1], err, errlen) < 0)
            return -1;
    for (size_t i = 0; i < o->librdkafka.n; i++) {
        const char *key = o->librdkafka.keys[i];
        const char *why = managed_key(key);
        if (why) {
            snprintf(err, errlen, "librdkafka property '%s': %s", key, why);
            return -1;
        }
        if (kafka_conf_set(ctx->conf, key, o->librdkafka.values[i], err, errlen) < 0)
            return -1;
    }
    if (fit_fetch_max(ctx->conf, err, errlen) < 0 ||
        kafka_check_tls_files(&o->librdkafka, err, errlen) < 0)
        return -1;
    rd_kafka_conf_set_opaque(ctx->conf, ctx->src);
    rd_kafka_conf_set_log_cb(ctx->conf, on_log);
    rd_kafka_conf_set_error_cb(ctx->conf, on_error);
    rd_kafka_conf_set_stats_cb(ctx->conf, on_stats);
    rd_kafka_conf_set_rebalance_cb(ctx->conf, kafka_on_rebalance);
    return 0;
}

/* No network I/O here: the consumer is created when run starts. */
static void kafka_destroy(struct br_source *src);

static int kafka_init(struct br_source *src, char *err, size_t errlen)
{
    struct kafka_ctx *ctx = src->ctx;
    ctx->src = src;
    ctx->start_ts = -1;
    src->event_origin = ctx->opts.brokers;
    src->ordering = ctx->opts.ordering == KAFKA_ORDER_PARTITION ? BR_ORDER_SHARD
                    : ctx->opts.ordering == KAFKA_ORDER_KEY     ? BR_ORDER_KEY
                                                                : BR_ORDER_NONE;
    if (strncmp(ctx->opts.start, "timestamp:", 10) == 0)
        ctx->start_ts = strtoll(ctx->opts.start + 10, NULL, 10);
    snprintf(ctx->client_id, sizeof(ctx->client_id), "fnbridge-%s",
             src->pipeline_name);

    ctx->batch = malloc(KAFKA_BATCH * sizeof(*ctx->batch));
    ctx->conf = rd_kafka_conf_new();
    if (!ctx->batch || !ctx->conf)
        snprintf(err, errlen, "out of memory");
    else if (build_conf(ctx, err, errlen) == 0)
        return 0;
    kafka_destroy(src);     /* a failed init leaves nothing behind */
    return -1;
}

static void kafka_destroy(struct br_source *src)
{
    struct kafka_ctx *ctx = src->ctx;
    if (!ctx)
        return;
    if (ctx->rk) {                    /* run never finished: tear down */
        if (ctx->msgq)
            rd_kafka_queue_destroy(ctx->msgq);
        if (ctx->queue)
            rd_kafka_queue_destroy(ctx->queue);
        rd_kafka_destroy_flags(ctx->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    if (ctx->conf)
        rd_kafka_conf_destroy(ctx->conf);
    kafka_tables_free(ctx);
    free(ctx->batch);
    free(ctx->hdrs);
    ctx->rk = NULL;
    ctx->queue = ctx->msgq = NULL;
    ctx->conf = NULL;
    ctx->batch = NULL;
    ctx->hdrs = NULL;
    ctx->hdrs_cap = 0;
}

const struct br_source_ops br_source_kafka = {
    .name = "kafka",
    .opts = kafka_source_opts,
    .ctx_size = sizeof(struct kafka_ctx),
    .default_format = "lambda",
    .formats = BR_FORMAT_BIT(BR_FORMAT_LAMBDA) | BR_FORMAT_BIT(BR_FORMAT_JSON) |
               BR_FORMAT_BIT(BR_FORMAT_PAYLOAD) | BR_FORMAT_BIT(BR_FORMAT_CLOUDEVENTS),
    .init = kafka_init,
    .run = kafka_run,
    .commit = kafka_commit,
    .pause = kafka_pause,
    .resume = kafka_resume,
    .destroy = kafka_destroy,
};
