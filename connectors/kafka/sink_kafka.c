/* sink_kafka.c - the `kafka` dead-letter sink: one message per record,
 * with the record's key, value and headers and the fnbridge.dlq.* headers
 * naming where it came from and why it failed, as Kafka Connect's DLQ
 * does. Idempotent producer with acks=all; a write counts once every
 * message of it has a successful delivery report. Runs on the sink's
 * worker thread; the producer is made at the first write. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "bridge/clock.h"
#include "bridge/dlq_sink.h"
#include "bridge/log.h"
#include "config/secrets.h"
#include "kafka_conf.h"
#include "kafka_event.h"
#include "sink_kafka.h"
#include "source_kafka.h"

extern const struct br_source_ops br_source_kafka;   /* brokers lent from it */

#define DLQ_HEADER "fnbridge.dlq."
#define POLL_MS 100
#define PURGE_AFTER_MS 10000      /* past message.timeout.ms: give up waiting */

struct kafka_sink {
    struct kafka_sink_options o;      /* must stay first: the option table */
    /* not options: */
    struct br_sink *sk;
    rd_kafka_t *rk;
    int64_t message_timeout_ms;
    char client_id[128];
    char *where;                      /* "kafka topic T at BROKERS", masked */
};

/* One write's delivery reports, on the worker's stack while it waits. */
struct delivery {
    size_t pending;
    rd_kafka_resp_err_t err;
};

#define K(field) offsetof(struct kafka_sink, field)
static const struct br_opt kafka_sink_opts[] = {
    {.name = "topic", .type = BR_OPT_STR, .offset = K(o.topic),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "the topic each failed record is produced to"},
    {.name = "brokers", .type = BR_OPT_STR, .offset = K(o.brokers),
     .def_doc = "the source's, when it is kafka",
     .help = "bootstrap servers, `host:port[,host:port...]`; required unless the "
             "source is kafka"},
    {.name = "librdkafka", .type = BR_OPT_STRMAP, .offset = K(o.librdkafka),
     .help = "librdkafka producer properties passed through, e.g. "
             "`{security.protocol: SASL_SSL, message.timeout.ms: 5000}`. "
             "`bootstrap.servers` is refused (use `brokers`), and so are "
             "`acks` and `enable.idempotence`, which fnbridge sets to `all` and "
             "`true`: a write counts only after its delivery report. fnbridge's "
             "default `message.timeout.ms` is 10000 (a failed write is retried "
             "with backoff). Records bigger than `message.max.bytes` (1000000) "
             "need it raised here and on the topic"},
    {0},
};

/* Brokers default to the kafka source's. */
static int kafka_sink_check(void *ctx_, const struct br_source_ops *src_ops,
                            const void *src_ctx, const struct br_node *map,
                            const char *path, struct br_errors *errs)
{
    struct kafka_sink *ctx = ctx_;
    if (ctx->o.brokers)
        return 0;
    if (src_ops == &br_source_kafka) {
        const struct kafka_options *src = src_ctx;
        if ((ctx->o.brokers = strdup(src->brokers)))
            return 0;
        br_errors_add(errs, map, path, "out of memory");
        return 1;
    }
    char kpath[512];
    snprintf(kpath, sizeof kpath, "%s.brokers", path);
    br_errors_add(errs, map, kpath, "missing required key 'brokers' (only a kafka "
                  "source lends its own)");
    return 1;
}

static const char *managed_key(const char *key)
{
    if (!strcmp(key, "bootstrap.servers") || !strcmp(key, "metadata.broker.list"))
        return "set it with the kafka sink's 'brokers' option";
    if (!strcmp(key, "acks") || !strcmp(key, "request.required.acks") ||
        !strcmp(key, "enable.idempotence"))
        return "fnbridge sets acks=all and enable.idempotence=true: a dead letter "
               "counts only once the brokers hold it";
    return NULL;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct delivery *d = msg->_private;
    if (msg->err && !d->err)
        d->err = msg->err;
    d->pending--;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const struct kafka_sink *ctx = rd_kafka_opaque(rk);
    enum br_log_level lvl = level <= 3 ? BR_LOG_ERROR : level == 4 ? BR_LOG_WARN
                          : level <= 6 ? BR_LOG_INFO : BR_LOG_DEBUG;
    if (br_log_enabled(lvl))
        br_log(lvl, ctx->sk->scope, "librdkafka %s: %s", fac, buf);
}

