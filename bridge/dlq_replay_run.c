/* dlq_replay_run.c - the pipeline a replay runs (dlq_replay_run.h): as
 * `fnbridge invoke` does, the pipeline as configured with its source
 * swapped, here for a source that reads dead letters from the run's input
 * and emits each one's event, exactly as it was sent (the payload format,
 * one record per batch), then waits for it to settle before the next:
 * one letter at a time, so a letter's fate is settled (and made durable)
 * before the next is read, and what is in flight when replay is killed is
 * at most one letter, which the next run sends again.
 *
 * The function's answer is read as in `run`: retries with backoff and
 * Retry-After by the pipeline's policy. A batchItemFailures list naming
 * any record fails the letter whole (its identifiers name records of the
 * original batch, which the event carries but replay cannot split): it
 * is retried whole, then written back whole; what the function already
 * took is sent again later, a duplicate rather than a loss. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "clock.h"
#include "config/secrets.h"
#include "dispatcher.h"
#include "dlq_replay_run.h"
#include "log.h"
#include "pipeline.h"
#include "record_kind.h"

/* The source's state. The outcome is written by the dispatcher thread
 * (the report hook) before the record settles, and read by the source
 * thread after it settled (the ack queue's lock orders the two). */
struct replay_src {
    struct br_dlq_run *run;
    int64_t seq;
    int shard;                 /* -1 until the first letter */
    bool reported;
    bool failed;
    long status;
    int attempts;
    char condition[64];
    char error[256];
    char *body;                /* on failure: the first 4 KiB of the answer */
    size_t body_len;
};

/* No itemIdentifier names a replayed record: any partial answer fails the
 * letter whole (see the top comment). */
static bool replay_parse_id(const json_t *id, struct br_coord *c)
{
    (void)id;
    *c = (struct br_coord){"", 0, 0, -1};
    return false;
}

static const struct br_record_kind replay_kind = {
    .name = "replay",
    .flags = BR_KIND_EMPTY_IS_DATA | BR_KIND_TOPIC_IS_CHANNEL,
    .id = br_kind_seq_id,
    .coord = br_kind_seq_coord,
    .parse_id = replay_parse_id,
    .dlq_source = br_kind_dlq_partitions,
};

/* ------------------------------------------------------------ counting */

static void tally(struct br_dlq_tally *t, const struct br_dlq_letter *l)
{
    t->lines++;
    t->records += l->records;
}

enum br_dlq_action br_dlq_classify(const struct br_dlq_run *run,
                                   const struct br_dlq_letter *l, const char *pipeline)
{
    if (strcmp(l->pipeline, pipeline))
        return BR_DLQ_OTHER;
    return l->replay_count >= run->max_replays ? BR_DLQ_PARK : BR_DLQ_SEND;
}

void br_dlq_note_malformed(struct br_dlq_run *run, const char *msg)
{
    run->counts.malformed++;
    br_print(stderr, "fnbridge: %s; left in place\n", msg);
}

/* The letter's fate is durable: it leaves the input. */
static int leave_input(struct br_dlq_run *run)
{
    char err[1024];
    if (run->in->ops->done(run->in->impl, err, sizeof(err)) == 0)
        return 0;
    br_print(stderr, "fnbridge: %s\n", err);
    run->fatal = true;
    return -1;
}

int br_dlq_park(struct br_dlq_run *run, const struct br_dlq_letter *l)
{
    char err[1024];
    if (run->out->ops->park(run->out->impl, l, err, sizeof(err)) < 0) {
        br_print(stderr, "fnbridge: %s; the line stays\n", err);
        run->fatal = true;
        return -1;
    }
    br_print(stderr, "%s: replayed %lld times already: kept aside in %s\n",
             run->in->ops->where(run->in->impl), (long long)l->replay_count,
             run->out->ops->parked_where(run->out->impl));
    if (leave_input(run) < 0)
        return -1;
    tally(&run->counts.parked, l);
    return 0;
}

/* ------------------------------------------------------------ outcomes */

