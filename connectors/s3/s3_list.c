/* s3_list.c - ListObjectsV2 pages from an S3-compatible store (s3_list.h).
 *
 * One keep-alive libcurl handle per lister. Requests are signed with
 * libcurl's SigV4 (CURLOPT_AWS_SIGV4); libcurl 7.88 does not add the
 * x-amz-content-sha256 header S3 requires, so we send the hash of the
 * empty body ourselves, and libcurl signs it with the other headers.
 * The body is fed to expat as it arrives: a page costs its objects, not
 * its XML. Anything that is not a complete, well-formed page (a cut
 * connection, truncated or malformed XML, a missing field) fails the
 * whole page, so the caller never mistakes a broken listing for a short
 * one. */
#include <ctype.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "bridge/buf.h"
#include "s3_list.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define TEXT_MAX 4096                 /* longest element text kept (keys: 1024) */
#define ERROR_BODY_MAX 16384
#define CONNECT_TIMEOUT_MS 10000L
#define STALL_SECONDS 60L             /* a page slower than 1 byte/s this long fails */
#define PAGE_TIMEOUT_MS 300000L       /* a page that takes longer fails */
/* A page of 1000 objects with 1 KiB keys is about 1.5 MB of XML: a bigger
 * one (decompressed) is refused, and so is one with more objects than
 * asked for, so that a page costs what it should. */
#define PAGE_BYTES_MAX ((size_t)64 << 20)
#define KEEP_BYTES_MAX ((size_t)4 << 20) /* buffers bigger than this are freed after a page */

/* Offsets into the arena while a page is parsed (it may move as it grows). */
struct raw_object {
    size_t key_off, key_len, etag_off;
    int64_t size, mtime_ms;
};

enum field {
    F_NONE, F_KEY, F_ETAG, F_SIZE, F_MTIME, F_TRUNCATED, F_TOKEN, F_ENCODING, F_CODE, F_MESSAGE
};

struct parse {
    XML_Parser xml;
    int depth;
    bool in_contents;
    bool root_seen, root_closed;
    enum field field;
    struct br_buf text;           /* the current element's text */
    struct raw_object cur;
    unsigned have;                /* fields of cur seen: 1 key 2 etag 4 size 8 mtime */
    bool truncated, truncated_seen;
    bool url_keys;                /* <EncodingType>url</EncodingType> */
    size_t token_off;             /* 0: none (offset 0 holds a NUL) */
    char failure[200];            /* why the page is unusable */
    struct s3_error *err;         /* error document: code and message */
};

struct s3_lister {
    struct s3_list_config cfg;
    CURL *curl;
    struct curl_slist *headers;
    char *base_url;               /* ...?  without the query */
    char *prefix_q;               /* the prefix, query-encoded, or NULL */
    struct br_buf url;
    struct br_buf arena;          /* the page's strings */
    struct raw_object *raw;
    size_t n_raw, cap_raw;
    size_t body_bytes;            /* of the current page */
    struct s3_object *objects;
    size_t cap_objects;
    struct br_buf error_body;
    struct parse p;
    long status;
    bool is_error;
    bool write_failed;
};

/* ------------------------------------------------------------ helpers */

/* RFC 3986 encoding for query values: SigV4 signs them this way. */
static int put_query_value(struct br_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        int rc = isalnum(*c) || *c == '-' || *c == '_' || *c == '.' || *c == '~'
                     ? br_buf_putc(b, (char)*c)
                     : br_buf_printf(b, "%%%c%c", hex[*c >> 4], hex[*c & 15]);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* n digits at s as a number; -1 if one is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): no timegm, which costs more than the rest of an
 * object's parsing. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "2026-11-27T11:08:14.123Z" (fraction optional) -> epoch ms; -1 if not. */
