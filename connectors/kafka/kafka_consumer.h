/* kafka_consumer.h - what the Kafka source's files share: the connector's
 * ctx (options first, then the consumer and the partition tables) and the
 * partition-ownership helpers of kafka_rebalance.c. Internal to the
 * connector; the core sees only br_source_kafka. */
#ifndef BR_KAFKA_CONSUMER_H
#define BR_KAFKA_CONSUMER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "source_kafka.h"

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
    int64_t next_commit;              /* the next offset to commit, for its
                                         lag: -1 until known since assigned */
    int64_t committed;                /* the group's committed offset, as
                                         librdkafka's statistics last said;
                                         RD_KAFKA_OFFSET_INVALID: none */
};

/* Waking the fetchers when the prefetch queue has room (kafka_wake.c). */
struct kafka_wake {
    size_t cap_bytes;                 /* queued.max.messages.kbytes, in bytes */
    size_t cap_msgs;                  /* queued.min.messages */
    size_t avg_len;                   /* running average value length */
    bool was_full;                    /* near full since the last wake */
    int64_t last_ms;                  /* monotonic time of the last wake */
    unsigned long sent;
};

/* What the source reports of itself (kafka_health.c). */
struct kafka_health {
    bool assigned;                    /* an assignment came (maybe empty) */
    bool brokers_down;                /* no broker connection is up */
    int reported;                     /* the enum br_source_state last said */
    int64_t last_lag_ms;              /* monotonic: lag last reported */
    char why[256];                    /* why the brokers are taken for down */
};

struct kafka_ctx {
    struct kafka_options opts;        /* must stay first: the option table */
    struct br_source *src;
    rd_kafka_conf_t *conf;            /* until rd_kafka_new takes it */
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;          /* the consumer queue: events only */
    rd_kafka_queue_t *msgq;           /* every partition's messages */
    int64_t start_ts;                 /* start: timestamp:<ms>, else -1 */
    char client_id[128];

    struct kafka_topic *topics;
    size_t n_topics;
    size_t last_topic;                /* lookup hint: batches come by partition */
    struct kafka_shard *shards;
    size_t n_shards;

    bool paused;                      /* backpressure: msgq is not read */
    bool draining;                    /* shutting down: emit nothing */
    int64_t drain_deadline_ms;        /* monotonic, while draining */
    bool closing;                     /* inside rd_kafka_consumer_close */
    bool lost;                        /* revoking lost partitions: no stores */
    atomic_bool fatal;                /* librdkafka raised a fatal error */

    struct kafka_wake wake;
    struct kafka_health health;

    rd_kafka_message_t **batch;
    struct br_header *hdrs;           /* scratch for one record's headers */
    size_t hdrs_cap;
    rd_kafka_resp_err_t last_err;     /* consume error log suppression */
    int64_t last_err_ms;
};

/* The shard the core gave (topic, partition) when it was assigned to us,
 * or -1 if never (check kafka_shard.owned for now). The hot path: one
 * strcmp and two array reads per message. */
int kafka_shard_lookup(struct kafka_ctx *ctx, const char *topic, int32_t partition);
/* The table entry of shard, or NULL if we never saw it. */
struct kafka_shard *kafka_shard_get(struct kafka_ctx *ctx, int shard);
/* Frees the topic and shard tables. */
void kafka_tables_free(struct kafka_ctx *ctx);

#define KAFKA_COMMIT_WAIT_MS 5000     /* the least a commit may wait */

/* Commits the stored offsets now and waits for the answer, at most
 * KAFKA_COMMIT_WAIT_MS or until the drain's deadline if that is later;
 * when names the moment in the warning a failure logs (its records are
 * then delivered again: at least once). Returns false when no answer came
 * in time: the brokers are unreachable. */
bool kafka_commit_sync(struct kafka_ctx *ctx, const char *when);

/* Reads the prefetch limits from the consumer's configuration. */
void kafka_wake_setup(struct kafka_ctx *ctx);
/* Feeds the average message size: n messages with value_bytes in all. */
void kafka_wake_note(struct kafka_ctx *ctx, size_t n_msgs, size_t value_bytes);
/* Wakes the fetchers if the queue drained after being near full. */
void kafka_wake_check(struct kafka_ctx *ctx);

/* Connection state and lag (kafka_health.c), all on the source thread:
 * an error from librdkafka's error callback; a statistics report (JSON,
 * borrowed); an assignment came; and, each round, the report of the
 * state when it changed and of each partition's lag once a second. */
void kafka_health_on_error(struct kafka_ctx *ctx, int err, const char *reason);
void kafka_health_on_stats(struct kafka_ctx *ctx, const char *json, size_t len);
void kafka_health_on_assign(struct kafka_ctx *ctx);
void kafka_health_tick(struct kafka_ctx *ctx);

/* The rebalance callback (opaque is the br_source). */
void kafka_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *parts, void *opaque);

#endif
