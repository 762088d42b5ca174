/* dlq_replay_topic.c - the pipeline a replay from a dead-letter topic
 * runs (dlq_replay_topic.h): the pipeline as configured, its source
 * swapped for one that reads the topic input and emits each dead letter
 * as the record it was, so the format, batching, partial answers
 * (batchItemFailures name the records as their source named them) and
 * the dead-letter sink all work as in `run`. A record that fails again
 * is written back by the pipeline's own sink, which gives its dead
 * letter the replay count the record carries (the input raised it).
 *
 * Positions: each partition of the topic is a shard of the ackset, and a
 * record is tracked there at its position in the topic, not at its
 * original offset (which it carries, for the event and its dead letter):
 * the ackset's commit point is then the topic position before which
 * every record settled, which is what the input may commit. Messages not
 * emitted (another pipeline's, kept aside, not dead letters) are passed
 * by the next commit point, or by finish at the end of a complete run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/secrets.h"
#include "dlq_replay_topic.h"
#include "dlq_sink.h"
#include "lane.h"
#include "log.h"
#include "pipeline.h"

/* The replay source's state (the source thread's only). */
struct topic_src {
    struct br_dlq_topic_run *t;
    const char *dlq_topic;            /* for shard names */
    int32_t part_of[BR_MAX_SHARDS];   /* shard -> partition of the topic */
    bool paused;
};

static void tally(struct br_dlq_tally *tl)
{
    tl->lines++;
    tl->records++;
}

static void note_fatal(struct br_dlq_run *run, const char *msg)
{
    br_print(stderr, "fnbridge: %s\n", msg);
    run->fatal = true;
}

static enum br_dlq_action classify(const struct br_dlq_run *run,
                                   const struct br_dlq_topic_letter *l, const char *pipeline)
{
    if (strcmp(l->pipeline, pipeline))
        return BR_DLQ_OTHER;
    return l->replay_count >= run->max_replays ? BR_DLQ_PARK : BR_DLQ_SEND;
}

static int park(struct br_dlq_topic_run *t, const struct br_dlq_topic_letter *l)
{
    char err[1024];
    if (t->ops->park(t->in, err, sizeof(err)) < 0) {
        note_fatal(t->run, err);
        return -1;
    }
    br_print(stderr, "%s: replayed %lld times already: kept aside in %s\n",
             t->ops->where(t->in), (long long)l->replay_count, t->ops->parked_where(t->in));
    tally(&t->run->counts.parked);
    return 0;
}

/* --------------------------------------------------------------- source */

/* Tracked at its topic position, then given back its original offset
 * before anything reads it (it is handed over at the next service). */
static int emit(struct br_source *src, struct topic_src *ts, struct br_dlq_topic_letter *l)
{
    int shard = br_source_shard(src, ts->dlq_topic, l->partition);
    if (shard < 0) {
        note_fatal(ts->t->run, "too many partitions in the dead-letter topic");
        return -1;
    }
    if (!atomic_load(&src->pl->shards[shard].assigned)) {
        ts->part_of[shard] = l->partition;
        br_source_assign(src, shard);
    }
    int64_t original = l->rec->offset;
    l->rec->offset = l->offset;
    int rc = br_source_emit(src, shard, l->rec);
    l->rec->offset = original;
    if (rc < 0) {
        note_fatal(ts->t->run, "out of memory");
        return -1;
    }
    l->rec = NULL;                    /* the pipeline's now */
    br_source_service(src);
    return 0;
}

static void take_letter(struct br_source *src, struct topic_src *ts,
                        struct br_dlq_topic_letter *l)
{
    struct br_dlq_run *run = ts->t->run;
    switch (classify(run, l, src->pl->name_shown)) {
    case BR_DLQ_OTHER: tally(&run->counts.other); break;
    case BR_DLQ_PARK: park(ts->t, l); break;
    case BR_DLQ_SEND: emit(src, ts, l); break;
    }
    br_record_free(l->rec);
}

/* One step of the source's loop; false when the input is read. */
static bool step(struct br_source *src, struct topic_src *ts)
{
    struct br_dlq_topic_run *t = ts->t;
    struct br_dlq_topic_letter l;
    char msg[1024];
    switch (t->ops->next(t->in, &l, msg, sizeof(msg))) {
    case BR_DLQ_END:
        t->run->complete = true;
        return false;
    case BR_DLQ_WAIT:
        br_source_service(src);
        return true;
    case BR_DLQ_ERROR:
        note_fatal(t->run, msg);
        return false;
    case BR_DLQ_MALFORMED:
        br_dlq_note_malformed(t->run, msg);
        return true;
    case BR_DLQ_LETTER:
        take_letter(src, ts, &l);
        return true;
    }
    return false;
}

