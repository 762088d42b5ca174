/* exec_options.c - the option table of the local process target, and the
 * check between its options: Lambda's reserved variables under runtime-api. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "exec_lambda_env.h"
#include "target_exec.h"

static const char *const exec_modes[] = {
    [EXEC_MODE_STDIO] = "stdio", [EXEC_MODE_RUNTIME_API] = "runtime-api",
    [EXEC_MODE_RUNTIME_API + 1] = NULL,
};
BR_OPT_ENUM_FIELD(struct exec_options, mode);

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
     .help = "argv of the function, executed directly (never through a "
             "shell)"},
    {.name = "mode", .type = BR_OPT_ENUM, .def = "stdio", .offset = E(mode),
     .enum_values = exec_modes,
     .help = "`stdio`: one process per batch; the event on stdin, the response "
             "on stdout. `runtime-api`: warm workers that speak the AWS Lambda "
             "Runtime API, where `timeout` is the invocation's deadline"},
    {.name = "env", .type = BR_OPT_STRMAP, .offset = E(env),
     .help = "the function's environment; besides it the process gets only "
             "`PATH` (and, with `runtime-api`, Lambda's variables, whose "
             "reserved names `env` may not set)"},
    {.name = "cwd", .type = BR_OPT_STR, .offset = E(cwd),
     .def_doc = "inherited",
     .help = "working directory of the process (`runtime-api`: also "
             "`LAMBDA_TASK_ROOT`, and by default the command's directory); a "
             "directory fnbridge's user may enter"},
    {.name = "workers", .type = BR_OPT_INT, .def = "0", .offset = E(workers),
     .min = 0, .max = 256,
     .help = "`runtime-api`: most worker processes at once; `0`: the "
             "pipeline's `concurrency`"},
    {.name = "idle_timeout", .type = BR_OPT_DURATION, .def = "60s",
     .offset = E(idle_timeout_ms), .min = 1, .max = 86400000,
     .help = "`runtime-api`: a worker without an event this long is stopped "
             "(scale to zero)"},
    {.name = "handler", .type = BR_OPT_STR, .def = "handler", .offset = E(handler),
     .help = "`runtime-api`: the `_HANDLER` the runtime reads, e.g. "
             "`function.handler`"},
    {.name = "memory_size", .type = BR_OPT_INT, .def = "128", .offset = E(memory_size),
     .min = 128, .max = 10240,
     .help = "`runtime-api`: `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (MB; "
             "informational, not enforced)"},
    {.name = "region", .type = BR_OPT_STR, .def = "us-east-1", .offset = E(region),
     .check = check_region,
     .help = "`runtime-api`: `AWS_REGION` and `AWS_DEFAULT_REGION`, and the "
             "region of the function's ARN"},
    {.name = "runtime", .type = BR_OPT_STR, .offset = E(runtime), .check = check_runtime,
     .help = "`runtime-api`: the Lambda runtime the function is written for "
             "(`nodejs22.x`, `python3.12`...): `AWS_EXECUTION_ENV` is "
             "`AWS_Lambda_` and it; unset by default, as on Lambda's OS-only "
             "runtimes (`provided.*`)"},
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