/* The pipeline's report hook (dispatcher thread): condition is NULL when
 * the function took the event. */
static void replay_report(struct br_pipeline *pl, struct br_batch *b, const char *condition,
                          const char *body, size_t body_len)
{
    struct replay_src *rs = pl->src.ctx;
    rs->reported = true;
    rs->failed = condition != NULL;
    if (!condition)
        return;
    rs->status = b->last_status;
    rs->attempts = b->attempts;
    snprintf(rs->condition, sizeof(rs->condition), "%s", condition);
    snprintf(rs->error, sizeof(rs->error), "%s", b->last_error);
    if (body && (rs->body = malloc(body_len + 1))) {
        memcpy(rs->body, body, body_len);
        rs->body[body_len] = '\0';
        rs->body_len = body_len;
    }
}

static int write_back(struct br_source *src, struct replay_src *rs,
                      const struct br_dlq_letter *l)
{
    struct br_dlq_run *run = rs->run;
    struct br_dlq_attempt a = {.function = src->pl->fn_shown, .condition = rs->condition,
                               .attempts = rs->attempts, .status = rs->status,
                               .error = rs->error, .body = rs->body,
                               .body_len = rs->body_len};
    char err[1024];
    if (run->out->ops->write_back(run->out->impl, l, &a, err, sizeof(err)) < 0) {
        br_print(stderr, "fnbridge: %s; the line stays\n", err);
        run->fatal = true;
        return -1;
    }
    char status[32] = "";
    if (rs->status)
        snprintf(status, sizeof(status), ", status %ld", rs->status);
    br_print(stderr, "%s: failed again (%s after %d attempt%s%s%s%s): written back "
             "with replayCount %lld\n", run->in->ops->where(run->in->impl), rs->condition,
             rs->attempts, rs->attempts == 1 ? "" : "s", status, rs->error[0] ? "; " : "",
             rs->error, (long long)br_dlq_raised_count(l->replay_count));
    if (leave_input(run) < 0)
        return -1;
    tally(&run->counts.failed, l);
    return 0;
}

/* ------------------------------------------------------------- sending */

static void forget_outcome(struct replay_src *rs)
{
    free(rs->body);
    rs->body = NULL;
    rs->body_len = 0;
    rs->reported = rs->failed = false;
    rs->status = 0;
    rs->attempts = 0;
    rs->condition[0] = rs->error[0] = '\0';
}

/* Emits l's event and waits until it settled. */
static int send_letter(struct br_source *src, struct replay_src *rs,
                       const struct br_dlq_letter *l)
{
    forget_outcome(rs);
    if (rs->shard < 0 && (rs->shard = br_source_shard(src, "replay", 0)) >= 0)
        br_source_assign(src, rs->shard);
    struct br_record_init init = {.kind = &replay_kind, .topic = "replay",
                                  .offset = ++rs->seq, .timestamp_ms = br_wall_ms(),
                                  .value = l->event, .value_len = l->event_len};
    struct br_record *rec = rs->shard < 0 ? NULL : br_record_create(&init);
    if (!rec || br_source_emit(src, rs->shard, rec) < 0) {
        br_record_free(rec);
        br_print(stderr, "fnbridge: out of memory\n");
        return -1;
    }
    br_source_service(src);
    br_source_wait(src, BR_WAIT_SETTLED, NULL);
    return 0;
}

static void replay_letter(struct br_source *src, struct replay_src *rs,
                          const struct br_dlq_letter *l)
{
    struct br_dlq_run *run = rs->run;
    enum br_dlq_action action = br_dlq_classify(run, l, src->pl->name_shown);
    if (action == BR_DLQ_OTHER) {
        tally(&run->counts.other, l);
        return;
    }
    if (action == BR_DLQ_PARK) {
        br_dlq_park(run, l);
        return;
    }
    if (send_letter(src, rs, l) < 0 || !rs->reported) {
        if (!br_source_stopping(src))
            br_print(stderr, "%s: the replay did not finish; the line stays\n",
                     run->in->ops->where(run->in->impl));
        run->fatal = true;
    } else if (!rs->failed) {
        if (leave_input(run) == 0)
            tally(&run->counts.succeeded, l);
    } else {
        write_back(src, rs, l);
    }
}

