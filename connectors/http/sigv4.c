/* sigv4.c - AWS Signature Version 4 for services other than S3
 * (sigv4.h), on libcrypto's SHA-256 and HMAC.
 *
 * Why not libcurl's CURLOPT_AWS_SIGV4: libcurl 7.88 signs the path as
 * sent, while AWS signs it URI-encoded once more, so a path with a
 * percent-escape (a Lambda function named by ARN, ':' sent as %3A) could
 * never be signed as AWS checks it. Owns nothing between calls; derived
 * key material lives on the stack and is wiped before return. */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sigv4.h"

#define SHA256_LEN 32

/* ------------------------------------------------------------ encoding */

/* RFC 3986's unreserved characters, the only bytes SigV4 leaves as is. */
static bool sigv4_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static int sigv4_put_byte(struct br_buf *out, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    if (sigv4_unreserved(c))
        return br_buf_putc(out, (char)c);
    char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
    return br_buf_append(out, esc, sizeof(esc));
}

/* Every byte of s[0..n) through sigv4_put_byte. */
static int sigv4_encode(struct br_buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sigv4_put_byte(out, (unsigned char)s[i]) < 0)
            return -1;
    return 0;
}

static int sigv4_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s[0..n) percent-decoded (a '%' not followed by two hex digits is kept
 * as a byte), then encoded: the one canonical form of a query part. */
static int sigv4_requote(struct br_buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%' && i + 2 < n) {
            int hi = sigv4_hex_digit(s[i + 1]), lo = sigv4_hex_digit(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (unsigned char)(hi << 4 | lo);
                i += 2;
            }
        }
        if (sigv4_put_byte(out, c) < 0)
            return -1;
    }
    return 0;
}

/* Lower-case hex of p[0..n). */
static int sigv4_put_hex(struct br_buf *out, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        char two[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
        if (br_buf_append(out, two, sizeof(two)) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- digests */

static int sigv4_sha256_hex(struct br_buf *out, const void *p, size_t n)
{
    unsigned char md[SHA256_LEN];
    unsigned int len = 0;
    if (EVP_Digest(p ? p : "", n, md, &len, EVP_sha256(), NULL) != 1 || len != SHA256_LEN)
        return -1;
    return sigv4_put_hex(out, md, len);
}

static int sigv4_hmac(unsigned char md[SHA256_LEN], const void *key, size_t key_len,
                      const char *msg, size_t msg_len)
{
    unsigned int len = 0;
    if (key_len > INT_MAX ||
        !HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, msg_len, md, &len))
        return -1;
    return len == SHA256_LEN ? 0 : -1;
}

/* ----------------------------------------------------------- canonical */

int sigv4_amz_date(char out[SIGV4_AMZ_DATE_LEN], time_t t)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        return -1;
    return strftime(out, SIGV4_AMZ_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm) ==
           SIGV4_AMZ_DATE_LEN - 1 ? 0 : -1;
}

/* Drops the last segment written after base ("/a/b" -> "/a", "/a" -> "/"). */
static void sigv4_pop_segment(struct br_buf *out, size_t base)
{
    size_t i = out->len;
    while (i > base + 1 && out->data[i - 1] != '/')
        i--;
    out->len = i > base + 1 ? i - 1 : base + 1;
    out->data[out->len] = '\0';
}

/* As the AWS SDKs normalize (RFC 3986 dot segments, and no empty
 * segments): "//a/./b/../c/" is "/a/c/". */
int sigv4_canonical_uri(struct br_buf *out, const char *path)
{
    size_t base = out->len;
    if (br_buf_putc(out, '/') < 0)
        return -1;
    for (const char *seg = path; *seg;) {
        size_t n = strcspn(seg, "/");
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            sigv4_pop_segment(out, base);
        } else if (n > 0 && !(n == 1 && seg[0] == '.')) {
            if (out->len > base + 1 && br_buf_putc(out, '/') < 0)
                return -1;
            if (sigv4_encode(out, seg, n) < 0)
                return -1;
        }
        seg += n;
        seg += *seg == '/';
    }
    size_t plen = strlen(path);
    if (plen > 0 && path[plen - 1] == '/' && out->len > base + 1)
        return br_buf_putc(out, '/');
    return 0;
}

struct sigv4_param {
    const char *name;
    const char *value;
};

