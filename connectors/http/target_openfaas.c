/* target_openfaas.c - the OpenFaaS target: POSTs each event to the
 * gateway's /function/NAME (or /async-function/NAME, where 202 Accepted is
 * success) through the shared HTTP engine (README: Config reference; README: Outcomes).
 *
 * Owns the function's URL, the basic auth password read from
 * password_file, and the per-batch X-Topic / X-Kafka-Partition /
 * X-Kafka-Offset headers. A failed function answers 500 and the like:
 * the engine's ordinary HTTP mapping. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/secrets.h"
#include "bridge/buf.h"
#include "bridge/log.h"
#include "bridge/record.h"
#include "bridge/record_kind.h"
#include "config/interp.h"
#include "http_engine.h"
#include "target_openfaas.h"

/* A password file larger than this is not a password. */
#define OPENFAAS_MAX_PASSWORD 4096

struct openfaas_ctx {
    struct openfaas_options opts;     /* must come first (option table) */
    struct http_engine eng;
    char *url;
    char *public_url;                 /* url for logs and dead letters */
    char *file_password;              /* read from password_file */
    struct http_header fixed[1];      /* X-Callback-Url */
};

/* ------------------------------------------------------ pure helpers */

int openfaas_function_url(struct br_buf *out, const char *gateway, const char *name,
                          bool async)
{
    size_t n = strlen(gateway);
    while (n > 0 && gateway[n - 1] == '/')
        n--;
    if (br_buf_append(out, gateway, n) < 0 ||
        br_buf_puts(out, async ? "/async-function/" : "/function/") < 0)
        return -1;
    return http_url_encode(out, name, NULL);
}

/* A topic is sent only if it cannot break the header line. */
static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* The batch's one topic, or NULL when they differ (or the records' kind
 * uses the topic for something else, as S3 does for the object key). */
static const char *batch_topic(struct br_record *const *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(recs[i]->kind->flags & BR_KIND_TOPIC_IS_CHANNEL) || !recs[i]->topic ||
            strcmp(recs[i]->topic, recs[0]->topic) != 0)
            return NULL;
    return n && header_safe(recs[0]->topic) ? recs[0]->topic : NULL;
}

/* True when every record is from one partition of a partitioned source
 * (Kafka): only then do a partition and an offset describe the batch. The offset sent is
 * the first record's (the batch runs on from there, in order). */
static bool batch_one_partition(struct br_record *const *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(recs[i]->kind->flags & BR_KIND_PARTITIONED) ||
            recs[i]->partition != recs[0]->partition)
            return false;
    return n > 0;
}

int openfaas_record_headers(struct br_buf *out, struct br_record *const *recs, size_t n)
{
    const char *topic = batch_topic(recs, n);
    if (!topic)
        return 0;
    int rc = br_buf_printf(out, "X-Topic: %s\n", topic);
    if (rc >= 0 && batch_one_partition(recs, n))
        rc = br_buf_printf(out, "X-Kafka-Partition: %d\nX-Kafka-Offset: %lld\n",
                           (int)recs[0]->partition, (long long)recs[0]->offset);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------- the engine */

/* The engine's inv_headers hook: the record headers as list entries. */
static int openfaas_inv_headers(const struct br_invocation *inv, struct curl_slist **list)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    int rc = openfaas_record_headers(&b, inv->recs, inv->n_recs);
    for (char *line = b.data, *nl; rc == 0 && line && (nl = strchr(line, '\n'));
         line = nl + 1) {
        *nl = '\0';
        struct curl_slist *l = curl_slist_append(*list, line);
        if (!l)
            rc = -1;
        else
            *list = l;
    }
    br_buf_free(&b);
    return rc;
}

/* The gateway answers 502 or 503 when it cannot reach the function (no
 * replica up, the function's service gone): the function never ran. */
static void openfaas_on_result(struct br_invocation *inv)
{
    if (inv->result.status == 502 || inv->result.status == 503)
        inv->result.not_run = true;
}

static int openfaas_submit(struct br_target *tgt, struct br_invocation *inv)
{
    struct openfaas_ctx *ctx = tgt->ctx;
    return http_engine_submit(&ctx->eng, tgt, inv);
}

static void openfaas_cancel(struct br_target *tgt, struct br_invocation *inv)
{
    struct openfaas_ctx *ctx = tgt->ctx;
    http_engine_cancel(&ctx->eng, tgt, inv);
}