static int64_t parse_time(const char *s)
{
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':')
        return -1;
    int year = digits(s, 4), mon = digits(s + 5, 2), day = digits(s + 8, 2);
    int hour = digits(s + 11, 2), min = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (year < 0 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
        min < 0 || min > 59 || sec < 0 || sec > 60)
        return -1;
    int64_t ms = 0;
    const char *c = s + 19;
    if (*c == '.') {
        int n = 0;
        for (c++; *c >= '0' && *c <= '9'; c++, n++)
            if (n < 3)
                ms = ms * 10 + (*c - '0');
        for (; n < 3; n++)
            ms *= 10;
    }
    if (strcmp(c, "Z") != 0 && strcmp(c, "+00:00") != 0)
        return -1;
    int64_t secs = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
    return secs * 1000 + ms;
}

static bool parse_size(const char *s, int64_t *out)
{
    if (!*s)
        return false;
    int64_t v = 0;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return true;
}

/* -------------------------------------------------------------- expat */

static void fail(struct parse *p, const char *why)
{
    if (!p->failure[0])
        snprintf(p->failure, sizeof(p->failure), "%s", why);
    XML_StopParser(p->xml, XML_FALSE);
}

/* Called for every element of every page: the common case (an element
 * we do not keep, or one of Contents's four) is decided cheaply. */
static enum field field_of(const struct parse *p, const char *name)
{
    if (p->in_contents && p->depth == 3) {
        switch (name[0]) {
        case 'K':
            return !strcmp(name, "Key") ? F_KEY : F_NONE;
        case 'E':
            return !strcmp(name, "ETag") ? F_ETAG : F_NONE;
        case 'S':
            return !strcmp(name, "Size") ? F_SIZE : F_NONE;
        case 'L':
            return !strcmp(name, "LastModified") ? F_MTIME : F_NONE;
        default:
            return F_NONE;
        }
    } else if (p->depth == 2) {
        if (!strcmp(name, "IsTruncated"))
            return F_TRUNCATED;
        if (!strcmp(name, "NextContinuationToken"))
            return F_TOKEN;
        if (!strcmp(name, "EncodingType"))
            return F_ENCODING;
        if (!strcmp(name, "Code"))
            return F_CODE;
        if (!strcmp(name, "Message"))
            return F_MESSAGE;
    }
    return F_NONE;
}

static void XMLCALL on_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
    struct s3_lister *l = arg;
    struct parse *p = &l->p;
    (void)attrs;
    p->depth++;
    if (p->depth == 1) {
        const char *want = l->is_error ? "Error" : "ListBucketResult";
        if (strcmp(name, want) != 0) {
            char why[160];
            snprintf(why, sizeof(why), "the document is <%.60s>, not <%s>", name, want);
            fail(p, why);
        }
        p->root_seen = true;
    } else if (p->depth == 2 && !l->is_error && !strcmp(name, "Contents")) {
        p->in_contents = true;
        p->have = 0;
        memset(&p->cur, 0, sizeof(p->cur));
    }
    p->field = field_of(p, name);
    br_buf_reset(&p->text);
}

static void XMLCALL on_text(void *arg, const XML_Char *s, int len)
{
    struct s3_lister *l = arg;
    if (l->p.field != F_NONE && br_buf_append(&l->p.text, s, (size_t)len) < 0)
        fail(&l->p, "an element's text is longer than 4 KiB");
}

/* Copies the current text into the arena; returns its offset. */
static size_t keep_text(struct s3_lister *l)
{
    size_t off = l->arena.len;
    if (br_buf_append(&l->arena, l->p.text.data ? l->p.text.data : "", l->p.text.len) < 0 ||
        br_buf_putc(&l->arena, '\0') < 0) {
        fail(&l->p, "out of memory");
        return 0;
    }
    return off;
}

