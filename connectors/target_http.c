/* target_http.c - the HTTP function target: POSTs each event to a URL
 * through the dispatcher's curl multi handle and turns the answer into a
 * br_result (DESIGN sections 3 and 5).
 *
 * Owns: the request header lists (one per content type) and a pool of
 * idle calls, each an easy handle with its response buffer, so a busy
 * pipeline allocates no curl state per invocation. Connection reuse itself
 * lives in the multi handle's connection cache. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../bridge/buf.h"
#include "../bridge/dispatcher.h"
#include "../bridge/log.h"
#include "../bridge/outcome.h"
#include "target_http.h"

/* Largest response kept, as Lambda's synchronous payload limit. */
#define HTTP_MAX_RESPONSE (6u << 20)
#define HTTP_DEFAULT_CT "application/json"
/* Content types with a cached header list; others (an MQTT publisher may
 * send any number) get a list of their own per request. */
#define HTTP_MAX_CACHED_CT 16

/* The request headers for one Content-Type (formats may differ). */
struct http_hdrs {
    struct http_hdrs *next;
    char *content_type;
    struct curl_slist *list;
};

/* One request; `req` comes first so CURLOPT_PRIVATE points at both. */
struct http_call {
    struct br_curl_req req;
    struct http_ctx *ctx;
    struct br_invocation *inv;        /* NULL while idle in the pool */
    struct http_call *next_idle;
    struct br_buf resp;
    struct curl_slist *own_hdrs;      /* an uncached content type's list */
    bool too_large;                   /* response passed HTTP_MAX_RESPONSE */
    bool has_retry_after;
    char fn_error[64];                /* X-Amz-Function-Error value */
    char errbuf[CURL_ERROR_SIZE];
};

struct http_ctx {
    struct http_options opts;         /* must come first (option table) */
    struct http_hdrs *hdrs;
    size_t n_hdrs;
    struct http_call *idle;
};

/* ------------------------------------------------------------ headers */

/* A header name is an HTTP token; values must not smuggle in a line break.
 * Errors name the header, never its value (it may be a secret). */
static int http_check_header(const char *name, const char *value, char *err,
                             size_t errlen)
{
    if (!*name) {
        snprintf(err, errlen, "headers: empty header name");
        return -1;
    }
    for (const char *p = name; *p; p++) {
        if (!isgraph((unsigned char)*p) || *p == ':') {
            snprintf(err, errlen, "headers: \"%s\" is not a valid header name",
                     name);
            return -1;
        }
    }
    if (strpbrk(value, "\r\n")) {
        snprintf(err, errlen, "headers: the value of %s contains a line break",
                 name);
        return -1;
    }
    return 0;
}

static int http_validate_headers(const struct br_strmap *h, char *err,
                                 size_t errlen)
{
    for (size_t i = 0; i < h->n; i++)
        if (http_check_header(h->keys[i], h->values[i], err, errlen) < 0)
            return -1;
    return 0;
}

static bool http_user_sets(const struct br_strmap *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->keys[i], name) == 0)
            return true;
    return false;
}

/* Appends "Name: value"; an empty value needs curl's "Name;" form, since
 * "Name:" would remove the header instead of sending it empty. */
static int http_slist_add(struct curl_slist **list, const char *name,
                          const char *value)
{
    struct br_buf line;
    br_buf_init(&line, 0);
    int rc = *value ? br_buf_printf(&line, "%s: %s", name, value)
                    : br_buf_printf(&line, "%s;", name);
    struct curl_slist *l = rc < 0 ? NULL : curl_slist_append(*list, line.data);
    br_buf_free(&line);
    if (!l)
        return -1;
    *list = l;
    return 0;
}

static struct curl_slist *http_build_slist(const struct br_strmap *h,
                                           const char *content_type)
{
    struct curl_slist *list = NULL;
    if (!http_user_sets(h, "Content-Type") &&
        http_slist_add(&list, "Content-Type", content_type) < 0)
        goto out_free;
    for (size_t i = 0; i < h->n; i++)
        if (http_slist_add(&list, h->keys[i], h->values[i]) < 0)
            goto out_free;
    /* No "Expect: 100-continue" round trip before large bodies. */
    if (!http_user_sets(h, "Expect")) {
        struct curl_slist *l = curl_slist_append(list, "Expect:");
        if (!l)
            goto out_free;
        list = l;
    }
    return list;

out_free:
    curl_slist_free_all(list);
    return NULL;
}

/* The header list for a content type, built on first use and borrowed;
 * past HTTP_MAX_CACHED_CT types, a new list that *own must free. */
