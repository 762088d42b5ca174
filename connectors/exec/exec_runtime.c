/* exec_runtime.c - mode runtime-api of the exec target: up to `workers`
 * warm processes pull events over the Lambda Runtime API (README: Function exec).
 *
 * Owns the worker slots (one Runtime API port each, runtime_api.c), the
 * queue of events no worker has taken yet, and the finished invocations
 * the dispatcher has not reported. The server threads (hooks below) and
 * the dispatcher thread share that state under `lock`; server threads
 * never call br_invocation_done: they queue the result and wake the
 * dispatcher, whose service pass reports it. Only the dispatcher thread
 * starts, kills and reaps workers (exec_workers.c); a pidfd per worker
 * (polled by the dispatcher) says when one exits. Nothing blocks the
 * dispatcher but the posix_spawn of a cold start. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "bridge/buf.h"
#include "bridge/clock.h"
#include "bridge/dispatcher.h"
#include "bridge/log.h"
#include "exec_lambda_env.h"
#include "exec_rt_list.h"
#include "exec_runtime.h"
#include "exec_spawn.h"
#include "exec_workers.h"
#include "runtime_api.h"

/* Poll interval for workers when the kernel has no pidfds (< 5.3). */
#define RT_POLL_MS 10
/* A runtime gets at least this long to ask for its first event, as
 * Lambda's init phase does (longer when the function timeout is). */
#define RT_INIT_MIN_MS 10000

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

/* Ends ri (already detached from queue and slot) with a result of ours: a
 * function error "type: message" (with a Lambda-shaped JSON body), or a
 * retry with message; the dispatcher reports it on its next service
 * pass. Lock held. */
static void rt_finish(struct exec_runtime *rt, struct rt_inv *ri, enum br_result_kind kind,
               long status, const char *type, const char *message)
{
    struct br_result *res = &ri->result;
    memset(res, 0, sizeof(*res));
    res->kind = kind;
    res->status = status;
    res->retry_after_ms = -1;
    /* A long message is cut to fit error; the body has it whole. */
    size_t at = 0;
    if (kind != BR_RES_RETRY)
        at = (size_t)snprintf(res->error, sizeof(res->error), "%s: ", type);
    if (at < sizeof(res->error))
        snprintf(res->error + at, sizeof(res->error) - at, "%s", message);
    if (kind == BR_RES_FUNCTION_ERROR)
        res->body = error_body(type, message, &res->body_len);
    ri->slot = NULL;
    ri->state = RI_DONE;
    rt_list_push(&rt->done, ri);
}

/* Puts ri (taken from a worker that never got it) back at the queue's
 * head. Lock held. */