/* Transient errors (brokers down) show as failed delivery reports, which
 * the sink logs once per streak: here they are only for debugging. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    struct kafka_sink *ctx = opaque;
    br_debug(ctx->sk->scope, "Kafka error %s: %s", rd_kafka_err2name(err), reason);
}

static rd_kafka_conf_t *build_conf(struct kafka_sink *ctx, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *defaults[][2] = {
        {"bootstrap.servers", ctx->o.brokers}, {"client.id", ctx->client_id},
        {"acks", "all"}, {"enable.idempotence", "true"},
        {"message.timeout.ms", "10000"},
    };
    int rc = conf ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rc = kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, errlen);
    for (size_t i = 0; rc == 0 && i < ctx->o.librdkafka.n; i++) {
        const char *key = ctx->o.librdkafka.keys[i], *why = managed_key(key);
        if (why) {
            snprintf(err, errlen, "librdkafka property '%s': %s", key, why);
            rc = -1;
        } else {
            rc = kafka_conf_set(conf, key, ctx->o.librdkafka.values[i], err, errlen);
        }
    }
    if (rc == 0)
        rc = kafka_check_tls_files(&ctx->o.librdkafka, err, errlen);
    if (rc < 0) {
        if (!conf)
            snprintf(err, errlen, "out of memory");
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    char ms[32];
    size_t n = sizeof(ms);
    if (rd_kafka_conf_get(conf, "message.timeout.ms", ms, &n) == RD_KAFKA_CONF_OK)
        ctx->message_timeout_ms = atoll(ms);
    rd_kafka_conf_set_opaque(conf, ctx);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    return conf;
}

static void kafka_sink_destroy(struct br_sink *sk)
{
    struct kafka_sink *ctx = sk->ctx;
    if (ctx->rk)
        rd_kafka_destroy(ctx->rk);
    ctx->rk = NULL;
    free(ctx->where);
    ctx->where = NULL;
}

/* Validates every property now (check and run): the producer itself is
 * made by the first write, on the worker thread. */
static int kafka_sink_init(struct br_sink *sk, char *err, size_t errlen)
{
    struct kafka_sink *ctx = sk->ctx;
    ctx->sk = sk;
    snprintf(ctx->client_id, sizeof(ctx->client_id), "fnbridge-%s-dlq", sk->pipeline_name);
    rd_kafka_conf_t *conf = build_conf(ctx, err, errlen);
    if (!conf)
        return -1;
    rd_kafka_conf_destroy(conf);
    char *brokers = br_secrets_mask_dup(ctx->o.brokers), *topic = br_secrets_mask_dup(ctx->o.topic);
    size_t n = brokers && topic ? strlen(brokers) + strlen(topic) + 20 : 0;
    if (n && (ctx->where = malloc(n)))
        snprintf(ctx->where, n, "kafka topic %s at %s", topic, brokers);
    free(brokers);
    free(topic);
    if (!ctx->where) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sk->where = ctx->where;
    return 0;
}

/* ------------------------------------------------------------- writing */

static int make_producer(struct kafka_sink *ctx, char *err, size_t errlen)
{
    char why[512];
    rd_kafka_conf_t *conf = build_conf(ctx, err, errlen);
    if (!conf)
        return -1;
    if (!(ctx->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why)))) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "cannot create the Kafka producer: %s", why);
        return -1;
    }
    return 0;
}

static bool is_dlq_header(const char *name)
{
    return strncmp(name, DLQ_HEADER, sizeof(DLQ_HEADER) - 1) == 0;
}

static void add_number(rd_kafka_headers_t *h, const char *name, int64_t v)
{
    char text[24];
    int n = snprintf(text, sizeof(text), "%" PRId64, v);
    rd_kafka_header_add(h, name, -1, text, n);
}

/* A record replayed from a dead-letter topic (`fnbridge dlq replay`)
 * carries the count its dead letter gets; a record that kept the header
 * (a pipeline reading a dead-letter topic) keeps its count. */
static void add_replay_count(rd_kafka_headers_t *h, const struct br_record *rec)
{
    if (rec->kind == &br_kind_kafka_replayed && rec->meta) {
        const struct kafka_replay_meta *m = rec->meta;
        add_number(h, DLQ_HEADER "replay_count", m->replay_count);
        return;
    }
    for (size_t i = 0; i < rec->n_headers; i++)
        if (!strcmp(rec->headers[i].name, DLQ_HEADER "replay_count") && rec->headers[i].value) {
            rd_kafka_header_add(h, DLQ_HEADER "replay_count", -1, rec->headers[i].value,
                                (ssize_t)rec->headers[i].value_len);
            return;
        }
    rd_kafka_header_add(h, DLQ_HEADER "replay_count", -1, "0", 1);
}

/* The record's own headers (but an earlier dead letter's fnbridge.dlq.*),
 * then where it came from and why it failed. */
static rd_kafka_headers_t *headers_of(const struct br_dlq_item *item,
                                      const struct br_record *rec)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(rec->n_headers + 7);
    for (size_t i = 0; i < rec->n_headers; i++)
        if (!is_dlq_header(rec->headers[i].name))
            rd_kafka_header_add(h, rec->headers[i].name, -1, rec->headers[i].value,
                                (ssize_t)rec->headers[i].value_len);
    rd_kafka_header_add(h, DLQ_HEADER "pipeline", -1, item->pipeline, -1);
    rd_kafka_header_add(h, DLQ_HEADER "topic", -1, rec->topic ? rec->topic : "", -1);
    add_number(h, DLQ_HEADER "partition", rec->partition);
    add_number(h, DLQ_HEADER "offset", rec->offset);
    rd_kafka_header_add(h, DLQ_HEADER "condition", -1, item->condition, -1);
    add_number(h, DLQ_HEADER "attempts", item->attempts);
    add_replay_count(h, rec);
    return h;
}