static struct curl_slist *http_headers_for(struct http_ctx *ctx,
                                           const char *content_type,
                                           struct curl_slist **own)
{
    struct http_hdrs *h;
    if (!content_type)
        content_type = HTTP_DEFAULT_CT;
    for (h = ctx->hdrs; h; h = h->next)
        if (strcmp(h->content_type, content_type) == 0)
            return h->list;
    if (ctx->n_hdrs >= HTTP_MAX_CACHED_CT && own)
        return *own = http_build_slist(&ctx->opts.headers, content_type);
    h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->content_type = strdup(content_type);
    h->list = http_build_slist(&ctx->opts.headers, content_type);
    if (!h->content_type || !h->list) {
        free(h->content_type);
        curl_slist_free_all(h->list);
        free(h);
        return NULL;
    }
    h->next = ctx->hdrs;
    ctx->hdrs = h;
    ctx->n_hdrs++;
    return h->list;
}

/* ------------------------------------------------------- curl callbacks */

static size_t http_on_body(char *p, size_t size, size_t n, void *arg)
{
    struct http_call *call = arg;
    if (br_buf_append(&call->resp, p, size * n) < 0) {
        call->too_large = true;
        return 0;           /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return size * n;
}

/* Copies a header's value, trimmed, into out. */
static void http_header_value(const char *p, size_t n, size_t name_len,
                              char *out, size_t outlen)
{
    const char *v = p + name_len, *end = p + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    size_t len = (size_t)(end - v);
    if (len >= outlen)
        len = outlen - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

/* Watches for the headers curl does not report itself. Each response (a
 * 1xx interim one too) starts with a status line: state starts over. */
static size_t http_on_header(char *p, size_t size, size_t n, void *arg)
{
    static const char fe[] = "X-Amz-Function-Error:";
    static const char ra[] = "Retry-After:";
    struct http_call *call = arg;
    size_t len = size * n;

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        call->fn_error[0] = '\0';
        call->has_retry_after = false;
    } else if (len > sizeof(fe) - 1 && strncasecmp(p, fe, sizeof(fe) - 1) == 0) {
        http_header_value(p, len, sizeof(fe) - 1, call->fn_error,
                          sizeof(call->fn_error));
        if (!call->fn_error[0])     /* present but empty still means error */
            strcpy(call->fn_error, "Unhandled");
    } else if (len > sizeof(ra) - 1 && strncasecmp(p, ra, sizeof(ra) - 1) == 0) {
        call->has_retry_after = true;
    }
    return len;
}

/* ------------------------------------------------------------- results */

static void http_result_ok(struct http_call *call, struct br_result *res)
{
    curl_off_t ra = 0;
    curl_easy_getinfo(call->req.easy, CURLINFO_RESPONSE_CODE, &res->status);
    res->kind = br_outcome_from_http(res->status);
    /* Saturated: a function may send any number of seconds (the core
     * bounds the wait by max_record_age). */
    if (call->has_retry_after &&
        curl_easy_getinfo(call->req.easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK)
        res->retry_after_ms = ra > INT64_MAX / 1000 ? INT64_MAX : (int64_t)ra * 1000;
    /* Lambda-compatible endpoints answer 200 to a failed function and say
     * so in a header. */
    if (res->kind == BR_RES_OK && call->fn_error[0]) {
        res->kind = BR_RES_FUNCTION_ERROR;
        snprintf(res->error, sizeof(res->error), "%s", call->fn_error);
    }
}

static void http_result_transport(struct http_call *call, CURLcode code,
                                  struct br_result *res)
{
    res->kind = BR_RES_RETRY;
    if (call->errbuf[0])
        snprintf(res->error, sizeof(res->error), "%s: %.200s",
                 curl_easy_strerror(code), call->errbuf);
    else
        snprintf(res->error, sizeof(res->error), "%s", curl_easy_strerror(code));
}

static void http_fill_result(struct http_call *call, CURLcode code,
                             struct br_result *res)
{
    res->status = 0;
    res->retry_after_ms = -1;
    res->error[0] = '\0';
    if (call->too_large) {
        curl_easy_getinfo(call->req.easy, CURLINFO_RESPONSE_CODE, &res->status);
        res->kind = BR_RES_FUNCTION_ERROR;
        snprintf(res->error, sizeof(res->error),
                 "response too large (over %u MiB)", HTTP_MAX_RESPONSE >> 20);
    } else if (code == CURLE_OK) {
        http_result_ok(call, res);
    } else {
        http_result_transport(call, code, res);
    }
    res->body = br_buf_steal(&call->resp, &res->body_len);
}

/* ------------------------------------------------------------ the pool */

static void http_call_free(struct http_call *call)
{
    if (!call)
        return;
    curl_easy_cleanup(call->req.easy);
    br_buf_free(&call->resp);
    free(call);
}

static void http_on_done(struct br_curl_req *req, CURLcode code);

/* A new call with every option that does not change per request set. */
static struct http_call *http_call_new(struct http_ctx *ctx)
{
    struct http_call *call = calloc(1, sizeof(*call));
    if (!call)
        return NULL;
    CURL *e = curl_easy_init();
    if (!e) {
        free(call);
        return NULL;
    }
    call->ctx = ctx;
    call->req.easy = e;
    call->req.done = http_on_done;
    br_buf_init(&call->resp, HTTP_MAX_RESPONSE);

    curl_easy_setopt(e, CURLOPT_URL, ctx->opts.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ctx->opts.common.timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &call->req);
    return call;
}

static struct http_call *http_call_get(struct http_ctx *ctx)
{
    struct http_call *call = ctx->idle;
    if (!call)
        return http_call_new(ctx);
    ctx->idle = call->next_idle;
    call->next_idle = NULL;
    return call;
}

/* Back to the pool; the pool never outgrows the peak concurrency. */
static void http_call_put(struct http_ctx *ctx, struct http_call *call)
{
    call->inv = NULL;
    br_buf_free(&call->resp);
    curl_slist_free_all(call->own_hdrs);
    call->own_hdrs = NULL;
    call->next_idle = ctx->idle;
    ctx->idle = call;
}

/* Fresh per-request state and the request's own options. */
static int http_call_prepare(struct http_call *call, struct br_invocation *inv,
                             struct curl_slist *hdrs)
{
    CURL *e = call->req.easy;
    call->inv = inv;
    call->too_large = false;
    call->has_retry_after = false;
    call->fn_error[0] = '\0';
    call->errbuf[0] = '\0';
    br_buf_reset(&call->resp);
    /* The body is borrowed until done: no copy. */
    if (curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)inv->body_len) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, inv->body) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK)
        return -1;
    return 0;
}

