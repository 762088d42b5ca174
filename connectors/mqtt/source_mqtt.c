/* source_mqtt.c - the MQTT source: a libmosquitto client whose QoS 1
 * messages are written to a durable spool (mqtt_spool.c) before their
 * PUBACK may leave, and leave the spool once settled. This file: options,
 * the connection and the socket loop; mqtt_records.c turns messages into
 * records, replays the spool, reports its depth and sends replies.
 *
 * Why we run libmosquitto's loop ourselves, in threaded mode: libmosquitto
 * 2.0.11 queues a QoS 1 PUBACK before it calls the message callback. In
 * its unthreaded mode that PUBACK is written to the socket at once, before
 * the callback can make the message durable: a crash inside the callback
 * would lose it. With mosquitto_threaded_set(true) queued packets are only
 * written by mosquitto_loop_write, which we call after the spool commit.
 * So each round is: read (callbacks spool and emit), hand over to the
 * core, flush the spool batch to its writer thread, and write the PUBACKs
 * only once the writer has committed everything read so far (one sync per
 * batch; reading goes on meanwhile, so a sync never delays a message on
 * its way to the function). */
#include <errno.h>
#include <stdarg.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mqtt_protocol.h>

#include "bridge/clock.h"
#include "bridge/format.h"
#include "bridge/log.h"
#include "config/paths.h"
#include "mqtt_client.h"

#define MQTT_READ_BATCH 256           /* packets read per round */
#define MQTT_IDLE_WAIT_MS 100
#define MQTT_BUSY_WAIT_MS 5
#define MQTT_BACKOFF_MIN_MS 100
#define MQTT_BACKOFF_MAX_MS 30000
#define MQTT_TRIM_EVERY_MS 200

/* --------------------------------------------------------------- callbacks */

static void on_log(struct mosquitto *mosq, void *obj, int level, const char *line)
{
    struct mqtt_ctx *ctx = obj;
    (void)mosq;
    if (level & MOSQ_LOG_ERR) {
        snprintf(ctx->last_lib_error, sizeof(ctx->last_lib_error), "%s", line);
        br_debug(ctx->src->scope, "libmosquitto: %s", line);
    }
}

static void subscribe(struct mqtt_ctx *ctx)
{
    const struct br_strlist *t = &ctx->opts.topics;
    char **filters = calloc(t->n, sizeof(*filters));
    if (!filters)
        return;
    for (size_t i = 0; i < t->n; i++) {
        if (!ctx->opts.shared_group) {
            filters[i] = strdup(t->v[i]);
        } else {
            size_t len = strlen(ctx->opts.shared_group) + strlen(t->v[i]) + 9;
            filters[i] = malloc(len);
            if (filters[i])
                snprintf(filters[i], len, "$share/%s/%s", ctx->opts.shared_group, t->v[i]);
        }
    }
    int rc = MOSQ_ERR_NOMEM;
    bool all = true;
    for (size_t i = 0; i < t->n; i++)
        all = all && filters[i];
    if (all)
        rc = mosquitto_subscribe_multiple(ctx->mosq, NULL, (int)t->n, filters,
                                          (int)ctx->opts.qos, 0, NULL);
    if (rc != MOSQ_ERR_SUCCESS)
        br_error(ctx->src->scope, "subscribing failed: %s", mosquitto_strerror(rc));
    for (size_t i = 0; i < t->n; i++)
        free(filters[i]);
    free(filters);
}

/* Why the source is not connected, for /readyz and /status: not yet (it
 * never subscribed) or not any more. */