/* Queues one message; a full local queue is served until it has room. */
static rd_kafka_resp_err_t produce(struct kafka_sink *ctx, const struct br_dlq_item *item,
                                   const struct br_record *rec, struct delivery *d)
{
    rd_kafka_resp_err_t e;
    do {
        rd_kafka_headers_t *h = headers_of(item, rec);
        e = rd_kafka_producev(ctx->rk, RD_KAFKA_V_TOPIC(ctx->o.topic),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(rec->key, rec->key_len),
                              RD_KAFKA_V_VALUE((void *)rec->value, rec->value_len),
                              RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
        if (e) {
            rd_kafka_headers_destroy(h);    /* not taken on failure */
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(ctx->rk, POLL_MS);
        }
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (!e)
        d->pending++;
    return e;
}

/* Every report comes within message.timeout.ms; d lives on our stack, so
 * past that (and a margin) what is left is purged, and its reports (the
 * purge's error) are still awaited. */
static void await_reports(struct kafka_sink *ctx, struct delivery *d)
{
    int64_t purge_at = br_now_ms() + ctx->message_timeout_ms + PURGE_AFTER_MS;
    bool purged = false;
    while (d->pending) {
        rd_kafka_poll(ctx->rk, POLL_MS);
        if (!purged && d->pending && br_now_ms() > purge_at) {
            rd_kafka_purge(ctx->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            purged = true;
        }
    }
}

/* Errors no retry clears: the write is still retried (nothing is ever
 * dropped), but the operator is told it waits for them. */
static bool permanent(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
           e == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
           e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           e == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION;
}

/* A fatal error (idempotence) leaves the producer unusable: the next
 * write makes a new one. */
static void drop_if_fatal(struct kafka_sink *ctx, char *err, size_t errlen)
{
    char why[256];
    if (!rd_kafka_fatal_error(ctx->rk, why, sizeof(why)))
        return;
    snprintf(err, errlen, "fatal Kafka producer error: %s; the producer is made anew", why);
    rd_kafka_destroy(ctx->rk);
    ctx->rk = NULL;
}

/* A dead-letter file's line replayed and failed again: its records are
 * inside its event, not at hand, so the line itself is the message, with
 * the headers that can be told (README: Replaying dead letters). */
static rd_kafka_resp_err_t produce_line(struct kafka_sink *ctx, const struct br_dlq_item *item,
                                        int64_t replay_count, struct delivery *d)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(5);
    rd_kafka_header_add(h, DLQ_HEADER "pipeline", -1, item->pipeline, -1);
    rd_kafka_header_add(h, DLQ_HEADER "condition", -1, item->condition, -1);
    add_number(h, DLQ_HEADER "attempts", item->attempts);
    add_number(h, DLQ_HEADER "replay_count", replay_count);
    rd_kafka_header_add(h, DLQ_HEADER "line", -1, "1", 1);
    rd_kafka_resp_err_t e;
    do {
        e = rd_kafka_producev(ctx->rk, RD_KAFKA_V_TOPIC(ctx->o.topic),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_VALUE((void *)item->line, item->line_len),
                              RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(ctx->rk, POLL_MS);
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (e)
        rd_kafka_headers_destroy(h);
    else
        d->pending++;
    return e;
}

static int kafka_sink_write(struct br_sink *sk, const struct br_dlq_item *item, char *err,
                            size_t errlen)
{
    struct kafka_sink *ctx = sk->ctx;
    struct delivery d = {0};
    rd_kafka_resp_err_t e = 0;
    if (!ctx->rk && make_producer(ctx, err, errlen) < 0)
        return -1;
    if (item->line)
        e = produce_line(ctx, item, item->line_replay_count, &d);
    for (size_t i = 0; i < item->n && !e; i++)
        e = produce(ctx, item, item->recs[i], &d);
    await_reports(ctx, &d);
    if (!e)
        e = d.err;
    if (!e)
        return 0;
    snprintf(err, errlen, "producing to %s: %s%s", ctx->where, rd_kafka_err2str(e),
             permanent(e) ? " (this will not pass by itself: the records wait until "
             "the topic or its limits change)" : "");
    drop_if_fatal(ctx, err, errlen);
    return -1;
}

const struct br_sink_ops br_sink_kafka = {
    .name = "kafka",
    .opts = kafka_sink_opts,
    .ctx_size = sizeof(struct kafka_sink),
    .check = kafka_sink_check,
    .init = kafka_sink_init,
    .write = kafka_sink_write,
    .destroy = kafka_sink_destroy,
};
