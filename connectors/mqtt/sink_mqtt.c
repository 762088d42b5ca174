/* sink_mqtt.c - the `mqtt` dead-letter sink: one PUBLISH per failed
 * batch, its payload the JSON line the file sink writes; with QoS 1 (the
 * default) the write counts once the broker's PUBACK accepted it (MQTT 5:
 * a reason code below 0x80). Runs on the sink's worker thread with its own
 * libmosquitto client, driven by mosquitto_loop there; the client is
 * connected at the first write and made anew after a failure. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "bridge/clock.h"
#include "bridge/dlq_sink.h"
#include "bridge/log.h"
#include "config/secrets.h"
#include "source_mqtt.h"

#define LOOP_MS 100
#define KEEPALIVE_S 30

struct mqtt_sink {
    struct mqtt_options opts;     /* first: the shared tls table's offsets */
    char *topic;
    int64_t timeout_ms;
    /* not options: */
    struct br_sink *sk;
    struct mosquitto *mosq;
    char host[256];
    int port;
    bool tls;
    char *url_user, *url_password;
    char *client_id;
    char *where;
    bool connected;
    int connack;                  /* -1 until CONNACK */
    int acked_mid;                /* the last PUBACK's message id */
    int ack_reason;
    char last_lib_error[256];
    struct br_buf line;
};

#define M(field) offsetof(struct mqtt_sink, field)
static const struct br_opt mqtt_sink_opts[] = {
    {.name = "url", .type = BR_OPT_STR, .offset = M(opts.url),
     .flags = BR_OPT_REQUIRED, .check = mqtt_check_url,
     .help = "`mqtt://host:port` or `mqtts://host:port` (as the mqtt source's)"},
    {.name = "topic", .type = BR_OPT_STR, .offset = M(topic),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "each failed batch's dead-letter record is published here as JSON"},
    /* Only 1: a dead letter counts once durable, and QoS 0 has no PUBACK
     * to say so (review). */
    {.name = "qos", .type = BR_OPT_INT, .def = "1", .offset = M(opts.qos), .min = 1, .max = 1,
     .help = "`1`: the write counts once the broker's PUBACK accepted it (QoS 0 "
             "would ack records on a write nobody confirmed)"},
    {.name = "client_id", .type = BR_OPT_STR, .offset = M(opts.client_id),
     .def_doc = "`fnbridge-<pipeline>-dlq`",
     .help = "the client id of the sink's own connection (clean session)"},
    {.name = "username", .type = BR_OPT_STR, .offset = M(opts.username),
     .help = "the user name to log in with"},
    {.name = "password", .type = BR_OPT_STR, .offset = M(opts.password),
     .help = "its password (`${env:...}` keeps it out of the file)"},
    {.name = "tls", .type = BR_OPT_SECTION, .section = mqtt_tls_opts,
     .help = "TLS settings for `mqtts://`, as the mqtt source's"},
    {.name = "timeout", .type = BR_OPT_DURATION, .def = "10s", .offset = M(timeout_ms),
     .min = 1, .max = 900000,
     .help = "the time allowed to connect and have one message acknowledged"},
    {0},
};

static void drop_client(struct mqtt_sink *ctx)
{
    if (ctx->mosq) {
        if (ctx->connected)
            mosquitto_disconnect(ctx->mosq);
        mosquitto_destroy(ctx->mosq);
    }
    ctx->mosq = NULL;
    ctx->connected = false;
}

static void mqtt_sink_destroy(struct br_sink *sk)
{
    struct mqtt_sink *ctx = sk->ctx;
    drop_client(ctx);
    free(ctx->url_user);
    free(ctx->url_password);
    free(ctx->client_id);
    free(ctx->where);
    br_buf_free(&ctx->line);
    ctx->url_user = ctx->url_password = ctx->client_id = ctx->where = NULL;
}

/* Once per process, as the source does (the two calls are counted). */
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void)
{
    mosquitto_lib_init();
}

