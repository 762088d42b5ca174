/* invoke_cmd.c - `fnbridge invoke`: one event, given by the user, through a
 * pipeline's function and retry policy, the way `aws lambda invoke` tries
 * a function (README: Running it).
 *
 * The pipeline runs as usual with its source swapped for a one-record
 * source: the event is the record's value, sent in the payload format (the
 * body is the event exactly), so batching, the target, retries with
 * backoff and Retry-After all behave as they do in `run`. Only the end
 * differs: nothing is dead-lettered, and the function's answer is printed
 * as it is (a batchItemFailures list in it names the user's records, not
 * ours: it is not acted on). An answer that opens as a JSON object but does
 * not parse fails here as in `run` (retried, then reported with the
 * parser's reason, exit 1): the user learns what `run` would do with it.
 *
 * br_invoke_timed sends the event several times, one after the other, and
 * times each from emit to settle: make bench measures the latency a
 * target adds with it (tests/bench/invoke_lat.c). */
#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "clock.h"
#include "dispatcher.h"
#include "invoke_cmd.h"
#include "log.h"
#include "pipeline.h"
#include "record_kind.h"
#include "slurp.h"

#define EVENT_MAX (64u << 20)

static struct br_target_common *br_target_common_of(const struct br_pipeline_conf *conf)
{
    return (struct br_target_common *)conf->target_ctx;
}

/* What the one-record source holds, and what the outcome was. Written by
 * the dispatcher thread before the record settles; read by the main thread
 * after the source thread has been joined. */
struct invoke_ctx {
    char *event;
    size_t event_len;
    size_t count;              /* invocations to make, one at a time */
    size_t emitted;
    size_t settled;
    int64_t emit_us;           /* monotonic, of the record in flight */
    int64_t *latency_us;       /* [count], or NULL */
    bool reported;             /* the outcome below is set */
    bool failed;
    long status;
    int attempts;
    char condition[64];
    char error[256];
    char *body;
    size_t body_len;
};

/* ------------------------------------------------- the one-record source */