static void rt_requeue(struct exec_runtime *rt, struct rt_inv *ri)
{
    ri->slot = NULL;
    ri->state = RI_QUEUED;
    rt_list_push_front(&rt->queue, ri);
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
    if (inv->body_len)
        memcpy(ev->body, inv->body, inv->body_len);
    ev->body_len = inv->body_len;
    snprintf(ev->content_type, sizeof(ev->content_type), "%s",
             inv->content_type ? inv->content_type : "application/json");
    snprintf(ev->request_id, sizeof(ev->request_id), "%s", ri->id);
    ev->deadline_wall_ms = br_wall_ms() + (ri->deadline_ms - now);
    /* X-Ray's shape: epoch seconds and 24 hex digits, here the id's. */
    snprintf(ev->trace_id, sizeof(ev->trace_id), "Root=1-%08llx-%.8s%.4s%.4s%.4s%.4s;Sampled=0",
             (unsigned long long)(br_wall_ms() / 1000), ri->id, ri->id + 9, ri->id + 14,
             ri->id + 19, ri->id + 24);
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
    struct rtapi_req *stale = NULL;
    pthread_mutex_lock(&rt->lock);
    if (!slot_current(s, gen) || s->init_error[0]) {
        r = RTAPI_NEXT_CLOSE;       /* gone, or failed its init: no events */
    } else {
        /* A runtime asks again only once its earlier /next is gone to it
         * (a client timeout): that one is dropped, this one takes over. */
        stale = s->parked;
        s->parked = NULL;
        /* Its first ask ends its init phase: a cold start, metered as
         * Lambda reports Init Duration. */
        if (!s->asked && rt->tgt)
            br_target_report_cold_start(rt->tgt, now - s->started_ms);
        s->asked = true;
        if (s->inv && s->inv->sent) {
            /* Lambda runtimes answer before asking again; this one did
             * not, so the event it had is lost to it. */
            struct rt_inv *ri = s->inv;
            s->inv = NULL;
            rt_finish(rt, ri, BR_RES_FUNCTION_ERROR, 0, "Runtime.InvalidState",
                      "the runtime asked for the next event without answering this one");
            wake = true;
        }
        struct rt_inv *ri = s->inv ? NULL : rt_list_pop(&rt->queue);
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
    if (stale)
        rtapi_wake(stale, true);
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
        /* Idle from its answer on: one that never asks for the next event
         * is stopped after idle_timeout like a parked one. */
        s->idle_since_ms = br_now_ms();
        take_result(ri, res);
        ri->slot = NULL;
        ri->state = RI_DONE;
        rt_list_push(&rt->done, ri);
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
    struct rtapi_req *parked = NULL;
    pthread_mutex_lock(&rt->lock);
    bool current = slot_current(s, gen);
    pid_t pid = s->pid;
    if (current) {
        snprintf(s->init_error, sizeof(s->init_error), "%s%s%s", type,
                 message[0] ? ": " : "", message);
        s->init_error_ms = br_now_ms();
        parked = s->parked;         /* it gets no event now */
        s->parked = NULL;
    }
    pthread_mutex_unlock(&rt->lock);
    if (parked)
        rtapi_wake(parked, true);
    if (!current)
        return;
    br_warn(rt->scope, "worker pid %d reported an init error: %s%s%s", (int)pid, type,
            message[0] ? ": " : "", message);
    br_dispatcher_wake(rt->tgt->disp);
}

/* Whose connections the slot's server takes. A worker being stopped has
 * none: what it still sends is no longer wanted. */
static pid_t hook_owner(void *arg, unsigned *gen)
{
    struct rt_slot *s = arg;
    pthread_mutex_lock(&s->rt->lock);
    pid_t pid = slot_current(s, s->gen) ? s->pid : 0;
    *gen = s->gen;
    pthread_mutex_unlock(&s->rt->lock);
    return pid;
}

static void hook_gone(void *arg, struct rtapi_req *req)
{
    struct rt_slot *s = arg;
    pthread_mutex_lock(&s->rt->lock);
    if (s->parked == req)
        s->parked = NULL;
    pthread_mutex_unlock(&s->rt->lock);
}

static const struct rtapi_hooks rt_hooks = {
    .owner = hook_owner,
    .next = hook_next,
    .result = hook_result,
    .init_error = hook_init_error,
    .gone = hook_gone,
};

/* ------------------------------------------------------- worker ends */

/* A worker that failed to start takes one queued event with it, so the
 * pipeline's backoff paces the restarts instead of a spawn per exit.
 * Lock held. */
static void start_failed(struct exec_runtime *rt, const struct worker_end *end)
{
    char msg[240];
    bool init = end->init_error[0] || end->init_timed_out;
    if (end->init_error[0])
        snprintf(msg, sizeof(msg), "%s", end->init_error);
    else if (end->init_timed_out)
        snprintf(msg, sizeof(msg), "the runtime did not ask for an event within %.2f seconds",
                 (double)rt->init_ms / 1000.0);
    else if (end->asked)
        snprintf(msg, sizeof(msg), "Runtime exited before it took an event (%s)", end->how);
    else
        snprintf(msg, sizeof(msg), "Runtime exited without asking for an event (%s)",
                 end->how);
    br_warn(rt->scope, "worker pid %d failed to start (%s): %s", (int)end->pid, end->how,
            msg);
    struct rt_inv *ri = rt_list_pop(&rt->queue);
    if (!ri)
        return;
    rt_finish(rt, ri, BR_RES_FUNCTION_ERROR, 0,
              init ? "Runtime.InitError" : "Runtime.ExitError", msg);
    /* An init error is Lambda's failed invocation; a worker gone before
     * it took the event never ran the handler. */
    ri->result.not_run = !init;
}

static void died_holding(struct exec_runtime *rt, const struct worker_end *end)
{
    char msg[160];
    br_warn(rt->scope, "worker pid %d exited (%s) holding request %s", (int)end->pid,
            end->how, end->inv->id);
    snprintf(msg, sizeof(msg), "Runtime exited with error: %s", end->how);
    rt_finish(rt, end->inv, BR_RES_FUNCTION_ERROR, end->code,
              end->init_error[0] ? "Runtime.InitError" : "Runtime.ExitError", msg);
}

static void timed_out(struct exec_runtime *rt, const struct worker_end *end)
{
    char msg[64];
    struct rt_inv *ri = end->inv;
    snprintf(msg, sizeof(msg), "Task timed out after %.2f seconds",
             (double)rt->timeout_ms / 1000.0);
    br_warn(rt->scope, "request %s: %s; worker pid %d killed", ri->id, msg, (int)end->pid);
    rt_finish(rt, ri, BR_RES_FUNCTION_ERROR, 0, "Sandbox.Timedout", msg);
    /* The error text is Lambda's wording alone. */
    snprintf(ri->result.error, sizeof(ri->result.error), "%s", msg);
    ri->result.timed_out = true;
}

/* What a worker's end means for the events, as on Lambda. Lock held. */
static void worker_ended(struct exec_runtime *rt, const struct worker_end *end)
{
    switch (end->fate) {
    case WORKER_NOTHING_OWED:
        break;
    case WORKER_LOST_UNSENT:
        /* It died idle, as the event was being handed to it: the event
         * never ran, so it waits for the next worker, costing no attempt. */
        br_info(rt->scope, "worker pid %d exited (%s) while idle", (int)end->pid, end->how);
        rt_requeue(rt, end->inv);
        break;
    case WORKER_DIED_HOLDING:
        died_holding(rt, end);
        break;
    case WORKER_TIMED_OUT:
        timed_out(rt, end);
        break;
    case WORKER_FAILED_START:
        start_failed(rt, end);
        break;
    }
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
        if (s->parked && s->killed == KILL_NONE && !s->init_error[0] &&
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
        hand_to(s, rt_list_pop(&rt->queue), now, wakes, n_wakes);
    for (size_t i = 0; i < rt->n_slots; i++)
        coming += will_take(&rt->slots[i]);
    for (size_t i = 0; i < rt->n_slots && rt->queue.n > coming; i++) {
        s = &rt->slots[i];
        if (s->pid)
            continue;
        if (worker_spawn(rt, s, now) < 0)
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
    while ((ri = rt_list_pop(&rt->queue)))
        rt_finish(rt, ri, BR_RES_RETRY, 0, NULL, rt->spawn_error);
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
        rt_list_push(&rt->queue, ri);
        if (scale(rt, now, rt->wakes, &n_wakes) < 0 && !live_workers(rt)) {
            rt_list_remove(&rt->queue, ri);
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
        rt_list_remove(&rt->queue, ri);
    } else if (ri->state == RI_DONE) {
        rt_list_remove(&rt->done, ri);
    } else if (ri->slot) {
        ri->slot->inv = NULL;
        worker_kill(ri->slot, KILL_STOP);
    }
    pthread_mutex_unlock(&rt->lock);
    free(ri->result.body);
    free(ri);
    inv->tgt_state = NULL;
}

static void lower(int64_t *timeout_ms, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    if (*timeout_ms < 0 || ms < *timeout_ms)
        *timeout_ms = ms;
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
        int64_t due = worker_due(rt, s);
        if (due >= 0)
            lower(timeout_ms, due - now);
    }
    pthread_mutex_unlock(&rt->lock);
    return n;
}

static void report(struct rt_list *done)
{
    struct rt_inv *ri;
    while ((ri = rt_list_pop(done))) {
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
    worker_find_exits(rt, exited);        /* pid and pidfd change on this thread only */
    pthread_mutex_lock(&rt->lock);
    for (size_t i = 0; i < rt->n_slots; i++) {
        struct rt_slot *s = &rt->slots[i];
        struct worker_end end;
        if (!s->pid)
            continue;
        if (exited[i])
            worker_gone(rt, s, rt->wakes, &n_wakes, &end);
        else
            worker_timers(rt, s, now, rt->wakes, &n_wakes, &end);
        worker_ended(rt, &end);
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

/* The workers' environment (exec_lambda_env.c) and the ARN events name. */
static int lambda_env(struct exec_runtime *rt, const struct exec_runtime_conf *conf)
{
    const struct exec_options *o = conf->opts;
    const char *name = conf->tgt->pipeline_name;
    if (exec_lambda_env(&rt->envp, o, name, conf->prog) < 0)
        return -1;
    if (asprintf(&rt->arn, "arn:aws:lambda:%s:000000000000:function:%s",
                 o->region ? o->region : "us-east-1", name) < 0) {
        rt->arn = NULL;
        return -1;
    }
    return 0;
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
    struct exec_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        goto out_oom;
    pthread_mutex_init(&rt->lock, NULL);
    rt->tgt = conf->tgt;
    rt->hooks = &rt_hooks;
    rt->scope = conf->tgt->scope;
    rt->prog = conf->prog;
    rt->argv = conf->argv;
    rt->cwd = o->cwd;
    rt->cmdline = conf->cmdline;
    rt->timeout_ms = o->common.timeout_ms;
    rt->idle_ms = o->idle_timeout_ms;
    rt->init_ms = rt->timeout_ms > RT_INIT_MIN_MS ? rt->timeout_ms : RT_INIT_MIN_MS;
    rt->n_slots = (size_t)(o->workers ? o->workers : conf->tgt->concurrency);
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
            worker_kill(s, KILL_STOP);
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
        worker_reap_all(rt);
    for (size_t i = 0; rt->slots && i < rt->n_slots; i++) {
        if (rt->slots[i].pidfd >= 0)
            close(rt->slots[i].pidfd);
        exec_strv_free(rt->slots[i].envp);
    }
    rt_list_free(&rt->queue);
    rt_list_free(&rt->done);
    free(rt->slots);
    free(rt->wakes);
    exec_strv_free(rt->envp);
    free(rt->arn);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
}
