/* dlq_replay_file.h - the dead-letter file as `fnbridge dlq replay`'s
 * input, and the files its letters go to when they fail again (the live
 * dead-letter file) or are kept aside (the parked file): dlq_input.h's
 * interfaces for files. The bookkeeping is described in
 * dlq_replay_file.c's top comment. */
#ifndef BR_DLQ_REPLAY_FILE_H
#define BR_DLQ_REPLAY_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "dlq_input.h"

/* Opens the dead-letter file at path for a run: takes the replay lock
 * (refused while another replay holds it) and notes the file's end, so
 * lines appended later wait for the next run. dry_run: read only, no
 * lock, nothing is ever written. Returns 0, or -1 with a sentence in err
 * (*missing tells that the file does not exist). */
int br_dlq_file_input_open(struct br_dlq_input *in, const char *path, bool dry_run,
                           bool *missing, char *err, size_t errlen);

/* Opens nothing yet: the files are created at their first line. Letters
 * written back go to live, parked ones to parked (both copied). Returns
 * 0, or -1 out of memory. */
int br_dlq_file_output_open(struct br_dlq_output *out, const char *live,
                            const char *parked);

/* The parked file beside a dead-letter file: NAME.parked.jsonl for
 * NAME.jsonl, else PATH.parked.jsonl. Returns a new string, or NULL. */
char *br_dlq_parked_path(const char *path);

/* The replay lock of a dead-letter file: PATH.replay.lock. New string. */
char *br_dlq_lock_path(const char *path);

#endif
