/* test_exec_runtime.c - the exec target in mode runtime-api driven by the
 * real dispatcher: pipelines built from a config, records put straight
 * into their inbound queues, settled records read back from their acks.
 *
 * The workers are this test binary itself, started as
 * `test_exec_runtime --runtime MODE`: a small Lambda runtime over libcurl
 * that logs what it saw to $OUT. Covers warm reuse and the event headers,
 * the Runtime API's answers to bad requests (404, 400, 413), /error,
 * a worker dying mid-invocation (retried on a new one), the deadline,
 * init failures without a spawn storm, /init/error, idle stop and cold
 * start, the explicit environment, a command gone after init, cancel at
 * shutdown, init errors, and that `check` leaves no thread or socket. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bridge/buf.h"
#include "bridge/clock.h"
#include "bridge/dispatcher.h"
#include "bridge/log.h"
#include "bridge/pipeline.h"
#include "feed.h"
#include "unit.h"

extern char **environ;

static char dir[] = "/tmp/fnbridge-test-rt-XXXXXX";
static char self[4096];

/* ============================================================ the runtime */

struct call {
    long status;
    struct br_buf body;
    char request_id[64];
    char deadline[32];
    char arn[160];
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct br_buf *b = arg;
    br_buf_append(b, p, size * n);
    return size * n;
}

static void header_value(const char *line, size_t len, const char *name, char *out,
                         size_t outlen)
{
    size_t nlen = strlen(name);
    if (len <= nlen + 1 || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return;
    const char *v = line + nlen + 1;
    while (*v == ' ')
        v++;
    size_t vlen = (size_t)(line + len - v);
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
        vlen--;
    snprintf(out, outlen, "%.*s", (int)vlen, v);
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct call *c = arg;
    header_value(p, size * n, "Lambda-Runtime-Aws-Request-Id", c->request_id,
                 sizeof(c->request_id));
    header_value(p, size * n, "Lambda-Runtime-Deadline-Ms", c->deadline, sizeof(c->deadline));
    header_value(p, size * n, "Lambda-Runtime-Invoked-Function-Arn", c->arn, sizeof(c->arn));
    return size * n;
}

/* One Runtime API request; body NULL for a GET. */
static void call(struct call *c, const char *path, const char *body, size_t len,
                 const char *header)
{
    char url[256];
    struct curl_slist *hs = header ? curl_slist_append(NULL, header) : NULL;
    CURL *easy = curl_easy_init();
    memset(c, 0, sizeof(*c));
    br_buf_init(&c->body, 0);
    snprintf(url, sizeof(url), "http://%s/2018-06-01/runtime%s",
             getenv("AWS_LAMBDA_RUNTIME_API"), path);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &c->body);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hs);
    if (body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_easy_perform(easy) != CURLE_OK)
        exit(0);               /* the API is gone: fnbridge stopped us */
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &c->status);
    curl_easy_cleanup(easy);
    curl_slist_free_all(hs);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    FILE *f = fopen(getenv("OUT"), "a");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

static void post(struct call *c, const char *id, const char *what, const char *body,
                 size_t len, const char *header)
{
    char path[128];
    snprintf(path, sizeof(path), "/invocation/%s/%s", id, what);
    call(c, path, body, len, header);
}

/* The bad requests a runtime could make, answered before any event. */
static void probe_errors(void)
{
    struct call c;
    call(&c, "/nowhere", NULL, 0, NULL);
    say("unknown-path %ld", c.status);
    br_buf_free(&c.body);
    post(&c, "no-such-id", "response", "{}", 2, NULL);
    say("unknown-id %ld %s", c.status, c.body.data ? c.body.data : "");
    br_buf_free(&c.body);
    post(&c, "no-such-id", "nothing", "{}", 2, NULL);
    say("unknown-route %ld", c.status);
    br_buf_free(&c.body);
}