static void end_field(struct s3_lister *l)
{
    struct parse *p = &l->p;
    const char *text = p->text.data ? p->text.data : "";
    switch (p->field) {
    case F_KEY:
        p->cur.key_len = p->text.len;
        p->cur.key_off = keep_text(l);
        p->have |= 1;
        if (p->cur.key_len == 0 || memchr(text, '\0', p->text.len))
            fail(p, "an object has an empty key");
        break;
    case F_ETAG: {
        /* ETags come quoted ("..."); the event carries them bare. */
        size_t len = p->text.len;
        if (len >= 2 && text[0] == '"' && text[len - 1] == '"') {
            memmove(p->text.data, text + 1, len - 2);
            p->text.len = len - 2;
            p->text.data[p->text.len] = '\0';
        }
        p->cur.etag_off = keep_text(l);
        p->have |= 2;
        break;
    }
    case F_SIZE:
        if (!parse_size(text, &p->cur.size))
            fail(p, "an object's Size is not a number");
        p->have |= 4;
        break;
    case F_MTIME:
        p->cur.mtime_ms = parse_time(text);
        if (p->cur.mtime_ms < 0)
            fail(p, "an object's LastModified is not an ISO 8601 UTC time");
        p->have |= 8;
        break;
    case F_TRUNCATED:
        p->truncated_seen = true;
        p->truncated = !strcmp(text, "true");
        if (!p->truncated && strcmp(text, "false") != 0)
            fail(p, "IsTruncated is neither true nor false");
        break;
    case F_TOKEN:
        if (p->text.len)
            p->token_off = keep_text(l);
        break;
    case F_ENCODING:
        p->url_keys = !strcmp(text, "url");
        break;
    case F_CODE:
        snprintf(p->err->code, sizeof(p->err->code), "%s", text);
        break;
    case F_MESSAGE:
        snprintf(p->err->message, sizeof(p->err->message), "%s", text);
        break;
    case F_NONE:
        break;
    }
}

static int push_object(struct s3_lister *l)
{
    if (l->n_raw >= (size_t)l->cfg.page_size) {
        fail(&l->p, "the page holds more objects than max-keys asked for");
        return 0;
    }
    if (l->n_raw == l->cap_raw) {
        size_t cap = l->cap_raw ? 2 * l->cap_raw : 1024;
        struct raw_object *grown = realloc(l->raw, cap * sizeof(*grown));
        if (!grown)
            return -1;
        l->raw = grown;
        l->cap_raw = cap;
    }
    l->raw[l->n_raw++] = l->p.cur;
    return 0;
}

static void XMLCALL on_end(void *arg, const XML_Char *name)
{
    struct s3_lister *l = arg;
    struct parse *p = &l->p;
    (void)name;
    if (p->field != F_NONE)
        end_field(l);
    p->field = F_NONE;
    if (p->depth == 2 && p->in_contents) {
        p->in_contents = false;
        if (p->have != 15)
            fail(p, "an object lacks its Key, ETag, Size or LastModified");
        else if (push_object(l) < 0)
            fail(p, "out of memory");
    }
    if (p->depth == 1)
        p->root_closed = true;
    p->depth--;
}

static int parse_begin(struct s3_lister *l, struct s3_error *e)
{
    struct parse *p = &l->p;
    if (p->xml)
        XML_ParserReset(p->xml, "UTF-8");
    else
        p->xml = XML_ParserCreate("UTF-8");
    if (!p->xml)
        return -1;
    XML_SetUserData(p->xml, l);
    XML_SetElementHandler(p->xml, on_start, on_end);
    XML_SetCharacterDataHandler(p->xml, on_text);
    p->depth = 0;
    p->in_contents = p->root_seen = p->root_closed = false;
    p->truncated = p->truncated_seen = p->url_keys = false;
    p->field = F_NONE;
    p->token_off = 0;
    p->failure[0] = '\0';
    p->err = e;
    br_buf_reset(&p->text);
    return 0;
}

/* Feeds bytes (final: the end of the document); false once it failed. */
static bool parse_feed(struct s3_lister *l, const char *data, size_t len, bool final)
{
    struct parse *p = &l->p;
    if (p->failure[0])
        return false;
    if (XML_Parse(p->xml, data, (int)len, final) == XML_STATUS_ERROR && !p->failure[0])
        snprintf(p->failure, sizeof(p->failure), "malformed XML at line %lu: %s",
                 (unsigned long)XML_GetCurrentLineNumber(p->xml),
                 XML_ErrorString(XML_GetErrorCode(p->xml)));
    return !p->failure[0];
}

