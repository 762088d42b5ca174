/* dlq_replay.c - `fnbridge dlq replay` (README: Replaying dead letters):
 * its command line, the pipeline and files it names, the dry run, and
 * the summary it ends with. The input is a small interface
 * (dlq_input.h): today the dead-letter file (dlq_replay_file.c), whose
 * bookkeeping makes a killed replay lose nothing; the pipeline run is
 * dlq_replay_run.c. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config/secrets.h"
#include "dlq_replay.h"
#include "dlq_replay_file.h"
#include "dlq_sink.h"
#include "dlq_replay_run.h"
#include "dlq_replay_sink.h"
#include "dlq_replay_topic.h"
#include "fsdir.h"
#include "log.h"

#define MAX_REPLAYS_DEFAULT 3

const char br_dlq_usage[] =
    "Usage: fnbridge dlq replay -c FILE --pipeline NAME [--from FILE | --from-topic TOPIC]\n"
    "                           [--dry-run] [--max-replays N]\n"
    "\n"
    "Re-drives dead letters through pipeline NAME's function and retry policy.\n"
    "\n"
    "From a file (the pipeline's dead-letter file by default), one line after\n"
    "the other, each line's payload sent exactly as it was the first time. A\n"
    "letter the function takes leaves the file; one that fails again goes to\n"
    "the pipeline's dead-letter sink (its file: appended) with replayCount\n"
    "raised by one; one replayed N times already is not sent but kept aside in\n"
    "the parked file beside the input (NAME.parked.jsonl for NAME.jsonl). Lines\n"
    "of other pipelines and lines that are not dead letters stay where they\n"
    "are. Lines appended while it runs wait for the next run; a second replay\n"
    "of the same file at the same time is refused.\n"
    "\n"
    "From a topic of the kafka dead-letter sink (--from-topic): each message\n"
    "becomes its record again and goes through the pipeline (format, batching,\n"
    "partial answers); a failure is written back by the kafka sink with\n"
    "fnbridge.dlq.replay_count raised, one at the limit is produced to\n"
    "TOPIC.parked. Group fnbridge-replay-NAME, from its committed offsets up to\n"
    "the high watermarks seen at the start; an offset is committed once every\n"
    "message before it is settled.\n"
    "\n"
    "Killed at any moment it loses nothing (a letter may be sent twice).\n"
    "\n"
    "Options:\n"
    "  -p, --pipeline NAME        the pipeline whose function replays them\n"
    "      --from FILE            the dead-letter file (default: the pipeline's)\n"
    "      --from-topic TOPIC     a topic of the pipeline's kafka dead-letter sink\n"
    "      --dry-run              print what would be sent; change nothing, commit\n"
    "                             nothing\n"
    "      --max-replays N        the replay limit (default 3)\n"
    "\n"
    "Exit codes: 0 every letter succeeded, 1 some failed again or were kept\n"
    "aside (or the run stopped on an error), 2 usage or config error, a line\n"
    "that is not a dead letter, or another replay running.\n";

struct replay_args {
    const char *config;
    const char *pipeline;
    const char *from;
    const char *from_topic;
    bool dry_run;
    long max_replays;
};

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "fnbridge: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'fnbridge help dlq'.\n");
    return BR_DLQ_EXIT_USAGE;
}

static int parse_count(const char *text, long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < 0 || v > 1000000)
        return -1;
    *out = v;
    return 0;
}

/* Returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct replay_args *a)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"pipeline", required_argument, NULL, 'p'},
        {"from", required_argument, NULL, 'f'},
        {"from-topic", required_argument, NULL, 't'},
        {"dry-run", no_argument, NULL, 'n'},
        {"max-replays", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 2;
    while ((opt = getopt_long(argc, argv, "+c:p:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': a->config = optarg; break;
        case 'p': a->pipeline = optarg; break;
        case 'f': a->from = optarg; break;
        case 't': a->from_topic = optarg; break;
        case 'n': a->dry_run = true; break;
        case 'm':
            if (parse_count(optarg, &a->max_replays) < 0)
                return usage_error("--max-replays %s: not a count (0 to 1000000)", optarg);
            break;
        case 'h': fputs(br_dlq_usage, stdout); return 0;
        default: return usage_error("%s", "invalid option for 'dlq replay'");
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!a->config)
        return usage_error("%s", "'dlq replay' needs a config file: -c FILE");
    if (!a->pipeline)
        return usage_error("%s", "'dlq replay' needs the pipeline: --pipeline NAME");
    if (a->from && a->from_topic)
        return usage_error("%s", "--from and --from-topic exclude each other");
    return -1;
}

/* ------------------------------------------------------------- summary */

