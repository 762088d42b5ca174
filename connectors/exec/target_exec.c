/* target_exec.c - the local process target (README: Function exec). Mode stdio
 * is here: one process per batch, the event on its stdin, its stdout as
 * the response. Mode runtime-api (warm workers speaking the Lambda Runtime
 * API) lives in exec_runtime.c; the ops forward to it when ctx->rt is set.
 * Everything runs on the dispatcher thread without blocking:
 * the dispatcher polls our pipes (ops->fds) and we move bytes when they
 * are ready (ops->service).
 *
 * Owns: the child's environment and argv, and one exec_proc per running
 * child. No SIGCHLD handler: a pidfd (polled with the pipes) wakes the
 * dispatcher when a child exits, and each service pass looks with
 * waitid(WNOHANG). The invocation ends when the child exits (or on its
 * deadline); its process group is then killed and the child reaped, so
 * nothing it started outlives it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bridge/buf.h"
#include "bridge/clock.h"
#include "bridge/log.h"
#include "exec_runtime.h"
#include "exec_spawn.h"
#include "target_exec.h"

/* Largest response kept, as for HTTP functions. */
#define EXEC_MAX_RESPONSE (6u << 20)
/* Poll interval for children when the kernel has no pidfds (< 5.3). */
#define EXEC_POLL_MS 10
/* Bodies above this get a bigger stdin pipe: fewer wake-ups per batch. */
#define EXEC_BIG_PIPE (1 << 20)

struct exec_proc {
    struct exec_proc *next;
    struct br_invocation *inv;
    pid_t pid;                 /* also the process group id */
    int in_fd;                 /* -1 once the body is written or refused */
    int out_fd;                /* -1 at EOF or once killed */
    int pidfd;                 /* readable when the child exits; -1 if none */
    size_t written;
    int64_t deadline_ms;       /* monotonic */
    bool killed;               /* SIGKILL sent to the group */
    bool timed_out;
    bool too_large;
    struct br_buf out;
};

struct exec_ctx {
    struct exec_options opts;  /* must come first (option table) */
    char **envp;
    char **argv;
    char *prog;                /* resolved argv[0] for posix_spawn */
    char *cmdline;             /* argv joined: logs, errors, dead letters */
    const char *scope;
    struct exec_proc *procs;
    struct exec_runtime *rt;   /* mode runtime-api; the ops forward to it */
};

/* --------------------------------------------------------- child state */

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Stops the whole group; the fds are closed since nothing we could still
 * read matters, and a process that left the group must not keep us
 * waiting for EOF. */
static void proc_kill(struct exec_proc *p)
{
    if (!p->killed)
        kill(-p->pid, SIGKILL);
    p->killed = true;
    close_fd(&p->in_fd);
    close_fd(&p->out_fd);
}

/* For cancel and destroy: kill and reap without stalling shutdown on a
 * process stuck in the kernel (then it stays a zombie until we exit). */
static void proc_reap_bounded(struct exec_proc *p)
{
    proc_kill(p);
    for (int i = 0; i < 1000; i++) {
        if (exec_child_exited(p->pid)) {
            exec_child_reap(p->pid);
            return;
        }
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
}

static void proc_free(struct exec_proc *p)
{
    close_fd(&p->in_fd);
    close_fd(&p->out_fd);
    close_fd(&p->pidfd);
    br_buf_free(&p->out);
    free(p);
}

static void proc_unlink(struct exec_ctx *ctx, struct exec_proc *p)
{
    struct exec_proc **pp = &ctx->procs;
    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp)
        *pp = p->next;
    p->next = NULL;
}

/* -------------------------------------------------------------- pipes */

/* Writes what the pipe takes now. EPIPE (SIGPIPE is ignored process-wide)
 * means the function stopped reading: fine, its exit status decides. */
static void proc_write(struct exec_proc *p)
{
    const struct br_invocation *inv = p->inv;
    while (p->written < inv->body_len) {
        ssize_t n = write(p->in_fd, inv->body + p->written,
                          inv->body_len - p->written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0)
            break;
        p->written += (size_t)n;
    }
    close_fd(&p->in_fd);     /* EOF tells the function the event is whole */
}