static void answer(const char *mode, struct call *next)
{
    struct call c;
    const char *id = next->request_id;
    if (!strcmp(mode, "big")) {
        size_t n = (6u << 20) + 100;
        char *big = malloc(n);
        memset(big, 'x', n);
        post(&c, id, "response", big, n, NULL);
        free(big);
        say("big %ld", c.status);
    } else if (!strcmp(mode, "error")) {
        const char *e = "{\"errorMessage\":\"boom\",\"errorType\":\"FromBody\"}";
        post(&c, id, "error", e, strlen(e), "Lambda-Runtime-Function-Error-Type: Custom.Boom");
        say("error %ld", c.status);
    } else if (!strcmp(mode, "hang")) {
        sleep(60);
        return;
    } else {
        char body[64];
        int n = snprintf(body, sizeof(body), "{\"len\":%zu}", next->body.len);
        post(&c, id, "response", body, (size_t)n, NULL);
        if (c.status != 202)
            say("response-refused %ld", c.status);
        br_buf_free(&c.body);
        post(&c, id, "response", body, (size_t)n, NULL);
        say("second-response %ld", c.status);
    }
    br_buf_free(&c.body);
}

static int run_runtime(const char *mode)
{
    say("spawn %d", (int)getpid());
    if (!strcmp(mode, "exit"))
        return 1;
    if (!strcmp(mode, "initerr")) {
        struct call c;
        const char *e = "{\"errorMessage\":\"no module\",\"errorType\":\"Runtime.ImportModuleError\"}";
        call(&c, "/init/error", e, strlen(e), NULL);
        say("init-error %ld", c.status);
        br_buf_free(&c.body);
        return 1;
    }
    if (!strcmp(mode, "env")) {
        char cwd[4096];
        for (char **e = environ; *e; e++)
            say("env %s", *e);
        say("cwd %s", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
    }
    if (!strcmp(mode, "probe"))
        probe_errors();
    for (;;) {
        struct call next;
        call(&next, "/invocation/next", NULL, 0, NULL);
        long long left = atoll(next.deadline) - br_wall_ms();
        say("event %d %ld %s %lld %s", (int)getpid(), next.status, next.request_id, left,
            next.arn);
        if (!strcmp(mode, "crash") && access(getenv("MARKER"), F_OK) != 0) {
            fclose(fopen(getenv("MARKER"), "w"));
            say("crashing %d", (int)getpid());
            _exit(3);
        }
        answer(mode, &next);
        br_buf_free(&next.body);
    }
}

/* ============================================================ the harness */

static char *read_file(const char *name)
{
    return read_file_in(dir, name);
}

/* Lines of name starting with prefix. */
static int count_lines(const char *name, const char *prefix)
{
    char *s = read_file(name), *save = NULL;
    int n = 0;
    for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        n += strncmp(l, prefix, strlen(prefix)) == 0;
    free(s);
    return n;
}

/* Every pid of a "spawn PID" line is gone (waiting up to ms). */
static bool all_gone(const char *name, long ms)
{
    int64_t deadline = br_now_ms() + ms;
    for (;;) {
        char *s = read_file(name), *save = NULL;
        bool all = true;
        for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
            if (!strncmp(l, "spawn ", 6))
                all = all && pid_gone((pid_t)atoi(l + 6));
        free(s);
        if (all || br_now_ms() >= deadline)
            return all;
        sleep_ms(10);
    }
}

/* Offsets keep growing across calls: every record is a new one. */
static void feed_new(struct br_pipeline *pl, size_t n, size_t value_len)
{
    static int64_t offset;
    feed(pl, n, value_len, offset);
    offset += (int64_t)n;
}

static struct settled run(struct br_pipeline *pl, size_t n, size_t value_len)
{
    feed_new(pl, n, value_len);
    return collect(pl, n);
}

/* One runtime-api pipeline running this binary as `--runtime mode`. */
static void add_pipeline(FILE *f, const char *name, const char *mode, const char *extra,
                         const char *retry)
{
    fprintf(f,
            "  - name: %s\n"
            "    source: {kafka: {brokers: \"127.0.0.1:1\", topics: [t], group_id: g}}\n"
            "    batch: {max_records: 1, max_wait: 1ms}\n"
            "    concurrency: 2\n"
            "    function:\n"
            "      exec:\n"
            "        mode: runtime-api\n"
            "        command: [\"%s\", --runtime, %s]\n"
            "        env: {OUT: \"%s/%s.out\", MARKER: \"%s/%s.marker\"}\n"
            "        region: eu-west-3\n"
            "%s"
            "    retry: {%s, backoff: {initial: 10ms, max: 20ms}, bisect_on_error: false}\n"
            "    dead_letter: {file: {path: \"%s/%s.dlq\"}}\n",
            name, self, mode, dir, name, dir, name, extra ? extra : "",
            retry ? retry : "max_attempts: 1", dir, name);
}

static void write_config(void)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/test.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "state_dir: %s/state\nlog: {level: error}\nshutdown_timeout: 1s\n"
               "pipelines:\n", dir);
    add_pipeline(f, "ok", "ok", "        workers: 2\n        timeout: 5s\n", NULL);
    add_pipeline(f, "probe", "probe", NULL, NULL);
    add_pipeline(f, "big", "big", NULL, NULL);
    add_pipeline(f, "error", "error", NULL, NULL);
    add_pipeline(f, "crash", "crash", NULL, "max_attempts: 3");
    add_pipeline(f, "hang", "hang", "        timeout: 300ms\n", NULL);
    add_pipeline(f, "exit", "exit", "        workers: 1\n", "max_attempts: 2");
    add_pipeline(f, "initerr", "initerr", "        workers: 1\n", NULL);
    add_pipeline(f, "idle", "ok", "        workers: 1\n        idle_timeout: 300ms\n", NULL);
    add_pipeline(f, "idlekill", "ok", "        workers: 1\n", NULL);
    fprintf(f, "  # the command goes away after init\n");
    add_pipeline(f, "gone", "ok", NULL, "max_attempts: 1");
    add_pipeline(f, "env", "env",
                 "        cwd: /tmp\n        handler: app.main\n        memory_size: 512\n", NULL);
    add_pipeline(f, "cancel", "hang", "        timeout: 60s\n", NULL);
    fclose(f);
}

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

