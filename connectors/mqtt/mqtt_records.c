/* mqtt_records.c - MQTT messages in and out of the spool: a received
 * message (with its v5 properties) is spooled and becomes a record, or,
 * too large for any event, is dead-lettered straight from libmosquitto's
 * buffer; spooled messages of an earlier run are replayed as records;
 * the spool's depth is reported as a gauge;
 * replies go back to the message's response topic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mqtt_protocol.h>

#include "bridge/log.h"
#include "mqtt_client.h"

#define REPLAY_CHUNK 256

static int64_t epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int emit(struct mqtt_ctx *ctx, uint64_t seq, const struct mqtt_msg *m)
{
    struct br_record_init init = {
        .kind = &br_kind_mqtt,
        .topic = m->topic,
        .offset = (int64_t)seq,
        .timestamp_ms = m->received_ms,
        .timestamp_type = BR_TS_LOG_APPEND,
        .value = m->payload ? m->payload : (const unsigned char *)"",
        .value_len = m->payload_len,
        .headers = m->props,
        .n_headers = m->n_props,
        .meta = &m->meta,
    };
    struct br_record *rec = br_record_create(&init);
    if (!rec || br_source_emit(ctx->src, ctx->shard, rec) < 0) {
        br_record_free(rec);
        br_error(ctx->src->scope, "out of memory taking message %llu; stopping "
                 "(it stays spooled)", (unsigned long long)seq);
        atomic_store(&ctx->fatal, true);
        return -1;
    }
    return 0;
}

/* v5 user properties, as headers (name and value both UTF-8). The strings
 * are malloc'd by libmosquitto: *names and *values collect them to free. */
static size_t read_user_properties(const mosquitto_property *props, struct br_header **out,
                                   char ***strings)
{
    size_t n = 0, cap = 0;
    struct br_header *h = NULL;
    char **owned = NULL;
    bool skip = false;
    char *name, *value;
    for (const mosquitto_property *p = props;
         (p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name,
                                                  &value, skip)) != NULL;
         skip = true) {
        if (n == cap) {
            cap = cap ? 2 * cap : 4;
            struct br_header *nh = realloc(h, cap * sizeof(*h));
            char **no = realloc(owned, 2 * cap * sizeof(*owned));
            if (nh)
                h = nh;
            if (no)
                owned = no;
            if (!nh || !no) {
                free(name);
                free(value);
                break;
            }
        }
        h[n] = (struct br_header){.name = name, .value = (unsigned char *)value,
                                  .value_len = strlen(value)};
        owned[2 * n] = name;
        owned[2 * n + 1] = value;
        n++;
    }
    *out = h;
    *strings = owned;
    return n;
}

/* ------------------------------------------------------ too large */

/* The size of the PUBLISH that carried msg as the broker counts it
 * against our maximum packet size, less v5 properties (not seen as
 * bytes here; an empty property block is one byte): fixed header,
 * topic, packet id, payload. */
static uint64_t packet_size(const struct mqtt_ctx *ctx, const struct mosquitto_message *msg,
                            size_t payload_len)
{
    uint64_t rest = 2 + strlen(msg->topic) + (msg->qos ? 2 : 0) + payload_len +
                    (ctx->opts.protocol == MQTT_PROTO_5 ? 1 : 0);
    int len_bytes = rest < 128 ? 1 : rest < 16384 ? 2 : rest < 2097152 ? 3 : 4;
    return 1 + (uint64_t)len_bytes + rest;
}

/* Why msg cannot become a record (into why), or false when it can. */
static bool too_large(const struct mqtt_ctx *ctx, const struct mosquitto_message *msg,
                      size_t payload_len, char *why, size_t why_len)
{
    uint64_t packet = packet_size(ctx, msg, payload_len);
    if (packet > (uint64_t)ctx->max_message_size)
        snprintf(why, why_len, "a packet of %llu bytes, over max_message_size (%lld)",
                 (unsigned long long)packet, (long long)ctx->max_message_size);
    else if (payload_len > ctx->max_record_value)
        snprintf(why, why_len, "a payload of %zu bytes, over the %zu bytes an event "
                 "may take (the function's max_payload, or spool.max_bytes)",
                 payload_len, ctx->max_record_value);
    else
        return false;
    return true;
}