static void print_tally(const char *what, const struct br_dlq_tally *t, const char *where)
{
    br_print(stdout, "  %-16s %zu (%zu record%s)%s%s\n", what, t->lines, t->records,
             t->records == 1 ? "" : "s", where ? ", " : "", where ? where : "");
}

static void print_summary(const struct br_dlq_run *run, const char *pipeline,
                          const char *from, const char *live, const char *parked)
{
    const struct br_dlq_counts *c = &run->counts;
    char back[4200], kept[4200];
    snprintf(back, sizeof(back), "written back to %s", live);
    snprintf(kept, sizeof(kept), "in %s", parked);
    br_print(stdout, "%s%s: %zu dead letter%s in %s\n", pipeline,
             run->dry_run ? " (dry run)" : "",
             c->succeeded.lines + c->failed.lines + c->parked.lines,
             c->succeeded.lines + c->failed.lines + c->parked.lines == 1 ? "" : "s", from);
    if (run->dry_run) {
        print_tally("would send:", &c->succeeded, NULL);
        print_tally("would keep aside:", &c->parked, kept);
    } else {
        print_tally("succeeded:", &c->succeeded, NULL);
        print_tally("failed again:", &c->failed, back);
        print_tally("kept aside:", &c->parked, kept);
    }
    print_tally("other pipelines:", &c->other, "left in place");
    br_print(stdout, "  %-16s %zu%s\n", "not dead letters:", c->malformed,
             c->malformed ? ", left in place" : "");
}

static int exit_code(const struct br_dlq_run *run)
{
    if (run->counts.malformed)
        return BR_DLQ_EXIT_USAGE;
    if (run->fatal || !run->complete || run->counts.failed.lines || run->counts.parked.lines)
        return BR_DLQ_EXIT_FAILED;
    return BR_DLQ_EXIT_OK;
}

/* ------------------------------------------------------------- dry run */

static void dry_run(struct br_dlq_run *run, const char *pipeline)
{
    static const char *const verbs[] = {"would send", "would keep aside",
                                        "another pipeline's: left in place"};
    for (;;) {
        struct br_dlq_letter l;
        char msg[1024];
        enum br_dlq_next got = run->in->ops->next(run->in->impl, &l, msg, sizeof(msg));
        if (got == BR_DLQ_END) {
            run->complete = true;
            return;
        }
        if (got != BR_DLQ_LETTER) {
            if (got == BR_DLQ_ERROR) {
                br_print(stderr, "fnbridge: %s\n", msg);
                run->fatal = true;
                return;
            }
            br_dlq_note_malformed(run, msg);
            continue;
        }
        enum br_dlq_action action = br_dlq_classify(run, &l, pipeline);
        struct br_dlq_tally *t = action == BR_DLQ_SEND ? &run->counts.succeeded
                                 : action == BR_DLQ_PARK ? &run->counts.parked
                                                         : &run->counts.other;
        t->lines++;
        t->records += l.records;
        br_print(stdout, "%s: pipeline=%s condition=%s replayCount=%lld records=%zu: %s\n",
                 run->in->ops->where(run->in->impl), l.pipeline,
                 l.condition[0] ? l.condition : "-", (long long)l.replay_count, l.records,
                 verbs[action]);
        br_dlq_letter_free(&l);
    }
}

/* -------------------------------------------------------------- running */

/* Where letters that fail again go: the pipeline's sink, the live file
 * when that is a file. */