static int mqtt_sink_init(struct br_sink *sk, char *err, size_t errlen)
{
    struct mqtt_sink *ctx = sk->ctx;
    struct mqtt_options *o = &ctx->opts;
    ctx->sk = sk;
    pthread_once(&lib_once, lib_init);
    if (mqtt_split_url(o->url, ctx->host, sizeof(ctx->host), &ctx->port, &ctx->tls,
                       &ctx->url_user, &ctx->url_password, err, errlen) < 0)
        goto fail;
    if ((o->tls_ca || o->tls_cert || o->tls_key || o->tls_insecure) && !ctx->tls) {
        snprintf(err, errlen, "tls is set but the url is not mqtts://");
        goto fail;
    }
    size_t n = strlen(sk->pipeline_name) + 16;
    char *topic = br_secrets_mask_dup(ctx->topic);
    ctx->client_id = o->client_id ? strdup(o->client_id) : malloc(n);
    if (ctx->client_id && !o->client_id)
        snprintf(ctx->client_id, n, "fnbridge-%s-dlq", sk->pipeline_name);
    n = topic ? strlen(topic) + strlen(ctx->host) + 32 : 0;
    if (n && (ctx->where = malloc(n)))
        snprintf(ctx->where, n, "mqtt topic %s at %s:%d", topic, ctx->host, ctx->port);
    free(topic);
    if (!ctx->client_id || !ctx->where) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    br_buf_init(&ctx->line, 0);
    sk->where = ctx->where;
    return 0;
fail:
    mqtt_sink_destroy(sk);
    return -1;
}

/* ------------------------------------------------------------ callbacks */

static void on_log(struct mosquitto *mosq, void *obj, int level, const char *line)
{
    struct mqtt_sink *ctx = obj;
    (void)mosq;
    if (level & MOSQ_LOG_ERR)
        snprintf(ctx->last_lib_error, sizeof(ctx->last_lib_error), "%s", line);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    struct mqtt_sink *ctx = obj;
    (void)mosq;
    (void)flags;
    (void)props;
    ctx->connack = rc;
    ctx->connected = rc == 0;
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
    struct mqtt_sink *ctx = obj;
    (void)mosq;
    (void)rc;
    (void)props;
    ctx->connected = false;
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
                       const mosquitto_property *props)
{
    struct mqtt_sink *ctx = obj;
    (void)mosq;
    (void)props;
    ctx->acked_mid = mid;
    ctx->ack_reason = reason;
}

/* ------------------------------------------------------------- writing */