static int invoke_src_init(struct br_source *src, char *err, size_t errlen)
{
    (void)src;
    (void)err;
    (void)errlen;
    return 0;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Its records: one sequence, named by their number, sent as payload. */
static const struct br_record_kind invoke_kind = {
    .name = "invoke",
    .flags = BR_KIND_EMPTY_IS_DATA | BR_KIND_TOPIC_IS_CHANNEL,
    .id = br_kind_seq_id,
    .coord = br_kind_seq_coord,
    .parse_id = br_kind_seq_parse_id,
    .dlq_source = br_kind_dlq_partitions,
};

static int invoke_emit(struct br_source *src, struct invoke_ctx *ctx)
{
    struct br_record_init init = {.kind = &invoke_kind, .topic = "invoke",
                                  .offset = (int64_t)ctx->emitted + 1,
                                  .timestamp_ms = br_wall_ms(),
                                  .value = ctx->event, .value_len = ctx->event_len};
    int shard = br_source_shard(src, "invoke", 0);
    struct br_record *rec = shard < 0 ? NULL : br_record_create(&init);
    if (!rec)
        return -1;
    br_source_assign(src, shard);
    ctx->emit_us = now_us();
    if (br_source_emit(src, shard, rec) < 0) {
        br_record_free(rec);
        return -1;
    }
    ctx->emitted++;
    return 0;
}

/* One record at a time: the next is emitted once the last one settled. */
static int invoke_src_run(struct br_source *src)
{
    struct invoke_ctx *ctx = src->ctx;
    while (ctx->emitted < ctx->count && !br_source_stopping(src)) {
        if (invoke_emit(src, ctx) < 0) {
            br_error(src->scope, "out of memory");
            return -1;
        }
        br_source_service(src);
        br_source_wait(src, BR_WAIT_SETTLED, NULL);
    }
    if (br_source_stopping(src))
        br_source_drain(src);
    return 0;
}

static void invoke_src_settled(struct br_source *src, const struct br_record *rec)
{
    struct invoke_ctx *ctx = src->ctx;
    (void)rec;
    if (ctx->latency_us && ctx->settled < ctx->count)
        ctx->latency_us[ctx->settled] = now_us() - ctx->emit_us;
    ctx->settled++;
}

static int invoke_src_commit(struct br_source *src, int shard, int64_t next_pos)
{
    (void)src;
    (void)shard;
    (void)next_pos;
    return 0;
}

static void invoke_src_nothing(struct br_source *src)
{
    (void)src;
}

static const struct br_source_ops invoke_source = {
    .name = "invoke",
    .ctx_size = sizeof(struct invoke_ctx),
    .default_format = "payload",
    .formats = BR_FORMAT_BIT(BR_FORMAT_PAYLOAD),
    .init = invoke_src_init,
    .run = invoke_src_run,
    .commit = invoke_src_commit,
    .settled = invoke_src_settled,
    .pause = invoke_src_nothing,
    .resume = invoke_src_nothing,
};

/* ------------------------------------------------------------- outcome */

/* The pipeline's report hook (dispatcher thread): condition is NULL when
 * the function succeeded. */
static void invoke_report(struct br_pipeline *pl, struct br_batch *b,
                          const char *condition, const char *body, size_t body_len)
{
    struct invoke_ctx *ctx = pl->src.ctx;
    ctx->reported = true;
    ctx->failed = ctx->failed || condition != NULL;
    ctx->status = b->last_status;
    ctx->attempts = b->attempts;
    snprintf(ctx->condition, sizeof(ctx->condition), "%s", condition ? condition : "");
    snprintf(ctx->error, sizeof(ctx->error), "%s", b->last_error);
    free(ctx->body);
    ctx->body = NULL;
    ctx->body_len = 0;
    if (body && (ctx->body = malloc(body_len + 1))) {
        memcpy(ctx->body, body, body_len);
        ctx->body[body_len] = '\0';
        ctx->body_len = body_len;
    }
}

static void print_outcome(const struct invoke_ctx *ctx, const char *pipeline,
                          int64_t elapsed_ms)
{
    if (ctx->body_len) {
        fwrite(ctx->body, 1, ctx->body_len, stdout);
        if (ctx->body[ctx->body_len - 1] != '\n' && isatty(STDOUT_FILENO))
            putchar('\n');
        fflush(stdout);
    }
    if (!ctx->failed) {
        br_print(stderr, "%s: ok (status %ld) after %d attempt%s in %lld ms\n", pipeline,
                ctx->status, ctx->attempts, ctx->attempts == 1 ? "" : "s",
                (long long)elapsed_ms);
        return;
    }
    br_print(stderr, "%s: failed: %s after %d attempt%s in %lld ms", pipeline,
            ctx->condition, ctx->attempts, ctx->attempts == 1 ? "" : "s",
            (long long)elapsed_ms);
    if (ctx->status)
        br_print(stderr, "; status %ld", ctx->status);
    if (ctx->error[0])
        br_print(stderr, "; %s", ctx->error);
    fputc('\n', stderr);
}

/* --------------------------------------------------------- the event */

/* The event from path ("-" = stdin; NULL = "{}"), checked to be JSON. */
static char *load_event(const char *path, size_t *len)
{
    if (!path) {
        *len = 2;
        return strdup("{}");
    }
    bool is_stdin = !strcmp(path, "-");
    const char *name = is_stdin ? "stdin" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        br_print(stderr, "fnbridge: --event %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char err[256];
    char *event = br_slurp(f, EVENT_MAX, len, err, sizeof(err));
    if (!event)
        br_print(stderr, "fnbridge: %s: the event: %s\n", name, err);
    if (!is_stdin)
        fclose(f);
    if (!event)
        return NULL;
    json_error_t jerr;
    json_t *doc = json_loadb(event, *len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!doc) {
        br_print(stderr, "fnbridge: %s:%d:%d: the event is not JSON: %s\n", name,
                jerr.line, jerr.column, jerr.text);
        free(event);
        return NULL;
    }
    json_decref(doc);
    return event;
}

/* ------------------------------------------------------------ running */

/* The pipeline as configured, with the one-record source in front and one
 * record per batch, sent exactly as given. */
static void make_invoke_conf(struct br_pipeline_conf *conf, struct invoke_ctx *ctx)
{
    conf->source_ops = &invoke_source;
    conf->source_ctx = ctx;
    conf->batch_max_records = 1;
    conf->batch_max_wait_ms = 0;
    conf->no_dead_letter = true;
    conf->filter = NULL;              /* the user's event, sent as given */
    br_target_common_of(conf)->format = BR_FORMAT_PAYLOAD;
}

/* Runs the pipeline until ctx->count invocations settled; returns 0, or -1
 * (with a message on stderr) when they did not all run. */
static int run_invocations(struct br_config *cfg, struct br_pipeline_conf *conf,
                           struct invoke_ctx *ctx)
{
    char err[1024] = "";
    struct br_dispatcher *disp = br_dispatcher_create(err, sizeof(err));
    struct br_pipeline *pl = disp ? br_pipeline_create(cfg, conf, err, sizeof(err)) : NULL;
    if (!pl) {
        br_print(stderr, "%s\n", err[0] ? err : "fnbridge: out of memory");
        br_dispatcher_destroy(disp);
        return -1;
    }
    pl->report = invoke_report;
    pl->opaque_response = true;
    int rc = -1;
    if (br_dispatcher_add(disp, pl) == 0 && br_dispatcher_start(disp) == 0) {
        if (br_pipeline_start(pl) == 0 && br_pipeline_join(pl) == 0 &&
            ctx->settled == ctx->count && ctx->reported)
            rc = 0;
        else
            br_print(stderr, "%s: the invocation did not finish\n", conf->name);
        br_dispatcher_stop(disp);
    }
    br_pipeline_destroy(pl);
    br_dispatcher_destroy(disp);
    return rc;
}

/* Runs ctx's invocations through a copy of orig made for invoking (the
 * config frees its own source options at the end, and gets its target's
 * format back). */
static int invoke_pipeline(struct br_config *cfg, struct br_pipeline_conf *orig,
                           struct invoke_ctx *ctx)
{
    struct br_pipeline_conf conf = *orig;
    enum br_format saved_format = br_target_common_of(orig)->format;
    make_invoke_conf(&conf, ctx);
    int rc = run_invocations(cfg, &conf, ctx);
    br_target_common_of(orig)->format = saved_format;
    return rc;
}

int br_invoke_timed(struct br_config *cfg, const char *pipeline, const char *event,
                    size_t event_len, size_t count, int64_t *latency_us)
{
    struct br_pipeline_conf *orig = br_config_pipeline_named(cfg, pipeline);
    if (!orig)
        return -1;
    struct invoke_ctx ctx = {.event = (char *)event, .event_len = event_len,
                             .count = count, .latency_us = latency_us};
    int rc = invoke_pipeline(cfg, orig, &ctx);
    free(ctx.body);
    if (rc == 0 && ctx.failed) {
        br_print(stderr, "%s: an invocation failed: %s %s\n", pipeline, ctx.condition,
                ctx.error);
        rc = -1;
    }
    return rc;
}

int br_cmd_invoke(struct br_config *cfg, const char *pipeline, const char *event_path)
{
    struct br_pipeline_conf *orig = br_config_pipeline_named(cfg, pipeline);
    if (!orig)
        return BR_INVOKE_USAGE;
    struct invoke_ctx ctx = {.count = 1};
    if (!(ctx.event = load_event(event_path, &ctx.event_len)))
        return BR_INVOKE_USAGE;
    int64_t start = br_now_ms();
    int rc = invoke_pipeline(cfg, orig, &ctx) < 0 ? BR_INVOKE_FAILED
             : ctx.failed                         ? BR_INVOKE_FAILED
                                                  : BR_INVOKE_OK;
    if (ctx.reported)
        print_outcome(&ctx, pipeline, br_now_ms() - start);
    free(ctx.event);
    free(ctx.body);
    return rc;
}
