/* http_engine.c - the HTTP request engine of the http, lambda and openfaas
 * targets (http_engine.h): POSTs each event through the dispatcher's curl
 * multi handle and turns the answer into a br_result.
 *
 * Owns: the request header lists (one per content type) and a pool of
 * idle calls, each an easy handle with its response buffer, so a busy
 * pipeline allocates no curl state per invocation. An invocation that
 * carries headers of its own (the format's, the target's) gets a list of
 * its own, freed when the call ends. Connection reuse itself lives in the
 * multi handle's connection cache. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bridge/buf.h"
#include "bridge/dispatcher.h"
#include "bridge/log.h"
#include "bridge/outcome.h"
#include "http_engine.h"

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
    struct http_engine *eng;
    struct br_invocation *inv;        /* NULL while idle in the pool */
    struct http_call *next_idle;
    struct br_buf resp;
    struct curl_slist *own_hdrs;      /* this request's own list, if any */
    bool too_large;                   /* response passed HTTP_MAX_RESPONSE */
    bool has_retry_after;
    char fn_error[64];                /* X-Amz-Function-Error value */
    char error_type[96];              /* X-Amzn-ErrorType value */
    char errbuf[CURL_ERROR_SIZE];
};

/* ------------------------------------------------------------ headers */

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

int http_validate_headers(const struct br_strmap *h, char *err, size_t errlen)
{
    for (size_t i = 0; h && i < h->n; i++)
        if (http_check_header(h->keys[i], h->values[i], err, errlen) < 0)
            return -1;
    return 0;
}

static bool http_user_sets(const struct br_strmap *h, const char *name)
{
    for (size_t i = 0; h && i < h->n; i++)
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

static int http_slist_push(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);
    if (!l)
        return -1;
    *list = l;
    return 0;
}

static struct curl_slist *http_build_slist(const struct http_engine_conf *conf,
                                           const char *content_type)
{
    struct curl_slist *list = NULL;
    const struct br_strmap *h = conf->headers;
    if (!http_user_sets(h, "Content-Type") &&
        http_slist_add(&list, "Content-Type", content_type) < 0)
        goto out_free;
    for (size_t i = 0; i < conf->n_fixed; i++)
        if (http_slist_add(&list, conf->fixed[i].name, conf->fixed[i].value) < 0)
            goto out_free;
    for (size_t i = 0; h && i < h->n; i++)
        if (http_slist_add(&list, h->keys[i], h->values[i]) < 0)
            goto out_free;
    /* No "Expect: 100-continue" round trip before large bodies. */
    if (!http_user_sets(h, "Expect") &&
        http_slist_push(&list, "Expect:") < 0)
        goto out_free;
    return list;

out_free:
    curl_slist_free_all(list);
    return NULL;
}

/* The header list for a content type, built on first use and borrowed;
 * past HTTP_MAX_CACHED_CT types, a new list that *own must free. */
static struct curl_slist *http_headers_for(struct http_engine *eng,
                                           const char *content_type,
                                           struct curl_slist **own)
{
    struct http_hdrs *h;
    if (!content_type)
        content_type = HTTP_DEFAULT_CT;
    for (h = eng->hdrs; h; h = h->next)
        if (strcmp(h->content_type, content_type) == 0)
            return h->list;
    if (eng->n_hdrs >= HTTP_MAX_CACHED_CT && own)
        return *own = http_build_slist(&eng->conf, content_type);
    h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->content_type = strdup(content_type);
    h->list = http_build_slist(&eng->conf, content_type);
    if (!h->content_type || !h->list) {
        free(h->content_type);
        curl_slist_free_all(h->list);
        free(h);
        return NULL;
    }
    h->next = eng->hdrs;
    eng->hdrs = h;
    eng->n_hdrs++;
    return h->list;
}

/* One "Name: value" line of the format. A line without a name, or with a
 * line break, is dropped rather than sent half-formed; an empty value is
 * sent empty ("Name;"), as http_slist_add does. */
static int http_add_inv_line(struct curl_slist **list, const char *line)
{
    const char *colon = strchr(line, ':');
    if (!colon || colon == line || strpbrk(line, "\r\n"))
        return 0;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v)
        return http_slist_push(list, line);
    struct br_buf b;
    br_buf_init(&b, 0);
    int rc = br_buf_printf(&b, "%.*s;", (int)(colon - line), line);
    rc = rc < 0 ? -1 : http_slist_push(list, b.data);
    br_buf_free(&b);
    return rc;
}