static int set_up_client(struct mqtt_sink *ctx)
{
    struct mqtt_options *o = &ctx->opts;
    if (!(ctx->mosq = mosquitto_new(ctx->client_id, true, ctx)))
        return MOSQ_ERR_NOMEM;
    mosquitto_int_option(ctx->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_log_callback_set(ctx->mosq, on_log);
    mosquitto_connect_v5_callback_set(ctx->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(ctx->mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(ctx->mosq, on_publish);
    int rc = MOSQ_ERR_SUCCESS;
    if (o->username)
        rc = mosquitto_username_pw_set(ctx->mosq, o->username, o->password);
    else if (ctx->url_user)
        rc = mosquitto_username_pw_set(ctx->mosq, ctx->url_user, ctx->url_password);
    if (rc == MOSQ_ERR_SUCCESS && ctx->tls) {
        if (!o->tls_ca)
            mosquitto_int_option(ctx->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
        rc = mosquitto_tls_set(ctx->mosq, o->tls_ca, o->tls_ca ? NULL : "/etc/ssl/certs",
                               o->tls_cert, o->tls_key, NULL);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_tls_insecure_set(ctx->mosq, o->tls_insecure);
    }
    return rc;
}

/* Runs the client's loop until done(ctx) or the deadline; false on a
 * deadline or a lost connection. */
static bool loop_until(struct mqtt_sink *ctx, bool (*done)(const struct mqtt_sink *),
                       int64_t deadline)
{
    while (!done(ctx)) {
        int rc = mosquitto_loop(ctx->mosq, LOOP_MS, 1);
        if (rc != MOSQ_ERR_SUCCESS || br_now_ms() > deadline)
            return false;
    }
    return true;
}

static bool connack_came(const struct mqtt_sink *ctx)
{
    return ctx->connack >= 0;
}

static int connect_client(struct mqtt_sink *ctx, int64_t deadline, char *err, size_t errlen)
{
    ctx->connack = -1;
    ctx->last_lib_error[0] = '\0';
    int rc = set_up_client(ctx);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_connect_bind_v5(ctx->mosq, ctx->host, ctx->port, KEEPALIVE_S, NULL,
                                       NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "connecting to %s:%d: %s", ctx->host, ctx->port,
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        return -1;
    }
    if (loop_until(ctx, connack_came, deadline) && ctx->connected)
        return 0;
    if (ctx->connack > 0)
        snprintf(err, errlen, "the broker at %s:%d refused us: %s", ctx->host, ctx->port,
                 mosquitto_reason_string(ctx->connack));
    else
        snprintf(err, errlen, "no CONNACK from %s:%d%s%s", ctx->host, ctx->port,
                 ctx->last_lib_error[0] ? ": " : "", ctx->last_lib_error);
    return -1;
}

static int publish(struct mqtt_sink *ctx, int64_t deadline, char *err, size_t errlen)
{
    int mid = 0;
    ctx->acked_mid = -1;
    int rc = mosquitto_publish_v5(ctx->mosq, &mid, ctx->topic, (int)ctx->line.len,
                                  ctx->line.data, (int)ctx->opts.qos, false, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "publishing to %s: %s", ctx->where, mosquitto_strerror(rc));
        return -1;
    }
    while (ctx->acked_mid != mid) {
        rc = mosquitto_loop(ctx->mosq, LOOP_MS, 1);
        if (rc != MOSQ_ERR_SUCCESS || !ctx->connected || br_now_ms() > deadline) {
            snprintf(err, errlen, "no PUBACK from %s within the timeout%s",
                     ctx->where, ctx->connected ? "" : " (the connection was lost)");
            return -1;
        }
    }
    if (ctx->ack_reason >= 0x80) {
        snprintf(err, errlen, "the broker refused the message to %s: %s", ctx->where,
                 mosquitto_reason_string(ctx->ack_reason));
        return -1;
    }
    return 0;
}

static int mqtt_sink_write(struct br_sink *sk, const struct br_dlq_item *item, char *err,
                           size_t errlen)
{
    struct mqtt_sink *ctx = sk->ctx;
    int64_t deadline = br_now_ms() + ctx->timeout_ms;
    if (br_dlq_item_line(&ctx->line, item) < 0) {
        snprintf(err, errlen, "out of memory building the message");
        return -1;
    }
    if (ctx->line.len > 268435455u) {
        snprintf(err, errlen, "the dead-letter record (%zu bytes) is larger than MQTT "
                 "can carry", ctx->line.len);
        return -1;
    }
    int rc = ctx->connected ? 0 : (drop_client(ctx), connect_client(ctx, deadline, err, errlen));
    if (rc == 0)
        rc = publish(ctx, deadline, err, errlen);
    if (rc < 0)
        drop_client(ctx);     /* a fresh connection for the next try */
    if (ctx->line.cap > (1u << 20))
        br_buf_free(&ctx->line);
    return rc;
}

const struct br_sink_ops br_sink_mqtt = {
    .name = "mqtt",
    .opts = mqtt_sink_opts,
    .ctx_size = sizeof(struct mqtt_sink),
    .init = mqtt_sink_init,
    .write = mqtt_sink_write,
    .destroy = mqtt_sink_destroy,
};
