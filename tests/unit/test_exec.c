/* test_exec.c - the exec target (mode stdio) driven by the real dispatcher:
 * pipelines built from a config, records put straight into their inbound
 * queues (no source thread), settled records read back from their acks.
 * Covers success, exit codes, timeouts (the process group is killed),
 * stdout as the response, MiB bodies both ways, a refused stdin, the
 * response cap, the explicit environment and cwd, init errors, and the
 * cancel at shutdown. Handlers are small sh scripts in a temp dir. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/dispatcher.h"
#include "bridge/log.h"
#include "bridge/pipeline.h"
#include "feed.h"
#include "unit.h"

static char dir[] = "/tmp/fnbridge-test-exec-XXXXXX";

/* ------------------------------------------------------------- helpers */

static void write_file(const char *name, const char *text, int mode)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    chmod(path, (mode_t)mode);
}

/* The file's content (malloc'd, "" when missing). */
static char *read_file(const char *name)
{
    return read_file_in(dir, name);
}

/* Gone within a second. */
static bool proc_gone(pid_t pid)
{
    for (int i = 0; i < 100; i++) {
        if (pid_gone(pid))
            return true;
        sleep_ms(10);
    }
    return false;
}

/* Every pid listed (one per line) in the file is gone. */
static bool pids_gone(const char *name, int want)
{
    char *s = read_file(name), *save = NULL;
    int n = 0;
    bool all = true;
    for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        n++;
        all = all && proc_gone((pid_t)atoi(l));
    }
    free(s);
    CHECK_MSG(n == want, "%s lists %d pids, want %d", name, n, want);
    return all;
}

/* Offsets start at 0 in every run: the partial handler names offset 1. */
static struct settled run(struct br_pipeline *pl, size_t n, size_t value_len)
{
    feed(pl, n, value_len, 0);
    return collect(pl, n);
}

/* ------------------------------------------------------------ the config */

static const char *const handlers[][2] = {
    {"ok.sh", "#!/bin/sh\ncat > \"$OUT\"\necho '{}'\n"},
    {"fail.sh", "#!/bin/sh\ncat > /dev/null\necho oops\nexit 3\n"},
    {"hang.sh", "#!/bin/sh\ncat > /dev/null\necho $$ >> \"$OUT\"\n"
                "sleep 30 &\necho $! >> \"$OUT\"\nwait\n"},
    {"partial.sh", "#!/bin/sh\ncat > /dev/null\necho '{\"batchItemFailures\":"
                   "[{\"itemIdentifier\":{\"partition\":\"t-0\",\"offset\":1}}]}'\n"},
    {"noread.sh", "#!/bin/sh\nexit 0\n"},
    {"flood.sh", "#!/bin/sh\ncat > /dev/null\nhead -c 7340032 /dev/zero\n"},
    {"env.sh", "#!/bin/sh\ncat > /dev/null\nenv > \"$OUT\"\npwd >> \"$OUT\"\n"},
    {"leftover.sh", "#!/bin/sh\ncat > /dev/null\nsleep 30 &\necho $! > \"$OUT\"\n"
                    "echo '{}'\n"},
};

/* One pipeline per case; max_attempts 1 so failures dead-letter at once. */
static void add_pipeline(FILE *f, const char *name, const char *command,
                         const char *extra)
{
    fprintf(f,
            "  - name: %s\n"
            "    source: {kafka: {brokers: \"127.0.0.1:1\", topics: [t], group_id: g}}\n"
            "    batch: {max_records: 10, max_wait: 10ms}\n"
            "    function:\n"
            "      exec:\n"
            "        command: %s\n"
            "        env: {OUT: \"%s/%s.out\", FOO: bar}\n"
            "%s"
            "    retry: {max_attempts: 1, bisect_on_error: false}\n"
            "    dead_letter: {file: {path: \"%s/%s.dlq\"}}\n",
            name, command, dir, name, extra ? extra : "", dir, name);
}

static struct br_config *load(const char *name, struct br_errors *errs)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    errs->file = path;
    struct br_config *cfg = br_config_load(path, errs);
    if (!cfg)
        br_errors_print(errs, stderr);
    return cfg;
}

