/* dlq_sink.c - a pipeline's dead-letter sink on its own worker thread: a
 * queue of writes from the dispatcher (failed batches) and from the
 * source thread (records too large for any event), their answers handed
 * back with a wake, and the sink's health: a failure streak logged once,
 * the source held paused while it lasts (BR_HOLD_SINK), the observe
 * block's sink state, failures and error (README: Dead-letter sinks). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "dlq_sink.h"
#include "log.h"
#include "pipeline.h"

#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS 30000

struct br_dlq_sink {
    struct br_sink sk;
    pthread_mutex_t lock;           /* the queues and flags below */
    pthread_cond_t work;            /* the worker waits on it */
    pthread_cond_t answered;        /* a source thread waits on it */
    struct br_dlq_job *queue, *queue_tail;       /* to write, oldest first */
    struct br_dlq_job *answers, *answers_tail;   /* written, for the runner */
    pthread_t thread;
    bool started;
    bool stop;
    pthread_mutex_t write_lock;     /* writes never overlap (no worker) */
    atomic_int streak;              /* failed writes in a row */
};

/* A source thread's write: it waits on its own done flag. */
struct record_job {
    struct br_dlq_job job;          /* batch NULL: this kind */
    const struct br_record *rec;
    bool done;
};

int64_t br_dlq_sink_backoff_ms(int streak)
{
    int64_t ms = BACKOFF_FIRST_MS;
    for (int i = 1; i < streak && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

struct br_dlq_sink *br_dlq_sink_open(struct br_pipeline *pl, const struct br_sink_ops *ops,
                                     void *ctx, char *err, size_t errlen)
{
    struct br_dlq_sink *dl = calloc(1, sizeof(*dl));
    if (!dl) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    dl->sk = (struct br_sink){.ops = ops, .ctx = ctx, .pl = pl,
                              .pipeline_name = pl->conf->name,
                              .source_ops = pl->conf->source_ops,
                              .source_ctx = pl->conf->source_ctx};
    snprintf(dl->sk.scope, sizeof(dl->sk.scope), "%s/dlq-%s", pl->scope, ops->name);
    if (ops->init(&dl->sk, err, errlen) < 0) {
        free(dl);
        return NULL;
    }
    pthread_mutex_init(&dl->lock, NULL);
    pthread_mutex_init(&dl->write_lock, NULL);
    pthread_cond_init(&dl->work, NULL);
    pthread_cond_init(&dl->answered, NULL);
    return dl;
}

static void free_jobs(struct br_dlq_job *job)
{
    while (job) {
        struct br_dlq_job *next = job->next;
        if (job->batch)             /* a record job lives on its waiter's stack */
            free(job);
        job = next;
    }
}

void br_dlq_sink_close(struct br_dlq_sink *dl)
{
    if (!dl)
        return;
    pthread_mutex_lock(&dl->lock);
    dl->stop = true;
    pthread_cond_broadcast(&dl->work);
    pthread_mutex_unlock(&dl->lock);
    if (dl->started)
        pthread_join(dl->thread, NULL);
    free_jobs(dl->queue);
    free_jobs(dl->answers);
    if (dl->sk.ops->destroy)
        dl->sk.ops->destroy(&dl->sk);
    pthread_cond_destroy(&dl->work);
    pthread_cond_destroy(&dl->answered);
    pthread_mutex_destroy(&dl->lock);
    pthread_mutex_destroy(&dl->write_lock);
    free(dl);
}

const char *br_dlq_sink_kind(const struct br_dlq_sink *dl)
{
    return dl->sk.ops->name;
}

const char *br_dlq_sink_where(const struct br_dlq_sink *dl)
{
    return dl->sk.where ? dl->sk.where : dl->sk.ops->name;
}

int br_dlq_sink_streak(const struct br_dlq_sink *dl)
{
    return atomic_load(&dl->streak);
}

/* ------------------------------------------------------------- health */

static void note_failure(struct br_dlq_sink *dl, const char *why)
{
    struct br_pipeline *pl = dl->sk.pl;
    int streak = atomic_fetch_add(&dl->streak, 1) + 1;
    atomic_fetch_add(&pl->obs.sink_failures, 1);
    br_observe_sink_error(&pl->obs, why);
    atomic_store(&pl->obs.sink_state, BR_SINK_FAILING);
    br_pipeline_hold(pl, BR_HOLD_SINK, true);
    if (streak == 1)
        br_warn(dl->sk.scope, "dead-letter sink %s failed: %s; nothing of its records "
                "is acked, the source is paused, and the sink is retried with backoff "
                "(%d ms doubling, at most %d s)", br_dlq_sink_where(dl), why,
                BACKOFF_FIRST_MS, BACKOFF_MAX_MS / 1000);
    else
        br_debug(dl->sk.scope, "dead-letter sink %s failed again (%d in a row): %s",
                 br_dlq_sink_where(dl), streak, why);
}

static void note_success(struct br_dlq_sink *dl)
{
    struct br_pipeline *pl = dl->sk.pl;
    int streak = atomic_exchange(&dl->streak, 0);
    if (!streak)
        return;
    atomic_store(&pl->obs.sink_state, BR_SINK_OK);
    br_pipeline_hold(pl, BR_HOLD_SINK, false);
    br_info(dl->sk.scope, "dead-letter sink %s recovered after %d failed write%s; "
            "the source resumes", br_dlq_sink_where(dl), streak, streak == 1 ? "" : "s");
}

/* ------------------------------------------------------------- writing */

static int write_item(struct br_dlq_sink *dl, const struct br_dlq_item *item)
{
    char err[512] = "";
    pthread_mutex_lock(&dl->write_lock);
    int rc = dl->sk.ops->write(&dl->sk, item, err, sizeof(err));
    if (rc < 0)
        note_failure(dl, err[0] ? err : "the write failed");
    else
        note_success(dl);
    pthread_mutex_unlock(&dl->write_lock);
    return rc;
}

static int write_batch(struct br_dlq_sink *dl, const struct br_batch *b, const char *condition)
{
    struct br_dlq_item item = {.batch = b, .recs = b->recs, .n = b->n,
                               .condition = condition, .attempts = b->attempts,
                               .pipeline = b->pl->name_shown ? b->pl->name_shown : ""};
    return write_item(dl, &item);
}

/* A batch of one that was never invoked: the line says so (invoke count
 * 0, no response) and names the record's coordinates. */
static int write_alone(struct br_dlq_sink *dl, const struct br_record *rec,
                       const char *condition)
{
    struct br_pipeline *pl = dl->sk.pl;
    struct br_record *one = (struct br_record *)rec;
    struct br_batch b = {.pl = pl, .recs = &one, .n = 1};
    struct br_dlq_item item = {.batch = &b, .recs = &one, .n = 1, .condition = condition,
                               .pipeline = pl->name_shown ? pl->name_shown : "",
                               .alone = true};
    return write_item(dl, &item);
}

static void run_job(struct br_dlq_sink *dl, struct br_dlq_job *job)
{
    if (job->batch) {
        job->rc = write_batch(dl, job->batch, job->condition);
        return;
    }
    struct record_job *rj = (struct record_job *)job;
    job->rc = write_alone(dl, rj->rec, job->condition);
}

/* Hands job back: a batch's to the runner (woken), a record's to its
 * waiter. Called with the lock held. */
static void answer(struct br_dlq_sink *dl, struct br_dlq_job *job)
{
    if (!job->batch) {
        ((struct record_job *)job)->done = true;
        pthread_cond_broadcast(&dl->answered);
        return;
    }
    job->next = NULL;
    if (dl->answers_tail)
        dl->answers_tail->next = job;
    else
        dl->answers = job;
    dl->answers_tail = job;
}

static struct br_dlq_job *next_job(struct br_dlq_sink *dl)
{
    while (!dl->queue && !dl->stop)
        pthread_cond_wait(&dl->work, &dl->lock);
    struct br_dlq_job *job = dl->queue;
    if (dl->stop)
        return NULL;
    if (!(dl->queue = job->next))
        dl->queue_tail = NULL;
    return job;
}

static void *worker_main(void *arg)
{
    struct br_dlq_sink *dl = arg;
    pthread_mutex_lock(&dl->lock);
    struct br_dlq_job *job;
    while ((job = next_job(dl))) {
        pthread_mutex_unlock(&dl->lock);
        run_job(dl, job);
        pthread_mutex_lock(&dl->lock);
        bool to_runner = job->batch != NULL;
        answer(dl, job);
        if (to_runner)
            br_pipeline_wake(dl->sk.pl);
    }
    /* Stopping: a source thread still waiting gets a failure, not a hang,
     * and its job (on its stack) leaves the queue. */
    for (struct br_dlq_job **at = &dl->queue; *at;) {
        struct br_dlq_job *left = *at;
        if (left->batch) {
            at = &left->next;
            continue;
        }
        *at = left->next;
        left->rc = -1;
        ((struct record_job *)left)->done = true;
    }
    dl->queue_tail = NULL;
    for (struct br_dlq_job *j = dl->queue; j; j = j->next)
        dl->queue_tail = j;
    pthread_cond_broadcast(&dl->answered);
    pthread_mutex_unlock(&dl->lock);
    return NULL;
}

/* Starts the worker the first time it is needed; false when there is no
 * wake to hand answers back with (unit tests) or no thread could start:
 * then the caller writes itself. Called with the lock held. */
static bool have_worker(struct br_dlq_sink *dl)
{
    if (dl->started)
        return true;
    if (!dl->sk.pl->wake || dl->stop)
        return false;
    if (pthread_create(&dl->thread, NULL, worker_main, dl) != 0) {
        br_warn(dl->sk.scope, "cannot start the dead-letter worker thread; "
                "writing from the caller's thread");
        return false;
    }
    dl->started = true;
    return true;
}

static void enqueue(struct br_dlq_sink *dl, struct br_dlq_job *job)
{
    job->next = NULL;
    if (dl->queue_tail)
        dl->queue_tail->next = job;
    else
        dl->queue = job;
    dl->queue_tail = job;
    pthread_cond_signal(&dl->work);
}

void br_dlq_sink_submit(struct br_dlq_sink *dl, struct br_dlq_job *job)
{
    pthread_mutex_lock(&dl->lock);
    if (have_worker(dl)) {
        enqueue(dl, job);
        pthread_mutex_unlock(&dl->lock);
        return;
    }
    pthread_mutex_unlock(&dl->lock);
    run_job(dl, job);
    pthread_mutex_lock(&dl->lock);
    answer(dl, job);
    pthread_mutex_unlock(&dl->lock);
}

struct br_dlq_job *br_dlq_sink_take_answers(struct br_dlq_sink *dl)
{
    pthread_mutex_lock(&dl->lock);
    struct br_dlq_job *all = dl->answers;
    dl->answers = dl->answers_tail = NULL;
    pthread_mutex_unlock(&dl->lock);
    return all;
}

int br_dlq_sink_write_record(struct br_dlq_sink *dl, const struct br_record *rec,
                             const char *condition)
{
    struct record_job rj = {.job = {.condition = condition}, .rec = rec};
    pthread_mutex_lock(&dl->lock);
    if (dl->stop) {
        pthread_mutex_unlock(&dl->lock);
        return -1;
    }
    if (!have_worker(dl)) {
        pthread_mutex_unlock(&dl->lock);
        return write_alone(dl, rec, condition);
    }
    enqueue(dl, &rj.job);
    while (!rj.done)
        pthread_cond_wait(&dl->answered, &dl->lock);
    pthread_mutex_unlock(&dl->lock);
    return rj.job.rc;
}