/* The message goes to the dead-letter sink from libmosquitto's buffer:
 * no spool entry, no record, no event, so it costs no copy of itself
 * (libmosquitto holds two while the callback runs). It gets a sequence
 * like any message, as its id in the dead letter. The sink is durable
 * before the PUBACK may leave; if it fails, the connection is cut and the
 * broker sends the message again. */
static int dead_letter_large(struct mqtt_ctx *ctx, const struct mosquitto_message *msg,
                             size_t payload_len, const char *why)
{
    uint64_t seq;
    if (mqtt_spool_take_seq(ctx->spool, &seq) < 0) {
        br_error(ctx->src->scope, "cannot take a message from %s: %s; dropping the "
                 "connection so the broker keeps it", msg->topic,
                 mqtt_spool_error(ctx->spool));
        ctx->spool_failed = true;
        return -1;
    }
    br_warn(ctx->src->scope, "message %llu from %s is too large (%s): dead-lettering it",
            (unsigned long long)seq, msg->topic, why);
    struct br_mqtt_meta meta = {.qos = (uint8_t)msg->qos, .retain = msg->retain};
    struct br_record rec = {
        .kind = &br_kind_mqtt,
        .topic = msg->topic,
        .offset = (int64_t)seq,
        .timestamp_ms = epoch_ms(),
        .timestamp_type = BR_TS_LOG_APPEND,
        .value = msg->payload,
        .value_len = payload_len,
        .meta = &meta,
        .size = payload_len,
    };
    ctx->trim_pending = true;
    if (br_source_dead_letter(ctx->src, &rec, "MaximumPayloadSizeExceeded") < 0) {
        br_error(ctx->src->scope, "message %llu is not acknowledged: dropping the "
                 "connection so the broker keeps it", (unsigned long long)seq);
        ctx->spool_failed = true;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- messages */

int mqtt_take_message(struct mqtt_ctx *ctx, const struct mosquitto_message *msg,
                      const mosquitto_property *props)
{
    /* Test switch: die inside the callback, before the spool write; the
     * broker must deliver the message again (its PUBACK never left). */
    if (ctx->crash_before_spool && ++ctx->received == ctx->crash_before_spool)
        abort();
    if (ctx->spool_failed)
        return -1;               /* the connection is being cut: skip */
    size_t payload_len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    char why[192];
    if (too_large(ctx, msg, payload_len, why, sizeof(why)))
        return dead_letter_large(ctx, msg, payload_len, why);
    struct mqtt_msg m = {
        .topic = msg->topic,
        .payload = msg->payload,
        .payload_len = payload_len,
        .received_ms = epoch_ms(),
        .meta = {.qos = (uint8_t)msg->qos, .retain = msg->retain},
    };
    char *content_type = NULL, *response_topic = NULL;
    void *correlation = NULL;
    uint16_t correlation_len = 0;
    char **strings = NULL;
    struct br_header *user = NULL;
    mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &content_type, false);
    mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &response_topic, false);
    mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &correlation,
                                   &correlation_len, false);
    m.meta.content_type = content_type;
    m.meta.response_topic = response_topic;
    m.meta.correlation = correlation;
    m.meta.correlation_len = correlation ? correlation_len : 0;
    m.n_props = read_user_properties(props, &user, &strings);
    m.props = user;

    uint64_t seq;
    int rc = 0;
    if (mqtt_spool_put(ctx->spool, &m, &seq) < 0) {
        br_error(ctx->src->scope, "cannot spool a message from %s: %s; dropping the "
                 "connection so the broker keeps it", msg->topic,
                 mqtt_spool_error(ctx->spool));
        ctx->spool_failed = true;
        rc = -1;
    } else {
        rc = emit(ctx, seq, &m);
    }
    for (size_t i = 0; i < 2 * m.n_props; i++)
        free(strings[i]);
    free(strings);
    free(user);
    free(content_type);
    free(response_topic);
    free(correlation);
    return rc;
}

