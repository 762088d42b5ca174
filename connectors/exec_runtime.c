/* exec_runtime.c - mode runtime-api of the exec target: up to `workers`
 * warm processes pull events over the Lambda Runtime API (DESIGN 6).
 *
 * Owns the worker slots (one Runtime API port each, runtime_api.c), the
 * queue of events no worker has taken yet, and the finished invocations
 * the dispatcher has not reported. The server threads (hooks below) and
 * the dispatcher thread share that state under `lock`; server threads
 * never call br_invocation_done: they queue the result and wake the
 * dispatcher, whose service pass reports it. Only the dispatcher thread
 * starts, kills and reaps workers; a pidfd per worker (polled by the
 * dispatcher) says when one exits. Nothing blocks the dispatcher but the
 * posix_spawn of a cold start. */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../bridge/buf.h"
#include "../bridge/clock.h"
#include "../bridge/dispatcher.h"
#include "../bridge/log.h"
#include "../bridge/pipeline.h"
#include "exec_runtime.h"
#include "exec_spawn.h"
#include "runtime_api.h"

/* Poll interval for workers when the kernel has no pidfds (< 5.3). */
#define RT_POLL_MS 10
/* A runtime gets at least this long to ask for its first event, as
 * Lambda's init phase does (longer when the function timeout is). */
#define RT_INIT_MIN_MS 10000
/* A runtime that posted /init/error is expected to exit; one still
 * running this long after is stopped. */
#define RT_INIT_ERROR_GRACE_MS 500
/* destroy waits this long in all for killed workers to be reaped. */
#define RT_REAP_BUDGET_MS 2000

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

static const struct rtapi_hooks hooks;

/* --------------------------------------------------------------- lists */

static void list_push(struct rt_list *l, struct rt_inv *ri)
{
    ri->next = NULL;
    if (l->tail)
        l->tail->next = ri;
    else
        l->head = ri;
    l->tail = ri;
    l->n++;
}

static struct rt_inv *list_pop(struct rt_list *l)
{
    struct rt_inv *ri = l->head;
    if (!ri)
        return NULL;
    l->head = ri->next;
    if (!l->head)
        l->tail = NULL;
    l->n--;
    ri->next = NULL;
    return ri;
}

static void list_remove(struct rt_list *l, struct rt_inv *ri)
{
    struct rt_inv *prev = NULL;
    for (struct rt_inv *p = l->head; p; prev = p, p = p->next) {
        if (p != ri)
            continue;
        if (prev)
            prev->next = p->next;
        else
            l->head = p->next;
        if (l->tail == p)
            l->tail = prev;
        l->n--;
        p->next = NULL;
        return;
    }
}

static void list_free(struct rt_list *l)
{
    struct rt_inv *ri;
    while ((ri = list_pop(l))) {
        free(ri->result.body);
        free(ri);
    }
}

/* ---------------------------------------------------- invocation ends */

/* Request ids are UUID v4, as Lambda's. getrandom cannot fail for 16
 * bytes once the pool is ready; before that a clock-seeded xorshift keeps
 * ids unique enough within one process. */
static void new_request_id(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
        static _Thread_local uint64_t x;
        if (!x)
            x = (uint64_t)br_wall_ms() * 2654435761u ^ (uint64_t)(uintptr_t)&x;
        for (size_t i = 0; i < sizeof(b); i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b[i] = (unsigned char)x;
        }
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
             b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* {"errorType":type,"errorMessage":message}, malloc'd (NULL if no memory):
 * the dead letter's body for failures the function did not describe. */
static char *error_body(const char *type, const char *message, size_t *len)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    if (br_buf_puts(&b, "{\"errorType\":") < 0 ||
        br_buf_put_json_str(&b, type, strlen(type)) < 0 ||
        br_buf_puts(&b, ",\"errorMessage\":") < 0 ||
        br_buf_put_json_str(&b, message, strlen(message)) < 0 || br_buf_putc(&b, '}') < 0) {
        br_buf_free(&b);
        *len = 0;
        return NULL;
    }
    return br_buf_steal(&b, len);
}

/* Ends ri (already detached from queue and slot) with a result of ours;
 * the dispatcher reports it on its next service pass. Lock held. */
