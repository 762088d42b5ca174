/* exec_lambda_env.c - the environment AWS Lambda defines for a function
 * ("Defined runtime environment variables" in Lambda's developer guide),
 * given to the exec target's runtime-api workers so runtime interface
 * clients that insist on it (AWS's own: aws-lambda-ric refuses to start
 * without the log group and stream) run unchanged.
 *
 * Values are what makes sense on this machine: the paths are the
 * function's and the runtime's directories here, the log group and stream
 * are named as Lambda names them (nothing is sent to CloudWatch). The
 * variables that point into Lambda's own file system (LD_LIBRARY_PATH,
 * NODE_PATH, PYTHONPATH, GEM_PATH under /var/lang, /var/runtime, /opt)
 * are not set: those directories do not exist here, and the env map may
 * set them. */
#include <libgen.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "exec_lambda_env.h"
#include "exec_spawn.h"

/* Reserved by Lambda, in the order its guide lists them, with what to
 * set instead. _X_AMZN_TRACE_ID changes per invocation: runtimes set it
 * from the Runtime API's Lambda-Runtime-Trace-Id header, never from the
 * configuration. AWS_ACCESS_KEY, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 * and AWS_SESSION_TOKEN are reserved on Lambda too (the execution role's
 * keys) but are not here: the env map is the only way to give a local
 * function credentials, and they reach it only when given there. */
static const struct {
    const char *name, *why;
} reserved[] = {
    {"_HANDLER", "fnbridge sets it from `handler`"},
    {"_X_AMZN_TRACE_ID", "the runtime sets it for each invocation"},
    {"AWS_DEFAULT_REGION", "fnbridge sets it from `region`"},
    {"AWS_REGION", "fnbridge sets it from `region`"},
    {"AWS_EXECUTION_ENV", "fnbridge sets it from `runtime`"},
    {"AWS_LAMBDA_FUNCTION_NAME", "fnbridge sets it to the pipeline's name"},
    {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "fnbridge sets it from `memory_size`"},
    {"AWS_LAMBDA_FUNCTION_VERSION", "fnbridge sets it ($LATEST)"},
    {"AWS_LAMBDA_INITIALIZATION_TYPE", "fnbridge sets it (on-demand)"},
    {"AWS_LAMBDA_LOG_GROUP_NAME", "fnbridge sets it (/aws/lambda/ and the pipeline's name)"},
    {"AWS_LAMBDA_LOG_STREAM_NAME", "fnbridge sets it"},
    {"AWS_LAMBDA_RUNTIME_API", "fnbridge sets it for each worker"},
    {"LAMBDA_TASK_ROOT", "fnbridge sets it from `cwd`, else the command's directory"},
    {"LAMBDA_RUNTIME_DIR", "fnbridge sets it (the command's directory)"},
};

const char *exec_lambda_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof(reserved) / sizeof(*reserved); i++)
        if (!strcmp(reserved[i].name, name))
            return reserved[i].why;
    return NULL;
}

/* The absolute directory of path (relative to cwd when that is set and
 * path is relative), or a copy of the best guess; NULL when out of memory. */
static char *dir_of(const char *cwd, const char *path)
{
    char joined[PATH_MAX], real[PATH_MAX];
    if (cwd && path[0] != '/' &&
        snprintf(joined, sizeof(joined), "%s/%s", cwd, path) < (int)sizeof(joined))
        path = joined;
    if (!realpath(path, real))
        snprintf(real, sizeof(real), "%s", path);
    return strdup(dirname(real));
}

/* LAMBDA_TASK_ROOT: cwd, else the program's directory (absolute). */
static char *task_root(const char *cwd, const char *prog)
{
    char real[PATH_MAX];
    if (cwd)
        return strdup(realpath(cwd, real) ? real : cwd);
    return dir_of(NULL, prog);
}

/* "2026/01/14/[$LATEST]" and 32 hex digits, as Lambda names the stream of
 * an execution environment. */
static void log_stream_name(char *out, size_t len)
{
    unsigned char id[16] = {0};
    char hex[33];
    struct tm tm;
    time_t now = time(NULL);
    if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
        /* Only a name: the clock and pid make it distinct enough. */
        snprintf((char *)id, sizeof(id), "%lx%x", (long)now, (unsigned)getpid());
    }
    for (size_t i = 0; i < sizeof(id); i++)
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    gmtime_r(&now, &tm);
    snprintf(out, len, "%04d/%02d/%02d/[$LATEST]%s", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, hex);
}

/* Lambda's locale when this machine has it, else the one every glibc
 * has: a missing locale makes some programs warn on every start. */
static const char *default_lang(void)
{
    locale_t loc = newlocale(LC_ALL_MASK, "en_US.UTF-8", (locale_t)0);
    if (!loc)
        return "C.UTF-8";
    freelocale(loc);
    return "en_US.UTF-8";
}

static int set_default(char ***envp, const char *name, const char *value)
{
    return exec_env_get(*envp, name) ? 0 : exec_env_set(envp, name, value);
}

/* The variables that name the function (besides the paths). */
static int function_vars(char ***envp, const struct exec_options *o, const char *name)
{
    char memory[24], group[128], stream[96], exec_env[96];
    snprintf(memory, sizeof(memory), "%lld", (long long)o->memory_size);
    snprintf(group, sizeof(group), "/aws/lambda/%s", name);
    log_stream_name(stream, sizeof(stream));
    const char *region = o->region ? o->region : "us-east-1";
    int rc = exec_env_set(envp, "_HANDLER", o->handler ? o->handler : "handler");
    if (!rc)
        rc = exec_env_set(envp, "AWS_REGION", region);
    if (!rc)
        rc = exec_env_set(envp, "AWS_DEFAULT_REGION", region);
    if (!rc && o->runtime) {
        snprintf(exec_env, sizeof(exec_env), "AWS_Lambda_%s", o->runtime);
        rc = exec_env_set(envp, "AWS_EXECUTION_ENV", exec_env);
    }
    if (!rc)
        rc = exec_env_set(envp, "AWS_LAMBDA_FUNCTION_NAME", name);
    if (!rc)
        rc = exec_env_set(envp, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory);
    if (!rc)
        rc = exec_env_set(envp, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    if (!rc)
        rc = exec_env_set(envp, "AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
    if (!rc)
        rc = exec_env_set(envp, "AWS_LAMBDA_LOG_GROUP_NAME", group);
    if (!rc)
        rc = exec_env_set(envp, "AWS_LAMBDA_LOG_STREAM_NAME", stream);
    return rc;
}

int exec_lambda_env(char ***envp, const struct exec_options *o, const char *name,
                    const char *prog)
{
    char *root = task_root(o->cwd, prog);
    char *runtime_dir = dir_of(o->cwd, prog);
    /* Reserved names in the env map were refused at load; should one get
     * here anyway, Lambda's value replaces it, as on Lambda. */
    int rc = root && runtime_dir ? function_vars(envp, o, name) : -1;
    if (!rc)
        rc = exec_env_set(envp, "LAMBDA_TASK_ROOT", root);
    if (!rc)
        rc = exec_env_set(envp, "LAMBDA_RUNTIME_DIR", runtime_dir);
    if (!rc)
        rc = set_default(envp, "LANG", default_lang());
    if (!rc)
        rc = set_default(envp, "TZ", ":UTC");
    free(root);
    free(runtime_dir);
    return rc;
}
