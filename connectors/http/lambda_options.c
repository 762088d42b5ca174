/* lambda_options.c - the option table of the AWS Lambda Invoke API target. */
#include "target_http.h"
#include "target_lambda.h"

static const char *const lambda_invocation_types[] = {
    [LAMBDA_REQUEST_RESPONSE] = "RequestResponse", [LAMBDA_EVENT] = "Event",
    [LAMBDA_EVENT + 1] = NULL,
};
BR_OPT_ENUM_FIELD(struct lambda_options, invocation_type);

#define L(field) offsetof(struct lambda_options, field)
const struct br_opt lambda_target_opts[] = {
    BR_TARGET_COMMON_OPTS(struct lambda_options),
    {.name = "name", .type = BR_OPT_STR, .offset = L(name),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "the function: name, partial ARN or full ARN"},
    {.name = "qualifier", .type = BR_OPT_STR, .offset = L(qualifier),
     .flags = BR_OPT_NONEMPTY, .help = "version or alias to invoke (default $LATEST)"},
    {.name = "region", .type = BR_OPT_STR, .offset = L(region), .flags = BR_OPT_NONEMPTY,
     .help = "region (default: $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1)"},
    {.name = "endpoint", .type = BR_OPT_STR, .offset = L(endpoint),
     .flags = BR_OPT_NONEMPTY, .check = http_check_url,
     .help = "the Lambda API's URL, for local emulators "
             "(default https://lambda.REGION.amazonaws.com)"},
    {.name = "invocation_type", .type = BR_OPT_ENUM, .def = "RequestResponse",
     .offset = L(invocation_type), .enum_values = lambda_invocation_types,
     .help = "RequestResponse (wait for the function) or Event (queued by Lambda)"},
    {.name = "access_key", .type = BR_OPT_STR, .offset = L(access_key),
     .flags = BR_OPT_NONEMPTY, .help = "access key id (default: $AWS_ACCESS_KEY_ID)"},
    {.name = "secret_key", .type = BR_OPT_STR, .offset = L(secret_key),
     .flags = BR_OPT_NONEMPTY, .help = "secret access key (default: $AWS_SECRET_ACCESS_KEY)"},
    {.name = "session_token", .type = BR_OPT_STR, .offset = L(session_token),
     .flags = BR_OPT_NONEMPTY, .help = "session token (default: $AWS_SESSION_TOKEN)"},
    {0},
};