static int open_output(const struct br_config *cfg, const struct br_pipeline_conf *conf,
                       struct br_dlq_output *out, const char *live, const char *parked,
                       char *err, size_t errlen)
{
    if (conf->dlq_ops)
        return br_dlq_sink_output_open(out, cfg, conf, parked, err, errlen);
    if (br_dlq_file_output_open(out, live, parked) == 0)
        return 0;
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Replays from the file at from into the pipeline's dead-letter sink
 * (live: its file, when it is the file sink). */
static int replay_file(struct br_config *cfg, struct br_pipeline_conf *conf,
                       const struct replay_args *a, const char *from, const char *live)
{
    struct br_dlq_input in;
    struct br_dlq_output out;
    struct br_dlq_run run = {.in = &in, .out = &out, .max_replays = a->max_replays,
                             .dry_run = a->dry_run};
    char err[4200];
    bool missing;
    char *shown = br_secrets_mask_dup(conf->name);
    char *parked = br_dlq_parked_path(from);
    int rc = BR_DLQ_EXIT_USAGE;
    if (!shown || !parked || open_output(cfg, conf, &out, live, parked, err, sizeof(err)) < 0) {
        br_print(stderr, "fnbridge: %s\n", shown && parked ? err : "out of memory");
    } else if (br_dlq_file_input_open(&in, from, a->dry_run, &missing, err, sizeof(err)) < 0) {
        /* No file yet at the pipeline's own path: nothing was dead-lettered. */
        bool none_yet = missing && !a->from;
        if (none_yet)
            br_print(stdout, "%s: no dead letters (%s)\n", shown, err);
        else
            br_print(stderr, "fnbridge: %s\n", err);
        rc = none_yet ? BR_DLQ_EXIT_OK : BR_DLQ_EXIT_USAGE;
        out.ops->close(out.impl);
    } else {
        if (a->dry_run)
            dry_run(&run, shown);
        else if (br_dlq_run_pipeline(cfg, conf, &run) < 0)
            run.fatal = true;
        if (run.complete && !run.fatal && in.ops->finish(in.impl, err, sizeof(err)) < 0) {
            br_print(stderr, "fnbridge: %s\n", err);
            run.fatal = true;
        }
        print_summary(&run, shown, from, conf->dlq_ops ? br_dlq_sink_output_where(&out) : live,
                      parked);
        rc = exit_code(&run);
        in.ops->close(in.impl);
        out.ops->close(out.impl);
    }
    free(parked);
    free(shown);
    return rc;
}

/* Kafka's own rule for topic names; a name that breaks it is refused
 * before it becomes part of a path. */
static bool kafka_topic_name(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 249 || !strcmp(t, ".") || !strcmp(t, ".."))
        return false;
    for (; *t; t++)
        if (!isalnum((unsigned char)*t) && *t != '.' && *t != '_' && *t != '-')
            return false;
    return true;
}

/* One replay of a pipeline's topic at a time on this machine: replay
 * assigns itself every partition, so two would both send, and write back,
 * every letter. A flock on STATE_DIR/replay/NAME/TOPIC.lock, dropped by
 * the kernel when the run ends or dies; opened read-only and left
 * readable, so another user's replay is told it is held rather than
 * refused. The state directory itself is never created here (a replay run
 * by another user before the daemon's first start would own it); without
 * one, or without the right to write in it, the run goes on unlocked, and
 * says so. Returns the lock's fd, -2 when there is none to hold, or -1
 * with err set when another run holds it. */
static int lock_topic_replay(const struct br_config *cfg, const struct br_pipeline_conf *conf,
                             const char *topic, const char *shown, char *err, size_t errlen)
{
    char dir[4200], path[4600];
    struct stat st;
    snprintf(dir, sizeof(dir), "%s/replay/%s", cfg->state_dir, conf->name);
    snprintf(path, sizeof(path), "%s/%s.lock", dir, topic);
    int fd = -1;
    if (stat(cfg->state_dir, &st) == 0 && br_mkdirs(dir, 0755, true) == 0)
        fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        br_print(stderr, "fnbridge: warning: cannot take the replay lock %s (%s): this run "
                 "is not kept from running twice at once\n", path, strerror(errno));
        return -2;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return fd;
    snprintf(err, errlen, "another `fnbridge dlq replay --from-topic` of pipeline %s is "
             "running (it holds %.4000s): wait for it to finish", shown, path);
    close(fd);
    return -1;
}

