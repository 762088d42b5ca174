/* target_lambda.c - the AWS Lambda target: the Invoke API (POST
 * /2015-03-31/functions/NAME/invocations) through the shared HTTP engine,
 * signed with libcurl's SigV4 (DESIGN sections 3 and 5).
 *
 * Owns the Invoke URL, the signing scope and the name dead letters carry.
 * Outcomes are the engine's HTTP mapping plus Lambda's: a 200 with
 * X-Amz-Function-Error is a function error, 202 (Event) is success, the
 * X-Amzn-ErrorType of a failure becomes its error text, and a 429 without
 * Retry-After may carry retryAfterSeconds in its body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../bridge/buf.h"
#include "../bridge/log.h"
#include "http_engine.h"
#include "target_lambda.h"

struct lambda_ctx {
    struct lambda_options opts;       /* must come first (option table) */
    struct http_engine eng;
    char *url;
    char *dlq_name;                   /* NAME[:QUALIFIER] */
    char *sigv4;                      /* "aws:amz:REGION:lambda" */
    struct http_header fixed[2];      /* invocation type, security token */
};

/* ------------------------------------------------------ pure helpers */

int lambda_invoke_url(struct br_buf *out, const char *endpoint, const char *name,
                      const char *qualifier)
{
    size_t n = strlen(endpoint);
    while (n > 0 && endpoint[n - 1] == '/')
        n--;
    if (br_buf_append(out, endpoint, n) < 0 ||
        br_buf_puts(out, "/2015-03-31/functions/") < 0 ||
        http_url_encode(out, name, ":") < 0 ||
        br_buf_puts(out, "/invocations") < 0)
        return -1;
    if (qualifier && (br_buf_puts(out, "?Qualifier=") < 0 ||
                      http_url_encode(out, qualifier, NULL) < 0))
        return -1;
    return 0;
}

static const char *env_or(const char *value, const char *name)
{
    const char *env = getenv(name);
    return value ? value : env && *env ? env : NULL;
}

const char *lambda_region(const char *configured)
{
    const char *r = env_or(configured, "AWS_REGION");
    if (!r)
        r = env_or(NULL, "AWS_DEFAULT_REGION");
    return r ? r : "us-east-1";
}

/* Seconds as a JSON integer or a string of digits; -1 otherwise. */
static int64_t json_seconds(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) >= 0 ? (int64_t)json_integer_value(v) : -1;
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    int64_t n = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        n = n > INT64_MAX / 10 - 1 ? INT64_MAX / 10 : n * 10 + (*s - '0');
    }
    return n;
}

int64_t lambda_body_retry_after(const char *body, size_t len)
{
    if (!body || !len)
        return -1;
    json_t *root = json_loadb(body, len, 0, NULL);
    int64_t s = json_seconds(json_object_get(root, "retryAfterSeconds"));
    json_decref(root);
    if (s < 0)
        return -1;
    return s > INT64_MAX / 1000 ? INT64_MAX : s * 1000;
}

/* ---------------------------------------------------------- results */

static void lambda_on_result(struct br_invocation *inv)
{
    struct br_result *res = &inv->result;
    if (res->status == 429 && res->retry_after_ms < 0)
        res->retry_after_ms = lambda_body_retry_after(res->body, res->body_len);
}

/* ------------------------------------------------------------- init */

/* The region goes into the SigV4 scope and the default host name. */
static bool region_ok(const char *r)
{
    if (!*r)
        return false;
    for (; *r; r++)
        if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
            return false;
    return true;
}

static char *dup_printf_url(const char *region)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    if (br_buf_printf(&b, "https://lambda.%s.amazonaws.com", region) < 0) {
        br_buf_free(&b);
        return NULL;
    }
    return br_buf_steal(&b, NULL);
}

/* The Invoke URL, the signing scope and the dead-letter name. */
static int lambda_names(struct lambda_ctx *ctx, const char *region)
{
    struct br_buf b;
    char *def = ctx->opts.endpoint ? NULL : dup_printf_url(region);
    const char *endpoint = ctx->opts.endpoint ? ctx->opts.endpoint : def;
    br_buf_init(&b, 0);
    int rc = endpoint ? lambda_invoke_url(&b, endpoint, ctx->opts.name,
                                          ctx->opts.qualifier) : -1;
    free(def);
    ctx->url = rc < 0 ? NULL : br_buf_steal(&b, NULL);
    br_buf_free(&b);
    br_buf_init(&b, 0);
    rc = ctx->opts.qualifier ? br_buf_printf(&b, "%s:%s", ctx->opts.name, ctx->opts.qualifier)
                             : br_buf_puts(&b, ctx->opts.name);
    ctx->dlq_name = rc < 0 ? NULL : br_buf_steal(&b, NULL);
    br_buf_free(&b);
    br_buf_init(&b, 0);
    rc = br_buf_printf(&b, "aws:amz:%s:lambda", region);
    ctx->sigv4 = rc < 0 ? NULL : br_buf_steal(&b, NULL);
    br_buf_free(&b);
    return ctx->url && ctx->dlq_name && ctx->sigv4 ? 0 : -1;
}

