/* dlq_topic_kafka.c - a dead-letter topic of the kafka sink as the input
 * of `fnbridge dlq replay --from-topic` (bridge/dlq_input.h; README:
 * Replaying dead letters).
 *
 * A consumer in the group fnbridge-replay-<pipeline>, on the sink's
 * brokers with its librdkafka properties, assigned every partition of
 * the topic from the group's committed offset (the earliest without one)
 * up to the high watermark seen at open: what the replay writes back into
 * the same topic waits for the next run. Nothing is committed here but
 * what the caller says is settled (commit, finish), synchronously, so a
 * replay killed at any moment replays again what it had not settled.
 * Messages kept aside are produced, as read, to <topic>.parked and count
 * only after their delivery report. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "bridge/clock.h"
#include "bridge/dlq_input.h"
#include "bridge/dlq_sink.h"
#include "config/secrets.h"
#include "kafka_conf.h"
#include "kafka_dlq_headers.h"
#include "kafka_event.h"
#include "sink_kafka.h"
#include "source_kafka.h"

extern const struct br_source_ops br_source_kafka;
extern const struct br_sink_ops br_sink_kafka;

#define META_TIMEOUT_MS 10000       /* metadata, watermarks, committed offsets */
#define POLL_MS 100
#define IDLE_LIMIT_MS 30000         /* no message while some are due: give up */
#define PARK_MARGIN_MS 10000        /* past message.timeout.ms: purge */

struct part {
    int64_t high;                   /* the high watermark at open */
    int64_t next;                   /* after the last message returned; -1 */
    int64_t committed;              /* the group's position as we set it */
    bool done;                      /* read up to high (or its end) */
};

struct dlq_topic {
    const struct kafka_sink_options *sink;
    rd_kafka_t *rk;                 /* the consumer */
    rd_kafka_t *producer;           /* for parking, made at the first park */
    char *topic;
    char *parked_topic;
    char *parked_where;             /* "kafka topic T.parked", masked */
    const char *origin;             /* the kafka source's brokers */
    char client_id[160];
    int64_t park_timeout_ms;        /* the producer's message.timeout.ms */
    bool dry_run;
    struct part *parts;
    int32_t n_parts;
    int32_t remaining;              /* partitions not done */
    int64_t idle_since_ms;
    rd_kafka_message_t *last;       /* the last message returned */
    char *record_topic;             /* the letter's strings, owned */
    char *pipeline;
    char *condition;
    struct br_header *hdrs;         /* scratch: one message's headers */
    bool *keep;
    size_t hdrs_cap;
    char where[320];
};

/* ------------------------------------------------------------- opening */

/* librdkafka says at warning level that a producer property (the sink's)
 * means nothing to a consumer: only errors are worth a line. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3)
        fprintf(stderr, "fnbridge: librdkafka %s: %s\n", fac, buf);
}

/* The sink's properties first (validated when the config was loaded),
 * then what a replay needs: they win. */
static rd_kafka_conf_t *build_conf(struct dlq_topic *t, const char *const (*set)[2],
                                   size_t n_set, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = conf ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < t->sink->librdkafka.n; i++)
        rc = kafka_conf_set(conf, t->sink->librdkafka.keys[i], t->sink->librdkafka.values[i], err,
                      errlen);
    for (size_t i = 0; rc == 0 && i < n_set; i++)
        rc = kafka_conf_set(conf, set[i][0], set[i][1], err, errlen);
    if (rc < 0) {
        if (!conf)
            snprintf(err, errlen, "out of memory");
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    return conf;
}

static int make_consumer(struct dlq_topic *t, const char *group, char *err, size_t errlen)
{
    const char *const set[][2] = {
        {"bootstrap.servers", t->sink->brokers}, {"client.id", t->client_id},
        {"group.id", group}, {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"}, {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", "true"},
    };
    char why[512];
    rd_kafka_conf_t *conf = build_conf(t, set, sizeof(set) / sizeof(set[0]), err, errlen);
    if (!conf)
        return -1;
    if (!(t->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why)))) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "cannot create the Kafka consumer: %s", why);
        return -1;
    }
    rd_kafka_poll_set_consumer(t->rk);
    return 0;
}

