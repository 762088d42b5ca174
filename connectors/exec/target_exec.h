/* target_exec.h - options of the local process target: mode stdio (a
 * process per batch) and mode runtime-api (warm workers speaking the AWS
 * Lambda Runtime API). */
#ifndef BR_TARGET_EXEC_H
#define BR_TARGET_EXEC_H

#include "bridge/connector.h"

enum exec_mode { EXEC_MODE_STDIO, EXEC_MODE_RUNTIME_API };

struct exec_options {
    struct br_target_common common;   /* must come first */
    struct br_strlist command;        /* argv, executed directly */
    enum exec_mode mode;
    struct br_strmap env;             /* the function's environment */
    char *cwd;
    /* runtime-api only */
    int64_t workers;                  /* 0: the pipeline's concurrency */
    int64_t idle_timeout_ms;          /* a worker idle this long is stopped */
    char *handler;                    /* _HANDLER */
    int64_t memory_size;              /* MB, AWS_LAMBDA_FUNCTION_MEMORY_SIZE */
    char *region;                     /* AWS_REGION; NULL: us-east-1 */
    char *runtime;                    /* AWS_EXECUTION_ENV is AWS_Lambda_ and
                                         this; NULL: not set */
};

extern const struct br_opt exec_target_opts[];
/* The checks between exec options (br_target_ops.check): under
 * runtime-api, the env map may not set Lambda's reserved variables. */
int exec_check_options(const void *ctx, const struct br_node *map, const char *path,
                       struct br_errors *errs);

#endif