static void report_down(struct mqtt_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void report_down(struct mqtt_ctx *ctx, const char *fmt, ...)
{
    char *why = NULL;     /* whole: the core masks it, then cuts it */
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&why, fmt, ap) < 0)
        why = NULL;
    va_end(ap);
    br_source_report_state(ctx->src, ctx->was_ready ? BR_SOURCE_DISCONNECTED
                                                    : BR_SOURCE_STARTING,
                           why ? why : "out of memory");
    free(why);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    struct mqtt_ctx *ctx = obj;
    (void)mosq;
    (void)props;
    if (rc != 0) {
        ctx->refused = true;
        const char *why = ctx->opts.protocol == MQTT_PROTO_5 ? mosquitto_reason_string(rc)
                                                             : mosquitto_connack_string(rc);
        const char *hint = rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD ||
                                   rc == MQTT_RC_NOT_AUTHORIZED || rc == 4 || rc == 5
                               ? " (check username and password)" : "";
        br_error(ctx->src->scope, "the broker at %s refused the connection: %s%s",
                 ctx->opts.url, why, hint);
        report_down(ctx, "the broker at %s refused the connection: %s%s", ctx->opts.url,
                    why, hint);
        return;
    }
    ctx->connected = true;
    ctx->backoff_ms = 0;
    br_info(ctx->src->scope, "connected to %s as %s (%s session)", ctx->opts.url,
            ctx->client_id, flags & 1 ? "resumed" : "new");
    subscribe(ctx);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n,
                         const int *granted, const mosquitto_property *props)
{
    struct mqtt_ctx *ctx = obj;
    (void)mosq;
    (void)mid;
    (void)props;
    bool all_granted = true;
    for (int i = 0; i < n && (size_t)i < ctx->opts.topics.n; i++) {
        if (granted[i] >= 0x80) {
            all_granted = false;
            br_error(ctx->src->scope, "the broker refused the subscription to %s: %s",
                     ctx->opts.topics.v[i], mosquitto_reason_string(granted[i]));
            report_down(ctx, "the broker refused the subscription to %s: %s",
                        ctx->opts.topics.v[i], mosquitto_reason_string(granted[i]));
        } else if (granted[i] < ctx->opts.qos) {
            br_warn(ctx->src->scope, "the broker granted QoS %d, not %lld, for %s",
                    granted[i], (long long)ctx->opts.qos, ctx->opts.topics.v[i]);
        }
    }
    /* Connected means CONNACK and SUBACK: only then do messages flow. */
    if (all_granted) {
        ctx->was_ready = true;
        br_source_report_state(ctx->src, BR_SOURCE_CONNECTED, NULL);
    }
}

/* Says once why a connection ended. One that ends before its CONNACK
 * failed to connect (a TLS handshake fails there, not in
 * mosquitto_connect), unless on_connect already said so (the broker
 * refused us). libmosquitto does not always call on_disconnect for those,
 * and may pass 0: the reason is then in its last log line. */
static void report_closed(struct mqtt_ctx *ctx, int rc)
{
    if (ctx->close_reported || br_source_stopping(ctx->src))
        return;
    ctx->close_reported = true;
    if (ctx->connected) {
        const char *why = rc ? mosquitto_strerror(rc) : "closed";
        br_warn(ctx->src->scope, "lost the connection to %s: %s", ctx->opts.url, why);
        report_down(ctx, "lost the connection to %s: %s", ctx->opts.url, why);
    } else if (!ctx->refused) {
        const char *why = rc ? mosquitto_strerror(rc)
                             : "the connection closed before the broker answered";
        const char *lib = ctx->last_lib_error;
        br_error(ctx->src->scope, "cannot connect to %s: %s%s%s%s", ctx->opts.url, why,
                 lib[0] ? " (" : "", lib, lib[0] ? ")" : "");
        report_down(ctx, "cannot connect to %s: %s%s%s%s", ctx->opts.url, why,
                    lib[0] ? " (" : "", lib, lib[0] ? ")" : "");
    }
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
    struct mqtt_ctx *ctx = obj;
    (void)mosq;
    (void)props;
    if (rc != 0 || !ctx->connected)
        report_closed(ctx, rc);
    ctx->connected = false;
    br_source_report_state(ctx->src, ctx->was_ready ? BR_SOURCE_DISCONNECTED
                                                    : BR_SOURCE_STARTING, NULL);
}

static void on_message(struct mosquitto *mosq, void *obj,
                       const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    (void)mosq;
    mqtt_take_message(obj, msg, props);
}

/* ------------------------------------------------------------ connection */

