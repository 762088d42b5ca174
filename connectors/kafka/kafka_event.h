/* kafka_event.h - the record kind of Kafka records (kafka_event.c): their
 * id "<topic>-<partition>-<offset>", how a partial answer names them,
 * their shape in each event format, their dead-letter coordinates. */
#ifndef KAFKA_EVENT_H
#define KAFKA_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/buf.h"
#include "bridge/format.h"
#include "bridge/record_kind.h"

extern const struct br_record_kind br_kind_kafka;

/* A Kafka record read back from a dead-letter topic by `fnbridge dlq
 * replay`: the same shapes as br_kind_kafka, and a metadata block with
 * the replay count its dead letter carries when it fails again (the
 * kafka sink writes it in fnbridge.dlq.replay_count). */
struct kafka_replay_meta {
    int64_t replay_count;
};
extern const struct br_record_kind br_kind_kafka_replayed;

/* The lambda shape (kafka_lambda.c): the self-managed Kafka event of AWS
 * Lambda, records grouped by "<topic>-<partition>". */
int kafka_lambda_encode(const struct br_event_ctx *ev, struct br_record *const *recs,
                        size_t n, struct br_buf *out);

/* The document a filter sees of rec (kafka_doc.c); the contract of
 * struct br_record_kind's doc. */
int kafka_doc(struct br_doc *d, const struct br_event_ctx *ev, const struct br_record *rec);

/* The cloudevents parts (kafka_cloudevents.c), as KafkaSource writes
 * them; the contract of struct br_kind_cloudevents. */
const char *kafka_ce_type(const struct br_record *rec);
int kafka_ce_source(struct br_buf *v, const struct br_record *rec);
int kafka_ce_subject(struct br_buf *v, const struct br_record *rec);
int kafka_ce_extensions(const struct br_ce_out *o, const struct br_record *rec);
size_t kafka_ce_bound(const struct br_event_ctx *ev, const struct br_record *rec);

#endif
