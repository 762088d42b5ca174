/* deadletter.h - the dead-letter file sink: one JSON line per failed
 * batch, shaped like Lambda's on-failure destination record, written and
 * fsynced before any of its records is acked. */
#ifndef BR_DEADLETTER_H
#define BR_DEADLETTER_H

#include <stddef.h>

struct br_deadletter;
struct br_batch;

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
const char *br_deadletter_path(const struct br_deadletter *dl);

#endif
