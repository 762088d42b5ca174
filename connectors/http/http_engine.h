/* http_engine.h - the HTTP request engine the http, lambda and openfaas
 * targets share: a pool of curl easy handles run on the dispatcher's multi
 * handle, cached request header lists, and the mapping of an answer to a
 * br_result (README: Config reference; README: Outcomes). A target fills an http_engine_conf
 * in init and forwards submit and cancel; the engine owns the rest. */
#ifndef BR_HTTP_ENGINE_H
#define BR_HTTP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/buf.h"
#include "bridge/connector.h"

/* Largest response kept, as Lambda's synchronous payload limit. */
#define HTTP_MAX_RESPONSE (6u << 20)
#define HTTP_DEFAULT_CT "application/json"

/* One request header the target adds to every request. */
struct http_header {
    const char *name;
    const char *value;
};

/* What a target asks for. Every pointer is borrowed for the engine's life
 * (they point into the target's options or ctx). */
struct http_engine_conf {
    const char *url;                  /* where every request is POSTed */
    const struct br_strmap *headers;  /* the user's headers (validated); may be NULL */
    const struct http_header *fixed;  /* n_fixed more headers of the target */
    size_t n_fixed;
    int64_t timeout_ms;
    /* HTTP basic auth with user and password; NULL user: none. (A target
     * that signs its requests, as lambda does, adds the signature's
     * headers in inv_headers.) */
    const char *user;
    const char *password;
    bool error_type;                  /* a non-2xx answer's X-Amzn-ErrorType
                                         becomes the result's error text */
    /* Optional: appends the target's per-invocation header lines to *list
     * (inv->tgt->ctx is the target's ctx); -1 when out of memory. Called
     * for every request: a target with this hook builds a header list per
     * request. */
    int (*inv_headers)(const struct br_invocation *inv, struct curl_slist **list);
    /* Optional: adjusts inv->result after the engine mapped the answer;
     * the response body is still in inv->result.body. */
    void (*on_result)(struct br_invocation *inv);
};

struct http_hdrs;
struct http_call;

struct http_engine {
    struct http_engine_conf conf;
    struct http_hdrs *hdrs;           /* header lists by content type */
    size_t n_hdrs;
    struct http_call *idle;           /* pooled calls */
};

/* Copies conf and builds the default header list, so a broken header fails
 * at start. On failure fills err and leaves nothing allocated. */
int http_engine_init(struct http_engine *eng, const struct http_engine_conf *conf,
                     char *err, size_t errlen);
/* The target ops' submit and cancel (same contracts). */
int http_engine_submit(struct http_engine *eng, struct br_target *tgt,
                       struct br_invocation *inv);
void http_engine_cancel(struct http_engine *eng, struct br_target *tgt,
                        struct br_invocation *inv);
/* Frees the pool and the header lists; safe on a zeroed engine. */
void http_engine_free(struct http_engine *eng);

/* Checks the user's headers: names are HTTP tokens, values hold no line
 * break. Errors name the header, never its value (it may be a secret). */
int http_validate_headers(const struct br_strmap *h, char *err, size_t errlen);

/* Appends s to out, percent-encoding every byte but RFC 3986's unreserved
 * characters and those in keep (e.g. ":" for an ARN in a path segment).
 * Returns 0, or -1 when out of memory. */
int http_url_encode(struct br_buf *out, const char *s, const char *keep);

/* url without what may be a secret (user:password@, ?query) for logs and
 * dead letters' functionArn: a new string, or NULL when out of memory (or
 * not a URL curl can parse). */
char *http_url_public(const char *url);

#endif