/* Replays from the dead-letter topic of the pipeline's sink. */
static int replay_topic(struct br_config *cfg, struct br_pipeline_conf *conf,
                        const struct replay_args *a)
{
    const struct br_dlq_topic_ops *ops = conf->dlq_ops ? br_find_dlq_topic(conf->dlq_ops)
                                                       : NULL;
    char *shown = br_secrets_mask_dup(conf->name);
    char *topic = br_secrets_mask_dup(a->from_topic);
    char group[4200], from[8500], err[4200], live[256];
    int rc = BR_DLQ_EXIT_USAGE;
    snprintf(group, sizeof(group), "fnbridge-replay-%s", conf->name);
    struct br_dlq_topic_conf tc = {.topic = a->from_topic, .group = group,
                                   .sink_ctx = conf->dlq_ctx,
                                   .source_ops = conf->source_ops,
                                   .source_ctx = conf->source_ctx,
                                   .pipeline_name = conf->name, .dry_run = a->dry_run};
    void *in = NULL;
    int lock = -1;
    if (!shown || !topic)
        br_print(stderr, "fnbridge: out of memory\n");
    else if (!kafka_topic_name(a->from_topic))
        br_print(stderr, "fnbridge: --from-topic %s: not a Kafka topic name (1 to 249 "
                 "letters, digits, '.', '_' or '-')\n", topic);
    else if (!a->dry_run &&
             (lock = lock_topic_replay(cfg, conf, a->from_topic, shown, err, sizeof(err))) == -1)
        br_print(stderr, "fnbridge: --from-topic %s: %s\n", topic, err);
    else if (!ops)
        br_print(stderr, "fnbridge: --from-topic %s: pipeline %s's dead-letter sink is %s; "
                 "replaying from a topic needs a kafka dead-letter sink\n", topic, shown,
                 conf->dlq_ops ? conf->dlq_ops->name : "file");
    else if (!(in = ops->open(&tc, err, sizeof(err))))
        br_print(stderr, "fnbridge: --from-topic %s: %s\n", topic, err);
    if (in) {
        struct br_dlq_run run = {.max_replays = a->max_replays, .dry_run = a->dry_run};
        struct br_dlq_topic_run t = {.ops = ops, .in = in, .run = &run};
        if (br_dlq_run_topic(cfg, conf, &t) < 0)
            run.fatal = true;
        snprintf(from, sizeof(from), "kafka topic %s (group %s)", topic, group);
        snprintf(live, sizeof(live), "the pipeline's %s dead-letter sink", conf->dlq_ops->name);
        print_summary(&run, shown, from, live, ops->parked_where(in));
        rc = exit_code(&run);
        ops->close(in);
    }
    if (lock >= 0)
        close(lock);
    free(topic);
    free(shown);
    return rc;
}

static int replay(const struct replay_args *a)
{
    struct br_errors errs = {.file = a->config};
    struct br_config *cfg = br_config_load(a->config, &errs);
    br_errors_print(&errs, stderr);
    br_errors_free(&errs);
    if (!cfg)
        return BR_DLQ_EXIT_USAGE;
    br_log_setup(cfg->log_level, cfg->log_format);
    int rc = BR_DLQ_EXIT_USAGE;
    struct br_pipeline_conf *conf = br_config_pipeline_named(cfg, a->pipeline);
    if (conf && a->from_topic) {
        rc = replay_topic(cfg, conf, a);
    } else if (conf && conf->dlq_ops && !a->from) {
        char *shown = br_secrets_mask_dup(conf->name);
        br_print(stderr, "fnbridge: pipeline %s's dead letters go to its %s sink, not to a "
                 "file: name them with --from-topic TOPIC or --from FILE\n",
                 shown ? shown : "?", conf->dlq_ops->name);
        free(shown);
    } else if (conf) {
        char def[4096];
        br_config_default_dlq(cfg, conf, def, sizeof(def));
        const char *live = conf->dlq_file_path ? conf->dlq_file_path : def;
        rc = replay_file(cfg, conf, a, a->from ? a->from : live, live);
    }
    br_config_free(cfg);
    return rc;
}

int br_dlq_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "replay")) {
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
            fputs(br_dlq_usage, stdout);
            return 0;
        }
        return usage_error("'dlq' needs a subcommand: replay%s", "");
    }
    struct replay_args a = {.max_replays = MAX_REPLAYS_DEFAULT};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = replay(&a);
    curl_global_cleanup();
    return rc;
}
