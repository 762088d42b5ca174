/* outcome.h - what a function's answer means for each record of a batch
 * (DESIGN section 5): classification of HTTP statuses and the Lambda
 * partial-batch response ({"batchItemFailures":[{"itemIdentifier":...}]}). */
#ifndef BR_OUTCOME_H
#define BR_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

#include "../connectors/connector.h"

/* Kind of result for an HTTP status code (2xx ok; 408/425/429/5xx retry;
 * 413 too large; other 4xx permanent; anything else retry). */
enum br_result_kind br_outcome_from_http(long status);

enum br_partial {
    BR_PARTIAL_ALL_OK,      /* empty/null body, no or empty list: all done */
    BR_PARTIAL_SOME_FAILED, /* failed[] marks the records that failed */
    BR_PARTIAL_ALL_FAILED,  /* an identifier matched no record, or the list
                               was malformed: the whole batch failed */
};

/* Parses body against the batch. failed[i] is set true for each record
 * named by an itemIdentifier. Kafka records are named as
 * {"partition":"<topic>-<n>","offset":<n>} (offset as number or string);
 * other records by their id string. A body that is not JSON, or JSON that
 * is not an object with batchItemFailures, is full success (a function's
 * ordinary return value). */
enum br_partial br_outcome_partial(const char *body, size_t body_len,
                                   struct br_record *const *recs, size_t n,
                                   bool *failed);

#endif