/* ------------------------------------------------------------- source */

static int replay_src_init(struct br_source *src, char *err, size_t errlen)
{
    (void)src;
    (void)err;
    (void)errlen;
    return 0;
}

static int replay_src_run(struct br_source *src)
{
    struct replay_src *rs = src->ctx;
    struct br_dlq_run *run = rs->run;
    while (!br_source_stopping(src) && !run->fatal) {
        struct br_dlq_letter l;
        char msg[1024];
        enum br_dlq_next got = run->in->ops->next(run->in->impl, &l, msg, sizeof(msg));
        if (got == BR_DLQ_END) {
            run->complete = true;
            break;
        }
        if (got == BR_DLQ_ERROR) {
            br_print(stderr, "fnbridge: %s\n", msg);
            run->fatal = true;
        } else if (got == BR_DLQ_MALFORMED) {
            br_dlq_note_malformed(run, msg);
        } else {
            replay_letter(src, rs, &l);
            br_dlq_letter_free(&l);
        }
    }
    if (br_source_stopping(src))
        br_source_drain(src);
    return 0;
}

static int replay_src_commit(struct br_source *src, int shard, int64_t next_pos)
{
    (void)src;
    (void)shard;
    (void)next_pos;
    return 0;
}

static void replay_src_nothing(struct br_source *src)
{
    (void)src;
}

static const struct br_source_ops replay_source = {
    .name = "replay",
    .ctx_size = sizeof(struct replay_src),
    .default_format = "payload",
    .formats = BR_FORMAT_BIT(BR_FORMAT_PAYLOAD),
    .init = replay_src_init,
    .run = replay_src_run,
    .commit = replay_src_commit,
    .pause = replay_src_nothing,
    .resume = replay_src_nothing,
};

/* ------------------------------------------------------------ running */

int br_dlq_run_conf(struct br_config *cfg, const struct br_pipeline_conf *conf,
                    void (*report)(struct br_pipeline *, struct br_batch *, const char *,
                                   const char *, size_t))
{
    char err[1024] = "";
    struct br_dispatcher *disp = br_dispatcher_create(err, sizeof(err));
    struct br_pipeline *pl = disp ? br_pipeline_create(cfg, conf, err, sizeof(err)) : NULL;
    int rc = -1;
    if (!pl) {
        br_print(stderr, "%s\n", err[0] ? err : "fnbridge: out of memory");
    } else {
        pl->report = report;
        if (br_dispatcher_add(disp, pl) == 0 && br_dispatcher_start(disp) == 0) {
            rc = br_pipeline_start(pl) == 0 && br_pipeline_join(pl) == 0 ? 0 : -1;
            br_dispatcher_stop(disp);
        }
    }
    br_pipeline_destroy(pl);
    br_dispatcher_destroy(disp);
    return rc;
}

int br_dlq_run_pipeline(struct br_config *cfg, struct br_pipeline_conf *orig,
                        struct br_dlq_run *run)
{
    struct replay_src rs = {.run = run, .shard = -1};
    struct br_pipeline_conf conf = *orig;
    struct br_target_common *common = (struct br_target_common *)orig->target_ctx;
    enum br_format saved_format = common->format;
    conf.source_ops = &replay_source;
    conf.source_ctx = &rs;
    conf.batch_max_records = 1;
    conf.batch_max_wait_ms = 0;
    conf.no_dead_letter = true;       /* failures come back to the report hook */
    conf.filter = NULL;               /* dead letters passed it once: all go */
    common->format = BR_FORMAT_PAYLOAD;
    int rc = br_dlq_run_conf(cfg, &conf, replay_report);
    common->format = saved_format;
    forget_outcome(&rs);
    return rc;
}
