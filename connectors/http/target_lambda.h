/* target_lambda.h - options of the AWS Lambda Invoke API target. */
#ifndef BR_TARGET_LAMBDA_H
#define BR_TARGET_LAMBDA_H

#include "bridge/connector.h"

enum lambda_invocation_type { LAMBDA_REQUEST_RESPONSE, LAMBDA_EVENT };

/* Lambda's payload limits: a synchronous request (and its response), and
 * an asynchronous (Event) request. */
#define LAMBDA_SYNC_LIMIT (6u << 20)
#define LAMBDA_EVENT_LIMIT (1u << 20)

struct lambda_options {
    struct br_target_common common;   /* must come first */
    char *name;                       /* function name, partial or full ARN */
    char *qualifier;                  /* version or alias; NULL: $LATEST */
    char *region;                     /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1 */
    char *endpoint;                   /* NULL: https://lambda.<region>.amazonaws.com */
    enum lambda_invocation_type invocation_type;
    char *access_key;                 /* NULL: $AWS_ACCESS_KEY_ID */
    char *secret_key;                 /* NULL: $AWS_SECRET_ACCESS_KEY */
    char *session_token;              /* NULL: $AWS_SESSION_TOKEN */
};

extern const struct br_opt lambda_target_opts[];

struct br_buf;
/* Appends the Invoke URL to out: ENDPOINT/2015-03-31/functions/NAME/
 * invocations[?Qualifier=Q], the name percent-encoded as a path segment
 * (an ARN's ':' as %3A, as the AWS SDKs send it) and the qualifier as a
 * query value. A trailing '/' of the endpoint is dropped. Returns 0, or -1 when out of memory. */
int lambda_invoke_url(struct br_buf *out, const char *endpoint, const char *name,
                      const char *qualifier);
/* The region: the configured one, else $AWS_REGION, $AWS_DEFAULT_REGION,
 * then us-east-1. Borrowed (from the options or the environment). */
const char *lambda_region(const char *configured);
/* The body's retryAfterSeconds (Lambda's TooManyRequestsException) in ms,
 * or -1 when there is none. */
int64_t lambda_body_retry_after(const char *body, size_t len);

#endif
