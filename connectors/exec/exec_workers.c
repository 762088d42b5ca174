/* exec_workers.c - the worker processes of the exec target's runtime-api
 * mode: cold starts (posix_spawn, own process group, explicit environment
 * with the slot's AWS_LAMBDA_RUNTIME_API), exits seen through pidfds, the
 * deadline / init / idle timers that kill a worker's group, and reaping.
 * Runs on the dispatcher thread with the runtime's lock held. How a
 * worker ended goes back to the runtime (struct worker_end), which
 * decides what that means for the event. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/log.h"
#include "exec_spawn.h"
#include "exec_workers.h"

/* A runtime that posted /init/error is expected to exit; one still
 * running this long after is stopped. */
#define RT_INIT_ERROR_GRACE_MS 500
/* destroy waits this long in all for killed workers to be reaped. */
#define RT_REAP_BUDGET_MS 2000

void worker_kill(struct rt_slot *s, enum kill_reason why)
{
    if (s->killed == KILL_NONE) {
        kill(-s->pid, SIGKILL);
        kill(s->pid, SIGKILL);      /* in case it left its process group */
        s->killed = why;
    }
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

static void worker_clear(struct rt_slot *s)
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

/* What the slot says of its worker, for the runtime's decision. */
static void end_of(const struct rt_slot *s, enum worker_fate fate, struct worker_end *end)
{
    *end = (struct worker_end){.fate = fate, .inv = s->inv, .pid = s->pid,
                               .asked = s->asked,
                               .init_timed_out = s->killed == KILL_INIT_TIMEOUT};
    snprintf(end->init_error, sizeof(end->init_error), "%s", s->init_error);
}

/* How the exit touches events: a worker that dies before taking any
 * event failed to start (or, having asked, died waiting), unless we
 * stopped it ourselves. */
static enum worker_fate fate_of(const struct rt_slot *s)
{
    if (s->inv && !s->inv->sent && s->asked)
        return WORKER_LOST_UNSENT;
    if (s->inv)
        return WORKER_DIED_HOLDING;
    if (!s->took && s->killed != KILL_IDLE && s->killed != KILL_STOP)
        return WORKER_FAILED_START;
    return WORKER_NOTHING_OWED;
}

/* The worker exited: reap it, say how. Lock held. */
void worker_gone(struct exec_runtime *rt, struct rt_slot *s, struct rt_wake *wakes,
                 size_t *n_wakes, struct worker_end *end)
{
    int st = exec_child_reap(s->pid);
    end_of(s, fate_of(s), end);
    describe_exit(st, end->how, sizeof(end->how));
    end->code = exit_code(st);
    if (s->parked)
        wakes[(*n_wakes)++] = (struct rt_wake){s->parked, true};
    /* An end that touches an event is logged where it is decided. */
    if (end->fate == WORKER_NOTHING_OWED && s->killed == KILL_NONE)
        br_info(rt->scope, "worker pid %d exited (%s)", (int)s->pid, end->how);
    else if (end->fate == WORKER_NOTHING_OWED)
        br_debug(rt->scope, "worker pid %d stopped (%s)", (int)s->pid, end->how);
    worker_clear(s);
}

/* Deadline, init time and idle time of a live worker. Lock held. */
void worker_timers(struct exec_runtime *rt, struct rt_slot *s, int64_t now,
                   struct rt_wake *wakes, size_t *n_wakes, struct worker_end *end)
{
    end->fate = WORKER_NOTHING_OWED;
    end->inv = NULL;
    if (s->killed != KILL_NONE)
        return;
    if (s->inv && now >= s->inv->deadline_ms) {
        end->fate = WORKER_TIMED_OUT;
        end->inv = s->inv;
        end->pid = s->pid;
        s->inv = NULL;
        worker_kill(s, KILL_TIMEOUT);
    } else if (!s->asked && now - s->started_ms >= rt->init_ms) {
        worker_kill(s, KILL_INIT_TIMEOUT);
    } else if (s->asked && !s->inv && now - s->idle_since_ms >= rt->idle_ms) {
        br_debug(rt->scope, "worker pid %d idle for %lld ms: stopping it", (int)s->pid,
                 (long long)(now - s->idle_since_ms));
        if (s->parked)
            wakes[(*n_wakes)++] = (struct rt_wake){s->parked, true};
        s->parked = NULL;
        worker_kill(s, KILL_IDLE);
    } else if (s->init_error[0] && now - s->init_error_ms >= RT_INIT_ERROR_GRACE_MS) {
        worker_kill(s, KILL_INIT_ERROR);
    }
}

int64_t worker_due(const struct exec_runtime *rt, const struct rt_slot *s)
{
    int64_t due = -1;
    if (s->killed != KILL_NONE)
        return -1;
    if (s->inv)
        due = s->inv->deadline_ms;
    else if (!s->asked)
        due = s->started_ms + rt->init_ms;
    else
        due = s->idle_since_ms + rt->idle_ms;
    if (s->init_error[0] && (due < 0 || s->init_error_ms + RT_INIT_ERROR_GRACE_MS < due))
        due = s->init_error_ms + RT_INIT_ERROR_GRACE_MS;
    return due;
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
    s->srv = rtapi_start(rt->hooks, s, rt->arn, rt->scope, err, sizeof(err));
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
int worker_spawn(struct exec_runtime *rt, struct rt_slot *s, int64_t now)
{
    pid_t pid;
    if (slot_serve(rt, s) < 0)
        return -1;
    /* Connections are judged against pid and gen under the lock held
     * here, so the worker's first one waits until both are set. */
    s->gen++;
    int rc = exec_spawn_worker(rt->prog, rt->argv, s->envp, rt->cwd, &pid);
    if (rc) {
        snprintf(rt->spawn_error, sizeof(rt->spawn_error), "cannot run %.120s: %s",
                 rt->cmdline, strerror(rc));
        return -1;
    }
    worker_clear(s);
    s->pid = pid;
    s->pidfd = exec_pidfd(pid);
    s->started_ms = now;
    br_debug(rt->scope, "cold start: worker pid %d on 127.0.0.1:%u", (int)pid,
             rtapi_port(s->srv));
    return 0;
}

/* Which live workers have exited: one poll over every pidfd rather than a
 * waitid per worker on every pass. */
void worker_find_exits(struct exec_runtime *rt, bool *exited)
{
    struct pollfd pfds[256];
    size_t idx[256], n = 0;
    for (size_t i = 0; i < rt->n_slots; i++) {
        struct rt_slot *s = &rt->slots[i];
        exited[i] = false;
        if (!s->pid)
            continue;
        if (s->pidfd < 0 || n == 256) {
            exited[i] = exec_child_exited(s->pid);
            continue;
        }
        pfds[n] = (struct pollfd){.fd = s->pidfd, .events = POLLIN};
        idx[n++] = i;
    }
    if (n && poll(pfds, (nfds_t)n, 0) > 0)
        for (size_t k = 0; k < n; k++)
            /* POLLIN is the exit; an error on the fd is looked at the
             * slow way, since reaping a live worker would block. */
            exited[idx[k]] = (pfds[k].revents & POLLIN) ||
                             (pfds[k].revents && exec_child_exited(rt->slots[idx[k]].pid));
}

/* Reaps every killed worker, giving them RT_REAP_BUDGET_MS in all: a
 * process stuck in the kernel stays a zombie rather than stall shutdown. */
void worker_reap_all(struct exec_runtime *rt)
{
    int64_t deadline = br_now_ms() + RT_REAP_BUDGET_MS;
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < rt->n_slots; i++) {
            struct rt_slot *s = &rt->slots[i];
            if (!s->pid)
                continue;
            if (exec_child_exited(s->pid)) {
                exec_child_reap(s->pid);
                worker_clear(s);
            } else {
                left++;
            }
        }
        if (!left || br_now_ms() >= deadline)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
}
