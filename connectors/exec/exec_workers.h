/* exec_workers.h - what the files of the exec target's runtime-api mode
 * share: the worker slots and the state under the runtime's lock (the
 * invocations and their lists are in exec_rt_list.h). exec_runtime.c has
 * the ops, the queue, the Runtime API hooks, and decides what a worker's
 * end means for its event; exec_workers.c starts, watches, kills and
 * reaps the worker processes and reports how each ended (struct
 * worker_end). Calls go one way: the runtime calls the workers. Internal
 * to the exec target. */
#ifndef BR_EXEC_WORKERS_H
#define BR_EXEC_WORKERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bridge/connector.h"
#include "exec_rt_list.h"
#include "runtime_api.h"

enum kill_reason {
    KILL_NONE,
    KILL_IDLE,            /* waited in /next for idle_timeout */
    KILL_TIMEOUT,         /* held an event past its deadline */
    KILL_INIT_TIMEOUT,    /* never asked for an event */
    KILL_INIT_ERROR,      /* posted /init/error */
    KILL_STOP,            /* cancel or destroy */
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
    const struct rtapi_hooks *hooks; /* each slot's server calls these */
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

/* How a worker ended, as far as events are concerned: the workers report
 * it, the runtime decides what it means (which Lambda error, whether the
 * event runs again). */
enum worker_fate {
    WORKER_NOTHING_OWED,  /* alive, or ended owing no event: stopped, idle,
                             or exited between events it had taken */
    WORKER_LOST_UNSENT,   /* exited while its event was being handed to it,
                             having asked: the event never ran */
    WORKER_DIED_HOLDING,  /* exited (a code or a signal) running its event */
    WORKER_TIMED_OUT,     /* killed now: held its event past the deadline */
    WORKER_FAILED_START,  /* exited (maybe killed for its init) before it
                             took any event */
};

struct worker_end {
    enum worker_fate fate;
    struct rt_inv *inv;       /* LOST_UNSENT, DIED_HOLDING, TIMED_OUT: its
                                 event, taken off the slot */
    pid_t pid;
    long code;                /* exited: the exit code, 128 + the signal,
                                 or 0 when unknown */
    char how[64];             /* exited: "exit status 3", "signal 9 (SIGKILL)" */
    bool asked;               /* it had asked for an event */
    bool init_timed_out;      /* killed for not asking within init time */
    char init_error[200];     /* what it posted to /init/error; "" if none */
};

/* ---- exec_workers.c: the dispatcher thread only, lock held */

/* Starts a worker in the empty slot s (a cold start), with the slot's
 * Runtime API server started first if need be. -1 with rt->spawn_error
 * set if it could not. */
int worker_spawn(struct exec_runtime *rt, struct rt_slot *s, int64_t now);
/* SIGKILLs the worker's process group (once) and says why. */
void worker_kill(struct rt_slot *s, enum kill_reason why);
/* The worker exited: reaps it, says in end how it ended (with the event
 * it held, now the caller's to end or requeue), empties the slot. A
 * parked request it had goes to wakes, to be dropped once the lock is
 * released. */
void worker_gone(struct exec_runtime *rt, struct rt_slot *s, struct rt_wake *wakes,
                 size_t *n_wakes, struct worker_end *end);
/* Applies the deadline, init time, idle time and init-error grace of a
 * live worker (killing it when one is up). end says WORKER_TIMED_OUT,
 * with the event, when the deadline killed it; else WORKER_NOTHING_OWED. */
void worker_timers(struct exec_runtime *rt, struct rt_slot *s, int64_t now,
                   struct rt_wake *wakes, size_t *n_wakes, struct worker_end *end);
/* When worker_timers has something to do for s next (monotonic ms), or
 * -1 for nothing. */
int64_t worker_due(const struct exec_runtime *rt, const struct rt_slot *s);
/* exited[i]: slot i's worker has exited (pid and pidfd change on the
 * dispatcher thread only, so no lock is needed). */
void worker_find_exits(struct exec_runtime *rt, bool *exited);
/* destroy: reaps every (killed) worker within a bounded time. */
void worker_reap_all(struct exec_runtime *rt);

#endif