/* ============================================================== the cases */

static void test_warm(struct world *w)
{
    struct settled s = run(pipeline(w, "ok"), 20, 10);
    CHECK_INT(s.delivered, 20);
    CHECK_MSG(count_lines("ok.out", "spawn") <= 2, "at most `workers` started");
    CHECK_INT(count_lines("ok.out", "event "), 20);
    CHECK_INT(count_lines("ok.out", "response-refused"), 0);
    /* A second response to the same id is refused as Lambda does. */
    CHECK_INT(count_lines("ok.out", "second-response 400"), 20);
    char *out = read_file("ok.out");
    char id[64] = "", arn[160] = "";
    long long left = 0;
    int pid = 0;
    long status = 0;
    const char *ev = strstr(out, "event ");
    CHECK(ev && sscanf(ev, "event %d %ld %63s %lld %159s", &pid, &status, id, &left, arn) == 5);
    CHECK_INT(status, 200);
    CHECK_MSG(strlen(id) == 36 && id[14] == '4' && strchr("89ab", id[19]),
              "request id %s is a UUID v4", id);
    CHECK_MSG(left > 4000 && left <= 5000, "deadline %lld ms ahead, timeout 5s", left);
    CHECK_MSG(!strcmp(arn, "arn:aws:lambda:eu-west-3:000000000000:function:ok"), "arn %s", arn);
    free(out);
    /* 3 MiB in (a 4 MiB event) through a warm worker. */
    s = run(pipeline(w, "ok"), 1, 3 << 20);
    CHECK_INT(s.delivered, 1);
    CHECK_MSG(count_lines("ok.out", "spawn") <= 2, "still the warm workers");
}

static void test_probe(struct world *w)
{
    struct settled s = run(pipeline(w, "probe"), 1, 10);
    CHECK_INT(s.delivered, 1);
    CHECK_INT(count_lines("probe.out", "unknown-path 404"), 1);
    CHECK_INT(count_lines("probe.out", "unknown-route 404"), 1);
    char *out = read_file("probe.out");
    CHECK_MSG(strstr(out, "unknown-id 400 {\"errorMessage\":") &&
              strstr(out, "\"errorType\":\"InvalidRequestID\""), "400 body: %s", out);
    free(out);
}

