/* invoke.h - a batch's event and its invocation: encoding the records in
 * the pipeline's format and handing the call to the target. The answer
 * comes back through br_invocation_done (runner.c). */
#ifndef BR_INVOKE_H
#define BR_INVOKE_H

#include "batch.h"

/* Encodes the event and the format's request headers into the batch.
 * Returns -1 when it cannot be built within the batch's body bound (or
 * out of memory), with the body left empty. */
int br_invoke_encode(struct br_batch *b);
/* Counts the attempt and starts the invocation of the encoded event.
 * Returns -1 when the target could not start it (inv.result filled). */
int br_invoke_submit(struct br_batch *b);

#endif
