/* handoff.c - the two locked queues between a pipeline's source thread
 * and the dispatcher: records go in through `inbound`, settled records
 * come back through `acks`. Every use of the pipeline's lock is here. */
#include <string.h>
#include <time.h>

#include "pipeline.h"

void br_pipeline_hand_over(struct br_pipeline *pl)
{
    if (!pl->emitted.count)
        return;
    atomic_fetch_add(&pl->stats.received, pl->emitted.count);
    pthread_mutex_lock(&pl->lock);
    bool was_empty = pl->inbound.count == 0;
    br_record_list_concat(&pl->inbound, &pl->emitted);
    pthread_mutex_unlock(&pl->lock);
    if (was_empty)
        br_pipeline_wake(pl);
}

void br_pipeline_take_inbound(struct br_pipeline *pl, struct br_record_list *out)
{
    pthread_mutex_lock(&pl->lock);
    *out = pl->inbound;
    memset(&pl->inbound, 0, sizeof(pl->inbound));
    pthread_mutex_unlock(&pl->lock);
}

void br_pipeline_ack(struct br_pipeline *pl, struct br_record_list *settled)
{
    pthread_mutex_lock(&pl->lock);
    br_record_list_concat(&pl->acks, settled);
    pthread_cond_signal(&pl->ack_cond);
    pthread_mutex_unlock(&pl->lock);
}

void br_pipeline_take_acks(struct br_pipeline *pl, struct br_record_list *out)
{
    pthread_mutex_lock(&pl->lock);
    *out = pl->acks;
    memset(&pl->acks, 0, sizeof(pl->acks));
    pthread_mutex_unlock(&pl->lock);
}

void br_pipeline_wait_acks(struct br_pipeline *pl, int64_t slice_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += slice_ms * 1000000L;
    while (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pl->lock);
    if (!pl->acks.count)
        pthread_cond_timedwait(&pl->ack_cond, &pl->lock, &ts);
    pthread_mutex_unlock(&pl->lock);
}