static void proc_read(struct exec_proc *p)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(p->out_fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            close_fd(&p->out_fd);
            return;
        }
        if (br_buf_append(&p->out, chunk, (size_t)n) < 0) {
            p->too_large = true;
            proc_kill(p);
            return;
        }
    }
}

/* --------------------------------------------------------- the result */

static void result_from_status(struct exec_ctx *ctx, struct exec_proc *p,
                               int st, struct br_result *res)
{
    res->kind = BR_RES_FUNCTION_ERROR;
    if (p->too_large) {
        snprintf(res->error, sizeof(res->error),
                 "response too large (over %u MiB)", EXEC_MAX_RESPONSE >> 20);
    } else if (p->timed_out) {
        snprintf(res->error, sizeof(res->error), "timed out after %lldms",
                 (long long)ctx->opts.common.timeout_ms);
        res->timed_out = true;
    } else if (st < 0) {
        snprintf(res->error, sizeof(res->error), "exit status unknown");
    } else if (WIFEXITED(st)) {
        res->status = WEXITSTATUS(st);
        if (res->status == 0)
            res->kind = BR_RES_OK;
        else
            snprintf(res->error, sizeof(res->error), "exit status %ld",
                     res->status);
    } else if (WIFSIGNALED(st)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(st));
        res->status = 128 + WTERMSIG(st);    /* as shells report it */
        snprintf(res->error, sizeof(res->error), "killed by signal %d (SIG%s)",
                 WTERMSIG(st), abbrev ? abbrev : "?");
    }
}

/* The child is gone: reap it, fill the result. The caller calls done. */
static void proc_finish(struct exec_ctx *ctx, struct exec_proc *p)
{
    struct br_result *res = &p->inv->result;
    int st = exec_child_reap(p->pid);
    memset(res, 0, sizeof(*res));
    res->retry_after_ms = -1;
    result_from_status(ctx, p, st, res);
    /* Kept on failure too: the dead letter shows what the function said. */
    res->body = br_buf_steal(&p->out, &res->body_len);
    br_debug(ctx->scope, "pid %d finished: %s", (int)p->pid,
             res->kind == BR_RES_OK ? "ok" : res->error);
}

/* One service pass over a child; true when it is finished. The exit is
 * looked at before reading: everything the function wrote before exiting
 * is then in the pipe, and a process it left behind holding stdout open
 * cannot keep the invocation waiting (the group is killed at reaping). */
static bool proc_step(struct exec_proc *p, int64_t now)
{
    bool exited = exec_child_exited(p->pid);
    if (p->in_fd >= 0)
        proc_write(p);
    if (p->out_fd >= 0)
        proc_read(p);
    if (exited)
        return true;
    if (!p->killed && now >= p->deadline_ms) {
        p->timed_out = true;
        proc_kill(p);
    }
    return false;
}

/* ------------------------------------------------------------- the ops */

static void exec_service(struct br_target *tgt)
{
    struct exec_ctx *ctx = tgt->ctx;
    struct exec_proc *done = NULL, **tail = &done;
    int64_t now = br_now_ms();
    if (ctx->rt) {
        exec_runtime_service(ctx->rt);
        return;
    }

    /* Finished children are unlinked first and reported after the loop:
     * done() may submit the next batch, which changes the list. */
    for (struct exec_proc *p = ctx->procs, *next; p; p = next) {
        next = p->next;
        if (!proc_step(p, now))
            continue;
        proc_unlink(ctx, p);
        *tail = p;
        tail = &p->next;
    }
    while (done) {
        struct exec_proc *p = done;
        struct br_invocation *inv = p->inv;
        done = p->next;
        proc_finish(ctx, p);
        inv->tgt_state = NULL;
        proc_free(p);
        br_invocation_done(inv);
    }
}

static int add_fd(struct curl_waitfd *fds, int max, int *n, int fd,
                  short events)
{
    if (*n >= max)
        return -1;
    fds[*n].fd = fd;
    fds[*n].events = events;
    fds[*n].revents = 0;
    (*n)++;
    return 0;
}

