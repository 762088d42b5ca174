/* main.c - the fnbridge command line: run, check, invoke, dlq, version, help. */
#include <curl/curl.h>
#include <errno.h>
#include <expat.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <lmdb.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "dispatcher.h"
#include "dlq_replay.h"
#include "help_config.h"
#include "invoke_cmd.h"
#include "log.h"
#include "pipeline.h"
#include "sd_notify.h"
#include "sd_service.h"
#include "test_pattern_cmd.h"
#include "version.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static const char usage_main[] =
    "fnbridge " BR_VERSION " - turns queues into function calls\n"
    "\n"
    "Usage:\n"
    "  fnbridge [run] -c FILE     run the pipelines (the default command)\n"
    "  fnbridge check -c FILE     validate the config (after interpolation)\n"
    "  fnbridge invoke -c FILE --pipeline NAME [--event FILE|-]\n"
    "                             send one event through a pipeline's function\n"
    "  fnbridge dlq replay -c FILE --pipeline NAME [--from FILE] [--dry-run]\n"
    "                             re-drive dead letters through a pipeline\n"
    "  fnbridge test-pattern PATTERN EVENT\n"
    "                             does the event match the filter pattern?\n"
    "                             exit 0 match, 1 no match, 2 invalid\n"
    "  fnbridge version           print the version\n"
    "  fnbridge help [COMMAND]    this text, or a command's\n"
    "  fnbridge help config [SECTION] [--markdown]\n"
    "                             every config key: type, default, range, help\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE          the config file (YAML; JSON is valid YAML)\n"
    "  -h, --help                 help for the command\n"
    "\n"
    "Exit codes: 0 clean stop, 1 runtime failure, 2 usage or config error.\n"
    "SIGTERM/SIGINT stop polling, finish in-flight work within\n"
    "shutdown_timeout, commit, and exit 0; a second signal exits at once.\n";

static const char usage_run[] =
    "Usage: fnbridge run -c FILE\n"
    "\n"
    "Runs every pipeline of FILE until SIGTERM or SIGINT. Records are\n"
    "acknowledged to their source only after the function succeeded or they\n"
    "were written to the dead-letter file (at-least-once).\n";

static const char usage_check[] =
    "Usage: fnbridge check -c FILE\n"
    "\n"
    "Validates FILE after ${env:...} and ${file:...} interpolation. Prints\n"
    "each problem as FILE:LINE:COL: path.to.key: message and exits 2, or\n"
    "prints a summary and exits 0. Secret values are never printed.\n";

static const char usage_invoke[] =
    "Usage: fnbridge invoke -c FILE --pipeline NAME [--event FILE|-]\n"
    "\n"
    "Sends one event (JSON, from FILE, or stdin with -; default {}) to the\n"
    "function of pipeline NAME, exactly as given, through its target and\n"
    "retry policy, as `aws lambda invoke` does. The pipeline's source is not\n"
    "contacted and nothing is dead-lettered. The function's response goes\n"
    "to stdout, a summary to stderr.\n"
    "\n"
    "Options:\n"
    "  -p, --pipeline NAME        the pipeline whose function is invoked\n"
    "  -e, --event FILE|-         the event (default {})\n"
    "\n"
    "Exit codes: 0 the function succeeded, 1 it failed (function error or\n"
    "retries exhausted), 2 usage, config or event error.\n";

static const char usage_version[] = "Usage: fnbridge version\n";

/* What the command line gave. */
struct cli {
    const char *config_path;
    const char *pipeline;      /* invoke */
    const char *event_path;    /* invoke */
};

struct command {
    const char *name;
    int (*fn)(const struct cli *cli);
    const char *usage;
    bool needs_config;
    bool takes_event;          /* --pipeline and --event */
};

static int cmd_run(const struct cli *cli);
static int cmd_check(const struct cli *cli);
static int cmd_invoke(const struct cli *cli);
static int cmd_version(const struct cli *cli);