static void test_too_large(struct world *w)
{
    struct settled s = run(pipeline(w, "big"), 1, 10);
    CHECK_INT(s.dead, 1);
    CHECK_INT(count_lines("big.out", "big 413"), 1);
    char *dlq = read_file("big.dlq");
    CHECK_MSG(strstr(dlq, "Function.ResponseSizeTooLarge"), "dead letter: %.300s", dlq);
    free(dlq);
    CHECK_INT(count_lines("big.out", "spawn"), 1);
}

static void test_error(struct world *w)
{
    struct settled s = run(pipeline(w, "error"), 1, 10);
    CHECK_INT(s.dead, 1);
    CHECK_INT(count_lines("error.out", "error 202"), 1);
    char *dlq = read_file("error.dlq");
    CHECK_MSG(strstr(dlq, "\"functionError\":\"Custom.Boom\""), "the header's type: %.400s", dlq);
    CHECK_MSG(strstr(dlq, "boom"), "the posted body kept: %.400s", dlq);
    free(dlq);
}

static void test_crash(struct world *w)
{
    struct settled s = run(pipeline(w, "crash"), 1, 10);
    CHECK_INT(s.delivered, 1);
    CHECK_INT(count_lines("crash.out", "crashing"), 1);
    CHECK_INT(count_lines("crash.out", "spawn"), 2);
    CHECK_INT(count_lines("crash.out", "event "), 2);
}

static void test_deadline(struct world *w)
{
    int64_t t0 = br_now_ms();
    struct settled s = run(pipeline(w, "hang"), 1, 10);
    int64_t took = br_now_ms() - t0;
    CHECK_INT(s.dead, 1);
    CHECK_MSG(took >= 300 && took < 3000, "deadline 300 ms, took %lld", (long long)took);
    char *dlq = read_file("hang.dlq");
    CHECK_MSG(strstr(dlq, "Task timed out after 0.30 seconds"), "dead letter: %.300s", dlq);
    free(dlq);
    CHECK_MSG(all_gone("hang.out", 3000), "the hung worker was killed");
}

static void test_init_exit(struct world *w)
{
    struct settled s = run(pipeline(w, "exit"), 1, 10);
    CHECK_INT(s.dead, 1);
    char *dlq = read_file("exit.dlq");
    CHECK_MSG(strstr(dlq, "Runtime.ExitError") && strstr(dlq, "exit status 1"),
              "dead letter: %.300s", dlq);
    free(dlq);
    sleep_ms(200);
    /* One start per attempt: no storm of restarts. */
    CHECK_INT(count_lines("exit.out", "spawn"), 2);
}

static void test_init_error(struct world *w)
{
    struct settled s = run(pipeline(w, "initerr"), 1, 10);
    CHECK_INT(s.dead, 1);
    CHECK_INT(count_lines("initerr.out", "init-error 202"), 1);
    char *dlq = read_file("initerr.dlq");
    CHECK_MSG(strstr(dlq, "Runtime.InitError") && strstr(dlq, "Runtime.ImportModuleError"),
              "dead letter: %.900s", dlq);
    free(dlq);
    sleep_ms(200);
    CHECK_INT(count_lines("initerr.out", "spawn"), 1);
}

static void test_idle(struct world *w)
{
    struct settled s = run(pipeline(w, "idle"), 1, 10);
    CHECK_INT(s.delivered, 1);
    CHECK_INT(count_lines("idle.out", "spawn"), 1);
    sleep_ms(100);
    CHECK_MSG(!all_gone("idle.out", 0), "stopped before idle_timeout");
    CHECK_MSG(all_gone("idle.out", 3000), "stopped after idle_timeout");
    s = run(pipeline(w, "idle"), 1, 10);
    CHECK_INT(s.delivered, 1);
    CHECK_INT(count_lines("idle.out", "spawn"), 2);
}