static void finish(struct exec_runtime *rt, struct rt_inv *ri, enum br_result_kind kind,
                   long status, const char *type, const char *message)
{
    struct br_result *res = &ri->result;
    memset(res, 0, sizeof(*res));
    res->kind = kind;
    res->status = status;
    res->retry_after_ms = -1;
    if (kind == BR_RES_RETRY)
        snprintf(res->error, sizeof(res->error), "%s", message);
    else
        snprintf(res->error, sizeof(res->error), "%s: %s", type, message);
    if (kind == BR_RES_FUNCTION_ERROR)
        res->body = error_body(type, message, &res->body_len);
    ri->slot = NULL;
    ri->state = RI_DONE;
    list_push(&rt->done, ri);
}

/* The slot's worker takes ri; its deadline starts now. Lock held. */
static void assign(struct rt_slot *s, struct rt_inv *ri, int64_t now)
{
    s->inv = ri;
    s->took = true;
    ri->slot = s;
    ri->state = RI_HELD;
    ri->sent = false;
    ri->deadline_ms = now + s->rt->timeout_ms;
}

/* ---------------------------------------------------------------- hooks */

/* True if a request stamped gen comes from the slot's live worker. */
static bool slot_current(const struct rt_slot *s, unsigned gen)
{
    return s->pid && gen == s->gen && s->killed == KILL_NONE && !s->rt->stopping;
}

/* The event of s->inv for GET /next: a copy of the body (the core may
 * reuse its buffer once the invocation ends, while the reply is still
 * being written). Lock held. */
static bool fill_event(struct rt_slot *s, struct rtapi_event *ev, int64_t now)
{
    struct rt_inv *ri = s->inv;
    const struct br_invocation *inv = ri->inv;
    ev->body = malloc(inv->body_len ? inv->body_len : 1);
    if (!ev->body)
        return false;
    memcpy(ev->body, inv->body, inv->body_len);
    ev->body_len = inv->body_len;
    snprintf(ev->content_type, sizeof(ev->content_type), "%s",
             inv->content_type ? inv->content_type : "application/json");
    snprintf(ev->request_id, sizeof(ev->request_id), "%s", ri->id);
    ev->deadline_wall_ms = br_wall_ms() + (ri->deadline_ms - now);
    /* X-Ray's shape; the id's random hex serves as the trace's. */
    snprintf(ev->trace_id, sizeof(ev->trace_id), "Root=1-%08llx-%.8s%.4s%.4s%.4s;Sampled=0",
             (unsigned long long)(br_wall_ms() / 1000), ri->id, ri->id + 9, ri->id + 14,
             ri->id + 19);
    ri->sent = true;
    return true;
}

/* GET /next: hand out the event the worker holds or the oldest queued
 * one, or park the request until submit assigns one. */
static enum rtapi_next hook_next(void *arg, unsigned gen, struct rtapi_req *req,
                                 struct rtapi_event *ev)
{
    struct rt_slot *s = arg;
    struct exec_runtime *rt = s->rt;
    enum rtapi_next r;
    bool wake = false;
    int64_t now = br_now_ms();
    pthread_mutex_lock(&rt->lock);
    if (!slot_current(s, gen) || s->init_error[0]) {
        r = RTAPI_NEXT_CLOSE;       /* gone, or failed its init: no events */
    } else if (s->parked) {
        r = RTAPI_NEXT_CONFLICT;
    } else {
        s->asked = true;
        if (s->inv && s->inv->sent) {
            /* Lambda runtimes answer before asking again; this one did
             * not, so the event it had is lost to it. */
            struct rt_inv *ri = s->inv;
            s->inv = NULL;
            finish(rt, ri, BR_RES_FUNCTION_ERROR, 0, "Runtime.InvalidState",
                   "the runtime asked for the next event without answering this one");
            wake = true;
        }
        struct rt_inv *ri = s->inv ? NULL : list_pop(&rt->queue);
        if (ri) {
            assign(s, ri, now);
            wake = true;            /* the dispatcher watches the deadline */
        }
        if (s->inv) {
            r = fill_event(s, ev, now) ? RTAPI_NEXT_SEND : RTAPI_NEXT_CLOSE;
        } else {
            s->parked = req;
            s->idle_since_ms = now;
            rtapi_park(req);
            r = RTAPI_NEXT_PARKED;
        }
    }
    pthread_mutex_unlock(&rt->lock);
    if (wake)
        br_dispatcher_wake(rt->tgt->disp);
    return r;
}