static int topic_src_run(struct br_source *src)
{
    struct topic_src *ts = src->ctx;
    struct br_dlq_run *run = ts->t->run;
    while (!br_source_stopping(src) && !run->fatal) {
        if (ts->paused)
            br_source_wait(src, BR_WAIT_RESUMED, NULL);
        else if (!step(src, ts))
            break;
    }
    if (br_source_stopping(src)) {
        br_source_drain(src);
        return 0;
    }
    br_source_wait(src, BR_WAIT_SETTLED, NULL);
    char err[1024];
    if (run->complete && !run->fatal && ts->t->ops->finish(ts->t->in, err, sizeof(err)) < 0)
        note_fatal(run, err);
    return 0;
}

/* How each record ended: counted, and a failure named. */
static void topic_src_settled(struct br_source *src, const struct br_record *rec)
{
    struct topic_src *ts = src->ctx;
    struct br_dlq_counts *c = &ts->t->run->counts;
    if (rec->settle != BR_SETTLE_DEAD_LETTERED) {
        tally(&c->succeeded);
        return;
    }
    char id[512];
    br_record_id(rec, id, sizeof(id));
    br_print(stderr, "%s: failed again: written back to %s\n", id,
             br_dlq_sink_where(src->pl->dlq));
    tally(&c->failed);
}

static int topic_src_commit(struct br_source *src, int shard, int64_t next_pos)
{
    struct topic_src *ts = src->ctx;
    char err[1024];
    if (ts->t->ops->commit(ts->t->in, ts->part_of[shard], next_pos, err, sizeof(err)) < 0)
        note_fatal(ts->t->run, err);
    return 0;
}

static int topic_src_init(struct br_source *src, char *err, size_t errlen)
{
    struct topic_src *ts = src->ctx;
    (void)err;
    (void)errlen;
    src->event_origin = ts->t->ops->event_origin(ts->t->in);
    return 0;
}

static void topic_src_pause(struct br_source *src)
{
    ((struct topic_src *)src->ctx)->paused = true;
}

static void topic_src_resume(struct br_source *src)
{
    ((struct topic_src *)src->ctx)->paused = false;
}

/* ------------------------------------------------------------- dry run */

static void dry_run(struct br_dlq_topic_run *t, const char *pipeline)
{
    static const char *const verbs[] = {"would send", "would keep aside",
                                        "another pipeline's: skipped"};
    struct br_dlq_counts *c = &t->run->counts;
    for (;;) {
        struct br_dlq_topic_letter l;
        char msg[1024];
        enum br_dlq_next got = t->ops->next(t->in, &l, msg, sizeof(msg));
        if (got == BR_DLQ_END || got == BR_DLQ_ERROR) {
            t->run->complete = got == BR_DLQ_END;
            if (got == BR_DLQ_ERROR)
                note_fatal(t->run, msg);
            return;
        }
        if (got == BR_DLQ_MALFORMED)
            br_dlq_note_malformed(t->run, msg);
        if (got != BR_DLQ_LETTER)
            continue;
        enum br_dlq_action action = classify(t->run, &l, pipeline);
        tally(action == BR_DLQ_SEND ? &c->succeeded
              : action == BR_DLQ_PARK ? &c->parked : &c->other);
        char id[512];
        br_record_id(l.rec, id, sizeof(id));
        br_print(stdout, "%s: pipeline=%s record=%s condition=%s replay_count=%lld: %s\n",
                 t->ops->where(t->in), l.pipeline, id, l.condition[0] ? l.condition : "-",
                 (long long)l.replay_count, verbs[action]);
        br_record_free(l.rec);
    }
}

/* ------------------------------------------------------------- running */

int br_dlq_run_topic(struct br_config *cfg, struct br_pipeline_conf *orig,
                     struct br_dlq_topic_run *t)
{
    if (t->run->dry_run) {
        char *shown = br_secrets_mask_dup(orig->name);
        dry_run(t, shown ? shown : orig->name);
        free(shown);
        return 0;
    }
    struct topic_src ts = {.t = t, .dlq_topic = "dead-letters"};
    /* The replay source takes the name and formats of the pipeline's own,
     * so events and dead letters are shaped as they were. */
    struct br_source_ops ops = {
        .name = orig->source_ops->name, .ctx_size = sizeof(ts),
        .default_format = orig->source_ops->default_format,
        .formats = orig->source_ops->formats, .init = topic_src_init,
        .run = topic_src_run, .commit = topic_src_commit, .settled = topic_src_settled,
        .pause = topic_src_pause, .resume = topic_src_resume,
    };
    struct br_pipeline_conf conf = *orig;
    conf.source_ops = &ops;
    conf.source_ctx = &ts;
    conf.filter = NULL;               /* dead letters passed it once: all go */
    return br_dlq_run_conf(cfg, &conf, NULL);
}