/* How many partitions the topic has. */
static int count_partitions(struct dlq_topic *t, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->rk, t->topic, NULL);
    rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(t->rk, 0, rkt, &md, META_TIMEOUT_MS)
                                : rd_kafka_last_error();
    if (!e && md->topic_cnt == 1 && md->topics[0].err)
        e = md->topics[0].err;
    if (!e && md->topic_cnt == 1)
        t->n_parts = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (e || t->n_parts <= 0) {
        snprintf(err, errlen, "reading topic %s: %s", t->topic,
                 e ? rd_kafka_err2str(e) : "it has no partitions");
        return -1;
    }
    return 0;
}

/* Each partition's high watermark and the group's committed offset: the
 * range this run reads. Assigns the partitions with something in it. */
static int plan_and_assign(struct dlq_topic *t, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(t->n_parts);
    rd_kafka_resp_err_t e = 0;
    int64_t *low = calloc((size_t)t->n_parts, sizeof(*low));
    if (!(t->parts = calloc((size_t)t->n_parts, sizeof(*t->parts))) || !low || !list) {
        snprintf(err, errlen, "out of memory");
        e = RD_KAFKA_RESP_ERR__FAIL;
    }
    for (int32_t p = 0; !e && p < t->n_parts; p++) {
        e = rd_kafka_query_watermark_offsets(t->rk, t->topic, p, &low[p], &t->parts[p].high,
                                             META_TIMEOUT_MS);
        rd_kafka_topic_partition_list_add(list, t->topic, p);
    }
    if (!e)
        e = rd_kafka_committed(t->rk, list, META_TIMEOUT_MS);
    for (int32_t p = 0; !e && p < t->n_parts; p++) {
        int64_t at = list->elems[p].offset;
        at = at < low[p] ? low[p] : at;       /* none yet, or gone by retention */
        list->elems[p].offset = at;
        t->parts[p] = (struct part){.high = t->parts[p].high, .next = -1, .committed = at,
                                    .done = at >= t->parts[p].high};
        t->remaining += !t->parts[p].done;
    }
    if (!e)
        e = rd_kafka_assign(t->rk, list);
    if (e && !err[0])
        snprintf(err, errlen, "reading the offsets of topic %s for the replay: %s",
                 t->topic, rd_kafka_err2str(e));
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
    free(low);
    return e ? -1 : 0;
}

static void topic_close(void *in);

static int name_things(struct dlq_topic *t, const struct br_dlq_topic_conf *c)
{
    size_t n = strlen(c->topic) + 8;
    char *shown = br_secrets_mask_dup(c->topic);
    size_t shown_n = shown ? strlen(shown) + 32 : 0;
    t->topic = strdup(c->topic);
    t->parked_topic = malloc(n);
    t->parked_where = shown ? malloc(shown_n) : NULL;
    if (!t->topic || !t->parked_topic || !t->parked_where) {
        free(shown);
        return -1;
    }
    snprintf(t->parked_topic, n, "%s.parked", c->topic);
    snprintf(t->parked_where, shown_n, "kafka topic %s.parked", shown);
    free(shown);
    snprintf(t->client_id, sizeof(t->client_id), "fnbridge-%s-replay", c->pipeline_name);
    return 0;
}

static void *topic_open(const struct br_dlq_topic_conf *c, char *err, size_t errlen)
{
    struct dlq_topic *t = calloc(1, sizeof(*t));
    err[0] = '\0';
    if (c->source_ops != &br_source_kafka) {
        snprintf(err, errlen, "--from-topic rebuilds the records of a kafka source, and "
                 "this pipeline's source is %s", c->source_ops->name);
        free(t);
        return NULL;
    }
    if (!t || name_things(t, c) < 0) {
        snprintf(err, errlen, "out of memory");
        topic_close(t);
        return NULL;
    }
    t->sink = c->sink_ctx;
    t->origin = ((const struct kafka_options *)c->source_ctx)->brokers;
    t->dry_run = c->dry_run;
    t->idle_since_ms = br_now_ms();
    if (make_consumer(t, c->group, err, errlen) < 0 || count_partitions(t, err, errlen) < 0 ||
        plan_and_assign(t, err, errlen) < 0) {
        topic_close(t);
        return NULL;
    }
    return t;
}

