/* outcome.h - what a function's answer means for each record of a batch
 * (README: Outcomes): classification of HTTP statuses and the Lambda
 * partial-batch response ({"batchItemFailures":[{"itemIdentifier":...}]}). */
#ifndef BR_OUTCOME_H
#define BR_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

#include "connector.h"

/* Kind of result for an HTTP status code (2xx ok; 408/425/429/5xx retry;
 * 413 too large; other 4xx permanent; anything else retry). */
enum br_result_kind br_outcome_from_http(long status);

/* True when the call got to the function, for metering: it answered (any
 * status, an exit code) or ran past its timeout, unless the target said
 * it never ran (res->not_run). A connection refused, a process that could
 * not start, a submit that failed: the function never ran. */
bool br_result_reached(const struct br_result *res);

enum br_partial {
    BR_PARTIAL_ALL_OK,      /* empty/null body, no or empty list: all done */
    BR_PARTIAL_SOME_FAILED, /* failed[] marks the records that failed */
    BR_PARTIAL_ALL_FAILED,  /* an identifier matched no record, or the list
                               was malformed: the whole batch failed */
    BR_PARTIAL_INVALID,     /* a body that opens as a JSON object but does
                               not parse: the whole batch failed */
};

/* Room for the reason of a BR_PARTIAL_INVALID answer. */
#define BR_OUTCOME_WHY_MAX 200

/* Parses body against the batch. failed[i] is set true for each record
 * named by an itemIdentifier (every record when the whole batch failed).
 * How an identifier names a record is the batch's kind's (its parse_id):
 * Kafka records are named as {"partition":"<topic>-<n>","offset":<n>}
 * (offset as number or string) or by their id string, other records by
 * their id string.
 *
 * A body whose first non-blank byte is '{' is taken for a JSON object: if
 * it does not parse (NaN, Infinity, a lone surrogate, bytes that are not
 * UTF-8, 1e999, nesting past jansson's limit, text after the object...) the
 * function's answer cannot be trusted to name its failures, so the whole
 * batch failed (BR_PARTIAL_INVALID). Any other body (plain text, a JSON
 * value that is not an object) is a function's ordinary return value: full
 * success, as is an object without batchItemFailures. */
enum br_partial br_outcome_partial(const char *body, size_t body_len,
                                   struct br_record *const *recs, size_t n,
                                   bool *failed);

/* The same, and for BR_PARTIAL_INVALID why (if not NULL) receives the
 * parser's reason and where: "line L, column C, byte B: TEXT", printable
 * ASCII only (bytes of the body quoted in it are escaped as \xNN). */
enum br_partial br_outcome_partial_why(const char *body, size_t body_len,
                                       struct br_record *const *recs, size_t n,
                                       bool *failed, char *why, size_t why_len);

#endif