/* The next delay of a backoff that starts at first and doubles to the max. */
static int64_t next_backoff(int64_t prev_ms, int64_t first_ms)
{
    if (!prev_ms)
        return first_ms;
    return prev_ms * 2 > MQTT_BACKOFF_MAX_MS ? MQTT_BACKOFF_MAX_MS : prev_ms * 2;
}

static void schedule_retry(struct mqtt_ctx *ctx, const char *why)
{
    ctx->backoff_ms = next_backoff(ctx->backoff_ms, MQTT_BACKOFF_MIN_MS);
    ctx->next_attempt_ms = br_now_ms() + ctx->backoff_ms;
    if (why) {
        br_error(ctx->src->scope, "cannot connect to %s: %s; retrying in %lld ms",
                 ctx->opts.url, why, (long long)ctx->backoff_ms);
        report_down(ctx, "cannot connect to %s: %s", ctx->opts.url, why);
    }
}

/* Connects; on failure schedules the next try. Every attempt is a full
 * connect with our CONNECT properties: the session expiry must be asked
 * for each time, or the broker would drop our session at the next
 * disconnect. */
static void try_connect(struct mqtt_ctx *ctx)
{
    char why[512];
    ctx->last_lib_error[0] = '\0';
    ctx->refused = false;
    ctx->close_reported = false;
    mosquitto_property *props = NULL;
    if (ctx->opts.protocol == MQTT_PROTO_5 && ctx->opts.session_expiry_ms > 0)
        mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                     (uint32_t)(ctx->opts.session_expiry_ms / 1000));
    /* The broker then never sends us a bigger PUBLISH: it drops it for
     * this session (mosquitto logs "Dropping too large outgoing PUBLISH"),
     * and it is lost to us. 3.1.1 has no way to say it. */
    if (ctx->opts.protocol == MQTT_PROTO_5)
        mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE,
                                     (uint32_t)ctx->max_message_size);
    int rc = mosquitto_connect_bind_v5(ctx->mosq, ctx->host, ctx->port,
                                       (int)(ctx->opts.keepalive_ms / 1000), NULL, props);
    mosquitto_property_free_all(&props);
    if (rc == MOSQ_ERR_SUCCESS) {
        ctx->next_attempt_ms = 0;
        return;
    }
    const char *detail = rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
    if (ctx->last_lib_error[0])
        snprintf(why, sizeof(why), "%s (%s)", detail, ctx->last_lib_error);
    else
        snprintf(why, sizeof(why), "%s", detail);
    schedule_retry(ctx, ctx->close_reported ? NULL : why);
    ctx->close_reported = true;
}

static bool socket_open(const struct mqtt_ctx *ctx)
{
    return mosquitto_socket(ctx->mosq) >= 0;
}

/* A put failed: the PUBACKs queued since the last write must never reach
 * the broker. Cutting the socket makes the next write fail; libmosquitto
 * then drops its queue, and the broker sends those messages again after
 * we reconnect. */
static void cut_connection(struct mqtt_ctx *ctx)
{
    int fd = mosquitto_socket(ctx->mosq);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    mosquitto_loop_read(ctx->mosq, 1);    /* sees the shutdown: closes */
    ctx->connected = false;
    report_down(ctx, "the spool cannot keep messages: the connection was closed so "
                "that the broker sends them again");
    ctx->spool_failed = false;
    /* The broker sends the same messages again, and the function gets
     * them again: while the spool keeps failing, back off (a CONNACK does
     * not reset this; a successful commit does). */
    ctx->spool_backoff_ms = next_backoff(ctx->spool_backoff_ms, 1000);
    ctx->next_attempt_ms = br_now_ms() + ctx->spool_backoff_ms;
}

/* Full: by the limits, or out of leased sequences until the writer's
 * next commit renews them (a round reads at most MQTT_READ_BATCH). */
static bool spool_full(const struct mqtt_ctx *ctx)
{
    return mqtt_spool_count(ctx->spool) >= (size_t)ctx->opts.spool_max_records ||
           mqtt_spool_bytes(ctx->spool) >= (uint64_t)ctx->opts.spool_max_bytes ||
           mqtt_spool_seq_room(ctx->spool) <= MQTT_READ_BATCH;
}

