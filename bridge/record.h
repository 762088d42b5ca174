/* record.h - one record from a source, as it travels through the core.
 *
 * A record is a single allocation (struct + headers + its kind's metadata
 * + topic + key + value + header bytes) made by the source thread, handed
 * to the dispatcher, and handed back to the source thread once settled so
 * the ackset can advance. Whoever holds the record in a queue owns it;
 * br_record_free releases it. What depends on the source (its metadata,
 * id, event shapes) is the record's kind. */
#ifndef BR_RECORD_H
#define BR_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum br_ts_type { BR_TS_NONE, BR_TS_CREATE, BR_TS_LOG_APPEND };

/* What the record's source decides about it (record_kind.h). */
struct br_record_kind;

/* How a record left the core; reported back to the source with the ack. */
enum br_settle {
    BR_SETTLE_NONE = 0,
    BR_SETTLE_DELIVERED,
    BR_SETTLE_DEAD_LETTERED,
    BR_SETTLE_FILTERED,
    BR_SETTLE_ABANDONED,   /* shard revoked or shutdown: must not be committed */
};

struct br_header {
    const char *name;             /* NUL-terminated */
    const unsigned char *value;   /* may be NULL (null header value) */
    size_t value_len;
};

struct br_record {
    struct br_record *next;       /* link for whichever queue holds it */

    /* ack bookkeeping, set by the core */
    int shard;                    /* ackset shard (e.g. one Kafka partition) */
    uint32_t shard_gen;           /* shard assignment generation at receipt */
    uint64_t shard_seq;           /* position in the ackset's shard list */
    int64_t received_ms;          /* monotonic, for max_record_age */
    enum br_settle settle;

    const struct br_record_kind *kind;   /* static, never NULL */
    /* source coordinates; MQTT: the topic, partition 0, offset = the spool
     * sequence, timestamp = when it was received */
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;         /* epoch ms, -1 if unknown */
    enum br_ts_type timestamp_type;

    const unsigned char *key;     /* NULL when the record has no key */
    size_t key_len;
    const unsigned char *value;   /* NULL when the record has no value */
    size_t value_len;
    struct br_header *headers;
    size_t n_headers;

    const void *meta;             /* the kind's metadata block, or NULL */

    size_t size;                  /* key + value + header bytes: the size
                                     counted for max_bytes / max_inflight */
};

/* Fields a source fills to create a record; every pointer is borrowed and
 * copied into the record's own block. */
struct br_record_init {
    const struct br_record_kind *kind;
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    enum br_ts_type timestamp_type;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const struct br_header *headers;
    size_t n_headers;
    const void *meta;             /* the kind's block (kind->meta_size
                                     bytes), copied in with its strings */
};

/* Returns a new record (one malloc), or NULL when out of memory or when
 * init names no kind. */
struct br_record *br_record_create(const struct br_record_init *init);
void br_record_free(struct br_record *rec);

/* Writes the record's stable id, as its kind makes it, into buf (Kafka
 * "<topic>-<partition>-<offset>", MQTT the spool sequence "<offset>", S3
 * "<bucket>/<key as in the event>@<sequencer>"). Returns the length
 * written (truncated to n-1). */
size_t br_record_id(const struct br_record *rec, char *buf, size_t n);

/* A singly linked FIFO of records. */
struct br_record_list {
    struct br_record *head;
    struct br_record *tail;
    size_t count;
    size_t bytes;
};

void br_record_list_push(struct br_record_list *l, struct br_record *rec);
struct br_record *br_record_list_pop(struct br_record_list *l);
/* Moves all of src to the end of dst; src becomes empty. */
void br_record_list_concat(struct br_record_list *dst, struct br_record_list *src);
void br_record_list_free(struct br_record_list *l);

#endif
