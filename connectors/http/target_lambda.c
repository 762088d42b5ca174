/* target_lambda.c - the AWS Lambda target: the Invoke API (POST
 * /2015-03-31/functions/NAME/invocations) through the shared HTTP engine,
 * each request signed with SigV4 by sigv4.c (README: Config reference; README: Outcomes).
 *
 * Owns the Invoke URL and its parts as signed, the signing credentials
 * (borrowed) and the name dead letters carry.
 * Outcomes are the engine's HTTP mapping plus Lambda's: a 200 with
 * X-Amz-Function-Error is a function error, 202 (Event) is success, the
 * X-Amzn-ErrorType of a failure becomes its error text, and a 429 without
 * Retry-After may carry retryAfterSeconds in its body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config/secrets.h"
#include "bridge/buf.h"
#include "bridge/log.h"
#include "http_engine.h"
#include "sigv4.h"
#include "target_lambda.h"

/* Headers sent with every request: invocation type, and when signing,
 * Host and the security token. All of them are signed. */
#define LAMBDA_MAX_FIXED 3

struct lambda_ctx {
    struct lambda_options opts;       /* must come first (option table) */
    struct http_engine eng;
    char *url;
    char *dlq_name;                   /* NAME[:QUALIFIER] */
    /* Signing; signer.access_key NULL: requests are not signed. The keys
     * are borrowed from the options or the environment, never logged. */
    struct sigv4_signer signer;
    char *host;                       /* HOST[:PORT] of the URL, sent as Host */
    char *path;                       /* the URL's path as sent */
    char *query;                      /* NULL: none */
    struct http_header fixed[LAMBDA_MAX_FIXED];
    size_t n_fixed;
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
        http_url_encode(out, name, NULL) < 0 ||
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
    /* Lambda answers 200 for every invocation that ran, failed or not
     * (X-Amz-Function-Error says which); any other status is the service
     * refusing it (throttled, unknown function, bad signature). */
    if (res->status != 200)
        res->not_run = true;
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
    return ctx->url && ctx->dlq_name ? 0 : -1;
}

static void lambda_free_names(struct lambda_ctx *ctx)
{
    free(ctx->url);
    free(ctx->dlq_name);
    free(ctx->host);
    free(ctx->path);
    free(ctx->query);
    ctx->url = ctx->dlq_name = ctx->host = ctx->path = ctx->query = NULL;
}

/* A copy of a part curl_url_get returned (NULL stays NULL). */
static int lambda_take_part(char **dst, char *part)
{
    *dst = part ? strdup(part) : NULL;
    curl_free(part);
    return part && !*dst ? -1 : 0;
}

/* The URL's host, port, path and query as curl sends them (parsed with
 * the flags curl uses for CURLOPT_URL): what the signature covers. */