/* ------------------------------------------------------------- init */

/* Reads password_file; trailing CR/LF dropped (files written by echo, or
 * a Kubernetes secret, end with one). A regular file only, as ${file:}
 * reads: a FIFO would block `check` and `run` waiting for a writer. */
static int read_password(struct openfaas_ctx *ctx, char *err, size_t errlen)
{
    const char *path = ctx->opts.password_file;
    size_t n;
    char *buf = br_interp_read_file(path, OPENFAAS_MAX_PASSWORD, true, &n);
    if (!buf) {
        snprintf(err, errlen, "password_file: cannot read %s: %s", path,
                 errno == EFBIG ? "larger than 4 KiB, not a password"
                 : errno == EINVAL ? "not a regular file" : strerror(errno));
        return -1;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    br_secrets_add(buf, n, NULL);
    ctx->file_password = buf;
    return 0;
}

static void free_password(struct openfaas_ctx *ctx)
{
    if (ctx->file_password)
        explicit_bzero(ctx->file_password, strlen(ctx->file_password));
    free(ctx->file_password);
    ctx->file_password = NULL;
}

/* Settings that only make sense together. Errors name the keys. */
static int check_options(const struct openfaas_options *o, char *err, size_t errlen)
{
    if (o->callback_url && !o->async) {
        snprintf(err, errlen, "callback_url needs async: true (only an async call "
                 "reports its result to a callback)");
        return -1;
    }
    if (o->password && o->password_file) {
        snprintf(err, errlen, "password and password_file are both set; use one");
        return -1;
    }
    return 0;
}

static int openfaas_setup(struct openfaas_ctx *ctx, char *err, size_t errlen)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    if (openfaas_function_url(&b, ctx->opts.gateway, ctx->opts.name, ctx->opts.async) < 0 ||
        !(ctx->url = br_buf_steal(&b, NULL))) {
        br_buf_free(&b);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (ctx->opts.password_file && read_password(ctx, err, errlen) < 0)
        return -1;
    const char *password = ctx->file_password ? ctx->file_password : ctx->opts.password;
    struct http_engine_conf conf = {
        .url = ctx->url, .headers = &ctx->opts.headers, .fixed = ctx->fixed,
        .timeout_ms = ctx->opts.common.timeout_ms,
        .user = password ? ctx->opts.username : NULL, .password = password,
        .inv_headers = openfaas_inv_headers, .on_result = openfaas_on_result,
    };
    if (ctx->opts.callback_url)
        ctx->fixed[conf.n_fixed++] = (struct http_header){"X-Callback-Url",
                                                          ctx->opts.callback_url};
    return http_engine_init(&ctx->eng, &conf, err, errlen);
}

static void openfaas_destroy(struct br_target *tgt);

static int openfaas_init(struct br_target *tgt, char *err, size_t errlen)
{
    struct openfaas_ctx *ctx = tgt->ctx;
    if (check_options(&ctx->opts, err, errlen) < 0)
        return -1;
    if (openfaas_setup(ctx, err, errlen) < 0) {
        free_password(ctx);
        free(ctx->url);
        ctx->url = NULL;
        return -1;
    }
    /* As the http target's: the URL without user, password or query. */
    if (!(ctx->public_url = http_url_public(ctx->url))) {
        snprintf(err, errlen, "gateway: not a URL libcurl can use");
        openfaas_destroy(tgt);
        return -1;
    }
    tgt->name_for_dlq = ctx->public_url;
    br_debug(tgt->scope, "openfaas target ready: %s%s, %zu extra header(s)", ctx->public_url,
             ctx->eng.conf.user ? " with basic auth" : "", ctx->opts.headers.n);
    return 0;
}

static void openfaas_destroy(struct br_target *tgt)
{
    struct openfaas_ctx *ctx = tgt->ctx;
    if (!ctx)
        return;
    http_engine_free(&ctx->eng);
    free_password(ctx);
    free(ctx->url);
    free(ctx->public_url);
    ctx->url = ctx->public_url = NULL;
}

const struct br_target_ops br_target_openfaas = {
    .name = "openfaas",
    .passes_headers = true,
    .opts = openfaas_target_opts,
    .ctx_size = sizeof(struct openfaas_ctx),
    .init = openfaas_init,
    .submit = openfaas_submit,
    .cancel = openfaas_cancel,
    .destroy = openfaas_destroy,
};