/* ------------------------------------------------------------- reading */

static void mark_done(struct dlq_topic *t, int32_t p)
{
    if (p < 0 || p >= t->n_parts || t->parts[p].done)
        return;
    t->parts[p].done = true;
    t->remaining--;
}

static size_t read_headers(struct dlq_topic *t, const rd_kafka_message_t *rkm)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(rkm, &hdrs) || !hdrs)
        return 0;
    size_t n = rd_kafka_header_cnt(hdrs);
    if (n > t->hdrs_cap) {
        struct br_header *h = realloc(t->hdrs, n * sizeof(*h));
        bool *keep = h ? realloc(t->keep, n * sizeof(*keep)) : NULL;
        if (h)
            t->hdrs = h;
        if (!keep)
            return (size_t)-1;
        t->keep = keep;
        t->hdrs_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        const void *value;
        size_t size;
        if (rd_kafka_header_get_all(hdrs, i, &t->hdrs[i].name, &value, &size))
            return i;
        t->hdrs[i].value = value;
        t->hdrs[i].value_len = value ? size : 0;
    }
    return n;
}

static char *dup_span(struct kafka_span s)
{
    char *out = malloc(s.n + 1);
    if (out) {
        memcpy(out, s.p, s.n);
        out[s.n] = '\0';
    }
    return out;
}

/* The record the dead letter stands for (the caller's), its own headers
 * only; a failure again gives its dead letter replay_count + 1. */
static struct br_record *rebuild(struct dlq_topic *t, const rd_kafka_message_t *rkm,
                                 const struct kafka_dlq_fields *f, size_t n_hdrs)
{
    size_t kept = 0;
    for (size_t i = 0; i < n_hdrs; i++)
        if (t->keep[i])
            t->hdrs[kept++] = t->hdrs[i];
    struct kafka_replay_meta meta = {.replay_count = f->replay_count + 1};
    int64_t ts = rd_kafka_message_timestamp(rkm, NULL);
    struct br_record_init init = {
        .kind = &br_kind_kafka_replayed, .topic = t->record_topic,
        .partition = (int32_t)f->partition, .offset = f->offset, .timestamp_ms = ts,
        .timestamp_type = ts >= 0 ? BR_TS_CREATE : BR_TS_NONE,
        .key = rkm->key, .key_len = rkm->key ? rkm->key_len : 0,
        .value = rkm->payload, .value_len = rkm->payload ? rkm->len : 0,
        .headers = t->hdrs, .n_headers = kept, .meta = &meta,
    };
    return br_record_create(&init);
}

static void forget_letter(struct dlq_topic *t)
{
    if (t->last)
        rd_kafka_message_destroy(t->last);
    t->last = NULL;
    free(t->record_topic);
    free(t->pipeline);
    free(t->condition);
    t->record_topic = t->pipeline = t->condition = NULL;
}

/* rkm (now t->last) into l. */
static enum br_dlq_next letter_of(struct dlq_topic *t, const rd_kafka_message_t *rkm,
                                  struct br_dlq_topic_letter *l, char *msg, size_t msglen)
{
    struct kafka_dlq_fields f;
    char why[256];
    size_t n = read_headers(t, rkm);
    *l = (struct br_dlq_topic_letter){.partition = rkm->partition, .offset = rkm->offset,
                                      .pipeline = "", .condition = ""};
    if (n == (size_t)-1) {
        snprintf(msg, msglen, "out of memory");
        return BR_DLQ_ERROR;
    }
    if (kafka_dlq_headers_parse(t->hdrs, n, &f, t->keep, why, sizeof(why)) < 0) {
        snprintf(msg, msglen, "%s: %s", t->where, why);
        return BR_DLQ_MALFORMED;
    }
    t->record_topic = dup_span(f.topic);
    t->pipeline = dup_span(f.pipeline);
    t->condition = dup_span(f.condition);
    l->rec = t->record_topic && t->pipeline && t->condition ? rebuild(t, rkm, &f, n) : NULL;
    if (!l->rec) {
        snprintf(msg, msglen, "out of memory");
        return BR_DLQ_ERROR;
    }
    l->pipeline = t->pipeline;
    l->condition = t->condition;
    l->replay_count = f.replay_count;
    return BR_DLQ_LETTER;
}

