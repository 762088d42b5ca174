/* pipeline.c - assembles one pipeline from its config: source, target,
 * ackset, runner and dead-letter sink; runs the source thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/secrets.h"
#include "ackset.h"
#include "clock.h"
#include "dlq_sink.h"
#include "log.h"
#include "pipeline.h"
#include "runner.h"

static enum br_format pick_format(const struct br_pipeline_conf *conf)
{
    const struct br_target_common *common = conf->target_ctx;
    if (common->format != BR_FORMAT_SOURCE_DEFAULT)
        return common->format;
    for (int i = 0; br_format_names[i]; i++)
        if (!strcmp(br_format_names[i], conf->source_ops->default_format))
            return (enum br_format)i;
    return BR_FORMAT_JSON;
}

/* "FILE:LINE:COL: pipelines[i].dead_letter.NAME: why", as config errors are. */
static void sink_error(const struct br_pipeline *pl, const struct br_sink_ops *ops,
                       const char *why, char *err, size_t errlen)
{
    const struct br_pipeline_conf *conf = pl->conf;
    snprintf(err, errlen, "%s:%d:%d: pipelines[%td].dead_letter.%s: %s", pl->cfg->path,
             conf->dlq_sink_line, conf->dlq_sink_col, conf - pl->cfg->pipelines,
             ops->name, why);
}

static int open_dead_letter(struct br_pipeline *pl, char *err, size_t errlen)
{
    const struct br_sink_ops *ops = pl->conf->dlq_ops ? pl->conf->dlq_ops : &br_sink_file;
    char why[512] = "";
    if (pl->conf->no_dead_letter)
        return 0;
    pl->dlq = br_dlq_sink_open(pl, ops, pl->conf->dlq_ctx, why, sizeof(why));
    if (pl->dlq)
        return 0;
    if (ops == &br_sink_file)     /* its errors name the path: as they were */
        snprintf(err, errlen, "%s", why);
    else
        sink_error(pl, ops, why, err, errlen);
    return -1;
}

/* `check`: a sink other than the file (which br_config_check_paths
 * judges) is initialised and destroyed, so its property errors show. */
static int check_dead_letter(struct br_pipeline *pl, char *err, size_t errlen)
{
    const struct br_sink_ops *ops = pl->conf->dlq_ops;
    char why[512] = "";
    if (!ops || pl->conf->no_dead_letter)
        return 0;
    struct br_sink sk = {.ops = ops, .ctx = pl->conf->dlq_ctx, .pl = pl,
                         .pipeline_name = pl->conf->name,
                         .source_ops = pl->conf->source_ops,
                         .source_ctx = pl->conf->source_ctx};
    snprintf(sk.scope, sizeof(sk.scope), "%s/dlq-%s", pl->scope, ops->name);
    if (ops->init(&sk, why, sizeof(why)) < 0) {
        sink_error(pl, ops, why, err, errlen);
        return -1;
    }
    if (ops->destroy)
        ops->destroy(&sk);
    return 0;
}

/* "FILE:LINE:COL: pipelines[i].source.kafka: why", as config errors are. */
static void connector_error(const struct br_pipeline *pl, bool source,
                            const char *why, char *err, size_t errlen)
{
    const struct br_pipeline_conf *conf = pl->conf;
    snprintf(err, errlen, "%s:%d:%d: pipelines[%td].%s.%s: %s", pl->cfg->path,
             source ? conf->source_line : conf->target_line,
             source ? conf->source_col : conf->target_col,
             conf - pl->cfg->pipelines, source ? "source" : "function",
             source ? conf->source_ops->name : conf->target_ops->name, why);
}

/* A format the source's records have no shape in is a config error. */
static int check_format(struct br_pipeline *pl, char *err, size_t errlen)
{
    const struct br_source_ops *ops = pl->conf->source_ops;
    if (ops->formats & BR_FORMAT_BIT(pl->format))
        return 0;
    char why[256], known[128] = "";
    for (int i = 0; br_format_names[i]; i++)
        if (ops->formats & BR_FORMAT_BIT(i))
            snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
                     known[0] ? ", " : "", br_format_names[i]);
    snprintf(why, sizeof(why), "format %s has no shape for %s records; use one of: %s",
             br_format_names[pl->format], ops->name, known);
    connector_error(pl, false, why, err, errlen);
    return -1;
}

