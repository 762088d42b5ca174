/* exec_lambda_env.h - the environment AWS Lambda defines for a function,
 * as the exec target's runtime-api workers get it: which variables are
 * Lambda's own (reserved: the env map may not set them) and their values
 * on this machine. */
#ifndef BR_EXEC_LAMBDA_ENV_H
#define BR_EXEC_LAMBDA_ENV_H

#include "target_exec.h"

/* Why the env map may not set NAME under runtime-api (a sentence naming
 * the option to use instead, if any), or NULL when it may: Lambda's
 * reserved variables are fnbridge's to set, as Lambda refuses them in a
 * function's configuration. The credential variables are the exception:
 * locally they can come from nowhere else. Static string. */
const char *exec_lambda_reserved(const char *name);

/* Adds Lambda's variables to *envp (from exec_env_build: PATH and the env
 * map; a NULL-terminated array that may be reallocated): the reserved
 * ones for function `name` running program prog (resolved, relative to
 * o->cwd when that is set), and LANG and TZ unless the env map set them.
 * AWS_LAMBDA_RUNTIME_API is left to each worker slot. Returns 0, or -1
 * when out of memory (*envp then holds some of them; the caller frees it
 * either way). */
int exec_lambda_env(char ***envp, const struct exec_options *o, const char *name,
                    const char *prog);

#endif