static void lower(int64_t *timeout_ms, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    if (*timeout_ms < 0 || ms < *timeout_ms)
        *timeout_ms = ms;
}

/* The fds of one child; returns -1 when they did not all fit. */
static int proc_fds(struct exec_proc *p, struct curl_waitfd *fds, int max,
                    int *n, int64_t *timeout_ms, int64_t now)
{
    int rc = 0;
    if (p->in_fd >= 0)
        rc |= add_fd(fds, max, n, p->in_fd, CURL_WAIT_POLLOUT);
    if (p->out_fd >= 0)
        rc |= add_fd(fds, max, n, p->out_fd, CURL_WAIT_POLLIN);
    if (p->pidfd >= 0)
        rc |= add_fd(fds, max, n, p->pidfd, CURL_WAIT_POLLIN);
    else
        lower(timeout_ms, EXEC_POLL_MS);   /* no pidfd: look for the exit */
    if (!p->killed)
        lower(timeout_ms, p->deadline_ms - now);
    return rc;
}

static int exec_fds(struct br_target *tgt, struct curl_waitfd *fds, int max,
                    int64_t *timeout_ms)
{
    struct exec_ctx *ctx = tgt->ctx;
    int64_t now = br_now_ms();
    int n = 0;
    if (ctx->rt)
        return exec_runtime_fds(ctx->rt, fds, max, timeout_ms);
    for (struct exec_proc *p = ctx->procs; p; p = p->next)
        if (proc_fds(p, fds, max, &n, timeout_ms, now) < 0)
            lower(timeout_ms, EXEC_POLL_MS);   /* no room: poll instead */
    return n;
}

static void exec_submit_failed(struct exec_ctx *ctx, struct br_invocation *inv,
                               int err)
{
    memset(&inv->result, 0, sizeof(inv->result));
    inv->result.kind = BR_RES_RETRY;
    inv->result.retry_after_ms = -1;
    snprintf(inv->result.error, sizeof(inv->result.error),
             "cannot run %.160s: %s", ctx->cmdline, strerror(err));
}

static int exec_submit(struct br_target *tgt, struct br_invocation *inv)
{
    struct exec_ctx *ctx = tgt->ctx;
    struct exec_child child;
    if (ctx->rt)
        return exec_runtime_submit(ctx->rt, inv);
    struct exec_proc *p = calloc(1, sizeof(*p));
    int rc = p ? exec_spawn(ctx->prog, ctx->argv, ctx->envp, ctx->opts.cwd,
                            &child) : ENOMEM;
    if (rc) {
        free(p);
        exec_submit_failed(ctx, inv, rc);
        return -1;
    }
    p->inv = inv;
    p->pid = child.pid;
    p->in_fd = child.in_fd;
    p->out_fd = child.out_fd;
    p->pidfd = exec_pidfd(child.pid);
    p->deadline_ms = br_now_ms() + ctx->opts.common.timeout_ms;
    br_buf_init(&p->out, EXEC_MAX_RESPONSE);
    if (inv->body_len > 65536)     /* best effort; the default is 64 KiB */
        fcntl(p->in_fd, F_SETPIPE_SZ,
              (int)(inv->body_len < EXEC_BIG_PIPE ? inv->body_len : EXEC_BIG_PIPE));
    if (inv->body_len == 0)
        close_fd(&p->in_fd);
    p->next = ctx->procs;
    ctx->procs = p;
    inv->tgt_state = p;
    br_debug(tgt->scope, "started pid %d for %zu records (%zu bytes)",
             (int)p->pid, inv->n_recs, inv->body_len);
    return 0;
}

static void exec_cancel(struct br_target *tgt, struct br_invocation *inv)
{
    struct exec_ctx *ctx = tgt->ctx;
    struct exec_proc *p = inv->tgt_state;
    if (ctx->rt) {
        exec_runtime_cancel(ctx->rt, inv);
        return;
    }
    if (!p)
        return;
    proc_unlink(tgt->ctx, p);
    proc_reap_bounded(p);
    inv->tgt_state = NULL;
    proc_free(p);
}

