/* deadletter.h - the dead-letter file and its line: one JSON line per failed
 * batch, shaped like Lambda's on-failure destination record, written and
 * fsynced before any of its records is acked. Every line loads with a
 * strict JSON parser: what is not JSON text goes as base64 (dlq_json.h). */
#ifndef BR_DEADLETTER_H
#define BR_DEADLETTER_H

#include <stddef.h>

struct br_deadletter;
struct br_batch;
struct br_pipeline;
struct br_record;

/* Opens (creating parent directories) the JSONL file at path. Returns NULL
 * with err filled when it cannot be opened for appending. */
struct br_deadletter *br_deadletter_open(const char *path, const char *scope,
                                         char *err, size_t errlen);
void br_deadletter_close(struct br_deadletter *dl);
/* Appends the record for batch b (its event as last encoded) and fsyncs.
 * Returns 0 when durable, -1 on failure (logged; the file is left as it
 * was, without a torn line). */
int br_deadletter_write(struct br_deadletter *dl, const struct br_batch *b,
                        const char *condition);
/* Appends the record of one record that never became an event (too large
 * for any: a source's own limit) and fsyncs. Its value is streamed from
 * rec->value as base64, never copied whole; rec and what it points to are
 * borrowed for the call (a source may pass a record on its stack that
 * points into its receive buffer). Any thread: lines never interleave.
 * Returns 0 when durable, -1 as br_deadletter_write. */
int br_deadletter_write_record(struct br_deadletter *dl, struct br_pipeline *pl,
                               const struct br_record *rec, const char *condition);
const char *br_deadletter_path(const struct br_deadletter *dl);
/* Why the last write failed ("writing to PATH: No space left on device"). */
const char *br_deadletter_error(const struct br_deadletter *dl);

#endif