/* The pipeline's name as printed (config/secrets.h): in scopes, dead
 * letters and events. The real name stays for paths on disk and ids. */
static int show_name(struct br_pipeline *pl, char *err, size_t errlen)
{
    pl->name_shown = br_secrets_mask_dup(pl->conf->name);
    if (!pl->name_shown) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(pl->scope, sizeof(pl->scope), "%s", pl->name_shown);
    return 0;
}

/* What the connectors named in init, as printed: the target's name for
 * dead letters, the event's origin (bootstrapServers). */
static int show_connectors(struct br_pipeline *pl)
{
    if (pl->tgt.name_for_dlq && !(pl->fn_shown = br_secrets_mask_dup(pl->tgt.name_for_dlq)))
        return -1;
    if (pl->src.event_origin &&
        !(pl->origin_shown = br_secrets_mask_dup(pl->src.event_origin)))
        return -1;
    return 0;
}

/* The handles the connectors get: what each instance may know of its
 * pipeline is on its handle, so no connector reads struct br_pipeline. */
static void fill_handles(struct br_pipeline *pl)
{
    const struct br_pipeline_conf *conf = pl->conf;
    pl->src = (struct br_source){.ops = conf->source_ops, .ctx = conf->source_ctx, .pl = pl,
                                 .pipeline_name = conf->name,
                                 .state_dir = pl->cfg->state_dir,
                                 .state_dir_secret = pl->cfg->state_dir_secret,
                                 .shutdown_timeout_ms = pl->cfg->shutdown_timeout_ms};
    pl->tgt = (struct br_target){.ops = conf->target_ops, .ctx = conf->target_ctx, .pl = pl,
                                 .pipeline_name = conf->name,
                                 .concurrency = (int)conf->concurrency};
    snprintf(pl->src.scope, sizeof(pl->src.scope), "%s/%s", pl->name_shown,
             conf->source_ops->name);
    snprintf(pl->tgt.scope, sizeof(pl->tgt.scope), "%s/%s", pl->name_shown,
             conf->target_ops->name);
}

static int init_connectors(struct br_pipeline *pl, char *err, size_t errlen)
{
    char why[512] = "";
    fill_handles(pl);
    if (pl->src.ops->init(&pl->src, why, sizeof(why)) < 0) {
        connector_error(pl, true, why, err, errlen);
        pl->src.ops = NULL;
        return -1;
    }
    if (pl->tgt.ops->init(&pl->tgt, why, sizeof(why)) < 0) {
        connector_error(pl, false, why, err, errlen);
        pl->tgt.ops = NULL;
        return -1;
    }
    return 0;
}

/* The filter's document holds a record's text escaped (6 bytes a byte at
 * worst) beside its metadata; the records a pipeline emits are at most
 * its largest event. A document past the cap is not judged: the record
 * passes. */
static size_t doc_cap(const struct br_pipeline_conf *conf)
{
    const struct br_target_common *common = conf->target_ctx;
    int64_t payload = common ? common->max_payload : 0;
    return (size_t)(payload > 0 ? payload : 0) * 6 + (1u << 20);
}

