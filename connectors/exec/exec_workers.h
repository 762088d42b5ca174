/* exec_workers.h - what the files of the exec target's runtime-api mode
 * share: the worker slots, the invocations while they are ours, and the
 * state under the runtime's lock. exec_runtime.c has the ops, the queue and
 * the Runtime API hooks; exec_workers.c starts, watches, kills and reaps
 * the worker processes. Internal to the exec target. */
#ifndef BR_EXEC_WORKERS_H
#define BR_EXEC_WORKERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bridge/connector.h"
#include "runtime_api.h"

enum kill_reason {
    KILL_NONE,
    KILL_IDLE,            /* waited in /next for idle_timeout */
    KILL_TIMEOUT,         /* held an event past its deadline */
    KILL_INIT_TIMEOUT,    /* never asked for an event */
    KILL_INIT_ERROR,      /* posted /init/error */
    KILL_STOP,            /* cancel or destroy */
};

enum ri_state { RI_QUEUED, RI_HELD, RI_DONE };

/* One invocation while it is ours. */
struct rt_inv {
    struct rt_inv *next;
    struct br_invocation *inv;      /* borrowed from the core */
    struct rt_slot *slot;           /* RI_HELD: the worker holding it */
    enum ri_state state;
    bool sent;                      /* handed to the runtime */
    int64_t deadline_ms;            /* monotonic, set when assigned */
    char id[37];                    /* Lambda-Runtime-Aws-Request-Id */
    struct br_result result;        /* RI_DONE */
};

struct rt_list {
    struct rt_inv *head, *tail;
    size_t n;
};

struct rt_slot {
    struct exec_runtime *rt;
    struct rtapi_server *srv;       /* started with the slot's first worker */
    char **envp;                    /* the base plus AWS_LAMBDA_RUNTIME_API */
    unsigned gen;                   /* bumped per worker */
    pid_t pid;                      /* 0: no worker; also its group id */
    int pidfd;
    int64_t started_ms;
    int64_t idle_since_ms;
    struct rtapi_req *parked;       /* its GET /next waiting, or NULL */
    struct rt_inv *inv;             /* the event it holds, or NULL */
    bool asked;                     /* has asked for an event */
    bool took;                      /* has taken one */
    enum kill_reason killed;
    char init_error[200];           /* from /init/error; "" if none */
    int64_t init_error_ms;          /* when it was posted */
};

/* A parked request to wake once the lock is released. */
struct rt_wake {
    struct rtapi_req *req;
    bool drop;
};

struct exec_runtime {
    pthread_mutex_t lock;
    struct br_target *tgt;
    const char *scope;
    const char *prog, *cmdline, *cwd;
    char *const *argv;
    char **envp;                    /* the workers' environment, less the port */
    char *arn;
    int64_t timeout_ms, idle_ms, init_ms;
    size_t n_slots;
    struct rt_slot *slots;
    struct rt_wake *wakes;          /* n_slots, for one pass */
    struct rt_list queue;           /* RI_QUEUED, oldest first */
    struct rt_list done;            /* RI_DONE, to report */
    bool stopping;
    char spawn_error[200];          /* why the last cold start failed */
};

/* ---- exec_runtime.c */

extern const struct rtapi_hooks rt_hooks;
struct rt_inv *rt_list_pop(struct rt_list *l);
/* Puts ri (taken from a worker that never got it) back at the queue's
 * head. Lock held. */
void rt_requeue(struct exec_runtime *rt, struct rt_inv *ri);
/* Ends ri (already off the queue and its slot) with a result of ours: a
 * function error "type: message" (with a Lambda-shaped JSON body), or a
 * retry with message. Queued for the dispatcher's report. Lock held. */
void rt_finish(struct exec_runtime *rt, struct rt_inv *ri, enum br_result_kind kind,
               long status, const char *type, const char *message);

/* ---- exec_workers.c: the dispatcher thread only, lock held */

/* Starts a worker in the empty slot s (a cold start), with the slot's
 * Runtime API server started first if need be. -1 with rt->spawn_error
 * set if it could not. */
int worker_spawn(struct exec_runtime *rt, struct rt_slot *s, int64_t now);
/* SIGKILLs the worker's process group (once) and says why. */
void worker_kill(struct rt_slot *s, enum kill_reason why);
/* The worker exited: reaps it, ends what it held (function error), fails
 * a queued event if it never started, empties the slot. A parked request
 * it had goes to wakes, to be dropped once the lock is released. */
void worker_gone(struct exec_runtime *rt, struct rt_slot *s, struct rt_wake *wakes,
                 size_t *n_wakes);
/* Applies the deadline, init time, idle time and init-error grace of a
 * live worker (killing it when one is up). */
void worker_timers(struct exec_runtime *rt, struct rt_slot *s, int64_t now,
                   struct rt_wake *wakes, size_t *n_wakes);
/* When worker_timers has something to do for s next (monotonic ms), or
 * -1 for nothing. */
int64_t worker_due(const struct exec_runtime *rt, const struct rt_slot *s);
/* exited[i]: slot i's worker has exited (pid and pidfd change on the
 * dispatcher thread only, so no lock is needed). */
void worker_find_exits(struct exec_runtime *rt, bool *exited);
/* destroy: reaps every (killed) worker within a bounded time. */
void worker_reap_all(struct exec_runtime *rt);

#endif