/* A request's own list: the cached one copied, then the target's and the
 * format's lines for this invocation. NULL when out of memory. */
static struct curl_slist *http_request_headers(struct http_engine *eng,
                                               const struct curl_slist *base,
                                               const struct br_invocation *inv)
{
    struct curl_slist *list = NULL;
    for (const struct curl_slist *l = base; l; l = l->next)
        if (http_slist_push(&list, l->data) < 0)
            goto out_free;
    if (eng->conf.inv_headers && eng->conf.inv_headers(inv, &list) < 0)
        goto out_free;
    for (const char *h = NULL; (h = br_invocation_next_header(inv, h));)
        if (http_add_inv_line(&list, h) < 0)
            goto out_free;
    return list;

out_free:
    curl_slist_free_all(list);
    return NULL;
}

int http_url_encode(struct br_buf *out, const char *s, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        if (isalnum(*p) || strchr("-._~", *p) || (keep && strchr(keep, *p)))
            rc = br_buf_putc(out, (char)*p);
        else
            rc = br_buf_printf(out, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
        if (rc < 0)
            return -1;
    }
    return 0;
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

static bool http_is_header(const char *p, size_t len, const char *name, size_t name_len)
{
    return len > name_len && strncasecmp(p, name, name_len) == 0;
}

/* Watches for the headers curl does not report itself. Each response (a
 * 1xx interim one too) starts with a status line: state starts over. */
static size_t http_on_header(char *p, size_t size, size_t n, void *arg)
{
    static const char fe[] = "X-Amz-Function-Error:";
    static const char ra[] = "Retry-After:";
    static const char et[] = "X-Amzn-ErrorType:";
    struct http_call *call = arg;
    size_t len = size * n;

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        call->fn_error[0] = '\0';
        call->error_type[0] = '\0';
        call->has_retry_after = false;
    } else if (http_is_header(p, len, fe, sizeof(fe) - 1)) {
        http_header_value(p, len, sizeof(fe) - 1, call->fn_error,
                          sizeof(call->fn_error));
        if (!call->fn_error[0])     /* present but empty still means error */
            strcpy(call->fn_error, "Unhandled");
    } else if (http_is_header(p, len, ra, sizeof(ra) - 1)) {
        call->has_retry_after = true;
    } else if (http_is_header(p, len, et, sizeof(et) - 1)) {
        http_header_value(p, len, sizeof(et) - 1, call->error_type,
                          sizeof(call->error_type));
        /* AWS may append ":<documentation URL>" to the type. */
        call->error_type[strcspn(call->error_type, ":")] = '\0';
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
    } else if (res->kind != BR_RES_OK && call->error_type[0] &&
               call->eng->conf.error_type) {
        snprintf(res->error, sizeof(res->error), "%s", call->error_type);
    }
}

static void http_result_transport(struct http_call *call, CURLcode code,
                                  struct br_result *res)
{
    res->kind = BR_RES_RETRY;
    res->timed_out = code == CURLE_OPERATION_TIMEDOUT;
    /* A timeout while connecting (a host that drops packets, a stuck TLS
     * handshake) sent nothing: the function did not run that long. */
    long sent = 0;
    if (curl_easy_getinfo(call->req.easy, CURLINFO_REQUEST_SIZE, &sent) != CURLE_OK ||
        sent <= 0)
        res->not_run = true;
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
    res->timed_out = false;
    res->not_run = false;
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

/* Basic auth credentials; curl copies the strings. */
static void http_call_auth(CURL *e, const struct http_engine_conf *conf)
{
    if (!conf->user)
        return;
    curl_easy_setopt(e, CURLOPT_USERNAME, conf->user);
    curl_easy_setopt(e, CURLOPT_PASSWORD, conf->password ? conf->password : "");
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
}

/* A new call with every option that does not change per request set. */
static struct http_call *http_call_new(struct http_engine *eng)
{
    struct http_call *call = calloc(1, sizeof(*call));
    if (!call)
        return NULL;
    CURL *e = curl_easy_init();
    if (!e) {
        free(call);
        return NULL;
    }
    call->eng = eng;
    call->req.easy = e;
    call->req.done = http_on_done;
    br_buf_init(&call->resp, HTTP_MAX_RESPONSE);

