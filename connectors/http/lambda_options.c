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
     .flags = BR_OPT_NONEMPTY, .def_doc = "`$LATEST`",
     .help = "version or alias (`?Qualifier=`)"},
    {.name = "region", .type = BR_OPT_STR, .offset = L(region), .flags = BR_OPT_NONEMPTY,
     .def_doc = "`$AWS_REGION`, `$AWS_DEFAULT_REGION`, `us-east-1`",
     .help = "the region requests go to and are signed for"},
    {.name = "endpoint", .type = BR_OPT_STR, .offset = L(endpoint),
     .flags = BR_OPT_NONEMPTY, .check = http_check_url,
     .def_doc = "`https://lambda.REGION.amazonaws.com`",
     .help = "the API's URL, for local emulators (`http://127.0.0.1:9001`)"},
    {.name = "invocation_type", .type = BR_OPT_ENUM, .def = "RequestResponse",
     .offset = L(invocation_type), .enum_values = lambda_invocation_types,
     .help = "`RequestResponse` waits for the function; `Event` hands the event "
             "to Lambda's queue (202). `max_payload` is capped at Lambda's "
             "limits: 6 MiB for `RequestResponse`, 1 MiB for `Event`"},
    {.name = "access_key", .type = BR_OPT_STR, .offset = L(access_key),
     .flags = BR_OPT_NONEMPTY, .def_doc = "`$AWS_ACCESS_KEY_ID`",
     .help = "access key id; requests are signed with SigV4 (service "
             "`lambda`); with no credentials, requests go unsigned"},
    {.name = "secret_key", .type = BR_OPT_STR, .offset = L(secret_key),
     .flags = BR_OPT_NONEMPTY, .def_doc = "`$AWS_SECRET_ACCESS_KEY`",
     .help = "secret access key"},
    {.name = "session_token", .type = BR_OPT_STR, .offset = L(session_token),
     .flags = BR_OPT_NONEMPTY, .def_doc = "`$AWS_SESSION_TOKEN`",
     .help = "for temporary credentials (sent as `X-Amz-Security-Token`)"},
    {0},
};