/* Whether one more message may be read: each read takes at most one
 * PUBLISH, so checking before every read keeps max_inflight exact. At 0
 * the socket is left unread, as with a full spool, and the broker holds
 * the rest; the core's backpressure waits for acks meanwhile. */
static bool has_room(const struct mqtt_ctx *ctx)
{
    return br_source_room(ctx->src) > 0;
}

/* Logs when the spool fills up and when it has room again. */
static void note_spool_state(struct mqtt_ctx *ctx, bool full)
{
    if (full == ctx->spool_was_full)
        return;
    ctx->spool_was_full = full;
    if (full)
        br_info(ctx->src->scope, "the spool is full (%zu messages, %llu bytes): not "
                "reading from the broker, which holds the rest, until some settle",
                mqtt_spool_count(ctx->spool),
                (unsigned long long)mqtt_spool_bytes(ctx->spool));
    else
        br_info(ctx->src->scope, "the spool has room again: reading from the broker");
}

/* Our PUBACKs wait for the spool; the TCP ACK must not. mosquitto does not
 * set TCP_NODELAY by default, so Nagle holds its next PUBLISH until our
 * kernel ACKs the last one, and a delayed ACK rides on our PUBACK: every
 * message would wait for the previous one's sync. Linux clears
 * TCP_QUICKACK as it goes, so it is set again at every read. */