static const struct command commands[] = {
    {"run", cmd_run, usage_run, true, false},
    {"check", cmd_check, usage_check, true, false},
    {"invoke", cmd_invoke, usage_invoke, true, true},
    {"version", cmd_version, usage_version, false, false},
    {NULL, NULL, NULL, false, false},
};

static const struct command *find_command(const char *name)
{
    for (const struct command *c = commands; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

/* Loads path, printing its errors. With paths, also what `run` needs of
 * the filesystem (state_dir, dead-letter files): `check` and `run` then
 * refuse the same configs with the same FILE:LINE:COL messages; *bad_paths
 * tells whether those failed (the config is returned all the same). */
static struct br_config *load_config_checked(const char *path, bool *bad_paths)
{
    struct br_errors errs = {.file = path};
    struct br_config *cfg = br_config_load(path, &errs);
    if (cfg && bad_paths)
        *bad_paths = br_config_check_paths(cfg, &errs) > 0;
    br_errors_print(&errs, stderr);
    br_errors_free(&errs);
    return cfg;
}

static struct br_config *load_config(const char *path)
{
    return load_config_checked(path, NULL);
}

static int cmd_version(const struct cli *cli)
{
    (void)cli;
    int mq[3], db[3];
    mosquitto_lib_version(&mq[0], &mq[1], &mq[2]);
    mdb_version(&db[0], &db[1], &db[2]);
    printf("fnbridge %s (librdkafka %s, libmosquitto %d.%d.%d, LMDB %d.%d.%d, %s, %s)\n",
           BR_VERSION, rd_kafka_version_str(), mq[0], mq[1], mq[2], db[0], db[1], db[2],
           XML_ExpatVersion(), curl_version());
    return 0;
}

static int cmd_check(const struct cli *cli)
{
    const char *path = cli->config_path;
    bool bad_paths = false;
    struct br_config *cfg = load_config_checked(path, &bad_paths);
    if (!cfg)
        return EXIT_USAGE;
    char err[1024];
    int failed = bad_paths;
    for (size_t i = 0; i < cfg->n_pipelines; i++) {
        if (br_pipeline_check(cfg, &cfg->pipelines[i], err, sizeof(err)) < 0) {
            br_print(stderr, "%s\n", err);
            failed++;
        }
    }
    if (failed) {
        br_config_free(cfg);
        return EXIT_USAGE;
    }
    br_print(stdout, "%s: ok, %zu pipeline%s\n", path, cfg->n_pipelines,
           cfg->n_pipelines == 1 ? "" : "s");
    for (size_t i = 0; i < cfg->n_pipelines; i++) {
        const struct br_pipeline_conf *p = &cfg->pipelines[i];
        br_print(stdout, "  %s: %s -> %s\n", p->name, p->source_ops->name, p->target_ops->name);
    }
    br_config_free(cfg);
    return 0;
}

static int make_dirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0750) < 0 && errno != EEXIST)
            return -1;
        if (!saved)
            return 0;
        *p = saved;
    }
}

struct runtime {
    struct br_config *cfg;
    struct br_dispatcher *disp;
    struct br_pipeline **pls;
    size_t n;
    struct br_sd_service *sd;          /* NULL without NOTIFY_SOCKET */
    struct br_admin *admin;            /* NULL without `admin` */
};