/* ------------------------------------------------------------ libcurl */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct s3_lister *l = arg;
    size_t len = size * nmemb;
    if (l->status == 0) {
        curl_easy_getinfo(l->curl, CURLINFO_RESPONSE_CODE, &l->status);
        l->is_error = l->status < 200 || l->status >= 300;
    }
    if (l->is_error) {
        /* Kept whole (bounded) and parsed at the end: it is small. */
        size_t room = ERROR_BODY_MAX - l->error_body.len;
        br_buf_append(&l->error_body, data, len < room ? len : room);
        return len;
    }
    l->body_bytes += len;
    if (l->body_bytes > PAGE_BYTES_MAX) {
        snprintf(l->p.failure, sizeof(l->p.failure), "the page is larger than %zu MiB",
                 PAGE_BYTES_MAX >> 20);
        l->write_failed = true;
        return 0;
    }
    if (!parse_feed(l, data, len, false)) {
        l->write_failed = true;
        return 0;
    }
    return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct s3_lister *l = arg;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return l->cfg.cancelled && l->cfg.cancelled(l->cfg.cancel_arg) ? 1 : 0;
}

static char *join_base_url(const struct s3_list_config *cfg)
{
    struct br_buf b;
    br_buf_init(&b, 0);
    const char *ep = cfg->endpoint;
    size_t ep_len = strlen(ep);
    while (ep_len && ep[ep_len - 1] == '/')
        ep_len--;
    const char *host = strstr(ep, "://");
    int rc = 0;
    if (cfg->path_style || !host) {
        rc |= br_buf_append(&b, ep, ep_len);
        rc |= br_buf_putc(&b, '/');
        rc |= put_query_value(&b, cfg->bucket);
    } else {
        host += 3;
        rc |= br_buf_append(&b, ep, (size_t)(host - ep));
        rc |= br_buf_puts(&b, cfg->bucket);
        rc |= br_buf_putc(&b, '.');
        rc |= br_buf_append(&b, host, ep_len - (size_t)(host - ep));
        rc |= br_buf_putc(&b, '/');
    }
    if (rc < 0) {
        br_buf_free(&b);
        return NULL;
    }
    return br_buf_steal(&b, NULL);
}

static int setup_curl(struct s3_lister *l)
{
    const struct s3_list_config *cfg = &l->cfg;
    l->curl = curl_easy_init();
    if (!l->curl)
        return -1;
    CURL *c = l->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, l);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, l);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, PAGE_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "fnbridge");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    struct curl_slist *h = curl_slist_append(NULL, "x-amz-content-sha256: " EMPTY_SHA256);
    l->headers = h;
    if (!h)
        return -1;
    if (cfg->access_key && cfg->secret_key) {
        char sigv4[160];
        snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", cfg->region);
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(c, CURLOPT_USERNAME, cfg->access_key);
        curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->secret_key);
        if (cfg->session_token) {
            struct br_buf t;
            br_buf_init(&t, 0);
            if (br_buf_printf(&t, "x-amz-security-token: %s", cfg->session_token) < 0 ||
                !(h = curl_slist_append(l->headers, t.data))) {
                br_buf_free(&t);
                return -1;
            }
            l->headers = h;
            br_buf_free(&t);
        }
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, l->headers);
    return 0;
}

struct s3_lister *s3_lister_new(const struct s3_list_config *cfg, char *err, size_t errlen)
{
    struct s3_lister *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->cfg = *cfg;
    br_buf_init(&l->url, 0);
    br_buf_init(&l->arena, 0);
    br_buf_init(&l->error_body, ERROR_BODY_MAX);
    br_buf_init(&l->p.text, TEXT_MAX);
    l->base_url = join_base_url(cfg);
    if (cfg->prefix && *cfg->prefix) {
        struct br_buf q;
        br_buf_init(&q, 0);
        if (put_query_value(&q, cfg->prefix) == 0)
            l->prefix_q = br_buf_steal(&q, NULL);
        br_buf_free(&q);
    }
    if (!l->base_url || (cfg->prefix && *cfg->prefix && !l->prefix_q) || setup_curl(l) < 0) {
        snprintf(err, errlen, "cannot set up the S3 client (out of memory)");
        s3_lister_free(l);
        return NULL;
    }
    return l;
}