/* A warm worker dies while idle, as an event comes: the event never ran,
 * so it goes to a new worker without costing its only attempt. */
static void test_idle_worker_dies(struct world *w)
{
    struct settled s = run(pipeline(w, "idlekill"), 1, 10);
    CHECK_INT(s.delivered, 1);
    char *out = read_file("idlekill.out");
    const char *sp = strstr(out, "spawn ");
    pid_t pid = sp ? (pid_t)atoi(sp + 6) : 0;
    free(out);
    CHECK(pid > 0);
    if (pid > 0)
        kill(pid, SIGKILL);
    for (int i = 0; i < 300 && pid > 0 && !pid_gone(pid); i++)
        sleep_ms(1);
    s = run(pipeline(w, "idlekill"), 1, 10);
    CHECK_INT(s.delivered, 1);
    CHECK_INT(count_lines("idlekill.out", "spawn"), 2);
}

static void test_command_gone(struct world *w)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/gone-bin", dir);
    /* The pipeline was built on a copy of this binary, now removed. */
    unlink(path);
    struct settled s = run(pipeline(w, "gone"), 1, 10);
    CHECK_INT(s.dead, 1);
    char *dlq = read_file("gone.dlq");
    CHECK_MSG(strstr(dlq, "cannot run ") && strstr(dlq, "gone-bin"), "dead letter: %.300s", dlq);
    free(dlq);
}

static void test_env(struct world *w)
{
    struct settled s = run(pipeline(w, "env"), 1, 10);
    CHECK_INT(s.delivered, 1);
    char *out = read_file("env.out");
    CHECK_MSG(!strstr(out, "FNB_TEST_SECRET"), "fnbridge's environment leaked");
    CHECK_MSG(strstr(out, "env _HANDLER=app.main\n") &&
              strstr(out, "env AWS_LAMBDA_FUNCTION_NAME=env\n") &&
              strstr(out, "env AWS_LAMBDA_FUNCTION_VERSION=$LATEST\n") &&
              strstr(out, "env AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512\n") &&
              strstr(out, "env LAMBDA_TASK_ROOT=/tmp\n") &&
              strstr(out, "env AWS_LAMBDA_RUNTIME_API=127.0.0.1:") &&
              strstr(out, "env PATH=") && strstr(out, "cwd /tmp\n"), "env: %s", out);
    CHECK_MSG(strstr(out, "env AWS_REGION=eu-west-3\n") &&
              strstr(out, "env AWS_DEFAULT_REGION=eu-west-3\n") &&
              strstr(out, "env AWS_LAMBDA_INITIALIZATION_TYPE=on-demand\n") &&
              strstr(out, "env AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/env\n") &&
              strstr(out, "env AWS_LAMBDA_LOG_STREAM_NAME=") &&
              strstr(out, "env LAMBDA_RUNTIME_DIR=") && strstr(out, "env TZ=:UTC\n") &&
              strstr(out, "env LANG="), "env: %s", out);
    CHECK_MSG(!strstr(out, "env AWS_EXECUTION_ENV="), "no `runtime`, no AWS_EXECUTION_ENV");
    int vars = count_lines("env.out", "env ");
    CHECK_MSG(vars == 17, "%d variables: the 14 of Lambda, PATH, OUT, MARKER", vars);
    free(out);
}

static void test_cancel(struct world *w)
{
    feed_new(pipeline(w, "cancel"), 1, 10);
    int64_t deadline = br_now_ms() + 5000;
    while (count_lines("cancel.out", "event ") < 1 && br_now_ms() < deadline)
        sleep_ms(10);
    br_dispatcher_stop(w->disp);
    CHECK_MSG(all_gone("cancel.out", 3000), "cancel killed the worker");
}