/* ------------------------------------------------------------- the ops */

static void http_on_done(struct br_curl_req *req, CURLcode code)
{
    struct http_call *call = (struct http_call *)req;
    struct br_invocation *inv = call->inv;
    http_fill_result(call, code, &inv->result);
    inv->tgt_state = NULL;
    /* Pooled before done: done may submit again and reuse it at once. */
    http_call_put(call->ctx, call);
    br_invocation_done(inv);
}

static void http_submit_failed(struct br_invocation *inv, const char *why)
{
    inv->result.kind = BR_RES_RETRY;
    inv->result.status = 0;
    inv->result.retry_after_ms = -1;
    inv->result.body = NULL;
    inv->result.body_len = 0;
    snprintf(inv->result.error, sizeof(inv->result.error), "%s", why);
}

static int http_submit(struct br_target *tgt, struct br_invocation *inv)
{
    struct http_ctx *ctx = tgt->ctx;
    struct curl_slist *own = NULL;
    struct curl_slist *hdrs = http_headers_for(ctx, inv->content_type, &own);
    struct http_call *call = hdrs ? http_call_get(ctx) : NULL;
    if (!call) {
        curl_slist_free_all(own);
        http_submit_failed(inv, "out of memory preparing the request");
        return -1;
    }
    call->own_hdrs = own;
    if (http_call_prepare(call, inv, hdrs) < 0 ||
        br_dispatcher_add_curl(tgt->disp, &call->req) < 0) {
        http_call_put(ctx, call);
        http_submit_failed(inv, "could not start the HTTP request");
        return -1;
    }
    inv->tgt_state = call;
    return 0;
}

static void http_cancel(struct br_target *tgt, struct br_invocation *inv)
{
    struct http_call *call = inv->tgt_state;
    if (!call)
        return;
    curl_multi_remove_handle(br_dispatcher_multi(tgt->disp), call->req.easy);
    inv->tgt_state = NULL;
    /* A handle removed mid-transfer is fine to reuse; its connection is
     * closed rather than returned to the cache. */
    http_call_put(tgt->ctx, call);
}

static int http_init(struct br_target *tgt, char *err, size_t errlen)
{
    struct http_ctx *ctx = tgt->ctx;
    if (http_validate_headers(&ctx->opts.headers, err, errlen) < 0)
        return -1;
    /* Builds the default list now, so a broken header fails at start. */
    if (!http_headers_for(ctx, HTTP_DEFAULT_CT, NULL)) {
        snprintf(err, errlen, "out of memory building the request headers");
        return -1;
    }
    tgt->name_for_dlq = ctx->opts.url;
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
    while (ctx->idle) {
        struct http_call *call = ctx->idle;
        ctx->idle = call->next_idle;
        http_call_free(call);
    }
    while (ctx->hdrs) {
        struct http_hdrs *h = ctx->hdrs;
        ctx->hdrs = h->next;
        curl_slist_free_all(h->list);
        free(h->content_type);
        free(h);
    }
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
