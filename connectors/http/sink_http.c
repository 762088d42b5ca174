/* sink_http.c - the `http` dead-letter sink: one POST per failed batch,
 * its body the JSON line the file sink writes (Content-Type
 * application/json); the write counts once the answer is a 2xx. Runs on
 * the sink's worker thread with its own blocking curl handle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "bridge/dlq_sink.h"
#include "http_engine.h"
#include "target_http.h"

struct http_sink {
    char *url;
    struct br_strmap headers;
    int64_t timeout_ms;
    /* not options: */
    char *public_url;                 /* for log lines: no secrets */
    char *where;
    CURL *easy;                       /* kept for keep-alive */
    struct curl_slist *hdrs;
    struct br_buf line;
};

#define S(field) offsetof(struct http_sink, field)
static const struct br_opt http_sink_opts[] = {
    {.name = "url", .type = BR_OPT_STR, .offset = S(url),
     .flags = BR_OPT_REQUIRED, .check = http_check_url,
     .help = "each failed batch's dead-letter record is POSTed here as JSON "
             "(`http://` or `https://`); a 2xx answer makes it durable"},
    {.name = "headers", .type = BR_OPT_STRMAP, .offset = S(headers),
     .help = "extra request headers, e.g. `{Authorization: \"Bearer "
             "${env:DLQ_TOKEN}\"}`"},
    {.name = "timeout", .type = BR_OPT_DURATION, .def = "10s",
     .offset = S(timeout_ms), .min = 1, .max = 900000,
     .help = "the time allowed for one POST; past it the write failed"},
    {0},
};

static int build_headers(struct http_sink *ctx, char *err, size_t errlen)
{
    bool ok = (ctx->hdrs = curl_slist_append(NULL, "Content-Type: application/json"));
    for (size_t i = 0; ok && i < ctx->headers.n; i++) {
        size_t n = strlen(ctx->headers.keys[i]) + strlen(ctx->headers.values[i]) + 3;
        char *h = malloc(n);
        struct curl_slist *more = NULL;
        if (h) {
            snprintf(h, n, "%s: %s", ctx->headers.keys[i], ctx->headers.values[i]);
            more = curl_slist_append(ctx->hdrs, h);   /* copies h */
            free(h);
        }
        ok = more != NULL;
        if (ok)
            ctx->hdrs = more;
    }
    if (ok)
        return 0;
    snprintf(err, errlen, "out of memory");
    return -1;
}

static void http_sink_destroy(struct br_sink *sk)
{
    struct http_sink *ctx = sk->ctx;
    if (ctx->easy)
        curl_easy_cleanup(ctx->easy);
    curl_slist_free_all(ctx->hdrs);
    br_buf_free(&ctx->line);
    free(ctx->public_url);
    free(ctx->where);
    ctx->easy = NULL;
    ctx->hdrs = NULL;
    ctx->public_url = ctx->where = NULL;
}

static int http_sink_init(struct br_sink *sk, char *err, size_t errlen)
{
    struct http_sink *ctx = sk->ctx;
    if (http_validate_headers(&ctx->headers, err, errlen) < 0)
        return -1;
    ctx->public_url = http_url_public(ctx->url);
    size_t n = ctx->public_url ? strlen(ctx->public_url) + 6 : 0;
    if (!ctx->public_url || !(ctx->where = malloc(n))) {
        http_sink_destroy(sk);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(ctx->where, n, "http %s", ctx->public_url);
    if (build_headers(ctx, err, errlen) < 0) {
        http_sink_destroy(sk);
        return -1;
    }
    br_buf_init(&ctx->line, 0);
    sk->where = ctx->where;
    return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static CURL *handle(struct http_sink *ctx)
{
    if (!ctx->easy && (ctx->easy = curl_easy_init())) {
        curl_easy_setopt(ctx->easy, CURLOPT_URL, ctx->url);
        curl_easy_setopt(ctx->easy, CURLOPT_HTTPHEADER, ctx->hdrs);
        curl_easy_setopt(ctx->easy, CURLOPT_TIMEOUT_MS, (long)ctx->timeout_ms);
        curl_easy_setopt(ctx->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(ctx->easy, CURLOPT_WRITEFUNCTION, discard);
    }
    return ctx->easy;
}

static int http_sink_write(struct br_sink *sk, const struct br_dlq_item *item, char *err,
                           size_t errlen)
{
    struct http_sink *ctx = sk->ctx;
    CURL *easy = handle(ctx);
    if (!easy || br_dlq_item_line(&ctx->line, item) < 0) {
        snprintf(err, errlen, "out of memory building the request");
        return -1;
    }
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, ctx->line.data);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)ctx->line.len);
    CURLcode code = curl_easy_perform(easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (ctx->line.cap > (1u << 20))
        br_buf_free(&ctx->line);      /* a huge record's line: give it back */
    if (code != CURLE_OK) {
        /* curl's words name the host at most, never the URL's userinfo */
        snprintf(err, errlen, "POST to %s: %s", ctx->public_url, curl_easy_strerror(code));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(err, errlen, "POST to %s answered %ld", ctx->public_url, status);
        return -1;
    }
    return 0;
}

const struct br_sink_ops br_sink_http = {
    .name = "http",
    .opts = http_sink_opts,
    .ctx_size = sizeof(struct http_sink),
    .init = http_sink_init,
    .write = http_sink_write,
    .destroy = http_sink_destroy,
};