static void test_init_errors(void)
{
    static const struct {
        const char *function, *want;
    } cases[] = {
        {"exec: {mode: runtime-api, command: [no-such-program-xyz]}", "was not found in PATH"},
        {"exec: {mode: runtime-api, command: [sh], cwd: /nonexistent-dir}", "cwd"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char text[1024], path[256], err[512] = "";
        snprintf(path, sizeof(path), "%s/bad.yaml", dir);
        snprintf(text, sizeof(text),
                 "state_dir: %s/state\npipelines:\n  - name: bad\n"
                 "    source: {kafka: {brokers: \"127.0.0.1:1\", topics: [t], "
                 "group_id: g}}\n    function: {%s}\n", dir, cases[i].function);
        FILE *f = fopen(path, "w");
        fputs(text, f);
        fclose(f);
        struct br_errors errs = {.file = path};
        struct br_config *cfg = br_config_load(path, &errs);
        CHECK(cfg != NULL);
        if (!cfg)
            continue;
        struct br_pipeline *pl = br_pipeline_create(cfg, &cfg->pipelines[0], err, sizeof(err));
        CHECK_MSG(!pl && strstr(err, cases[i].want), "%s: got \"%s\"", cases[i].function, err);
        br_pipeline_destroy(pl);
        br_config_free(cfg);
        br_errors_free(&errs);
    }
}

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* `fnbridge check` inits and destroys: no server thread or socket stays. */
static void test_check_leaves_nothing(struct br_config *cfg)
{
    char err[512] = "";
    int threads = count_dir("/proc/self/task"), fds = count_dir("/proc/self/fd");
    CHECK_MSG(br_pipeline_check(cfg, &cfg->pipelines[0], err, sizeof(err)) == 0, "%s", err);
    CHECK_INT(count_dir("/proc/self/task"), threads);
    CHECK_INT(count_dir("/proc/self/fd"), fds);
}

static int copy_self(const char *to)
{
    char cmd[8300];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", self, to);
    return system(cmd);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--runtime"))
        return run_runtime(argv[2]);
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    signal(SIGPIPE, SIG_IGN);
    setenv("FNB_TEST_SECRET", "hunter2", 1);
    br_log_setup(BR_LOG_ERROR, BR_LOG_LOGFMT);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    write_config();
    /* The "gone" pipeline runs a copy of this binary it will lose. */
    char gone_bin[300], text[8192];
    snprintf(gone_bin, sizeof(gone_bin), "%s/gone-bin", dir);
    if (copy_self(gone_bin) != 0)
        return 1;
    {
        char path[256];
        snprintf(path, sizeof(path), "%s/test.yaml", dir);
        FILE *f = fopen(path, "r");
        size_t len = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[len] = '\0';
        char *at = strstr(text, "# the command goes away");
        char *cmd = at ? strstr(at, self) : NULL;
        if (cmd) {
            f = fopen(path, "w");
            fprintf(f, "%.*s%s%s", (int)(cmd - text), text, gone_bin, cmd + strlen(self));
            fclose(f);
        }
    }

    struct world w = {0};
    struct br_errors errs = {0};
    char err[512] = "", path[256];
    snprintf(path, sizeof(path), "%s/test.yaml", dir);
    errs.file = path;
    w.cfg = br_config_load(path, &errs);
    if (!w.cfg)
        br_errors_print(&errs, stderr);
    w.disp = w.cfg ? br_dispatcher_create(err, sizeof(err)) : NULL;
    CHECK(w.disp != NULL);
    if (w.cfg)
        test_check_leaves_nothing(w.cfg);
    for (size_t i = 0; w.disp && i < w.cfg->n_pipelines; i++) {
        struct br_pipeline *pl = br_pipeline_create(w.cfg, &w.cfg->pipelines[i], err,
                                                    sizeof(err));
        CHECK_MSG(pl, "pipeline: %s", err);
        if (!pl)
            return UNIT_DONE("exec_runtime");
        w.pls[w.n++] = pl;
        br_dispatcher_add(w.disp, pl);
    }
    if (w.disp && br_dispatcher_start(w.disp) == 0) {
        test_warm(&w);
        test_probe(&w);
        test_too_large(&w);
        test_error(&w);
        test_crash(&w);
        test_deadline(&w);
        test_init_exit(&w);
        test_init_error(&w);
        test_idle(&w);
        test_idle_worker_dies(&w);
        test_command_gone(&w);
        test_env(&w);
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
    return UNIT_DONE("exec_runtime");
}