/* Fills ri's result from what the runtime posted. Lock held. */
static void take_result(struct rt_inv *ri, struct rtapi_result *res)
{
    struct br_result *out = &ri->result;
    memset(out, 0, sizeof(*out));
    out->retry_after_ms = -1;
    out->status = 200;
    if (res->too_large) {
        out->kind = BR_RES_FUNCTION_ERROR;
        snprintf(out->error, sizeof(out->error), "Function.ResponseSizeTooLarge");
        out->body = error_body("Function.ResponseSizeTooLarge",
                               "Response payload size exceeded maximum allowed payload "
                               "size (6291456 bytes).", &out->body_len);
        return;
    }
    out->kind = res->is_error ? BR_RES_FUNCTION_ERROR : BR_RES_OK;
    if (res->is_error)
        snprintf(out->error, sizeof(out->error), "%s", res->error_type);
    out->body = res->body;
    out->body_len = res->body_len;
    res->body = NULL;
}

/* POST .../response and .../error. */
static bool hook_result(void *arg, unsigned gen, struct rtapi_result *res)
{
    struct rt_slot *s = arg;
    struct exec_runtime *rt = s->rt;
    pthread_mutex_lock(&rt->lock);
    struct rt_inv *ri = s->inv;
    bool known = ri && ri->sent && gen == s->gen && !strcmp(ri->id, res->request_id);
    if (known) {
        s->inv = NULL;
        take_result(ri, res);
        ri->slot = NULL;
        ri->state = RI_DONE;
        list_push(&rt->done, ri);
    }
    bool wake = known && !rt->stopping;
    pthread_mutex_unlock(&rt->lock);
    if (wake)
        br_dispatcher_wake(rt->tgt->disp);
    return known;
}

/* POST /init/error: logged here. The runtime then exits (or is stopped
 * after a grace period), and one event fails with this error. */
static void hook_init_error(void *arg, unsigned gen, const char *type, const char *message)
{
    struct rt_slot *s = arg;
    struct exec_runtime *rt = s->rt;
    pthread_mutex_lock(&rt->lock);
    bool current = slot_current(s, gen);
    pid_t pid = s->pid;
    if (current) {
        snprintf(s->init_error, sizeof(s->init_error), "%s%s%s", type,
                 message[0] ? ": " : "", message);
        s->init_error_ms = br_now_ms();
    }
    pthread_mutex_unlock(&rt->lock);
    if (!current)
        return;
    br_warn(rt->scope, "worker pid %d reported an init error: %s%s%s", (int)pid, type,
            message[0] ? ": " : "", message);
    br_dispatcher_wake(rt->tgt->disp);
}

static void hook_gone(void *arg, struct rtapi_req *req)
{
    struct rt_slot *s = arg;
    pthread_mutex_lock(&s->rt->lock);
    if (s->parked == req)
        s->parked = NULL;
    pthread_mutex_unlock(&s->rt->lock);
}

static const struct rtapi_hooks hooks = {
    .next = hook_next,
    .result = hook_result,
    .init_error = hook_init_error,
    .gone = hook_gone,
};

/* -------------------------------------------------------------- workers */

static void lower(int64_t *timeout_ms, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    if (*timeout_ms < 0 || ms < *timeout_ms)
        *timeout_ms = ms;
}

static int pidfd_for(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);   /* close-on-exec */
#else
    (void)pid;
    return -1;
#endif
}

static void slot_kill(struct rt_slot *s, enum kill_reason why)
{
    if (s->killed == KILL_NONE)
        kill(-s->pid, SIGKILL);
    if (s->killed == KILL_NONE)
        s->killed = why;
}

/* True once the worker exited. WNOWAIT leaves it a zombie, which keeps
 * its pid and group id from being reused until it is reaped. */