static int exec_check_cwd(const char *cwd, char *err, size_t errlen)
{
    struct stat st;
    if (!cwd)
        return 0;
    if (stat(cwd, &st) < 0) {
        snprintf(err, errlen, "cwd: \"%s\": %s", cwd, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "cwd: \"%s\" is not a directory", cwd);
        return -1;
    }
    /* The child chdirs there: without search permission every batch
     * would fail at run time instead of the config here. */
    if (faccessat(AT_FDCWD, cwd, X_OK, AT_EACCESS) < 0) {
        snprintf(err, errlen, "cwd: \"%s\": %s", cwd, strerror(errno));
        return -1;
    }
    return 0;
}

/* What init made; also run when init fails (the core then calls no
 * destroy). */
static void exec_free_state(struct exec_ctx *ctx)
{
    exec_runtime_destroy(ctx->rt);     /* first: it borrows the rest */
    ctx->rt = NULL;
    exec_strv_free(ctx->envp);
    free(ctx->argv);          /* the strings belong to the options */
    free(ctx->prog);
    free(ctx->cmdline);
    ctx->envp = NULL;
    ctx->argv = NULL;
    ctx->prog = ctx->cmdline = NULL;
}

static int exec_init_runtime(struct br_target *tgt, char *err, size_t errlen)
{
    struct exec_ctx *ctx = tgt->ctx;
    struct exec_runtime_conf conf = {
        .tgt = tgt, .opts = &ctx->opts, .prog = ctx->prog, .argv = ctx->argv,
        .envp = ctx->envp, .cmdline = ctx->cmdline,
    };
    ctx->rt = exec_runtime_create(&conf, err, errlen);
    return ctx->rt ? 0 : -1;
}

static int exec_init(struct br_target *tgt, char *err, size_t errlen)
{
    struct exec_ctx *ctx = tgt->ctx;
    const struct br_strlist *cmd = &ctx->opts.command;
    ctx->scope = tgt->scope;
    if (cmd->n == 0) {
        snprintf(err, errlen, "command: must name a program");
        return -1;
    }
    if (exec_check_cwd(ctx->opts.cwd, err, errlen) < 0)
        return -1;
    ctx->envp = exec_env_build(&ctx->opts.env, err, errlen);
    if (!ctx->envp)
        return -1;
    ctx->prog = exec_resolve(cmd->v[0], exec_env_get(ctx->envp, "PATH"),
                             ctx->opts.cwd, err, errlen);
    if (!ctx->prog)
        goto out_free;
    ctx->argv = exec_argv_build(cmd->v, cmd->n);
    ctx->cmdline = exec_join(cmd->v, cmd->n);
    if (!ctx->argv || !ctx->cmdline) {
        snprintf(err, errlen, "out of memory");
        goto out_free;
    }
    if (ctx->opts.mode == EXEC_MODE_RUNTIME_API && exec_init_runtime(tgt, err, errlen) < 0)
        goto out_free;
    tgt->name_for_dlq = ctx->cmdline;
    br_debug(tgt->scope, "exec target %s (program %s)", ctx->cmdline, ctx->prog);
    return 0;

out_free:
    exec_free_state(ctx);
    return -1;
}

static void exec_destroy(struct br_target *tgt)
{
    struct exec_ctx *ctx = tgt->ctx;
    if (!ctx)
        return;
    while (ctx->procs) {        /* normally cancelled already */
        struct exec_proc *p = ctx->procs;
        ctx->procs = p->next;
        proc_reap_bounded(p);
        proc_free(p);
    }
    exec_free_state(ctx);
}

const struct br_target_ops br_target_exec = {
    .name = "exec",
    .opts = exec_target_opts,
    .ctx_size = sizeof(struct exec_ctx),
    .check = exec_check_options,
    .init = exec_init,
    .submit = exec_submit,
    .cancel = exec_cancel,
    .fds = exec_fds,
    .service = exec_service,
    .destroy = exec_destroy,
};
