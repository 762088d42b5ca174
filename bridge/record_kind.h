/* record_kind.h - what a record's source decides about it: its metadata,
 * its id, how a function's partial answer names it, its shape in each
 * event format, and its coordinates in a dead letter.
 *
 * Every record points at its kind (rec->kind), a const struct the source
 * connector defines beside itself (connectors/kafka/kafka_event.c, ...).
 * The core calls the kind and never asks which source a record came from,
 * so a new source kind is its own files and a line in the registry.
 * Callbacks are called from any thread and must not keep state. A shape
 * the kind leaves NULL is a format its source does not offer (the source's
 * `formats` bits); encoding its records in that format fails. */
#ifndef BR_RECORD_KIND_H
#define BR_RECORD_KIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "format.h"
#include "record.h"

struct br_ce_out;
struct br_doc;
struct json_t;

/* How a partial answer names a record: the coordinates an itemIdentifier
 * is parsed to, and that each record of the batch is indexed under. */
struct br_coord {
    const char *topic;            /* not NUL-terminated: topic_len bytes */
    size_t topic_len;
    int32_t partition;
    int64_t offset;
};

/* The lambda format: the whole event for recs[0..n) (all of this kind),
 * and the most bytes one record adds to it (ev may be NULL: then a
 * pipeline name of BR_CE_PIPELINE_ALLOWANCE bytes is assumed). */
struct br_kind_lambda {
    int (*encode)(const struct br_event_ctx *ev, struct br_record *const *recs, size_t n,
                  struct br_buf *out);
    size_t (*bound)(const struct br_event_ctx *ev, const struct br_record *rec);
};

/* The json format: one entry of the event's "records" list. */
struct br_kind_json {
    int (*record)(struct br_buf *out, const struct br_record *rec);
    size_t (*bound)(const struct br_event_ctx *ev, const struct br_record *rec);
};

/* The cloudevents format (format_cloudevents.c writes specversion, id,
 * time, datacontenttype and the data; these give the rest). Each returns
 * 0 or -1 (out of memory or past the cap). */
struct br_kind_cloudevents {
    const char *(*type)(const struct br_record *rec);
    /* Appends what follows "/fnbridge/<pipeline>" in the source
     * attribute, each segment percent-encoded (br_ce_put_pct). */
    int (*source)(struct br_buf *v, const struct br_record *rec);
    /* Appends the subject's text to v (empty on entry). */
    int (*subject)(struct br_buf *v, const struct br_record *rec);
    /* Optional: extension attributes, written with br_ce_attr_*. */
    int (*extensions)(const struct br_ce_out *o, const struct br_record *rec);
    /* Optional: the record's data is this JSON document (content type
     * application/json) instead of its value. */
    int (*data)(struct br_buf *out, const struct br_event_ctx *ev, const struct br_record *rec);
    /* What the kind's parts add to a structured event at most, past a
     * fixed allowance of 384 bytes and 3 per byte of the pipeline name. */
    size_t (*bound)(const struct br_event_ctx *ev, const struct br_record *rec);
};

/* flags */
#define BR_KIND_EMPTY_IS_DATA   0x1u  /* a record without a value still has
                                         one, empty (an empty MQTT message) */
#define BR_KIND_TOPIC_IS_CHANNEL 0x2u /* the topic names where the record was
                                         published (not an object key) */
#define BR_KIND_PARTITIONED     0x4u  /* partition and offset are the broker's
                                         (one partition's records are ordered) */

struct br_record_kind {
    const char *name;             /* "kafka": for messages */
    unsigned flags;               /* BR_KIND_* */

    /* The kind's metadata block, copied into each record's allocation (at
     * rec->meta, aligned for pointers and 64-bit integers) from
     * br_record_init.meta, zeroed when that is NULL; meta_size 0: none,
     * rec->meta NULL. meta_extra gives the bytes
     * its strings need beside the block, meta_copy copies the block and
     * its strings (to *cursor, advancing it); both NULL: the block is
     * copied as it is. */
    size_t meta_size;
    size_t (*meta_extra)(const void *meta);
    void (*meta_copy)(void *block, const void *meta, char **cursor);

    /* The record's stable id (br_record_id): writes at most n - 1 bytes
     * and a NUL (n > 0) and returns the id's whole length. */
    size_t (*id)(const struct br_record *rec, char *buf, size_t n);
    /* The coordinates a partial answer names rec by. */
    void (*coord)(const struct br_record *rec, struct br_coord *c);
    /* Parses an itemIdentifier (any JSON value, borrowed) to coordinates;
     * false when it is not one this kind writes. c->topic may point into
     * id. */
    bool (*parse_id)(const struct json_t *id, struct br_coord *c);
    /* The publisher's content type of rec, or NULL (payload and
     * cloudevents formats use it when br_ev_usable_content_type). */
    const char *(*content_type)(const struct br_record *rec);

    struct br_kind_lambda lambda;
    struct br_kind_json json;
    struct br_kind_cloudevents cloudevents;

    /* Fills d (reset, record_doc.h) with the document a filter sees of
     * rec (README: Filters); ev is the pipeline's (S3 names it in the
     * record). 0, or -1 when d failed (out of memory, past its cap).
     * NULL: the kind's records are never filtered (they all pass). */
    int (*doc)(struct br_doc *d, const struct br_event_ctx *ev, const struct br_record *rec);

    /* Appends the dead letter's "source" object for recs[0..n) (n > 0)
     * from a source named type. */
    int (*dlq_source)(struct br_buf *out, const char *type, struct br_record *const *recs,
                      size_t n);
};

/* ---------------------------------------------- helpers for record kinds */

/* Strict non-negative decimal s[0..n) within [0, max]. */
bool br_kind_parse_dec(const char *s, size_t n, int64_t max, int64_t *out);

/* A kind whose records are one sequence (partition 0): the id is the
 * offset in decimal, a partial answer names it by that string. */
size_t br_kind_seq_id(const struct br_record *rec, char *buf, size_t n);
void br_kind_seq_coord(const struct br_record *rec, struct br_coord *c);
bool br_kind_seq_parse_id(const struct json_t *id, struct br_coord *c);

/* The dead letter's source for records that have a topic, a partition
 * and an offset: {"type":<type>,"partitions":[{"topic","partition",
 * "startOffset","endOffset","batchSize"}]}, one entry per topic-partition. */
int br_kind_dlq_partitions(struct br_buf *out, const char *type,
                           struct br_record *const *recs, size_t n);

#endif
