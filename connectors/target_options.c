/* target_options.c - the option tables of the function targets. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "connectors/exec/exec_lambda_env.h"
#include "connectors/exec/target_exec.h"
#include "connectors/http/target_http.h"
#include "connectors/http/target_lambda.h"
#include "connectors/http/target_openfaas.h"

const char *http_check_url(const char *s)
{
    if (strncmp(s, "http://", 7) == 0 && s[7])
        return NULL;
    if (strncmp(s, "https://", 8) == 0 && s[8])
        return NULL;
    return "must be an http:// or https:// URL";
}

#define H(field) offsetof(struct http_options, field)
const struct br_opt http_target_opts[] = {
    BR_TARGET_COMMON_OPTS(struct http_options),
    {.name = "url", .type = BR_OPT_STR, .offset = H(url),
     .flags = BR_OPT_REQUIRED, .check = http_check_url,
     .help = "the function's URL; the event is POSTed to it"},
    {.name = "headers", .type = BR_OPT_STRMAP, .offset = H(headers),
     .help = "extra request headers (values may use ${env:...})"},
    {0},
};

static const char *const exec_modes[] = {"stdio", "runtime-api", NULL};

static bool all_of(const char *s, const char *extra, size_t max)
{
    size_t n = strlen(s);
    if (!n || n > max)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
            return false;
    return true;
}

static const char *check_region(const char *s)
{
    return all_of(s, "-", 32) ? NULL : "must be a region name such as eu-west-1";
}

static const char *check_runtime(const char *s)
{
    return all_of(s, "._-", 32) ? NULL : "must be a Lambda runtime identifier such as nodejs22.x";
}

#define E(field) offsetof(struct exec_options, field)
const struct br_opt exec_target_opts[] = {
    BR_TARGET_COMMON_OPTS(struct exec_options),
    {.name = "command", .type = BR_OPT_STRLIST, .offset = E(command),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "argv of the function process, run directly (no shell)"},
    {.name = "mode", .type = BR_OPT_ENUM, .def = "stdio", .offset = E(mode),
     .enum_values = exec_modes,
     .help = "stdio: one process per batch, event on stdin, response on stdout; "
             "runtime-api: warm workers served the AWS Lambda Runtime API"},
    {.name = "env", .type = BR_OPT_STRMAP, .offset = E(env),
     .help = "the function's environment (besides PATH)"},
    {.name = "cwd", .type = BR_OPT_STR, .offset = E(cwd),
     .help = "working directory of the process (runtime-api: LAMBDA_TASK_ROOT)"},
    {.name = "workers", .type = BR_OPT_INT, .def = "0", .offset = E(workers),
     .min = 0, .max = 256,
     .help = "runtime-api: most worker processes at once (0: the pipeline's concurrency)"},
    {.name = "idle_timeout", .type = BR_OPT_DURATION, .def = "60s",
     .offset = E(idle_timeout_ms), .min = 1, .max = 86400000,
     .help = "runtime-api: a worker without events this long is stopped (scale to zero)"},
    {.name = "handler", .type = BR_OPT_STR, .def = "handler", .offset = E(handler),
     .help = "runtime-api: the _HANDLER value the runtime reads"},
    {.name = "memory_size", .type = BR_OPT_INT, .def = "128", .offset = E(memory_size),
     .min = 128, .max = 10240,
     .help = "runtime-api: AWS_LAMBDA_FUNCTION_MEMORY_SIZE in MB (informational)"},
    {.name = "region", .type = BR_OPT_STR, .def = "us-east-1", .offset = E(region),
     .check = check_region,
     .help = "runtime-api: AWS_REGION and AWS_DEFAULT_REGION, and the region of the ARN"},
    {.name = "runtime", .type = BR_OPT_STR, .offset = E(runtime), .check = check_runtime,
     .help = "runtime-api: the Lambda runtime the function is written for, as in "
             "nodejs22.x: AWS_EXECUTION_ENV is AWS_Lambda_ and it (unset by default, "
             "as for Lambda's OS-only runtimes)"},
    {0},
};

/* Under runtime-api the worker gets Lambda's own variables; as Lambda
 * refuses them in a function's configuration, so does fnbridge, where the
 * key is written. stdio processes are not Lambda functions: their env map
 * may hold anything. */
int exec_check_options(const void *ctx, const struct br_node *map, const char *path,
                       struct br_errors *errs)
{
    const struct exec_options *o = ctx;
    const struct br_node *env = br_node_get(map, "env");
    int nerr = 0;
    if (o->mode != EXEC_MODE_RUNTIME_API || !env || env->type != BR_NODE_MAP)
        return 0;
    for (size_t i = 0; i < env->n; i++) {
        const char *name = env->keys[i]->value;
        const char *why = exec_lambda_reserved(name);
        if (!why)
            continue;
        char kpath[512];
        snprintf(kpath, sizeof(kpath), "%s.env.%s", path, name);
        br_errors_add(errs, env->keys[i], kpath, "%s is reserved by Lambda: %s",
                      name, why);
        nerr++;
    }
    return nerr;
}

static const char *const lambda_invocation_types[] = {"RequestResponse", "Event", NULL};

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

#define F(field) offsetof(struct openfaas_options, field)
const struct br_opt openfaas_target_opts[] = {
    BR_TARGET_COMMON_OPTS(struct openfaas_options),
    {.name = "gateway", .type = BR_OPT_STR, .offset = F(gateway),
     .flags = BR_OPT_REQUIRED, .check = http_check_url,
     .help = "the gateway's URL, as in http://127.0.0.1:8080"},
    {.name = "name", .type = BR_OPT_STR, .offset = F(name),
     .flags = BR_OPT_REQUIRED | BR_OPT_NONEMPTY,
     .help = "the function (\"fn\" or \"fn.namespace\")"},
    {.name = "async", .type = BR_OPT_BOOL, .def = "false", .offset = F(async),
     .help = "POST to /async-function/NAME: 202 Accepted is success"},
    {.name = "callback_url", .type = BR_OPT_STR, .offset = F(callback_url),
     .check = http_check_url, .help = "async: X-Callback-Url for the function's result"},
    {.name = "username", .type = BR_OPT_STR, .def = "admin", .offset = F(username),
     .flags = BR_OPT_NONEMPTY, .help = "basic auth user (with password or password_file)"},
    {.name = "password", .type = BR_OPT_STR, .offset = F(password),
     .help = "basic auth password"},
    {.name = "password_file", .type = BR_OPT_STR, .offset = F(password_file),
     .flags = BR_OPT_NONEMPTY,
     .help = "file holding the basic auth password (e.g. basic-auth-password)"},
    {.name = "headers", .type = BR_OPT_STRMAP, .offset = F(headers),
     .help = "extra request headers (values may use ${env:...})"},
    {0},
};
