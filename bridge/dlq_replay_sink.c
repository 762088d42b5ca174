/* dlq_replay_sink.c - a letter of a dead-letter file that fails again in
 * `fnbridge dlq replay`, written to the pipeline's own sink when it is
 * not a file (dlq_replay_sink.h). Before, it was appended to the default
 * dead-letter file, which such a pipeline never reads. The sink runs in
 * the caller's thread (no worker: a replay writes one letter at a time
 * and waits for it to be durable). Parking is the file output's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/secrets.h"
#include "dlq_letter.h"
#include "dlq_replay_file.h"
#include "dlq_replay_sink.h"
#include "dlq_sink.h"

struct sink_out {
    struct br_sink sk;
    struct br_dlq_output parked;      /* the file output, for park only */
    char *pipeline_shown;
    struct br_buf line;
};

static int out_write_back(void *out, const struct br_dlq_letter *l,
                          const struct br_dlq_attempt *a, char *err, size_t errlen)
{
    struct sink_out *o = out;
    br_buf_reset(&o->line);
    if (br_dlq_letter_write_back(&o->line, l, a) < 0) {
        snprintf(err, errlen, "out of memory building the line for %s", o->sk.where);
        return -1;
    }
    size_t n = o->line.len && o->line.data[o->line.len - 1] == '\n' ? o->line.len - 1
                                                                   : o->line.len;
    struct br_dlq_item item = {.condition = a->condition, .attempts = a->attempts,
                               .pipeline = o->pipeline_shown, .line = o->line.data,
                               .line_len = n,
                               .line_replay_count = br_dlq_raised_count(l->replay_count)};
    char why[512] = "";
    int rc = o->sk.ops->write(&o->sk, &item, why, sizeof(why));
    if (rc < 0)
        snprintf(err, errlen, "writing back to %s: %s", o->sk.where,
                 why[0] ? why : "the write failed");
    if (o->line.cap > (1u << 20))
        br_buf_free(&o->line);
    return rc;
}

static int out_park(void *out, const struct br_dlq_letter *l, char *err, size_t errlen)
{
    struct sink_out *o = out;
    return o->parked.ops->park(o->parked.impl, l, err, errlen);
}

static const char *out_parked_where(void *out)
{
    struct sink_out *o = out;
    return o->parked.ops->parked_where(o->parked.impl);
}

static void out_close(void *out)
{
    struct sink_out *o = out;
    if (!o)
        return;
    if (o->sk.where && o->sk.ops->destroy)    /* where is set by a good init */
        o->sk.ops->destroy(&o->sk);
    if (o->parked.ops)
        o->parked.ops->close(o->parked.impl);
    br_buf_free(&o->line);
    free(o->pipeline_shown);
    free(o);
}

static const struct br_dlq_output_ops sink_output_ops = {
    .write_back = out_write_back,
    .park = out_park,
    .parked_where = out_parked_where,
    .close = out_close,
};

const char *br_dlq_sink_output_where(const struct br_dlq_output *out)
{
    const struct sink_out *o = out->impl;
    return o->sk.where ? o->sk.where : o->sk.ops->name;
}

int br_dlq_sink_output_open(struct br_dlq_output *out, const struct br_config *cfg,
                            const struct br_pipeline_conf *conf, const char *parked,
                            char *err, size_t errlen)
{
    (void)cfg;
    struct sink_out *o = calloc(1, sizeof(*o));
    if (!o || !(o->pipeline_shown = br_secrets_mask_dup(conf->name)) ||
        br_dlq_file_output_open(&o->parked, parked, parked) < 0) {
        snprintf(err, errlen, "out of memory");
        out_close(o);
        return -1;
    }
    br_buf_init(&o->line, 0);
    o->sk = (struct br_sink){.ops = conf->dlq_ops, .ctx = conf->dlq_ctx,
                             .pipeline_name = conf->name, .source_ops = conf->source_ops,
                             .source_ctx = conf->source_ctx};
    snprintf(o->sk.scope, sizeof(o->sk.scope), "%s/dlq-%s", o->pipeline_shown,
             conf->dlq_ops->name);
    char why[512] = "";
    if (conf->dlq_ops->init(&o->sk, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "the dead-letter sink %s: %s", conf->dlq_ops->name, why);
        o->sk.where = NULL;
        out_close(o);
        return -1;
    }
    *out = (struct br_dlq_output){&sink_output_ops, o};
    return 0;
}
