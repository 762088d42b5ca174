/* target_http.c - the HTTP function target: POSTs each event to a URL and
 * turns the answer into a br_result (README: Config reference; README: Outcomes). The
 * requests themselves are the shared engine's (http_engine.c). */
#include <stdio.h>
#include <stdlib.h>

#include "bridge/log.h"
#include "http_engine.h"
#include "target_http.h"

struct http_ctx {
    struct http_options opts;         /* must come first (option table) */
    struct http_engine eng;
    char *public_url;                 /* url for dead letters: no secrets */
};

static int http_submit(struct br_target *tgt, struct br_invocation *inv)
{
    struct http_ctx *ctx = tgt->ctx;
    return http_engine_submit(&ctx->eng, tgt, inv);
}

static void http_cancel(struct br_target *tgt, struct br_invocation *inv)
{
    struct http_ctx *ctx = tgt->ctx;
    http_engine_cancel(&ctx->eng, tgt, inv);
}

static int http_init(struct br_target *tgt, char *err, size_t errlen)
{
    struct http_ctx *ctx = tgt->ctx;
    struct http_engine_conf conf = {
        .url = ctx->opts.url,
        .headers = &ctx->opts.headers,
        .timeout_ms = ctx->opts.common.timeout_ms,
    };
    if (!(ctx->public_url = http_url_public(ctx->opts.url))) {
        snprintf(err, errlen, "url: not a URL libcurl can use");
        return -1;
    }
    if (http_engine_init(&ctx->eng, &conf, err, errlen) < 0) {
        free(ctx->public_url);
        ctx->public_url = NULL;
        return -1;
    }
    tgt->name_for_dlq = ctx->public_url;
    /* Neither the URL (it may carry a token) nor header values are logged. */
    br_debug(tgt->scope, "http target ready, %zu extra header(s)",
             ctx->opts.headers.n);
    return 0;
}

static void http_destroy(struct br_target *tgt)
{
    struct http_ctx *ctx = tgt->ctx;
    if (!ctx)
        return;
    http_engine_free(&ctx->eng);
    free(ctx->public_url);
    ctx->public_url = NULL;
}

const struct br_target_ops br_target_http = {
    .name = "http",
    .opts = http_target_opts,
    .passes_headers = true,
    .ctx_size = sizeof(struct http_ctx),
    .init = http_init,
    .submit = http_submit,
    .cancel = http_cancel,
    .destroy = http_destroy,
};