void s3_lister_free(struct s3_lister *l)
{
    if (!l)
        return;
    if (l->curl)
        curl_easy_cleanup(l->curl);
    curl_slist_free_all(l->headers);
    if (l->p.xml)
        XML_ParserFree(l->p.xml);
    free(l->base_url);
    free(l->prefix_q);
    free(l->raw);
    free(l->objects);
    br_buf_free(&l->url);
    br_buf_free(&l->arena);
    br_buf_free(&l->error_body);
    br_buf_free(&l->p.text);
    free(l);
}

/* Query keys in sorted order, as SigV4's canonical request has them. */
static int build_url(struct s3_lister *l, const char *token)
{
    struct br_buf *u = &l->url;
    br_buf_reset(u);
    int rc = br_buf_puts(u, l->base_url);
    rc |= br_buf_putc(u, '?');
    if (token) {
        rc |= br_buf_puts(u, "continuation-token=");
        rc |= put_query_value(u, token);
        rc |= br_buf_putc(u, '&');
    }
    /* encoding-type=url: keys XML 1.0 cannot carry (control characters)
     * come percent-encoded instead of breaking the page. */
    rc |= br_buf_printf(u, "encoding-type=url&list-type=2&max-keys=%d", l->cfg.page_size);
    if (l->prefix_q)
        rc |= br_buf_printf(u, "&prefix=%s", l->prefix_q);
    return rc ? -1 : 0;
}

static void error_from_body(struct s3_lister *l, struct s3_error *e)
{
    if (!l->error_body.len)
        return;
    /* A document we cannot read still leaves the HTTP status to report. */
    if (parse_begin(l, e) == 0)
        parse_feed(l, l->error_body.data, l->error_body.len, true);
}