static void quick_ack(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/* Waits for the socket, the spool writer or a timeout, and reads what
 * arrived. Not reading (paused, spool full) leaves messages with the
 * broker. Writing waits until what was read is durable. */
static void read_round(struct mqtt_ctx *ctx)
{
    bool full = spool_full(ctx);
    note_spool_state(ctx, full);
    bool may_read = !ctx->connected || (!ctx->paused && !full && has_room(ctx));
    bool may_write = mqtt_spool_durable(ctx->spool) && mosquitto_want_write(ctx->mosq);
    struct pollfd p[2] = {
        {.fd = mosquitto_socket(ctx->mosq),
         .events = (short)((may_read ? POLLIN : 0) | (may_write ? POLLOUT : 0))},
        {.fd = mqtt_spool_fd(ctx->spool), .events = POLLIN},
    };
    int wait = br_source_inflight(ctx->src) ? MQTT_BUSY_WAIT_MS : MQTT_IDLE_WAIT_MS;
    if (poll(p, 2, wait) <= 0)
        return;
    if (p[1].revents & POLLIN)
        mqtt_spool_clear_fd(ctx->spool);
    if (!(p[0].revents & (POLLIN | POLLERR | POLLHUP)))
        return;
    /* libmosquitto 2.0.11 reads one packet per call whatever max_packets
     * says: read on while more is waiting, up to a batch. */
    quick_ack(p[0].fd);
    p[0].events = POLLIN;
    for (int i = 0; i < MQTT_READ_BATCH; i++) {
        if (mosquitto_loop_read(ctx->mosq, 1) != MOSQ_ERR_SUCCESS || ctx->spool_failed ||
            !socket_open(ctx) ||
            (ctx->connected && (ctx->paused || spool_full(ctx) || !has_room(ctx))))
            break;
        p[0].fd = mosquitto_socket(ctx->mosq);
        if (poll(p, 1, 0) <= 0)
            break;
    }
}

/* After a read: hand what was read to the spool writer, and write the
 * PUBACKs only once all of it is committed (see the top of this file). */
/* Marks the connection for cutting after a spool write failed. */
static void spool_failure(struct mqtt_ctx *ctx)
{
    br_error(ctx->src->scope, "%s; dropping the connection so the broker keeps "
             "the messages", mqtt_spool_error(ctx->spool));
    ctx->spool_failed = true;
}

/* After a large message: libmosquitto's buffers, the record and the
 * spool's batch are freed by now (the writer is done with it once the
 * spool is durable); give the pages back to the system. */
static void trim_memory(struct mqtt_ctx *ctx)
{
    if (!ctx->trim_pending || !mqtt_spool_durable(ctx->spool))
        return;
    /* A trim walks every arena: with a stream of large messages, one per
     * MQTT_TRIM_EVERY_MS is enough (the flag waits for the next). */
    int64_t now = br_now_ms();
    if (now < ctx->next_trim_ms)
        return;
    ctx->next_trim_ms = now + MQTT_TRIM_EVERY_MS;
    ctx->trim_pending = false;
    malloc_trim(0);
}

static void finish_round(struct mqtt_ctx *ctx)
{
    if (!ctx->spool_failed && mqtt_spool_flush(ctx->spool) < 0)
        spool_failure(ctx);
    if (socket_open(ctx) && !ctx->spool_failed)
        mosquitto_loop_misc(ctx->mosq);
    /* Checked last, right before writing: a failed commit must never let
     * its PUBACKs out (and durable stays false while it is unreported). */
    if (!ctx->spool_failed && mqtt_spool_take_failure(ctx->spool))
        spool_failure(ctx);
    if (ctx->spool_failed) {
        cut_connection(ctx);
        return;
    }
    if (socket_open(ctx) && mqtt_spool_durable(ctx->spool) && mosquitto_want_write(ctx->mosq)) {
        mosquitto_loop_write(ctx->mosq, MQTT_READ_BATCH);
        quick_ack(mosquitto_socket(ctx->mosq));   /* writing turned it off */
        ctx->spool_backoff_ms = 0;
    }
    trim_memory(ctx);
}

static void round_trip(struct mqtt_ctx *ctx)
{
    if (!socket_open(ctx)) {
        if (br_now_ms() >= ctx->next_attempt_ms)
            try_connect(ctx);
        if (!socket_open(ctx)) {
            br_source_wait(ctx->src, BR_WAIT_ROUND, NULL);
            mqtt_spool_take_failure(ctx->spool);   /* nothing to hold back */
            if (mqtt_spool_flush(ctx->spool) < 0)
                br_warn(ctx->src->scope, "%s", mqtt_spool_error(ctx->spool));
            return;
        }
    }
    read_round(ctx);
    if (!socket_open(ctx) && !ctx->spool_failed) {
        report_closed(ctx, 0);
        ctx->connected = false;
        br_source_report_state(ctx->src, ctx->was_ready ? BR_SOURCE_DISCONNECTED
                                                    : BR_SOURCE_STARTING, NULL);
        schedule_retry(ctx, NULL);
    }
    br_source_service(ctx->src);
    finish_round(ctx);
}

/* ------------------------------------------------------------------- ops */

static int create_client(struct mqtt_ctx *ctx)
{
    bool clean = ctx->opts.session_expiry_ms == 0;
    ctx->mosq = mosquitto_new(ctx->client_id, clean, ctx);
    if (!ctx->mosq) {
        br_error(ctx->src->scope, "cannot create the MQTT client: %s", strerror(errno));
        return -1;
    }
    mosquitto_threaded_set(ctx->mosq, true);     /* see the top of this file */
    mosquitto_int_option(ctx->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         ctx->opts.protocol == MQTT_PROTO_5 ? MQTT_PROTOCOL_V5
                                                            : MQTT_PROTOCOL_V311);
    mosquitto_log_callback_set(ctx->mosq, on_log);
    mosquitto_connect_v5_callback_set(ctx->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(ctx->mosq, on_disconnect);
    mosquitto_subscribe_v5_callback_set(ctx->mosq, on_subscribe);
    mosquitto_message_v5_callback_set(ctx->mosq, on_message);
    int rc = MOSQ_ERR_SUCCESS;
    if (ctx->opts.username)
        rc = mosquitto_username_pw_set(ctx->mosq, ctx->opts.username, ctx->opts.password);
    else if (ctx->url_user)
        rc = mosquitto_username_pw_set(ctx->mosq, ctx->url_user, ctx->url_password);
    if (rc == MOSQ_ERR_SUCCESS && ctx->tls) {
        if (!ctx->opts.tls_ca)
            mosquitto_int_option(ctx->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
        rc = mosquitto_tls_set(ctx->mosq, ctx->opts.tls_ca, ctx->opts.tls_ca ? NULL : "/etc/ssl/certs",
                               ctx->opts.tls_cert, ctx->opts.tls_key, NULL);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_tls_insecure_set(ctx->mosq, ctx->opts.tls_insecure);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        br_error(ctx->src->scope, "cannot set up the MQTT client: %s", mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

/* One spool per client id: it holds what that broker session sent us.
 * Named in init, so `check` judges the directory as `run` will need it. */
static int name_spool_dir(struct mqtt_ctx *ctx, char *err, size_t errlen)
{
    const char *state = ctx->src->state_dir;
    size_t len = strlen(state) + strlen(ctx->client_id) + 16;
    ctx->spool_dir = malloc(len);
    if (!ctx->spool_dir) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(ctx->spool_dir, len, "%s/mqtt/", state);
    size_t at = strlen(ctx->spool_dir);
    for (const char *c = ctx->client_id; *c; c++)
        ctx->spool_dir[at++] = (*c == '/' || *c == '.') ? '_' : *c;
    ctx->spool_dir[at] = '\0';
    char why[900];
    if (br_path_check_dir(ctx->spool_dir, !ctx->src->state_dir_secret, why,
                          sizeof(why)) < 0) {
        snprintf(err, errlen, "spool directory: %s", why);
        return -1;
    }
    return 0;
}

static int open_spool(struct mqtt_ctx *ctx)
{
    char err[512];
    ctx->spool = mqtt_spool_open(ctx->spool_dir, ctx->opts.spool_max_bytes, err, sizeof(err));
    if (!ctx->spool) {
        br_error(ctx->src->scope, "%s", err);
        return -1;
    }
    if (!ctx->opts.spool_sync && mqtt_spool_set_sync(ctx->spool, false) < 0) {
        br_error(ctx->src->scope, "%s", mqtt_spool_error(ctx->spool));
        return -1;
    }
    return 0;
}

static void stop_client(struct mqtt_ctx *ctx)
{
    if (socket_open(ctx) && ctx->spool_failed) {
        /* A graceful DISCONNECT would write the held PUBACKs first. */
        shutdown(mosquitto_socket(ctx->mosq), SHUT_RDWR);
    } else if (socket_open(ctx)) {
        mosquitto_disconnect_v5(ctx->mosq, 0, NULL);
        mosquitto_loop_write(ctx->mosq, MQTT_READ_BATCH);
    }
    pthread_mutex_lock(&ctx->reply_lock);
    ctx->reply_ready = false;
    pthread_mutex_unlock(&ctx->reply_lock);
    mosquitto_destroy(ctx->mosq);
    ctx->mosq = NULL;
}

/* Shutdown: stop reading; let what is in flight settle (deleting it from
 * the spool); PUBACK what was read; leave. The session stays on the
 * broker (session_expiry) and the rest stays in the spool. */
static void drain(struct mqtt_ctx *ctx)
{
    ctx->paused = true;
    br_source_drain(ctx->src);
    if (mqtt_spool_commit(ctx->spool) < 0 || mqtt_spool_take_failure(ctx->spool)) {
        br_error(ctx->src->scope, "%s; leaving without acknowledging, so the broker "
                 "sends the messages again", mqtt_spool_error(ctx->spool));
        ctx->spool_failed = true;
    }
    if (ctx->spool_failed || !socket_open(ctx))
        return;                       /* unacknowledged: the broker resends */
    mosquitto_loop_misc(ctx->mosq);
    mosquitto_loop_write(ctx->mosq, MQTT_READ_BATCH);
}

/* The limits, from the target's max_payload (final once the target is
 * initialised, after the source). A payload above max_payload fits no
 * event, one above the spool's max_bytes could never be spooled: neither
 * becomes a record. max_message_size defaults well above max_payload: a
 * message a little too large is dead-lettered (kept), while under MQTT 5
 * one above max_message_size is dropped by the broker (lost to us). */
static void set_limits(struct mqtt_ctx *ctx)
{
    int64_t max_payload = br_source_max_payload(ctx->src);
    ctx->max_message_size = ctx->opts.max_message_size;
    if (!ctx->max_message_size)
        ctx->max_message_size = max_payload > MQTT_MAX_PACKET / 4 ? MQTT_MAX_PACKET
                                                                  : 4 * max_payload;
    int64_t value = max_payload < ctx->opts.spool_max_bytes ? max_payload
                                                            : ctx->opts.spool_max_bytes;
    ctx->max_record_value = (size_t)value;
    /* Said at start, not per message: under MQTT 5 the broker drops what is
     * larger without a word to us, so this line is all the user gets. */
    if (ctx->opts.protocol == MQTT_PROTO_5)
        br_info(ctx->src->scope, "max_message_size %lld bytes: the broker discards larger "
                "messages for this session (MQTT 5 Maximum Packet Size); payloads over %zu "
                "bytes are dead-lettered", (long long)ctx->max_message_size,
                ctx->max_record_value);
    else
        br_info(ctx->src->scope, "messages over %lld bytes (max_message_size) and payloads "
                "over %zu bytes are dead-lettered", (long long)ctx->max_message_size,
                ctx->max_record_value);
}

static int mqtt_run(struct br_source *src)
{
    struct mqtt_ctx *ctx = src->ctx;
    set_limits(ctx);
    ctx->shard = br_source_shard(src, "mqtt", 0);
    if (ctx->shard < 0 || open_spool(ctx) < 0)
        return -1;
    br_source_assign(src, ctx->shard);
    if (mqtt_replay(ctx) < 0)
        return -1;
    if (create_client(ctx) < 0)
        return -1;
    pthread_mutex_lock(&ctx->reply_lock);
    ctx->reply_ready = true;
    pthread_mutex_unlock(&ctx->reply_lock);
    br_info(src->scope, "subscribing to %zu topic filter(s) on %s", ctx->opts.topics.n,
            ctx->opts.url);
    while (!br_source_stopping(src) && !atomic_load(&ctx->fatal)) {
        round_trip(ctx);
        mqtt_report_spool(ctx);
    }
    int rc = atomic_load(&ctx->fatal) ? -1 : 0;
    drain(ctx);
    stop_client(ctx);
    return rc;
}

static int mqtt_commit(struct br_source *src, int shard, int64_t next_pos)
{
    /* Each record leaves the spool on its own (settled): nothing to do. */
    (void)src;
    (void)shard;
    (void)next_pos;
    return 0;
}

static void mqtt_settled(struct br_source *src, const struct br_record *rec)
{
    struct mqtt_ctx *ctx = src->ctx;
    if (rec->value_len >= MQTT_TRIM_SIZE)
        ctx->trim_pending = true;        /* freed right after this */
    if (ctx->spool && mqtt_spool_del(ctx->spool, (uint64_t)rec->offset) < 0)
        br_warn(src->scope, "%s", mqtt_spool_error(ctx->spool));
}

static void mqtt_pause(struct br_source *src)
{
    ((struct mqtt_ctx *)src->ctx)->paused = true;
}

static void mqtt_resume(struct br_source *src)
{
    ((struct mqtt_ctx *)src->ctx)->paused = false;
}

/* ------------------------------------------------------------------ init */

/* Splits the url into ctx->url_user, url_password, host, port and tls
 * (mqtt_split_url). */
static int parse_url(struct mqtt_ctx *ctx, char *err, size_t errlen)
{
    return mqtt_split_url(ctx->opts.url, ctx->host, sizeof(ctx->host), &ctx->port, &ctx->tls,
                          &ctx->url_user, &ctx->url_password, err, errlen);
}

static int check_options(struct mqtt_ctx *ctx, char *err, size_t errlen)
{
    struct mqtt_options *o = &ctx->opts;
    if ((o->tls_ca || o->tls_cert || o->tls_key || o->tls_insecure) && !ctx->tls) {
        snprintf(err, errlen, "tls is set but the url is not mqtts://");
        return -1;
    }
    const char *files[][2] = {{"tls.ca", o->tls_ca}, {"tls.cert", o->tls_cert},
                              {"tls.key", o->tls_key}};
    for (size_t i = 0; i < 3; i++)
        if (files[i][1] && access(files[i][1], R_OK) < 0) {
            snprintf(err, errlen, "%s: cannot read %s: %s", files[i][0], files[i][1],
                     strerror(errno));
            return -1;
        }
    if (!o->tls_cert != !o->tls_key) {
        snprintf(err, errlen, "tls.cert and tls.key go together");
        return -1;
    }
    if (ctx->url_user && (o->username || o->password)) {
        snprintf(err, errlen, "the url names a user and password; leave out username "
                 "and password, or the url's user");
        return -1;
    }
    if (o->password && !o->username) {
        snprintf(err, errlen, "password without username");
        return -1;
    }
    if (o->reply && o->protocol != MQTT_PROTO_5) {
        snprintf(err, errlen, "reply needs protocol 5 (response topics are MQTT 5)");
        return -1;
    }
    for (size_t i = 0; i < o->topics.n; i++)
        if (mosquitto_sub_topic_check(o->topics.v[i]) != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "topics[%zu] '%s' is not a valid topic filter", i,
                     o->topics.v[i]);
            return -1;
        }
    return 0;
}

static void mqtt_destroy(struct br_source *src);

/* Once per process; libmosquitto's cleanup would pull OpenSSL from under
 * the other pipelines, so it is left to the exit. */
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void)
{
    mosquitto_lib_init();
}

static int mqtt_init(struct br_source *src, char *err, size_t errlen)
{
    struct mqtt_ctx *ctx = src->ctx;
    ctx->src = src;
    src->event_origin = ctx->opts.url;
    pthread_mutex_init(&ctx->reply_lock, NULL);
    pthread_once(&lib_once, lib_init);
    if (parse_url(ctx, err, errlen) < 0 || check_options(ctx, err, errlen) < 0) {
        mqtt_destroy(src);
        return -1;
    }
    if (ctx->opts.client_id) {
        ctx->client_id = strdup(ctx->opts.client_id);
    } else {
        const char *name = src->pipeline_name;
        size_t len = strlen(name) + 10;
        ctx->client_id = malloc(len);
        if (ctx->client_id)
            snprintf(ctx->client_id, len, "fnbridge-%s", name);
    }
    if (!ctx->client_id) {
        snprintf(err, errlen, "out of memory");
        mqtt_destroy(src);
        return -1;
    }
    if (name_spool_dir(ctx, err, errlen) < 0) {
        mqtt_destroy(src);
        return -1;
    }
    const char *crash = getenv("FNBRIDGE_TEST_CRASH_BEFORE_SPOOL");
    ctx->crash_before_spool = crash ? atol(crash) : 0;
    return 0;
}

static void mqtt_destroy(struct br_source *src)
{
    struct mqtt_ctx *ctx = src->ctx;
    if (!ctx || !ctx->src)
        return;
    if (ctx->mosq)
        mosquitto_destroy(ctx->mosq);
    mqtt_spool_close(ctx->spool);
    free(ctx->client_id);
    free(ctx->spool_dir);
    free(ctx->url_user);
    free(ctx->url_password);
    ctx->url_user = ctx->url_password = NULL;
    pthread_mutex_destroy(&ctx->reply_lock);
    ctx->mosq = NULL;
    ctx->spool = NULL;
    ctx->client_id = ctx->spool_dir = NULL;
    ctx->src = NULL;
}

const struct br_source_ops br_source_mqtt = {
    .name = "mqtt",
    .opts = mqtt_source_opts,
    .ctx_size = sizeof(struct mqtt_ctx),
    .default_format = "json",
    .formats = BR_FORMAT_BIT(BR_FORMAT_JSON) | BR_FORMAT_BIT(BR_FORMAT_PAYLOAD) |
               BR_FORMAT_BIT(BR_FORMAT_CLOUDEVENTS),
    .init = mqtt_init,
    .run = mqtt_run,
    .commit = mqtt_commit,
    .settled = mqtt_settled,
    .response = mqtt_reply,
    .pause = mqtt_pause,
    .resume = mqtt_resume,
    .destroy = mqtt_destroy,
};