static bool slot_exited(struct rt_slot *s)
{
    siginfo_t si;
    si.si_pid = 0;
    if (waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD;
    return si.si_pid == s->pid;
}

/* Kills what is left of the group, reaps the exited leader; its wait
 * status, or -1 if unknown. */
static int slot_reap(struct rt_slot *s)
{
    int st;
    pid_t rc;
    kill(-s->pid, SIGKILL);
    while ((rc = waitpid(s->pid, &st, 0)) < 0 && errno == EINTR)
        ;
    return rc == s->pid ? st : -1;
}

static void describe_exit(int st, char *out, size_t n)
{
    if (st < 0) {
        snprintf(out, n, "exit status unknown");
    } else if (WIFEXITED(st)) {
        snprintf(out, n, "exit status %d", WEXITSTATUS(st));
    } else {
        const char *abbrev = sigabbrev_np(WTERMSIG(st));
        snprintf(out, n, "signal %d (SIG%s)", WTERMSIG(st), abbrev ? abbrev : "?");
    }
}

static long exit_code(int st)
{
    if (st < 0)
        return 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void slot_clear(struct rt_slot *s)
{
    if (s->pidfd >= 0)
        close(s->pidfd);
    s->pidfd = -1;
    s->pid = 0;
    s->inv = NULL;
    s->parked = NULL;
    s->asked = s->took = false;
    s->killed = KILL_NONE;
    s->init_error[0] = '\0';
}

/* A worker that dies before taking any event failed to start: one queued
 * event fails with it, so the pipeline's backoff paces the restarts
 * instead of a spawn per exit. Lock held. */
static void init_failed(struct exec_runtime *rt, struct rt_slot *s, const char *why)
{
    char msg[240];
    const char *type = s->init_error[0] || s->killed == KILL_INIT_TIMEOUT
                           ? "Runtime.InitError" : "Runtime.ExitError";
    if (s->init_error[0])
        snprintf(msg, sizeof(msg), "%s", s->init_error);
    else if (s->killed == KILL_INIT_TIMEOUT)
        snprintf(msg, sizeof(msg), "the runtime did not ask for an event within %.2f seconds",
                 (double)rt->init_ms / 1000.0);
    else
        snprintf(msg, sizeof(msg), "Runtime exited without asking for an event (%s)", why);
    br_warn(rt->scope, "worker pid %d failed to start (%s): %s", (int)s->pid, why, msg);
    struct rt_inv *ri = list_pop(&rt->queue);
    if (ri)
        finish(rt, ri, BR_RES_FUNCTION_ERROR, 0, type, msg);
}

/* The worker exited: reap it, end what it held. Lock held. */
static void slot_gone(struct exec_runtime *rt, struct rt_slot *s, struct rt_wake *wakes,
                      size_t *n_wakes)
{
    char why[64], msg[160];
    int st = slot_reap(s);
    describe_exit(st, why, sizeof(why));
    if (s->parked)
        wakes[(*n_wakes)++] = (struct rt_wake){s->parked, true};
    if (s->inv) {
        struct rt_inv *ri = s->inv;
        s->inv = NULL;
        br_warn(rt->scope, "worker pid %d exited (%s) holding request %s", (int)s->pid,
                why, ri->id);
        snprintf(msg, sizeof(msg), "Runtime exited with error: %s", why);
        finish(rt, ri, BR_RES_FUNCTION_ERROR, exit_code(st),
               s->init_error[0] ? "Runtime.InitError" : "Runtime.ExitError", msg);
    } else if (!s->took && s->killed != KILL_IDLE && s->killed != KILL_STOP) {
        init_failed(rt, s, why);
    } else if (s->killed == KILL_NONE) {
        br_info(rt->scope, "worker pid %d exited (%s)", (int)s->pid, why);
    } else {
        br_debug(rt->scope, "worker pid %d stopped (%s)", (int)s->pid, why);
    }
    slot_clear(s);
}

/* Deadline, init time and idle time of a live worker. Lock held. */
static void slot_timers(struct exec_runtime *rt, struct rt_slot *s, int64_t now,
                        struct rt_wake *wakes, size_t *n_wakes)
{
    char msg[64];
    if (s->killed != KILL_NONE)
        return;
    if (s->inv && now >= s->inv->deadline_ms) {
        struct rt_inv *ri = s->inv;
        s->inv = NULL;
        slot_kill(s, KILL_TIMEOUT);
        snprintf(msg, sizeof(msg), "Task timed out after %.2f seconds",
                 (double)rt->timeout_ms / 1000.0);
        br_warn(rt->scope, "request %s: %s; worker pid %d killed", ri->id, msg, (int)s->pid);
        finish(rt, ri, BR_RES_FUNCTION_ERROR, 0, "Sandbox.Timedout", msg);
        /* The error text is Lambda's wording alone. */
        snprintf(ri->result.error, sizeof(ri->result.error), "%s", msg);
    } else if (!s->asked && now - s->started_ms >= rt->init_ms) {
        slot_kill(s, KILL_INIT_TIMEOUT);
    } else if (s->parked && now - s->idle_since_ms >= rt->idle_ms) {
        br_debug(rt->scope, "worker pid %d idle for %lld ms: stopping it", (int)s->pid,
                 (long long)(now - s->idle_since_ms));
        wakes[(*n_wakes)++] = (struct rt_wake){s->parked, true};
        s->parked = NULL;
        slot_kill(s, KILL_IDLE);
    } else if (s->init_error[0] && now - s->init_error_ms >= RT_INIT_ERROR_GRACE_MS) {
        slot_kill(s, KILL_INIT_ERROR);
    }
}

/* The slot's environment: the base plus its own Runtime API address. */
static char **slot_env(struct exec_runtime *rt, unsigned port)
{
    size_t n = 0;
    char addr[32];
    while (rt->envp[n])
        n++;
    char **v = calloc(n + 1, sizeof(*v));
    for (size_t i = 0; v && i < n; i++) {
        if (!(v[i] = strdup(rt->envp[i]))) {
            exec_strv_free(v);
            return NULL;
        }
    }
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
    if (v && exec_env_set(&v, "AWS_LAMBDA_RUNTIME_API", addr) < 0) {
        exec_strv_free(v);
        return NULL;
    }
    return v;
}

/* The slot's server, started on its first worker. Lock held. */
static int slot_serve(struct exec_runtime *rt, struct rt_slot *s)
{
    char err[160];
    if (s->srv)
        return 0;
    s->srv = rtapi_start(&hooks, s, rt->arn, rt->scope, err, sizeof(err));
    if (!s->srv) {
        snprintf(rt->spawn_error, sizeof(rt->spawn_error), "%s", err);
        return -1;
    }
    s->envp = slot_env(rt, rtapi_port(s->srv));
    if (!s->envp) {
        rtapi_stop(s->srv);
        s->srv = NULL;
        snprintf(rt->spawn_error, sizeof(rt->spawn_error), "out of memory");
        return -1;
    }
    return 0;
}

/* Starts a worker in the empty slot s (a cold start). Lock held. */
static int slot_spawn(struct exec_runtime *rt, struct rt_slot *s, int64_t now)
{
    pid_t pid;
    if (slot_serve(rt, s) < 0)
        return -1;
    rtapi_set_gen(s->srv, ++s->gen);
    int rc = exec_spawn_worker(rt->prog, rt->argv, s->envp, rt->cwd, &pid);
    if (rc) {
        snprintf(rt->spawn_error, sizeof(rt->spawn_error), "cannot run %.120s: %s",
                 rt->cmdline, strerror(rc));
        return -1;
    }
    slot_clear(s);
    s->pid = pid;
    s->pidfd = pidfd_for(pid);
    s->started_ms = now;
    br_debug(rt->scope, "cold start: worker pid %d on 127.0.0.1:%u", (int)pid,
             rtapi_port(s->srv));
    return 0;
}

/* ---------------------------------------------------------------- scaling */

static size_t live_workers(const struct exec_runtime *rt)
{
    size_t n = 0;
    for (size_t i = 0; i < rt->n_slots; i++)
        n += rt->slots[i].pid && rt->slots[i].killed == KILL_NONE;
    return n;
}

/* The worker parked in /next most recently: keeping the same few busy lets
 * the others reach idle_timeout and stop. Lock held. */
static struct rt_slot *parked_slot(struct exec_runtime *rt)
{
    struct rt_slot *best = NULL;
    for (size_t i = 0; i < rt->n_slots; i++) {
        struct rt_slot *s = &rt->slots[i];
        if (s->parked && s->killed == KILL_NONE &&
            (!best || s->idle_since_ms > best->idle_since_ms))
            best = s;
    }
    return best;
}

static void hand_to(struct rt_slot *s, struct rt_inv *ri, int64_t now, struct rt_wake *wakes,
                    size_t *n_wakes)
{
    assign(s, ri, now);
    wakes[(*n_wakes)++] = (struct rt_wake){s->parked, false};
    s->parked = NULL;
}

/* True if the slot's worker will take (or, failing to start, fail) one
 * queued event: it is starting, or between events. A worker stopped for
 * an init failure is not reaped yet, but fails an event when it is. */
static bool will_take(const struct rt_slot *s)
{
    if (!s->pid || s->inv || s->parked)
        return false;
    if (s->killed == KILL_NONE)
        return true;
    return !s->took && (s->killed == KILL_INIT_ERROR || s->killed == KILL_INIT_TIMEOUT);
}

/* Queued events go to parked workers, and workers start while more events
 * wait than starting or busy-but-answered workers will take. Returns -1
 * (spawn_error set) if a needed worker could not start. Lock held. */
static int scale(struct exec_runtime *rt, int64_t now, struct rt_wake *wakes, size_t *n_wakes)
{
    struct rt_slot *s;
    size_t coming = 0;
    while (rt->queue.n && (s = parked_slot(rt)))
        hand_to(s, list_pop(&rt->queue), now, wakes, n_wakes);
    for (size_t i = 0; i < rt->n_slots; i++)
        coming += will_take(&rt->slots[i]);
    for (size_t i = 0; i < rt->n_slots && rt->queue.n > coming; i++) {
        s = &rt->slots[i];
        if (s->pid)
            continue;
        if (slot_spawn(rt, s, now) < 0)
            return -1;
        coming++;
    }
    return 0;
}

/* No worker could start and none runs: what waits would wait forever. */
static void fail_queue(struct exec_runtime *rt)
{
    struct rt_inv *ri;
    br_warn(rt->scope, "%s", rt->spawn_error);
    while ((ri = list_pop(&rt->queue)))
        finish(rt, ri, BR_RES_RETRY, 0, NULL, rt->spawn_error);
}

static void wake_all(const struct rt_wake *wakes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rtapi_wake(wakes[i].req, wakes[i].drop);
}

/* --------------------------------------------------------------- the ops */

static void submit_failed(struct br_invocation *inv, const char *why)
{
    memset(&inv->result, 0, sizeof(inv->result));
    inv->result.kind = BR_RES_RETRY;
    inv->result.retry_after_ms = -1;
    snprintf(inv->result.error, sizeof(inv->result.error), "%s", why);
}

int exec_runtime_submit(struct exec_runtime *rt, struct br_invocation *inv)
{
    struct rt_inv *ri = calloc(1, sizeof(*ri));
    size_t n_wakes = 0;
    bool failed = false;
    int64_t now = br_now_ms();
    if (!ri) {
        submit_failed(inv, "out of memory");
        return -1;
    }
    ri->inv = inv;
    new_request_id(ri->id);
    pthread_mutex_lock(&rt->lock);
    struct rt_slot *s = parked_slot(rt);
    if (s) {
        hand_to(s, ri, now, rt->wakes, &n_wakes);
    } else {
        ri->state = RI_QUEUED;
        list_push(&rt->queue, ri);
        if (scale(rt, now, rt->wakes, &n_wakes) < 0 && !live_workers(rt)) {
            list_remove(&rt->queue, ri);
            failed = true;
            br_warn(rt->scope, "%s", rt->spawn_error);
            submit_failed(inv, rt->spawn_error);
        }
    }
    pthread_mutex_unlock(&rt->lock);
    wake_all(rt->wakes, n_wakes);
    if (failed) {
        free(ri);
        return -1;
    }
    inv->tgt_state = ri;
    return 0;
}

void exec_runtime_cancel(struct exec_runtime *rt, struct br_invocation *inv)
{
    struct rt_inv *ri = inv->tgt_state;
    if (!ri)
        return;
    pthread_mutex_lock(&rt->lock);
    if (ri->state == RI_QUEUED) {
        list_remove(&rt->queue, ri);
    } else if (ri->state == RI_DONE) {
        list_remove(&rt->done, ri);
    } else if (ri->slot) {
        ri->slot->inv = NULL;
        slot_kill(ri->slot, KILL_STOP);
    }
    pthread_mutex_unlock(&rt->lock);
    free(ri->result.body);
    free(ri);
    inv->tgt_state = NULL;
}

int exec_runtime_fds(struct exec_runtime *rt, struct curl_waitfd *fds, int max,
                     int64_t *timeout_ms)
{
    int n = 0;
    int64_t now = br_now_ms();
    pthread_mutex_lock(&rt->lock);
    for (size_t i = 0; i < rt->n_slots; i++) {
        struct rt_slot *s = &rt->slots[i];
        if (!s->pid)
            continue;
        if (s->pidfd >= 0 && n < max) {
            fds[n++] = (struct curl_waitfd){.fd = s->pidfd, .events = CURL_WAIT_POLLIN};
        } else {
            lower(timeout_ms, RT_POLL_MS);
        }
        if (s->killed != KILL_NONE)
            continue;
        if (s->inv)
            lower(timeout_ms, s->inv->deadline_ms - now);
        else if (!s->asked)
            lower(timeout_ms, s->started_ms + rt->init_ms - now);
        else if (s->parked)
            lower(timeout_ms, s->idle_since_ms + rt->idle_ms - now);
        if (s->init_error[0])
            lower(timeout_ms, s->init_error_ms + RT_INIT_ERROR_GRACE_MS - now);
    }
    pthread_mutex_unlock(&rt->lock);
    return n;
}

/* Which live workers have exited: one poll over every pidfd rather than a
 * waitid per worker on every pass. */
static void find_exits(struct exec_runtime *rt, bool *exited)
{
    struct pollfd pfds[256];
    size_t idx[256], n = 0;
    for (size_t i = 0; i < rt->n_slots; i++) {
        struct rt_slot *s = &rt->slots[i];
        exited[i] = false;
        if (!s->pid)
            continue;
        if (s->pidfd < 0 || n == 256) {
            exited[i] = slot_exited(s);
            continue;
        }
        pfds[n] = (struct pollfd){.fd = s->pidfd, .events = POLLIN};
        idx[n++] = i;
    }
    if (n && poll(pfds, (nfds_t)n, 0) > 0)
        for (size_t k = 0; k < n; k++)
            exited[idx[k]] = pfds[k].revents != 0;
}

static void report(struct rt_list *done)
{
    struct rt_inv *ri;
    while ((ri = list_pop(done))) {
        struct br_invocation *inv = ri->inv;
        inv->result = ri->result;
        inv->tgt_state = NULL;
        free(ri);
        br_invocation_done(inv);
    }
}

void exec_runtime_service(struct exec_runtime *rt)
{
    bool exited[256];
    size_t n_wakes = 0;
    int64_t now = br_now_ms();
    find_exits(rt, exited);        /* pid and pidfd change on this thread only */
    pthread_mutex_lock(&rt->lock);
    for (size_t i = 0; i < rt->n_slots; i++) {
        struct rt_slot *s = &rt->slots[i];
        if (s->pid && exited[i])
            slot_gone(rt, s, rt->wakes, &n_wakes);
        else if (s->pid)
            slot_timers(rt, s, now, rt->wakes, &n_wakes);
    }
    if (rt->queue.n && scale(rt, now, rt->wakes, &n_wakes) < 0 && !live_workers(rt))
        fail_queue(rt);
    struct rt_list done = rt->done;
    memset(&rt->done, 0, sizeof(rt->done));
    pthread_mutex_unlock(&rt->lock);
    wake_all(rt->wakes, n_wakes);
    report(&done);
}

/* ------------------------------------------------------- create/destroy */

/* LAMBDA_TASK_ROOT: cwd, else the program's directory (absolute). */
static char *task_root(const char *cwd, const char *prog)
{
    char real[PATH_MAX];
    if (cwd)
        return realpath(cwd, real) ? strdup(real) : strdup(cwd);
    if (!realpath(prog, real))
        return strdup(".");
    return strdup(dirname(real));
}

static int lambda_env(struct exec_runtime *rt, const struct exec_runtime_conf *conf)
{
    const struct exec_options *o = conf->opts;
    const struct br_pipeline *pl = conf->tgt->pl;
    const char *name = pl && pl->conf ? pl->conf->name : "fnbridge";
    char memory[24];
    char *root = task_root(o->cwd, conf->prog);
    snprintf(memory, sizeof(memory), "%lld", (long long)o->memory_size);
    int rc = root ? 0 : -1;
    /* Lambda's own variables win over the env map, as on Lambda. */
    if (!rc)
        rc = exec_env_set(&rt->envp, "_HANDLER", o->handler ? o->handler : "handler");
    if (!rc)
        rc = exec_env_set(&rt->envp, "AWS_LAMBDA_FUNCTION_NAME", name);
    if (!rc)
        rc = exec_env_set(&rt->envp, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    if (!rc)
        rc = exec_env_set(&rt->envp, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory);
    if (!rc)
        rc = exec_env_set(&rt->envp, "LAMBDA_TASK_ROOT", root);
    free(root);
    const char *region = exec_env_get(rt->envp, "AWS_REGION");
    if (!rc && asprintf(&rt->arn, "arn:aws:lambda:%s:000000000000:function:%s",
                        region && *region ? region : "us-east-1", name) < 0) {
        rt->arn = NULL;
        rc = -1;
    }
    return rc;
}

static char **strv_copy(char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    char **copy = calloc(n + 1, sizeof(*copy));
    for (size_t i = 0; copy && i < n; i++) {
        if (!(copy[i] = strdup(v[i]))) {
            exec_strv_free(copy);
            return NULL;
        }
    }
    return copy;
}

struct exec_runtime *exec_runtime_create(const struct exec_runtime_conf *conf,
                                         char *err, size_t errlen)
{
    const struct exec_options *o = conf->opts;
    const struct br_pipeline *pl = conf->tgt->pl;
    struct exec_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        goto out_oom;
    pthread_mutex_init(&rt->lock, NULL);
    rt->tgt = conf->tgt;
    rt->scope = conf->tgt->scope;
    rt->prog = conf->prog;
    rt->argv = conf->argv;
    rt->cwd = o->cwd;
    rt->cmdline = conf->cmdline;
    rt->timeout_ms = o->common.timeout_ms;
    rt->idle_ms = o->idle_timeout_ms;
    rt->init_ms = rt->timeout_ms > RT_INIT_MIN_MS ? rt->timeout_ms : RT_INIT_MIN_MS;
    rt->n_slots = (size_t)(o->workers ? o->workers
                           : pl && pl->conf ? pl->conf->concurrency : 1);
    if (rt->n_slots > 256)
        rt->n_slots = 256;
    rt->slots = calloc(rt->n_slots, sizeof(*rt->slots));
    for (size_t i = 0; rt->slots && i < rt->n_slots; i++) {
        rt->slots[i].rt = rt;
        rt->slots[i].pidfd = -1;
    }
    rt->wakes = calloc(rt->n_slots, sizeof(*rt->wakes));
    rt->envp = strv_copy(conf->envp);
    if (!rt->slots || !rt->wakes || !rt->envp || lambda_env(rt, conf) < 0)
        goto out_oom;
    br_debug(rt->scope, "runtime-api: up to %zu workers of %s", rt->n_slots, rt->cmdline);
    return rt;

out_oom:
    exec_runtime_destroy(rt);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

/* Reaps every killed worker, giving them RT_REAP_BUDGET_MS in all: a
 * process stuck in the kernel stays a zombie rather than stall shutdown. */
static void reap_all(struct exec_runtime *rt)
{
    int64_t deadline = br_now_ms() + RT_REAP_BUDGET_MS;
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < rt->n_slots; i++) {
            struct rt_slot *s = &rt->slots[i];
            if (!s->pid)
                continue;
            if (slot_exited(s)) {
                slot_reap(s);
                slot_clear(s);
            } else {
                left++;
            }
        }
        if (!left || br_now_ms() >= deadline)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
}

void exec_runtime_destroy(struct exec_runtime *rt)
{
    size_t n_wakes = 0;
    if (!rt)
        return;
    pthread_mutex_lock(&rt->lock);
    rt->stopping = true;
    for (size_t i = 0; rt->slots && i < rt->n_slots; i++) {
        struct rt_slot *s = &rt->slots[i];
        if (s->pid)
            slot_kill(s, KILL_STOP);
        if (s->parked)
            rt->wakes[n_wakes++] = (struct rt_wake){s->parked, true};
        s->parked = NULL;
        free(s->inv);               /* held, never cancelled: dropped */
        s->inv = NULL;
    }
    pthread_mutex_unlock(&rt->lock);
    wake_all(rt->wakes, n_wakes);
    for (size_t i = 0; rt->slots && i < rt->n_slots; i++) {
        rtapi_stop(rt->slots[i].srv);       /* joins its thread */
        rt->slots[i].srv = NULL;
    }
    if (rt->slots)
        reap_all(rt);
    for (size_t i = 0; rt->slots && i < rt->n_slots; i++) {
        if (rt->slots[i].pidfd >= 0)
            close(rt->slots[i].pidfd);
        exec_strv_free(rt->slots[i].envp);
    }
    list_free(&rt->queue);
    list_free(&rt->done);
    free(rt->slots);
    free(rt->wakes);
    exec_strv_free(rt->envp);
    free(rt->arn);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
}