static void lambda_free_names(struct lambda_ctx *ctx)
{
    free(ctx->url);
    free(ctx->dlq_name);
    free(ctx->sigv4);
    ctx->url = ctx->dlq_name = ctx->sigv4 = NULL;
}

/* Keys from the options, else the environment; one without the other is
 * an error, as for the S3 source. Never logged. */
static int lambda_credentials(struct lambda_ctx *ctx, struct http_engine_conf *conf,
                              char *err, size_t errlen)
{
    const char *access = env_or(ctx->opts.access_key, "AWS_ACCESS_KEY_ID");
    const char *secret = env_or(ctx->opts.secret_key, "AWS_SECRET_ACCESS_KEY");
    const char *token = env_or(ctx->opts.session_token, "AWS_SESSION_TOKEN");
    if (!access != !secret) {
        snprintf(err, errlen, "%s without %s", access ? "an access key" : "a secret key",
                 access ? "a secret key (secret_key or AWS_SECRET_ACCESS_KEY)"
                        : "an access key (access_key or AWS_ACCESS_KEY_ID)");
        return -1;
    }
    if (!access)
        return 0;
    conf->user = access;
    conf->password = secret;
    conf->aws_sigv4 = ctx->sigv4;
    if (token) {
        ctx->fixed[conf->n_fixed++] = (struct http_header){"X-Amz-Security-Token", token};
    }
    return 0;
}

/* Requests over Lambda's limit are never sent: the core splits the batch
 * or dead-letters it with MaximumPayloadSizeExceeded. */
static void lambda_limit_payload(struct lambda_ctx *ctx)
{
    int64_t limit = ctx->opts.invocation_type == LAMBDA_EVENT ? LAMBDA_EVENT_LIMIT
                                                              : LAMBDA_SYNC_LIMIT;
    if (ctx->opts.common.max_payload > limit)
        ctx->opts.common.max_payload = limit;
}

/* libcurl 7.88 signs the path as it is sent, while AWS signs it encoded
 * once more: a path with ':' (an ARN) may then be refused. */
static void lambda_warn_arn(struct br_target *tgt, const struct lambda_ctx *ctx,
                            const struct http_engine_conf *conf)
{
    if (conf->aws_sigv4 && strchr(ctx->opts.name, ':'))
        br_warn(tgt->scope, "the function is named by an ARN: libcurl %s signs the "
                "request path as sent, which AWS may refuse (InvalidSignatureException); "
                "if it does, name the function and set qualifier instead",
                curl_version_info(CURLVERSION_NOW)->version);
}

static int lambda_init(struct br_target *tgt, char *err, size_t errlen)
{
    struct lambda_ctx *ctx = tgt->ctx;
    const char *region = lambda_region(ctx->opts.region);
    if (!region_ok(region)) {
        snprintf(err, errlen, "region: \"%s\" is not a region name (such as us-east-1)",
                 region);
        return -1;
    }
    if (lambda_names(ctx, region) < 0) {
        lambda_free_names(ctx);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct http_engine_conf conf = {
        .url = ctx->url, .fixed = ctx->fixed, .timeout_ms = ctx->opts.common.timeout_ms,
        .error_type = true, .on_result = lambda_on_result,
    };
    ctx->fixed[conf.n_fixed++] = (struct http_header){
        "X-Amz-Invocation-Type",
        ctx->opts.invocation_type == LAMBDA_EVENT ? "Event" : "RequestResponse"};
    if (lambda_credentials(ctx, &conf, err, errlen) < 0 ||
        http_engine_init(&ctx->eng, &conf, err, errlen) < 0) {
        lambda_free_names(ctx);
        return -1;
    }
    lambda_limit_payload(ctx);
    tgt->name_for_dlq = ctx->dlq_name;
    if (!conf.user)
        br_info(tgt->scope, "no credentials (access_key/secret_key or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY): requests are not signed");
    lambda_warn_arn(tgt, ctx, &conf);
    br_debug(tgt->scope, "lambda target ready: %s, region %s, %s", ctx->dlq_name, region,
             ctx->fixed[0].value);
    return 0;
}

static int lambda_submit(struct br_target *tgt, struct br_invocation *inv)
{
    struct lambda_ctx *ctx = tgt->ctx;
    return http_engine_submit(&ctx->eng, tgt, inv);
}

static void lambda_cancel(struct br_target *tgt, struct br_invocation *inv)
{
    struct lambda_ctx *ctx = tgt->ctx;
    http_engine_cancel(&ctx->eng, tgt, inv);
}

static void lambda_destroy(struct br_target *tgt)
{
    struct lambda_ctx *ctx = tgt->ctx;
    if (!ctx)
        return;
    http_engine_free(&ctx->eng);
    lambda_free_names(ctx);
}

const struct br_target_ops br_target_lambda = {
    .name = "lambda",
    .opts = lambda_target_opts,
    .ctx_size = sizeof(struct lambda_ctx),
    .init = lambda_init,
    .submit = lambda_submit,
    .cancel = lambda_cancel,
    .destroy = lambda_destroy,
};