static void write_config(void)
{
    char path[256], cmd[512];
    snprintf(path, sizeof(path), "%s/test.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "state_dir: %s/state\nlog: {level: error}\nshutdown_timeout: 1s\n"
               "pipelines:\n", dir);
    static const char *const names[] = {"ok", "fail", "hang", "partial",
                                        "noread", "flood", "env", "leftover",
                                        "cancel"};
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        const char *script = !strcmp(names[i], "cancel") ? "hang" : names[i];
        const char *extra = NULL;
        if (!strcmp(names[i], "hang"))
            extra = "        timeout: 300ms\n";
        if (!strcmp(names[i], "env")) {
            /* A relative command, found through cwd. */
            snprintf(cmd, sizeof(cmd), "[./%s.sh]", script);
            snprintf(path, sizeof(path), "        cwd: %s\n", dir);
            add_pipeline(f, names[i], cmd, path);
            continue;
        }
        snprintf(cmd, sizeof(cmd), "[sh, %s/%s.sh]", dir, script);
        add_pipeline(f, names[i], cmd, extra);
    }
    fclose(f);
}

/* --------------------------------------------------------------- cases */

struct world {
    struct br_config *cfg;
    struct br_dispatcher *disp;
    struct br_pipeline *pls[16];
    size_t n;
};

static struct br_pipeline *pipeline(struct world *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->pls[i]->conf->name, name))
            return w->pls[i];
    return NULL;
}

static void test_ok(struct world *w)
{
    struct settled s = run(pipeline(w, "ok"), 5, 10);
    CHECK_INT(s.delivered, 5);
    char *ev = read_file("ok.out");
    CHECK_MSG(strstr(ev, "\"eventSource\":\"SelfManagedKafka\"") &&
              strstr(ev, "\"offset\":4"), "handler got: %.200s", ev);
    free(ev);
}

static void test_fail(struct world *w)
{
    struct settled s = run(pipeline(w, "fail"), 2, 10);
    CHECK_INT(s.dead, 2);
    char *dlq = read_file("fail.dlq");
    CHECK_MSG(strstr(dlq, "exit status 3") && strstr(dlq, "\"statusCode\":3"),
              "dead letter: %.300s", dlq);
    CHECK_MSG(strstr(dlq, "oops"), "stdout kept as the response body");
    free(dlq);
}

static void test_timeout(struct world *w)
{
    int64_t t0 = br_now_ms();
    struct settled s = run(pipeline(w, "hang"), 1, 10);
    CHECK_INT(s.dead, 1);
    CHECK_MSG(br_now_ms() - t0 < 3000, "timeout took %lld ms",
              (long long)(br_now_ms() - t0));
    char *dlq = read_file("hang.dlq");
    CHECK_MSG(strstr(dlq, "timed out after 300ms"), "dead letter: %.300s", dlq);
    free(dlq);
    CHECK_MSG(pids_gone("hang.out", 2), "the process group was killed");
}

static void test_partial(struct world *w)
{
    struct settled s = run(pipeline(w, "partial"), 3, 10);
    /* Ordered partition: offset 0 done, 1 failed, 2 retried after it. */
    CHECK_INT(s.delivered, 1);
    CHECK_INT(s.dead, 2);
}

static void test_big_bodies(struct world *w)
{
    /* 3 MiB in (base64: 4 MiB event), written as the handler reads. */
    struct settled s = run(pipeline(w, "ok"), 1, 3 << 20);
    CHECK_INT(s.delivered, 1);
    /* A handler that never reads its stdin: EPIPE, not a crash. */
    s = run(pipeline(w, "noread"), 1, 2 << 20);
    CHECK_INT(s.delivered, 1);
    /* 7 MiB out: over the response cap, a function error. */
    s = run(pipeline(w, "flood"), 1, 10);
    CHECK_INT(s.dead, 1);
    char *dlq = read_file("flood.dlq");
    CHECK_MSG(strstr(dlq, "response too large"), "dead letter: %.300s", dlq);
    free(dlq);
}

static void test_env(struct world *w)
{
    struct settled s = run(pipeline(w, "env"), 1, 10);
    CHECK_INT(s.delivered, 1);
    char *env = read_file("env.out");
    CHECK_MSG(strstr(env, "FOO=bar\n") && strstr(env, "PATH="), "env: %s", env);
    CHECK_MSG(!strstr(env, "FNB_TEST_SECRET"), "fnbridge's environment leaked");
    CHECK_MSG(strstr(env, dir), "cwd is the configured one: %s", env);
    free(env);
}