/* An error event of the consumer: the end of a partition, a transient
 * error (waited on, bounded by the idle limit) or one that ends the run. */
static enum br_dlq_next consume_error(struct dlq_topic *t, rd_kafka_message_t *rkm,
                                      char *msg, size_t msglen)
{
    rd_kafka_resp_err_t e = rkm->err;
    if (e == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        mark_done(t, rkm->partition);
    else if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__FATAL ||
             e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
             e == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED) {
        snprintf(msg, msglen, "reading topic %s: %s", t->topic, rd_kafka_message_errstr(rkm));
        rd_kafka_message_destroy(rkm);
        return BR_DLQ_ERROR;
    }
    rd_kafka_message_destroy(rkm);
    return BR_DLQ_WAIT;
}

static enum br_dlq_next topic_next(void *in, struct br_dlq_topic_letter *l, char *msg,
                                   size_t msglen)
{
    struct dlq_topic *t = in;
    forget_letter(t);
    if (t->remaining == 0)
        return BR_DLQ_END;
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(t->rk, POLL_MS);
    if (!rkm) {
        if (br_now_ms() - t->idle_since_ms < IDLE_LIMIT_MS)
            return BR_DLQ_WAIT;
        snprintf(msg, msglen, "no message from topic %s in %d s, though %" PRId32
                 " partition(s) are not read to their end: are its brokers up?", t->topic,
                 IDLE_LIMIT_MS / 1000, t->remaining);
        return BR_DLQ_ERROR;
    }
    t->idle_since_ms = br_now_ms();
    if (rkm->err)
        return consume_error(t, rkm, msg, msglen);
    struct part *p = rkm->partition >= 0 && rkm->partition < t->n_parts
                     ? &t->parts[rkm->partition] : NULL;
    if (!p || p->done || rkm->offset >= p->high) {   /* came after the run began */
        if (p)
            mark_done(t, rkm->partition);
        rd_kafka_message_destroy(rkm);
        return BR_DLQ_WAIT;
    }
    p->next = rkm->offset + 1;
    if (p->next >= p->high)
        mark_done(t, rkm->partition);
    t->last = rkm;
    snprintf(t->where, sizeof(t->where), "%s[%" PRId32 "]@%" PRId64, t->topic,
             rkm->partition, rkm->offset);
    return letter_of(t, rkm, l, msg, msglen);
}

static const char *topic_where(void *in)
{
    return ((struct dlq_topic *)in)->where;
}

/* ----------------------------------------------------------- committing */

static int commit_at(struct dlq_topic *t, int32_t partition, int64_t next, char *err,
                     size_t errlen)
{
    if (t->dry_run || partition < 0 || partition >= t->n_parts ||
        next <= t->parts[partition].committed)
        return 0;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    if (!list) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rd_kafka_topic_partition_list_add(list, t->topic, partition)->offset = next;
    rd_kafka_resp_err_t e = rd_kafka_commit(t->rk, list, 0);
    rd_kafka_topic_partition_list_destroy(list);
    if (e) {
        snprintf(err, errlen, "committing offset %" PRId64 " of %s[%" PRId32 "]: %s", next,
                 t->topic, partition, rd_kafka_err2str(e));
        return -1;
    }
    t->parts[partition].committed = next;
    return 0;
}

static int topic_commit(void *in, int32_t partition, int64_t next, char *err, size_t errlen)
{
    return commit_at(in, partition, next, err, errlen);
}