static int sigv4_param_cmp(const void *a, const void *b)
{
    const struct sigv4_param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* Each "name[=value]" of the query, requoted, as NUL-terminated name and
 * value strings in scratch. Returns the number of parameters, or -1. */
static long sigv4_query_parts(struct br_buf *scratch, const char *query)
{
    long n = 0;
    for (const char *p = query; *p;) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        size_t name_len = eq ? (size_t)(eq - p) : len;
        if (len > 0) {
            if (sigv4_requote(scratch, p, name_len) < 0 || br_buf_putc(scratch, '\0') < 0 ||
                (eq && sigv4_requote(scratch, eq + 1, len - name_len - 1) < 0) ||
                br_buf_putc(scratch, '\0') < 0)
                return -1;
            n++;
        }
        p += len;
        p += *p == '&';
    }
    return n;
}

static int sigv4_put_params(struct br_buf *out, struct sigv4_param *params, long n)
{
    qsort(params, (size_t)n, sizeof(*params), sigv4_param_cmp);
    for (long i = 0; i < n; i++)
        if ((i > 0 && br_buf_putc(out, '&') < 0) ||
            br_buf_printf(out, "%s=%s", params[i].name, params[i].value) < 0)
            return -1;
    return 0;
}

int sigv4_canonical_query(struct br_buf *out, const char *query)
{
    struct br_buf scratch;
    br_buf_init(&scratch, 0);
    long n = query ? sigv4_query_parts(&scratch, query) : 0;
    struct sigv4_param *params = n > 0 ? calloc((size_t)n, sizeof(*params)) : NULL;
    int rc = n < 0 || (n > 0 && !params) ? -1 : 0;
    /* The scratch no longer moves: point into it. */
    const char *s = scratch.data;
    for (long i = 0; rc == 0 && i < n; i++) {
        params[i].name = s;
        s += strlen(s) + 1;
        params[i].value = s;
        s += strlen(s) + 1;
    }
    if (rc == 0 && n > 0)
        rc = sigv4_put_params(out, params, n);
    free(params);
    br_buf_free(&scratch);
    return rc;
}

/* The headers sorted by lower-case name into sorted (n at most
 * SIGV4_MAX_HEADERS). Returns 0, or -1 when there are too many. */
static int sigv4_sort_headers(struct sigv4_header *sorted, const struct sigv4_header *h,
                              size_t n)
{
    if (n > SIGV4_MAX_HEADERS)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0 && strcasecmp(sorted[j - 1].name, h[i].name) > 0; j--)
            sorted[j] = sorted[j - 1];
        sorted[j] = h[i];
    }
    return 0;
}

static int sigv4_put_lower(struct br_buf *out, const char *s)
{
    for (; *s; s++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        if (br_buf_putc(out, c) < 0)
            return -1;
    }
    return 0;
}

/* The value trimmed, each run of spaces and tabs inside as one space. */
static int sigv4_put_value(struct br_buf *out, const char *v)
{
    bool space = false, any = false;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = any;
            continue;
        }
        if ((space && br_buf_putc(out, ' ') < 0) || br_buf_putc(out, *v) < 0)
            return -1;
        space = false;
        any = true;
    }
    return 0;
}

/* "a;b;c" of sorted names. */
static int sigv4_signed_names(struct br_buf *out, const struct sigv4_header *sorted,
                              size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((i > 0 && br_buf_putc(out, ';') < 0) || sigv4_put_lower(out, sorted[i].name) < 0)
            return -1;
    return 0;
}

/* The canonical headers ("name:value\n" each) and signed names of sorted. */
static int sigv4_put_headers(struct br_buf *out, const struct sigv4_header *sorted, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sigv4_put_lower(out, sorted[i].name) < 0 || br_buf_putc(out, ':') < 0 ||
            sigv4_put_value(out, sorted[i].value) < 0 || br_buf_putc(out, '\n') < 0)
            return -1;
    if (br_buf_putc(out, '\n') < 0 || sigv4_signed_names(out, sorted, n) < 0)
        return -1;
    return br_buf_putc(out, '\n');
}

int sigv4_canonical_request(struct br_buf *out, const struct sigv4_request *req)
{
    struct sigv4_header sorted[SIGV4_MAX_HEADERS];
    if (sigv4_sort_headers(sorted, req->headers, req->n_headers) < 0)
        return -1;
    if (br_buf_printf(out, "%s\n", req->method) < 0 ||
        sigv4_canonical_uri(out, req->path) < 0 || br_buf_putc(out, '\n') < 0 ||
        sigv4_canonical_query(out, req->query) < 0 || br_buf_putc(out, '\n') < 0 ||
        sigv4_put_headers(out, sorted, req->n_headers) < 0)
        return -1;
    return sigv4_sha256_hex(out, req->body, req->body_len);
}