static int build(struct runtime *rt)
{
    char err[1024] = "";
    if (make_dirs(rt->cfg->state_dir) < 0) {
        /* Checked before (br_config_check_paths); this is a change since. */
        br_print(stderr, "%s:%d:%d: state_dir: cannot create it: %s\n", rt->cfg->path,
                 rt->cfg->state_dir_line, rt->cfg->state_dir_col, strerror(errno));
        return -1;
    }
    if (!(rt->disp = br_dispatcher_create(err, sizeof(err))) ||
        !(rt->pls = calloc(rt->cfg->n_pipelines, sizeof(*rt->pls)))) {
        br_print(stderr, "fnbridge: %s\n", err[0] ? err : "out of memory");
        return -1;
    }
    for (size_t i = 0; i < rt->cfg->n_pipelines; i++) {
        rt->pls[i] = br_pipeline_create(rt->cfg, &rt->cfg->pipelines[i], err, sizeof(err));
        if (!rt->pls[i]) {
            br_print(stderr, "%s\n", err);
            return -1;
        }
        rt->n++;
        if (br_dispatcher_add(rt->disp, rt->pls[i]) < 0) {
            br_print(stderr, "%s: pipeline %s: more pipelines than one process "
                    "runs (%d); split them over several configs\n", rt->cfg->path,
                    rt->cfg->pipelines[i].name, BR_DISPATCHER_MAX_PIPELINES);
            return -1;
        }
    }
    return 0;
}

static void teardown(struct runtime *rt)
{
    for (size_t i = 0; i < rt->n; i++)
        br_pipeline_destroy(rt->pls[i]);
    free(rt->pls);
    br_dispatcher_destroy(rt->disp);
    br_config_free(rt->cfg);
}

static bool all_sources_done(const struct runtime *rt, bool *any_failed)
{
    bool all = true;
    for (size_t i = 0; i < rt->n; i++) {
        if (!atomic_load(&rt->pls[i]->source_done))
            all = false;
        else if (!atomic_load(&rt->pls[i]->stopping))
            *any_failed = true;   /* a source ended on its own: fatal */
    }
    return all;
}

static void stop_all(struct runtime *rt)
{
    for (size_t i = 0; i < rt->n; i++)
        br_pipeline_stop(rt->pls[i]);
}

/* Waits for signals and for the sources; returns the exit code. */
static int supervise(struct runtime *rt, const sigset_t *sigs)
{
    const struct timespec slice = {0, 200 * 1000000L};
    bool stopping = false, failed = false;
    while (!all_sources_done(rt, &failed)) {
        br_sd_service_tick(rt->sd);
        int sig = sigtimedwait(sigs, NULL, &slice);
        if (sig > 0 && stopping) {
            br_warn(NULL, "second signal: exiting now; unfinished records will be "
                    "redelivered");
            _exit(EXIT_RUNTIME);
        }
        if (sig > 0 || failed) {
            if (sig > 0)
                br_info(NULL, "%s received: stopping (up to %lld ms)",
                        sig == SIGTERM ? "SIGTERM" : "SIGINT",
                        (long long)rt->cfg->shutdown_timeout_ms);
            br_sd_service_stopping(rt->sd, rt->cfg->shutdown_timeout_ms);
            stopping = true;
            stop_all(rt);
        }
    }
    int rc = failed ? EXIT_RUNTIME : 0;
    for (size_t i = 0; i < rt->n; i++)
        if (br_pipeline_join(rt->pls[i]) < 0)
            rc = EXIT_RUNTIME;
    return rc;
}

static void log_summary(const struct runtime *rt)
{
    for (size_t i = 0; i < rt->n; i++) {
        struct br_pipeline_stats *s = &rt->pls[i]->stats;
        br_info(rt->pls[i]->scope, "stopped: %llu received, %llu delivered, %llu "
                "dead-lettered, %llu retries",
                (unsigned long long)atomic_load(&s->received),
                (unsigned long long)atomic_load(&s->delivered),
                (unsigned long long)atomic_load(&s->dead_lettered),
                (unsigned long long)atomic_load(&s->retries));
    }
}

static int cmd_invoke(const struct cli *cli)
{
    struct br_config *cfg = load_config(cli->config_path);
    if (!cfg)
        return EXIT_USAGE;
    br_log_setup(cfg->log_level, cfg->log_format);
    signal(SIGPIPE, SIG_IGN);
    int rc = br_cmd_invoke(cfg, cli->pipeline, cli->event_path);
    br_config_free(cfg);
    return rc;
}

