/* kafka_dlq_headers.h - the fnbridge.dlq.* headers of a message the kafka
 * dead-letter sink wrote (README: Dead-letter sinks), read back by
 * `fnbridge dlq replay --from-topic`: where the record came from, why it
 * failed, how often it was replayed, and which headers are its own.
 * Header names and values come from the topic: hostile input. */
#ifndef KAFKA_DLQ_HEADERS_H
#define KAFKA_DLQ_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/record.h"

/* A header value: not NUL-terminated, borrowed from the message. */
struct kafka_span {
    const char *p;
    size_t n;
};

struct kafka_dlq_fields {
    struct kafka_span pipeline;       /* required, not empty */
    struct kafka_span topic;          /* required, not empty */
    int64_t partition;                /* required, 0 .. INT32_MAX */
    int64_t offset;                   /* required, >= 0 */
    struct kafka_span condition;      /* empty when absent */
    int64_t attempts;                 /* -1 when absent */
    int64_t replay_count;             /* 0 when absent */
};

/* Reads the headers h[0..n) (names NUL-terminated, values may be NULL)
 * into f; keep[i] says whether h[i] is the record's own (every header
 * not named fnbridge.dlq.*). An fnbridge.dlq.* header it does not know is
 * dropped. Returns 0, or -1 with a sentence in why: a required header
 * missing, one given twice, a null or unreadable value, a number out of
 * range. */
int kafka_dlq_headers_parse(const struct br_header *h, size_t n, struct kafka_dlq_fields *f,
                            bool *keep, char *why, size_t whylen);

#endif