struct br_pipeline *br_pipeline_create(const struct br_config *cfg,
                                       const struct br_pipeline_conf *conf,
                                       char *err, size_t errlen)
{
    struct br_pipeline *pl = calloc(1, sizeof(*pl));
    if (!pl) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pl->conf = conf;
    pl->cfg = cfg;
    pthread_mutex_init(&pl->lock, NULL);
    pthread_cond_init(&pl->ack_cond, NULL);
    br_observe_init(&pl->obs);
    pl->ackset = br_ackset_create();
    pl->shards = calloc(BR_MAX_SHARDS, sizeof(*pl->shards));
    pl->format = pick_format(conf);
    br_doc_init(&pl->doc, doc_cap(conf));
    if (!pl->ackset || !pl->shards) {
        snprintf(err, errlen, "out of memory");
        br_pipeline_destroy(pl);
        return NULL;
    }
    err[0] = '\0';
    if (show_name(pl, err, errlen) < 0 || check_format(pl, err, errlen) < 0 ||
        init_connectors(pl, err, errlen) < 0 || show_connectors(pl) < 0 ||
        open_dead_letter(pl, err, errlen) < 0 ||
        !(pl->runner = br_runner_create(pl))) {
        if (!err[0])
            snprintf(err, errlen, "out of memory");
        br_pipeline_destroy(pl);
        return NULL;
    }
    /* The event is written to dead letters as sent: it carries the printed
     * forms of what comes from the config, never a secret. */
    pl->event = (struct br_event_ctx){.pipeline = pl->name_shown,
                                      .source_kind = conf->source_ops->name,
                                      .origin = pl->origin_shown,
                                      .ce_binary = conf->batch_max_records == 1 &&
                                                   conf->target_ops->passes_headers};
    return pl;
}

int br_pipeline_check(const struct br_config *cfg,
                      const struct br_pipeline_conf *conf, char *err,
                      size_t errlen)
{
    struct br_pipeline *pl = calloc(1, sizeof(*pl));
    if (!pl) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pl->conf = conf;
    pl->cfg = cfg;
    pl->format = pick_format(conf);
    int rc = show_name(pl, err, errlen) < 0 || check_format(pl, err, errlen) < 0
             ? -1 : init_connectors(pl, err, errlen);
    if (rc == 0)
        rc = check_dead_letter(pl, err, errlen);
    if (pl->tgt.ops && pl->tgt.ops->destroy)
        pl->tgt.ops->destroy(&pl->tgt);
    if (pl->src.ops && pl->src.ops->destroy)
        pl->src.ops->destroy(&pl->src);
    free(pl->name_shown);
    free(pl);
    return rc;
}

void br_pipeline_destroy(struct br_pipeline *pl)
{
    if (!pl)
        return;
    br_dlq_sink_close(pl->dlq);         /* first: its worker reads batches */
    br_runner_destroy(pl->runner);
    if (pl->tgt.ops && pl->tgt.ops->destroy)
        pl->tgt.ops->destroy(&pl->tgt);
    if (pl->src.ops && pl->src.ops->destroy)
        pl->src.ops->destroy(&pl->src);
    br_record_list_free(&pl->inbound);
    br_record_list_free(&pl->acks);
    br_record_list_free(&pl->emitted);
    br_record_list_free(&pl->filtered);
    br_doc_free(&pl->doc);
    for (int i = 0; pl->shards && i < pl->n_shards; i++)
        free(pl->shards[i].topic);
    free(pl->shards);
    br_ackset_destroy(pl->ackset);
    pthread_cond_destroy(&pl->ack_cond);
    pthread_mutex_destroy(&pl->lock);
    br_observe_destroy(&pl->obs);
    free(pl->name_shown);
    free(pl->fn_shown);
    free(pl->origin_shown);
    free(pl);
}

static void *source_thread(void *arg)
{
    struct br_pipeline *pl = arg;
    pl->source_rc = pl->src.ops->run(&pl->src);
    br_source_report_state(&pl->src, BR_SOURCE_STOPPED,
                           pl->source_rc < 0 ? "the source stopped on an error" : NULL);
    atomic_store(&pl->source_done, true);
    br_pipeline_wake(pl);
    return NULL;
}

int br_pipeline_start(struct br_pipeline *pl)
{
    if (pthread_create(&pl->thread, NULL, source_thread, pl) != 0) {
        br_error(pl->scope, "cannot start the source thread");
        return -1;
    }
    return 0;
}

void br_pipeline_stop(struct br_pipeline *pl)
{
    if (atomic_load(&pl->stopping))
        return;
    atomic_store(&pl->stop_deadline_ms, br_now_ms() + pl->cfg->shutdown_timeout_ms);
    atomic_store(&pl->stopping, true);
    br_pipeline_wake(pl);
}

int br_pipeline_join(struct br_pipeline *pl)
{
    pthread_join(pl->thread, NULL);
    return pl->source_rc;
}