    curl_easy_setopt(e, CURLOPT_URL, eng->conf.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)eng->conf.timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &call->req);
    http_call_auth(e, &eng->conf);
    return call;
}

static struct http_call *http_call_get(struct http_engine *eng)
{
    struct http_call *call = eng->idle;
    if (!call)
        return http_call_new(eng);
    eng->idle = call->next_idle;
    call->next_idle = NULL;
    return call;
}

/* Back to the pool; the pool never outgrows the peak concurrency. */
static void http_call_put(struct http_engine *eng, struct http_call *call)
{
    call->inv = NULL;
    br_buf_free(&call->resp);
    curl_slist_free_all(call->own_hdrs);
    call->own_hdrs = NULL;
    call->next_idle = eng->idle;
    eng->idle = call;
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
    call->error_type[0] = '\0';
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
    if (call->eng->conf.on_result)
        call->eng->conf.on_result(inv);
    inv->tgt_state = NULL;
    /* Pooled before done: done may submit again and reuse it at once. */
    http_call_put(call->eng, call);
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

/* The list for inv: the cached one for its content type (no allocation on
 * the common path), or one of its own in *own when the invocation carries
 * headers. NULL when out of memory. */
static struct curl_slist *http_inv_headers(struct http_engine *eng,
                                           const struct br_invocation *inv,
                                           struct curl_slist **own)
{
    struct curl_slist *hdrs = http_headers_for(eng, inv->content_type, own);
    if (!hdrs || (!inv->headers && !eng->conf.inv_headers))
        return hdrs;
    struct curl_slist *mine = http_request_headers(eng, hdrs, inv);
    curl_slist_free_all(*own);
    return *own = mine;
}

int http_engine_submit(struct http_engine *eng, struct br_target *tgt,
                       struct br_invocation *inv)
{
    struct curl_slist *own = NULL;
    struct curl_slist *hdrs = http_inv_headers(eng, inv, &own);
    struct http_call *call = hdrs ? http_call_get(eng) : NULL;
    if (!call) {
        curl_slist_free_all(own);
        http_submit_failed(inv, "out of memory preparing the request");
        return -1;
    }
    call->own_hdrs = own;
    if (http_call_prepare(call, inv, hdrs) < 0 ||
        br_dispatcher_add_curl(tgt->disp, &call->req) < 0) {
        http_call_put(eng, call);
        http_submit_failed(inv, "could not start the HTTP request");
        return -1;
    }
    inv->tgt_state = call;
    return 0;
}

void http_engine_cancel(struct http_engine *eng, struct br_target *tgt,
                        struct br_invocation *inv)
{
    struct http_call *call = inv->tgt_state;
    if (!call)
        return;
    curl_multi_remove_handle(br_dispatcher_multi(tgt->disp), call->req.easy);
    inv->tgt_state = NULL;
    /* A handle removed mid-transfer is fine to reuse; its connection is
     * closed rather than returned to the cache. */
    http_call_put(eng, call);
}

int http_engine_init(struct http_engine *eng, const struct http_engine_conf *conf,
                     char *err, size_t errlen)
{
    eng->conf = *conf;
    if (http_validate_headers(conf->headers, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < conf->n_fixed; i++)
        if (strpbrk(conf->fixed[i].value, "\r\n")) {
            snprintf(err, errlen, "the %s header would contain a line break",
                     conf->fixed[i].name);
            return -1;
        }
    if (!http_headers_for(eng, HTTP_DEFAULT_CT, NULL)) {
        snprintf(err, errlen, "out of memory building the request headers");
        return -1;
    }
    return 0;
}

void http_engine_free(struct http_engine *eng)
{
    while (eng->idle) {
        struct http_call *call = eng->idle;
        eng->idle = call->next_idle;
        http_call_free(call);
    }
    while (eng->hdrs) {
        struct http_hdrs *h = eng->hdrs;
        eng->hdrs = h->next;
        curl_slist_free_all(h->list);
        free(h->content_type);
        free(h);
    }
    eng->n_hdrs = 0;
}

char *http_url_public(const char *url)
{
    CURLU *u = curl_url();
    char *out = NULL, *copy = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
        copy = strdup(out);
    curl_free(out);
    curl_url_cleanup(u);
    return copy;
}