static int transfer_error(struct s3_lister *l, CURLcode rc, const char *curl_err,
                          struct s3_error *e)
{
    if (l->write_failed && l->p.failure[0])
        snprintf(e->message, sizeof(e->message), "%s", l->p.failure);
    else if (rc == CURLE_ABORTED_BY_CALLBACK)
        snprintf(e->message, sizeof(e->message), "cancelled");
    else
        snprintf(e->message, sizeof(e->message), "%s",
                 curl_err[0] ? curl_err : curl_easy_strerror(rc));
    e->status = 0;
    e->curl_code = (int)rc;
    return -1;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
         : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Undoes encoding-type=url in place ('+' is a space, %XX a byte); the
 * new length, or -1 if an escape is malformed. */
static long url_decode(char *key, size_t len)
{
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        if (key[i] == '%') {
            int hi = i + 2 < len ? hex_digit(key[i + 1]) : -1;
            int lo = hi >= 0 ? hex_digit(key[i + 2]) : -1;
            if (lo < 0)
                return -1;
            key[out++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            key[out++] = key[i] == '+' ? ' ' : key[i];
        }
    }
    key[out] = '\0';
    return (long)out;
}

/* After a complete body: is it a whole page? Fills page on success. */
static int finish_page(struct s3_lister *l, struct s3_page *page, struct s3_error *e)
{
    struct parse *p = &l->p;
    if (!parse_feed(l, "", 0, true) || !p->root_closed) {
        snprintf(e->message, sizeof(e->message), "%s",
                 p->failure[0] ? p->failure : "the listing ended early");
        return -1;
    }
    if (!p->truncated_seen || (p->truncated && !p->token_off)) {
        snprintf(e->message, sizeof(e->message), "%s",
                 !p->truncated_seen ? "the listing has no IsTruncated"
                                    : "a truncated listing has no NextContinuationToken");
        return -1;
    }
    if (l->n_raw > l->cap_objects) {
        struct s3_object *grown = realloc(l->objects, l->n_raw * sizeof(*grown));
        if (!grown) {
            snprintf(e->message, sizeof(e->message), "out of memory");
            return -1;
        }
        l->objects = grown;
        l->cap_objects = l->n_raw;
    }
    for (size_t i = 0; i < l->n_raw; i++) {
        struct raw_object *r = &l->raw[i];
        if (p->url_keys) {
            long len = url_decode(l->arena.data + r->key_off, r->key_len);
            if (len <= 0) {
                snprintf(e->message, sizeof(e->message), "a key's URL encoding is malformed");
                return -1;
            }
            r->key_len = (size_t)len;
        }
        l->objects[i] = (struct s3_object){
            .key = l->arena.data + r->key_off, .key_len = r->key_len,
            .etag = l->arena.data + r->etag_off, .size = r->size, .mtime_ms = r->mtime_ms};
    }
    page->objects = l->objects;
    page->n = l->n_raw;
    page->truncated = p->truncated;
    page->next_token = p->truncated ? l->arena.data + p->token_off : NULL;
    return 0;
}

/* Clears what the last page left for a new one. 0, or -1 with e filled. */
static int page_begin(struct s3_lister *l, struct s3_page *page, struct s3_error *e)
{
    memset(e, 0, sizeof(*e));
    e->retry_after_ms = -1;
    memset(page, 0, sizeof(*page));
    /* One oversized page must not keep its memory for good. */
    if (l->arena.cap > KEEP_BYTES_MAX) {
        br_buf_free(&l->arena);
        br_buf_init(&l->arena, 0);
    }
    if (l->cap_raw > 2 * (size_t)l->cfg.page_size) {
        free(l->raw);
        l->raw = NULL;
        l->cap_raw = 0;
    }
    br_buf_reset(&l->arena);
    br_buf_reset(&l->error_body);
    l->n_raw = 0;
    l->body_bytes = 0;
    l->status = 0;
    l->is_error = l->write_failed = false;
    /* Offset 0 of the arena means "none". */
    if (br_buf_putc(&l->arena, '\0') < 0 || parse_begin(l, e) < 0) {
        snprintf(e->message, sizeof(e->message), "out of memory");
        return -1;
    }
    return 0;
}

int s3_list_parse(struct s3_lister *l, long status, const char *body, size_t len,
                  size_t chunk, struct s3_page *page, struct s3_error *e)
{
    if (page_begin(l, page, e) < 0)
        return -1;
    l->status = status;
    l->is_error = status < 200 || status >= 300;
    for (size_t off = 0; off < len;) {
        size_t n = chunk && chunk < len - off ? chunk : len - off;
        /* on_body only reads the bytes, as it does libcurl's buffer. */
        if (on_body((char *)body + off, 1, n, l) != n)
            return transfer_error(l, CURLE_WRITE_ERROR, "", e);
        off += n;
    }
    if (l->is_error) {
        e->status = status;
        error_from_body(l, e);
        return -1;
    }
    return finish_page(l, page, e);
}

int s3_list_page(struct s3_lister *l, const char *token, struct s3_page *page,
                 struct s3_error *e)
{
    if (page_begin(l, page, e) < 0)
        return -1;
    if (build_url(l, token) < 0) {
        snprintf(e->message, sizeof(e->message), "out of memory");
        return -1;
    }
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(l->curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(l->curl, CURLOPT_URL, l->url.data);
    CURLcode rc = curl_easy_perform(l->curl);
    curl_easy_setopt(l->curl, CURLOPT_ERRORBUFFER, NULL);
    if (rc != CURLE_OK)
        return transfer_error(l, rc, curl_err, e);
    curl_easy_getinfo(l->curl, CURLINFO_RESPONSE_CODE, &l->status);
    if (l->status < 200 || l->status >= 300) {
        e->status = l->status;
        curl_off_t retry_after = 0;
        if (curl_easy_getinfo(l->curl, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
            retry_after > 0)
            e->retry_after_ms = retry_after > 86400 ? 86400000 : (int64_t)retry_after * 1000;
        error_from_body(l, e);
        return -1;
    }
    return finish_page(l, page, e);
}
