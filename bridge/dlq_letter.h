/* dlq_letter.h - one dead letter as `fnbridge dlq replay` reads and
 * rewrites it (README: Replaying dead letters): a dead-letter line parsed
 * into what replay needs (the event exactly as it was sent, the pipeline,
 * the condition, the replay count, how many records it holds), and the
 * line written back when a replay fails again: the same line with a new
 * timestamp, requestContext and responseContext and replayCount raised,
 * every other member copied byte for byte, the payload last. */
#ifndef BR_DLQ_LETTER_H
#define BR_DLQ_LETTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct json_t;

/* The highest "replayCount" a line may hold, as the kafka sink's
 * fnbridge.dlq.replay_count header: far past every replay limit. */
#define BR_DLQ_REPLAY_COUNT_MAX 1000000000

struct br_dlq_letter {
    char *line;                 /* the line without its newline, owned */
    size_t line_len;
    struct json_t *doc;         /* line parsed, owned */
    const char *pipeline;       /* borrowed from doc */
    const char *condition;      /* borrowed from doc; "" when absent */
    int64_t replay_count;       /* "replayCount", 0 when absent */
    size_t records;             /* from "source": batchSize, keys... */
    /* The event as it was sent: a span of line (embedded JSON), or the
     * decoded base64 in event_owned; empty for a null payload. */
    const unsigned char *event;
    size_t event_len;
    unsigned char *event_owned;
    bool base64;                /* the line carried it as base64 */
};

/* What the last attempt of a replay got, for the line written back. All
 * borrowed for the call. */
struct br_dlq_attempt {
    const char *function;       /* functionArn: the target, masked */
    const char *condition;      /* RetryAttemptsExhausted, ... */
    int attempts;               /* invocations made (0: never sent) */
    long status;
    const char *error;          /* "" when none */
    const char *body;           /* first 4 KiB of the answer, or NULL */
    size_t body_len;
};

/* Parses line[0..len) (no newline), taking it over (it is freed with the
 * letter, also on failure). Returns 0, or -1 with a sentence in why when
 * it is not a dead-letter record: not one strict JSON object (a NUL
 * byte included), no "pipeline" string, no "payload", a "replayCount"
 * that is not 0..BR_DLQ_REPLAY_COUNT_MAX, bad base64. */
int br_dlq_letter_parse(struct br_dlq_letter *l, char *line, size_t len, char *why,
                        size_t whylen);
void br_dlq_letter_free(struct br_dlq_letter *l);

/* Appends to out the line (newline included) that carries l again after
 * attempt a failed: replayCount raised (br_dlq_raised_count). Returns 0,
 * or -1 out of memory. */
int br_dlq_letter_write_back(struct br_buf *out, const struct br_dlq_letter *l,
                             const struct br_dlq_attempt *a);

/* The replay count of a letter written back after count replays: count
 * + 1, held at BR_DLQ_REPLAY_COUNT_MAX so that the line still parses (a
 * letter there is past every replay limit: replay keeps it aside). */
int64_t br_dlq_raised_count(int64_t count);

/* The top-level member key (an ASCII word) of the JSON object text
 * p[0..n) (assumed valid, as jansson loaded it): its value's span, the
 * member's key compared as decoded (escapes included). Returns true and
 * sets *at, *len, or false when there is no such member. */
bool br_dlq_member_span(const char *p, size_t n, const char *key, size_t *at,
                        size_t *len);

#endif