static int topic_finish(void *in, char *err, size_t errlen)
{
    struct dlq_topic *t = in;
    for (int32_t p = 0; p < t->n_parts; p++)
        if (t->parts[p].next >= 0 && commit_at(t, p, t->parts[p].next, err, errlen) < 0)
            return -1;
    return 0;
}

/* -------------------------------------------------------------- parking */

static void on_parked(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    rd_kafka_resp_err_t *result = m->_private;
    *result = m->err;
}

static int make_producer(struct dlq_topic *t, char *err, size_t errlen)
{
    const char *const set[][2] = {
        {"bootstrap.servers", t->sink->brokers}, {"client.id", t->client_id},
        {"acks", "all"}, {"enable.idempotence", "true"},
    };
    char why[512];
    rd_kafka_conf_t *conf = build_conf(t, set, sizeof(set) / sizeof(set[0]), err, errlen);
    if (!conf)
        return -1;
    char ms[32];
    size_t n = sizeof(ms);
    t->park_timeout_ms = 300000;      /* librdkafka's default */
    if (rd_kafka_conf_get(conf, "message.timeout.ms", ms, &n) == RD_KAFKA_CONF_OK)
        t->park_timeout_ms = atoll(ms);
    rd_kafka_conf_set_dr_msg_cb(conf, on_parked);
    if (!(t->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why)))) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "cannot create the Kafka producer: %s", why);
        return -1;
    }
    return 0;
}

/* The message as it was read, every header kept, to <topic>.parked. */
static int topic_park(void *in, char *err, size_t errlen)
{
    struct dlq_topic *t = in;
    const rd_kafka_message_t *m = t->last;
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_resp_err_t result = RD_KAFKA_RESP_ERR__IN_PROGRESS, e;
    if (!m || t->dry_run)
        return 0;
    if (!t->producer && make_producer(t, err, errlen) < 0)
        return -1;
    rd_kafka_message_headers(m, &hdrs);
    rd_kafka_headers_t *copy = hdrs ? rd_kafka_headers_copy(hdrs) : rd_kafka_headers_new(0);
    e = rd_kafka_producev(t->producer, RD_KAFKA_V_TOPIC(t->parked_topic),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_KEY(m->key, m->key_len),
                          RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_HEADERS(copy),
                          RD_KAFKA_V_OPAQUE(&result), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(copy);
        result = e;
    }
    /* message.timeout.ms bounds the report; past it and a margin, purge. */
    int64_t purge_at = br_now_ms() + t->park_timeout_ms + PARK_MARGIN_MS;
    while (result == RD_KAFKA_RESP_ERR__IN_PROGRESS) {
        rd_kafka_poll(t->producer, POLL_MS);
        if (br_now_ms() > purge_at)
            rd_kafka_purge(t->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    }
    if (!result)
        return 0;
    snprintf(err, errlen, "keeping %s aside in %s: %s", t->where, t->parked_where,
             rd_kafka_err2str(result));
    return -1;
}

static const char *topic_parked_where(void *in)
{
    return ((struct dlq_topic *)in)->parked_where;
}

static const char *topic_origin(void *in)
{
    return ((struct dlq_topic *)in)->origin;
}

static void topic_close(void *in)
{
    struct dlq_topic *t = in;
    if (!t)
        return;
    forget_letter(t);
    if (t->rk) {
        rd_kafka_consumer_close(t->rk);
        rd_kafka_destroy(t->rk);
    }
    if (t->producer)
        rd_kafka_destroy(t->producer);
    free(t->parts);
    free(t->hdrs);
    free(t->keep);
    free(t->topic);
    free(t->parked_topic);
    free(t->parked_where);
    free(t);
}

const struct br_dlq_topic_ops br_dlq_topic_kafka = {
    .sink = &br_sink_kafka,
    .open = topic_open,
    .next = topic_next,
    .where = topic_where,
    .commit = topic_commit,
    .finish = topic_finish,
    .park = topic_park,
    .parked_where = topic_parked_where,
    .event_origin = topic_origin,
    .close = topic_close,
};