static int lambda_url_parts(struct lambda_ctx *ctx)
{
    char *host = NULL, *port = NULL, *path = NULL, *query = NULL;
    CURLU *u = curl_url();
    int rc = u && curl_url_set(u, CURLUPART_URL, ctx->url,
                               CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK ? 0 : -1;
    if (rc == 0) {
        curl_url_get(u, CURLUPART_PORT, &port, 0);     /* none: NULL */
        curl_url_get(u, CURLUPART_QUERY, &query, 0);   /* none: NULL */
    }
    curl_url_cleanup(u);
    struct br_buf b;
    br_buf_init(&b, 0);
    if (rc == 0 && (br_buf_puts(&b, host) < 0 || (port && br_buf_printf(&b, ":%s", port) < 0)))
        rc = -1;
    ctx->host = rc < 0 ? NULL : br_buf_steal(&b, NULL);
    br_buf_free(&b);
    curl_free(host);
    curl_free(port);
    if (lambda_take_part(&ctx->path, path) < 0 || lambda_take_part(&ctx->query, query) < 0)
        rc = -1;
    return rc == 0 && ctx->host && ctx->path ? 0 : -1;
}

/* The headers a request signs: every fixed one (sent with each request
 * as they are) and its X-Amz-Date. Returns how many. */
static size_t lambda_signed_headers(const struct lambda_ctx *ctx, struct sigv4_header *h,
                                    const char *amz_date)
{
    size_t n = 0;
    for (; n < ctx->n_fixed; n++)
        h[n] = (struct sigv4_header){ctx->fixed[n].name, ctx->fixed[n].value};
    h[n++] = (struct sigv4_header){"X-Amz-Date", amz_date};
    return n;
}

static int lambda_push(struct curl_slist **list, const struct br_buf *line)
{
    struct curl_slist *l = line->data ? curl_slist_append(*list, line->data) : NULL;
    if (!l)
        return -1;
    *list = l;
    return 0;
}

/* The engine's inv_headers hook: X-Amz-Date and the Authorization signed
 * over this request's path, query, fixed headers, date and body. */
static int lambda_sign(const struct br_invocation *inv, struct curl_slist **list)
{
    const struct lambda_ctx *ctx = inv->tgt->ctx;
    char amz_date[SIGV4_AMZ_DATE_LEN];
    struct sigv4_header h[LAMBDA_MAX_FIXED + 1];
    if (sigv4_amz_date(amz_date, time(NULL)) < 0)
        return -1;
    struct sigv4_signer s = ctx->signer;
    s.amz_date = amz_date;
    const struct sigv4_request req = {
        .method = "POST", .path = ctx->path, .query = ctx->query, .headers = h,
        .n_headers = lambda_signed_headers(ctx, h, amz_date),
        .body = inv->body, .body_len = inv->body_len,
    };
    struct br_buf line;
    br_buf_init(&line, 0);
    int rc = br_buf_printf(&line, "X-Amz-Date: %s", amz_date) < 0 ||
             lambda_push(list, &line) < 0 ? -1 : 0;
    br_buf_reset(&line);
    if (rc == 0 && (br_buf_puts(&line, "Authorization: ") < 0 ||
                    sigv4_authorization(&line, &req, &s) < 0 || lambda_push(list, &line) < 0))
        rc = -1;
    br_buf_free(&line);
    return rc;
}

/* Keys from the options, else the environment; one without the other is
 * an error, as for the S3 source. With keys, every request is signed and
 * carries Host (as signed) and the session token, if any. Never logged. */
static int lambda_credentials(struct lambda_ctx *ctx, const char *region,
                              struct http_engine_conf *conf, char *err, size_t errlen)
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
    br_secrets_add(secret, strlen(secret), NULL);     /* maybe from the environment */
    if (token)
        br_secrets_add(token, strlen(token), NULL);
    if (lambda_url_parts(ctx) < 0) {
        snprintf(err, errlen, "endpoint: the Invoke URL could not be parsed to sign requests");
        return -1;
    }
    ctx->signer = (struct sigv4_signer){
        .access_key = access, .secret_key = secret, .region = region, .service = "lambda",
    };
    ctx->fixed[ctx->n_fixed++] = (struct http_header){"Host", ctx->host};
    if (token)
        ctx->fixed[ctx->n_fixed++] = (struct http_header){"X-Amz-Security-Token", token};
    conf->inv_headers = lambda_sign;
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
    ctx->fixed[ctx->n_fixed++] = (struct http_header){
        "X-Amz-Invocation-Type",
        ctx->opts.invocation_type == LAMBDA_EVENT ? "Event" : "RequestResponse"};
    if (lambda_credentials(ctx, region, &conf, err, errlen) < 0) {
        lambda_free_names(ctx);
        return -1;
    }
    conf.n_fixed = ctx->n_fixed;
    if (http_engine_init(&ctx->eng, &conf, err, errlen) < 0) {
        lambda_free_names(ctx);
        return -1;
    }
    lambda_limit_payload(ctx);
    tgt->name_for_dlq = ctx->dlq_name;
    if (!ctx->signer.access_key)
        br_info(tgt->scope, "no credentials (access_key/secret_key or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY): requests are not signed");
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