static void test_leftover(struct world *w)
{
    /* The handler exits but leaves a process holding stdout: the exit
     * ends the invocation and the leftover is killed. */
    int64_t t0 = br_now_ms();
    struct settled s = run(pipeline(w, "leftover"), 1, 10);
    CHECK_INT(s.delivered, 1);
    CHECK_MSG(br_now_ms() - t0 < 3000, "took %lld ms", (long long)(br_now_ms() - t0));
    CHECK_MSG(pids_gone("leftover.out", 1), "leftover process killed");
}

static void test_cancel(struct world *w)
{
    feed(pipeline(w, "cancel"), 1, 10, 0);
    int64_t deadline = br_now_ms() + 5000;
    char *s = NULL;
    do {
        free(s);
        sleep_ms(20);
        s = read_file("cancel.out");
    } while (!strchr(strchr(s, '\n') ? strchr(s, '\n') + 1 : s, '\n') &&
             br_now_ms() < deadline);
    free(s);
    br_dispatcher_stop(w->disp);
    CHECK_MSG(pids_gone("cancel.out", 2), "cancel killed the process group");
}

static void test_init_errors(void)
{
    static const struct {
        const char *function, *want;
    } cases[] = {
        {"exec: {command: [no-such-program-xyz]}", "was not found in PATH"},
        {"exec: {command: [./missing.sh]}", "No such file or directory"},
        {"exec: {command: [./plain.txt], cwd: DIR}", "not executable"},
        {"exec: {command: [sh], cwd: /nonexistent-dir}", "cwd"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char text[1024], fn[256], err[512] = "";
        const char *at = strstr(cases[i].function, "DIR");
        if (at)     /* the temp dir's name is known only now */
            snprintf(fn, sizeof(fn), "%.*s%s%s", (int)(at - cases[i].function),
                     cases[i].function, dir, at + 3);
        else
            snprintf(fn, sizeof(fn), "%s", cases[i].function);
        snprintf(text, sizeof(text),
                 "state_dir: %s/state\npipelines:\n  - name: bad\n"
                 "    source: {kafka: {brokers: \"127.0.0.1:1\", topics: [t], "
                 "group_id: g}}\n    function: {%s}\n", dir, fn);
        write_file("bad.yaml", text, 0644);
        struct br_errors errs = {0};
        struct br_config *cfg = load("bad.yaml", &errs);
        CHECK(cfg != NULL);
        if (!cfg)
            continue;
        struct br_pipeline *pl = br_pipeline_create(cfg, &cfg->pipelines[0],
                                                    err, sizeof(err));
        CHECK_MSG(!pl && strstr(err, cases[i].want), "%s: got \"%s\"",
                  cases[i].function, err);
        br_pipeline_destroy(pl);
        br_config_free(cfg);
        br_errors_free(&errs);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);            /* as fnbridge's main does */
    setenv("FNB_TEST_SECRET", "hunter2", 1);
    br_log_setup(BR_LOG_ERROR, BR_LOG_LOGFMT);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    for (size_t i = 0; i < sizeof(handlers) / sizeof(*handlers); i++)
        write_file(handlers[i][0], handlers[i][1], 0755);
    write_file("plain.txt", "not a program\n", 0644);
    write_config();

    struct world w = {0};
    struct br_errors errs = {0};
    char err[512] = "";
    w.cfg = load("test.yaml", &errs);
    w.disp = w.cfg ? br_dispatcher_create(err, sizeof(err)) : NULL;
    CHECK(w.disp != NULL);
    for (size_t i = 0; w.disp && i < w.cfg->n_pipelines; i++) {
        struct br_pipeline *pl = br_pipeline_create(w.cfg, &w.cfg->pipelines[i],
                                                    err, sizeof(err));
        CHECK_MSG(pl, "pipeline: %s", err);
        if (!pl)
            return UNIT_DONE("exec");
        w.pls[w.n++] = pl;
        br_dispatcher_add(w.disp, pl);
    }
    if (w.disp && br_dispatcher_start(w.disp) == 0) {
        test_ok(&w);
        test_fail(&w);
        test_timeout(&w);
        test_partial(&w);
        test_big_bodies(&w);
        test_env(&w);
        test_leftover(&w);
        test_cancel(&w);        /* stops the dispatcher: last */
    }
    test_init_errors();

    for (size_t i = 0; i < w.n; i++)
        br_pipeline_destroy(w.pls[i]);
    br_dispatcher_destroy(w.disp);
    br_config_free(w.cfg);
    br_errors_free(&errs);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return UNIT_DONE("exec");
}
