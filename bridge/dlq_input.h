/* dlq_input.h - where `fnbridge dlq replay` takes dead letters from and
 * where it puts those that fail again or are kept aside: two small
 * interfaces, so a dead-letter topic plugs in beside the file
 * (dlq_replay_file.h) without touching the command.
 *
 * The one rule both keep: a letter leaves its input (done) only after it
 * succeeded, or after the output holds it durably (write_back, park), so
 * a replay killed at any moment loses nothing; it may replay a letter
 * twice. */
#ifndef BR_DLQ_INPUT_H
#define BR_DLQ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlq_letter.h"
#include "record.h"

struct br_sink_ops;
struct br_source_ops;

enum br_dlq_next {
    BR_DLQ_END,            /* nothing more in this run */
    BR_DLQ_LETTER,         /* the letter is filled: the caller frees it */
    BR_DLQ_MALFORMED,      /* not a dead-letter record: it stays where it is */
    BR_DLQ_ERROR,          /* the input cannot be read on */
    BR_DLQ_WAIT,           /* nothing yet (a topic): call again soon */
};

struct br_dlq_input_ops {
    /* The next letter of this run (letters added after the run began are
     * not returned). MALFORMED and ERROR put a sentence in msg. */
    enum br_dlq_next (*next)(void *in, struct br_dlq_letter *l, char *msg, size_t msglen);
    /* Where the last letter returned is, for messages ("FILE:LINE"). */
    const char *(*where)(void *in);
    /* The last letter returned left the input, durably. 0 or -1 (err). */
    int (*done)(void *in, char *err, size_t errlen);
    /* After BR_DLQ_END: makes what is done take no room. 0 or -1 (err). */
    int (*finish)(void *in, char *err, size_t errlen);
    void (*close)(void *in);
};

struct br_dlq_output_ops {
    /* Appends l again, durably, to the live dead-letter sink after attempt
     * a failed (its replay count raised). 0 or -1 (err). */
    int (*write_back)(void *out, const struct br_dlq_letter *l,
                      const struct br_dlq_attempt *a, char *err, size_t errlen);
    /* Keeps l aside, durably, as it is (past the replay limit). */
    int (*park)(void *out, const struct br_dlq_letter *l, char *err, size_t errlen);
    /* Where parked letters go, for messages. */
    const char *(*parked_where)(void *out);
    void (*close)(void *out);
};

struct br_dlq_input {
    const struct br_dlq_input_ops *ops;
    void *impl;
};

struct br_dlq_output {
    const struct br_dlq_output_ops *ops;
    void *impl;
};

/* ------------------------------------------------------------ topics */

/* A dead-letter topic as replay's input (README: Replaying dead letters):
 * one message per record, turned back into the record it was when its
 * source first read it. A connector family that has a sink with topics
 * offers one (connectors/registry.c); the core finds it by the sink kind
 * of the pipeline (br_find_dlq_topic). Unlike a file, a topic's messages
 * are not cleared one by one: the input commits a position per
 * partition, and the caller says which (commit) only once every message
 * before it succeeded, was written back or was kept aside, durably. */
struct br_dlq_topic_letter {
    /* The record as its source made it: its kind, its original topic,
     * partition and offset, key, value and headers (fnbridge.dlq.* taken
     * off); written back to the sink of its kind, its dead letter carries
     * replay_count + 1. NULL for a message that is not a dead letter.
     * The caller's from next on. */
    struct br_record *rec;
    const char *pipeline;       /* fnbridge.dlq.pipeline, borrowed until the
                                   next call */
    const char *condition;      /* "" when absent; borrowed likewise */
    int64_t replay_count;       /* fnbridge.dlq.replay_count, 0 when absent */
    int32_t partition;          /* where the message is in the topic */
    int64_t offset;
};

/* What the input is opened on; all borrowed for open. */
struct br_dlq_topic_conf {
    const char *topic;
    const char *group;                  /* the consumer group of the replay */
    void *sink_ctx;                     /* the pipeline's sink options */
    const struct br_source_ops *source_ops;   /* the pipeline's source */
    const void *source_ctx;
    const char *pipeline_name;          /* as configured: client ids */
    bool dry_run;                       /* nothing committed or produced */
};

struct br_dlq_topic_ops {
    const struct br_sink_ops *sink;     /* the sink kind whose topics it reads */
    /* Connects, reads the group's committed positions and the topic's
     * high watermarks: messages written after that are not returned.
     * Returns the input, or NULL with a sentence in err. */
    void *(*open)(const struct br_dlq_topic_conf *c, char *err, size_t errlen);
    /* The next message, waiting a short while (then BR_DLQ_WAIT).
     * BR_DLQ_LETTER and BR_DLQ_MALFORMED fill l (rec NULL when
     * malformed, msg saying why); ERROR fills msg. */
    enum br_dlq_next (*next)(void *in, struct br_dlq_topic_letter *l, char *msg,
                             size_t msglen);
    /* "TOPIC[PARTITION]@OFFSET" of the last message returned. */
    const char *(*where)(void *in);
    /* Every message of partition before next_offset is settled: the
     * group's position moves there, synchronously. 0 or -1 (err). */
    int (*commit)(void *in, int32_t partition, int64_t next_offset, char *err,
                  size_t errlen);
    /* After BR_DLQ_END: commits the end of every partition read (past
     * messages that were skipped or kept aside last). 0 or -1 (err). */
    int (*finish)(void *in, char *err, size_t errlen);
    /* Keeps the last message returned aside as it was, durably. */
    int (*park)(void *in, char *err, size_t errlen);
    const char *(*parked_where)(void *in);
    /* The event's origin (bootstrapServers) of the records, or NULL. */
    const char *(*event_origin)(void *in);
    void (*close)(void *in);
};

/* The registry's topic inputs (connectors/registry.c); NULL when the
 * sink kind has no topics to read from. */
const struct br_dlq_topic_ops *br_find_dlq_topic(const struct br_sink_ops *sink);

#endif
