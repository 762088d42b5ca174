/* dispatcher.c - the dispatcher thread: intake from sources, batching,
 * every invocation's I/O (libcurl multi; child-process fds of exec targets
 * on the same poll), outcomes, and acks back to the sources. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dispatcher.h"
#include "log.h"
#include "pipeline.h"
#include "runner.h"

#define MAX_EXTRA_FDS 256
#define IDLE_WAIT_MS 1000

struct br_dispatcher {
    CURLM *multi;
    struct br_pipeline *pls[BR_DISPATCHER_MAX_PIPELINES];
    size_t n_pls;
    pthread_t thread;
    bool started;
    atomic_bool stop;
};

struct br_dispatcher *br_dispatcher_create(char *err, size_t errlen)
{
    struct br_dispatcher *disp = calloc(1, sizeof(*disp));
    if (!disp || !(disp->multi = curl_multi_init())) {
        free(disp);
        snprintf(err, errlen, "cannot initialise libcurl");
        return NULL;
    }
    /* Keep enough idle connections for every pipeline's concurrency. */
    curl_multi_setopt(disp->multi, CURLMOPT_MAXCONNECTS, 256L);
    return disp;
}

void br_dispatcher_destroy(struct br_dispatcher *disp)
{
    if (!disp)
        return;
    curl_multi_cleanup(disp->multi);
    free(disp);
}

/* The pipeline's wake-up: it knows only that someone serves its queue. */
static void wake_hook(void *disp)
{
    br_dispatcher_wake(disp);
}

int br_dispatcher_add(struct br_dispatcher *disp, struct br_pipeline *pl)
{
    if (disp->n_pls == BR_DISPATCHER_MAX_PIPELINES)
        return -1;
    disp->pls[disp->n_pls++] = pl;
    pl->wake = wake_hook;
    pl->wake_arg = disp;
    pl->tgt.disp = disp;
    return 0;
}

CURLM *br_dispatcher_multi(struct br_dispatcher *disp)
{
    return disp->multi;
}

void br_dispatcher_wake(struct br_dispatcher *disp)
{
    if (disp)
        curl_multi_wakeup(disp->multi);
}

int br_dispatcher_add_curl(struct br_dispatcher *disp, struct br_curl_req *req)
{
    curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req);
    return curl_multi_add_handle(disp->multi, req->easy) == CURLM_OK ? 0 : -1;
}

static void intake(struct br_pipeline *pl)
{
    struct br_record_list recs;
    br_pipeline_take_inbound(pl, &recs);
    if (recs.count)
        br_runner_intake(pl->runner, &recs);
}

/* One pass over every pipeline; returns how long the loop may sleep. */
static int64_t pump_all(struct br_dispatcher *disp)
{
    int64_t now = br_now_ms(), wait = IDLE_WAIT_MS;
    for (size_t i = 0; i < disp->n_pls; i++) {
        struct br_pipeline *pl = disp->pls[i];
        atomic_store_explicit(&pl->obs.dispatch_beat_ms, now, memory_order_relaxed);
        intake(pl);
        br_runner_pump(pl->runner, now);
        br_runner_flush_acks(pl->runner);
        int64_t due = br_runner_next_due(pl->runner, now);
        if (due >= 0 && due < wait)
            wait = due;
    }
    return wait;
}

static int collect_fds(struct br_dispatcher *disp, struct curl_waitfd *fds,
                       int64_t *wait)
{
    int n = 0;
    for (size_t i = 0; i < disp->n_pls; i++) {
        struct br_target *tgt = &disp->pls[i]->tgt;
        if (tgt->ops->fds)
            n += tgt->ops->fds(tgt, fds + n, MAX_EXTRA_FDS - n, wait);
    }
    return n;
}

static void finish_transfers(struct br_dispatcher *disp)
{
    int running, left;
    CURLMsg *msg;
    curl_multi_perform(disp->multi, &running);
    while ((msg = curl_multi_info_read(disp->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct br_curl_req *req = NULL;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
        curl_multi_remove_handle(disp->multi, easy);
        if (req && req->done)
            req->done(req, code);
    }
}

static void service_targets(struct br_dispatcher *disp)
{
    for (size_t i = 0; i < disp->n_pls; i++) {
        struct br_pipeline *pl = disp->pls[i];
        if (pl->tgt.ops->service)
            pl->tgt.ops->service(&pl->tgt);
        br_runner_flush_acks(pl->runner);
    }
}

static void *dispatcher_main(void *arg)
{
    struct br_dispatcher *disp = arg;
    struct curl_waitfd fds[MAX_EXTRA_FDS];
    while (!atomic_load(&disp->stop)) {
        int64_t wait = pump_all(disp);
        int n = collect_fds(disp, fds, &wait);
        curl_multi_poll(disp->multi, fds, (unsigned)n, (int)(wait < 0 ? 0 : wait), NULL);
        finish_transfers(disp);
        service_targets(disp);
    }
    /* Shutdown: whatever is still in flight is cancelled unacknowledged. */
    for (size_t i = 0; i < disp->n_pls; i++)
        br_runner_abort(disp->pls[i]->runner);
    return NULL;
}

int br_dispatcher_start(struct br_dispatcher *disp)
{
    if (pthread_create(&disp->thread, NULL, dispatcher_main, disp) != 0)
        return -1;
    disp->started = true;
    return 0;
}

void br_dispatcher_stop(struct br_dispatcher *disp)
{
    if (!disp->started)
        return;
    atomic_store(&disp->stop, true);
    curl_multi_wakeup(disp->multi);
    pthread_join(disp->thread, NULL);
    disp->started = false;
}
