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

#include <stddef.h>

#include "dlq_letter.h"

enum br_dlq_next {
    BR_DLQ_END,            /* nothing more in this run */
    BR_DLQ_LETTER,         /* the letter is filled: the caller frees it */
    BR_DLQ_MALFORMED,      /* not a dead-letter record: it stays where it is */
    BR_DLQ_ERROR,          /* the input cannot be read on */
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

#endif