/* ------------------------------------------------------------- replay */

/* The spool's depth for /status and /metrics: a short lock, no I/O (the
 * writer does not hold it while it commits), so once a round is cheap. */
void mqtt_report_spool(struct mqtt_ctx *ctx)
{
    br_source_report_gauge(ctx->src, BR_GAUGE_SPOOL_RECORDS,
                           (int64_t)mqtt_spool_count(ctx->spool));
}

struct replay_state {
    struct mqtt_ctx *ctx;
    uint64_t next;               /* first sequence not yet emitted */
    size_t emitted;
};

/* Ends a chunk at REPLAY_CHUNK records, or once max_inflight has no room
 * left (before emitting: this message then starts the next chunk). */
static int replay_one(void *arg, uint64_t seq, const struct mqtt_msg *m)
{
    struct replay_state *st = arg;
    if (br_source_room(st->ctx->src) == 0)
        return 1;
    st->next = seq + 1;
    if (emit(st->ctx, seq, m) < 0)
        return -1;
    return ++st->emitted % REPLAY_CHUNK == 0 ? 1 : 0;
}

static void replay_bad(void *arg, uint64_t seq)
{
    struct replay_state *st = arg;
    st->next = seq + 1;
    br_error(st->ctx->src->scope, "spooled message %llu cannot be read back; "
             "skipping it", (unsigned long long)seq);
}

int mqtt_replay(struct mqtt_ctx *ctx)
{
    struct replay_state st = {.ctx = ctx, .next = 0};
    size_t total = mqtt_spool_count(ctx->spool);
    if (total)
        br_info(ctx->src->scope, "replaying %zu spooled message(s)", total);
    for (;;) {
        int rc = mqtt_spool_scan(ctx->spool, st.next, replay_one, replay_bad, &st);
        if (rc < 0) {
            if (!atomic_load(&ctx->fatal))
                br_error(ctx->src->scope, "replaying the spool: %s",
                         mqtt_spool_error(ctx->spool));
            return -1;
        }
        /* Between chunks: hand over, apply acks (deletes), wait out
         * backpressure; no read transaction is open here. */
        br_source_service(ctx->src);
        br_source_wait(ctx->src, BR_WAIT_RESUMED, NULL);
        mqtt_report_spool(ctx);
        if (mqtt_spool_commit(ctx->spool) < 0)
            br_warn(ctx->src->scope, "%s", mqtt_spool_error(ctx->spool));
        if (rc == 0 || br_source_stopping(ctx->src))
            return 0;
    }
}

/* -------------------------------------------------------------- replies */

void mqtt_reply(struct br_source *src, struct br_record *const *recs, size_t n,
                const char *body, size_t body_len)
{
    struct mqtt_ctx *ctx = src->ctx;
    if (!ctx->opts.reply || body_len > INT32_MAX)
        return;
    pthread_mutex_lock(&ctx->reply_lock);
    for (size_t i = 0; i < n && ctx->reply_ready; i++) {
        const struct br_record *rec = recs[i];
        const struct br_mqtt_meta *m = br_mqtt_meta_of(rec);
        if (rec->kind != &br_kind_mqtt || !m->response_topic)
            continue;
        mosquitto_property *props = NULL;
        if (m->correlation &&
            mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA,
                                          m->correlation,
                                          (uint16_t)m->correlation_len) != MOSQ_ERR_SUCCESS) {
            mosquitto_property_free_all(&props);
            continue;
        }
        int rc = mosquitto_publish_v5(ctx->mosq, NULL, m->response_topic,
                                      (int)body_len, body, m->qos, false, props);
        mosquitto_property_free_all(&props);
        if (rc != MOSQ_ERR_SUCCESS)
            br_warn(src->scope, "reply to %s not sent: %s", m->response_topic,
                    mosquitto_strerror(rc));
    }
    pthread_mutex_unlock(&ctx->reply_lock);
}
