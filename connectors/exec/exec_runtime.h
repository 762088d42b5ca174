/* exec_runtime.h - mode runtime-api of the exec target: warm worker
 * processes that pull events over the AWS Lambda Runtime API (README: Function exec). target_exec.c forwards its ops here when mode is
 * runtime-api; every function but the hooks runs on the dispatcher
 * thread (create and destroy on the main thread). */
#ifndef BR_EXEC_RUNTIME_H
#define BR_EXEC_RUNTIME_H

#include "bridge/connector.h"
#include "target_exec.h"

struct exec_runtime;

/* What the exec target already resolved; all borrowed until destroy. */
struct exec_runtime_conf {
    struct br_target *tgt;
    const struct exec_options *opts;
    const char *prog;               /* resolved program */
    char *const *argv;
    char *const *envp;              /* PATH and the env map */
    const char *cmdline;            /* for errors and logs */
};

/* Validates and prepares (no thread, socket or process yet: those come
 * with the first event, so `fnbridge check` leaves nothing behind).
 * NULL with err filled on failure. */
struct exec_runtime *exec_runtime_create(const struct exec_runtime_conf *conf,
                                         char *err, size_t errlen);
int exec_runtime_submit(struct exec_runtime *rt, struct br_invocation *inv);
void exec_runtime_cancel(struct exec_runtime *rt, struct br_invocation *inv);
int exec_runtime_fds(struct exec_runtime *rt, struct curl_waitfd *fds, int max,
                     int64_t *timeout_ms);
void exec_runtime_service(struct exec_runtime *rt);
/* Kills and reaps every worker (bounded), stops the servers, frees all.
 * Invocations still held are dropped without done. Accepts NULL. */
void exec_runtime_destroy(struct exec_runtime *rt);

#endif