/* ------------------------------------------------------------- signing */

int sigv4_scope(struct br_buf *out, const struct sigv4_signer *s)
{
    if (strlen(s->amz_date) < 8)
        return -1;
    return br_buf_printf(out, "%.8s/%s/%s/aws4_request", s->amz_date, s->region,
                         s->service);
}

int sigv4_string_to_sign(struct br_buf *out, const struct sigv4_signer *s,
                         const char *canonical, size_t len)
{
    if (br_buf_printf(out, SIGV4_ALGORITHM "\n%s\n", s->amz_date) < 0 ||
        sigv4_scope(out, s) < 0 || br_buf_putc(out, '\n') < 0)
        return -1;
    return sigv4_sha256_hex(out, canonical, len);
}

/* kSecret = "AWS4" + secret, allocated at its size so no copy of the
 * secret is left behind by a reallocation; wiped and freed by the caller. */
static char *sigv4_k_secret(const char *secret, size_t *len)
{
    *len = 4 + strlen(secret);
    char *k = malloc(*len + 1);
    if (k) {
        memcpy(k, "AWS4", 4);
        memcpy(k + 4, secret, *len - 4 + 1);
    }
    return k;
}

int sigv4_signing_key(unsigned char key[SIGV4_KEY_LEN], const struct sigv4_signer *s)
{
    const char *steps[] = {s->region, s->service, "aws4_request"};
    unsigned char k[SHA256_LEN];
    size_t secret_len = 0;
    if (strlen(s->amz_date) < 8)
        return -1;
    char *secret = sigv4_k_secret(s->secret_key, &secret_len);
    if (!secret)
        return -1;
    int rc = sigv4_hmac(k, secret, secret_len, s->amz_date, 8);
    for (size_t i = 0; rc == 0 && i < sizeof(steps) / sizeof(steps[0]); i++) {
        rc = sigv4_hmac(key, k, sizeof(k), steps[i], strlen(steps[i]));
        memcpy(k, key, sizeof(k));
    }
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(secret, secret_len);
    free(secret);
    return rc;
}

/* The signature's hex of the string to sign. */
static int sigv4_put_signature(struct br_buf *out, const struct sigv4_signer *s,
                               const struct br_buf *to_sign)
{
    unsigned char key[SIGV4_KEY_LEN], sig[SHA256_LEN];
    int rc = sigv4_signing_key(key, s);
    if (rc == 0)
        rc = sigv4_hmac(sig, key, sizeof(key), to_sign->data, to_sign->len);
    OPENSSL_cleanse(key, sizeof(key));
    return rc == 0 ? sigv4_put_hex(out, sig, sizeof(sig)) : -1;
}

static int sigv4_put_authorization(struct br_buf *out, const struct sigv4_request *req,
                                   const struct sigv4_signer *s, const struct br_buf *to_sign)
{
    struct sigv4_header sorted[SIGV4_MAX_HEADERS];
    if (sigv4_sort_headers(sorted, req->headers, req->n_headers) < 0 ||
        br_buf_printf(out, SIGV4_ALGORITHM " Credential=%s/", s->access_key) < 0 ||
        sigv4_scope(out, s) < 0 || br_buf_puts(out, ", SignedHeaders=") < 0 ||
        sigv4_signed_names(out, sorted, req->n_headers) < 0 ||
        br_buf_puts(out, ", Signature=") < 0)
        return -1;
    return sigv4_put_signature(out, s, to_sign);
}

int sigv4_authorization(struct br_buf *out, const struct sigv4_request *req,
                        const struct sigv4_signer *s)
{
    struct br_buf canonical, to_sign;
    br_buf_init(&canonical, 0);
    br_buf_init(&to_sign, 0);
    size_t start = out->len;
    int rc = sigv4_canonical_request(&canonical, req);
    if (rc == 0)
        rc = sigv4_string_to_sign(&to_sign, s, canonical.data, canonical.len);
    if (rc == 0)
        rc = sigv4_put_authorization(out, req, s, &to_sign);
    if (rc < 0 && out->data) {          /* nothing half-written */
        out->len = start;
        out->data[start] = '\0';
    }
    br_buf_free(&canonical);
    br_buf_free(&to_sign);
    return rc;
}
