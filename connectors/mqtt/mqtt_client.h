/* mqtt_client.h - what the MQTT source's files share: the connector's ctx
 * (options first) and the helpers of mqtt_records.c. Internal to the
 * connector; the core sees only br_source_mqtt. */
#ifndef BR_MQTT_CLIENT_H
#define BR_MQTT_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <mosquitto.h>

#include "mqtt_spool.h"
#include "source_mqtt.h"

struct mqtt_ctx {
    struct mqtt_options opts;         /* must stay first: the option table */
    struct br_source *src;
    struct mosquitto *mosq;
    struct mqtt_spool *spool;
    int shard;
    char host[256];
    int port;
    bool tls;
    char *client_id;                  /* opts.client_id or our default */
    char *url_user;                   /* from the url's userinfo, or NULL */
    char *url_password;
    char *spool_dir;

    bool connected;                   /* CONNACK accepted, socket open */
    bool refused;                     /* this attempt's CONNACK said no */
    bool close_reported;              /* this connection's end was logged */
    bool was_ready;                   /* subscribed once: a loss is a disconnect */
    int64_t next_attempt_ms;          /* monotonic: next (re)connect try */
    int64_t backoff_ms;
    char last_lib_error[256];         /* libmosquitto's last error log line */
    bool paused;                      /* backpressure: the socket is not read */
    bool spool_was_full;              /* for logging the transitions */
    bool spool_failed;                /* a put failed: the PUBACKs must not go */
    int64_t spool_backoff_ms;         /* reconnect delay while the spool fails */
    atomic_bool fatal;

    /* reply: publish from the dispatcher thread while mosq is alive */
    pthread_mutex_t reply_lock;
    bool reply_ready;

    /* Size limits, set when the source starts (the target's max_payload is
     * final only once the target is initialised). */
    int64_t max_message_size;         /* opts' or the default; MQTT 5 sends it */
    size_t max_record_value;          /* larger payloads never become records */
    bool trim_pending;                /* a large message was let go: return
                                         the memory once nothing holds it */
    int64_t next_trim_ms;             /* monotonic: not before then */

    long crash_before_spool;          /* test switch: abort on the n-th message */
    long received;
};

/* Messages from this size on are followed by a malloc_trim once let go:
 * glibc keeps freed heap memory below its mmap threshold (which rises up
 * to 32 MiB as large blocks are freed). */
#define MQTT_TRIM_SIZE (1u << 20)

/* Spools the message and emits it as a record (the message callback's
 * work); a message too large to become one is dead-lettered from
 * libmosquitto's buffer instead. Returns 0, or -1 after setting
 * spool_failed (the PUBACKs must not go) or fatal. */
int mqtt_take_message(struct mqtt_ctx *ctx, const struct mosquitto_message *msg,
                      const mosquitto_property *props);
/* Emits every spooled message from an earlier run before anything new,
 * serving the core (acks, backpressure) between chunks. Returns 0 or -1. */
int mqtt_replay(struct mqtt_ctx *ctx);
/* Reports how many messages the spool holds (the spool_records gauge). */
void mqtt_report_spool(struct mqtt_ctx *ctx);
/* The source's response op: publishes the function's body to each
 * record's v5 response topic (reply: true). */
void mqtt_reply(struct br_source *src, struct br_record *const *recs, size_t n,
                const char *body, size_t body_len);

#endif