static int cmd_run(const struct cli *cli)
{
    bool bad_paths = false;
    struct runtime rt = {.cfg = load_config_checked(cli->config_path, &bad_paths)};
    if (!rt.cfg || bad_paths) {
        br_config_free(rt.cfg);
        return EXIT_USAGE;
    }
    br_log_setup(rt.cfg->log_level, rt.cfg->log_format);
    br_sd_init();   /* changes the environment: before any thread */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    /* Blocked before any thread starts, so only sigtimedwait sees them. */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (build(&rt) < 0) {
        teardown(&rt);
        return EXIT_USAGE;
    }
    char err[1024];
    if (rt.cfg->admin_enabled &&
        !(rt.admin = br_admin_start(rt.cfg, rt.pls, rt.n, err, sizeof(err)))) {
        br_print(stderr, "%s\n", err);
        teardown(&rt);
        return EXIT_RUNTIME;
    }
    int rc = EXIT_RUNTIME;
    if (br_dispatcher_start(rt.disp) == 0) {
        size_t started = 0;
        while (started < rt.n && br_pipeline_start(rt.pls[started]) == 0)
            started++;
        br_info(NULL, "fnbridge %s running %zu pipeline%s", BR_VERSION, rt.n,
                rt.n == 1 ? "" : "s");
        if (started < rt.n) {
            rt.n = started;
            stop_all(&rt);
        }
        rt.sd = br_sd_service_start(rt.pls, rt.n);
        rc = supervise(&rt, &sigs);
        br_sd_service_stop(rt.sd);
        br_dispatcher_stop(rt.disp);
        log_summary(&rt);
    }
    br_admin_stop(rt.admin);           /* before the pipelines it reads go */
    teardown(&rt);
    return rc;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "fnbridge: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'fnbridge --help'.\n");
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    const struct command *cmd = &commands[0];
    int first = 1;
    if (argc > 1 && argv[1][0] != '-') {
        if (!strcmp(argv[1], "help")) {
            if (argc > 2 && !strcmp(argv[2], "config"))
                return br_help_config_main(argc - 3, argv + 3);
            if (argc > 2 && !strcmp(argv[2], "dlq"))
                return fputs(br_dlq_usage, stdout) < 0;
            if (argc > 2 && !strcmp(argv[2], "test-pattern"))
                return fputs(br_test_pattern_usage, stdout) < 0;
            const struct command *c = argc > 2 ? find_command(argv[2]) : NULL;
            fputs(c ? c->usage : usage_main, stdout);
            return argc > 2 && !c ? EXIT_USAGE : 0;
        }
        if (!strcmp(argv[1], "dlq"))
            return br_dlq_main(argc - 1, argv + 1);
        if (!strcmp(argv[1], "test-pattern"))
            return br_test_pattern_main(argc - 1, argv + 1);
        if (!(cmd = find_command(argv[1])))
            return usage_error("unknown command '%s'", argv[1]);
        first = 2;
    }
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"pipeline", required_argument, NULL, 'p'},
        {"event", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cli cli = {0};
    optind = first;
    int opt;
    while ((opt = getopt_long(argc, argv, "+c:p:e:h", longopts, NULL)) != -1) {
        if (opt == 'c') {
            cli.config_path = optarg;
        } else if ((opt == 'p' || opt == 'e') && cmd->takes_event) {
            *(opt == 'p' ? &cli.pipeline : &cli.event_path) = optarg;
        } else if (opt == 'h') {
            fputs(first == 1 ? usage_main : cmd->usage, stdout);
            return 0;
        } else {
            return usage_error("invalid option for '%s'", cmd->name);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (cmd->needs_config && !cli.config_path)
        return usage_error("'%s' needs a config file: -c FILE", cmd->name);
    if (cmd->takes_event && !cli.pipeline)
        return usage_error("'%s' needs the pipeline to invoke: --pipeline NAME", cmd->name);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmd->fn(&cli);
    curl_global_cleanup();
    return rc;
}
