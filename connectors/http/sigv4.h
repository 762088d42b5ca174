/* sigv4.h - AWS Signature Version 4 (header form) for services other than
 * S3: canonical request, string to sign, signing key and the Authorization
 * value, with libcrypto's SHA-256 and HMAC. Pure: no I/O, no clock, no
 * curl; the caller sends exactly the headers it had signed. */
#ifndef BR_SIGV4_H
#define BR_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "bridge/buf.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
/* "YYYYMMDDTHHMMSSZ" and its NUL. */
#define SIGV4_AMZ_DATE_LEN 17
/* Most headers one request may sign (the Lambda target signs four). */
#define SIGV4_MAX_HEADERS 16
#define SIGV4_KEY_LEN 32              /* a SHA-256 HMAC key */

/* One header to sign. The name in any case (it is signed lower-case); the
 * value as sent (it is signed trimmed, runs of spaces as one). Names are
 * unique. Both borrowed. */
struct sigv4_header {
    const char *name;
    const char *value;
};

/* The request as it goes on the wire. Every pointer is borrowed. */
struct sigv4_request {
    const char *method;               /* "POST" */
    const char *path;                 /* as sent, percent-encoded; "" is "/" */
    const char *query;                /* as sent, without '?'; NULL: none */
    const struct sigv4_header *headers; /* host and x-amz-date at least */
    size_t n_headers;
    const void *body;
    size_t body_len;
};

/* Who signs, where, and when. Every pointer is borrowed; the secret is
 * only read. */
struct sigv4_signer {
    const char *access_key;
    const char *secret_key;
    const char *region;               /* "us-east-1" */
    const char *service;              /* "lambda" */
    const char *amz_date;             /* the x-amz-date header's value */
};

/* Formats t (UTC) as X-Amz-Date wants it. Returns 0, or -1 when t does not
 * fit a four-digit year. */
int sigv4_amz_date(char out[SIGV4_AMZ_DATE_LEN], time_t t);

/* Appends the canonical URI of a path as sent: dot segments and empty
 * segments removed (AWS normalizes them for every service but S3), then
 * every byte but unreserved ones and '/' percent-encoded once more (so a
 * ':' sent as %3A is signed %253A). Returns 0, or -1 when out of memory. */
int sigv4_canonical_uri(struct br_buf *out, const char *path);

/* Appends the canonical query string of a query as sent (NULL or ""
 * gives ""): each name and value decoded, encoded again with only
 * unreserved bytes left as they are, then sorted by name and value.
 * Returns 0, or -1 when out of memory. */
int sigv4_canonical_query(struct br_buf *out, const char *query);

/* Appends the canonical request (method, URI, query, headers, signed
 * header names, SHA-256 of the body, joined by newlines). Returns 0, or -1
 * when out of memory or past SIGV4_MAX_HEADERS headers. */
int sigv4_canonical_request(struct br_buf *out, const struct sigv4_request *req);

/* Appends the credential scope: DATE/REGION/SERVICE/aws4_request, DATE
 * being the first 8 characters of s->amz_date. Returns 0 or -1. */
int sigv4_scope(struct br_buf *out, const struct sigv4_signer *s);

/* Appends the string to sign of a canonical request of len bytes.
 * Returns 0, or -1 when out of memory or the digest fails. */
int sigv4_string_to_sign(struct br_buf *out, const struct sigv4_signer *s,
                         const char *canonical, size_t len);

/* Derives the signing key (HMAC chain over date, region, service and
 * "aws4_request" from "AWS4" + secret) into key. Intermediate secrets are
 * wiped; the caller wipes key (OPENSSL_cleanse) when done with it.
 * Returns 0, or -1 when HMAC fails. */
int sigv4_signing_key(unsigned char key[SIGV4_KEY_LEN], const struct sigv4_signer *s);

/* Appends the Authorization header's value for req:
 * "AWS4-HMAC-SHA256 Credential=KEY/SCOPE, SignedHeaders=a;b, Signature=HEX".
 * Derived key material is wiped before return. Returns 0, or -1 when out
 * of memory, past SIGV4_MAX_HEADERS headers, or when libcrypto fails. */
int sigv4_authorization(struct br_buf *out, const struct sigv4_request *req,
                        const struct sigv4_signer *s);

#endif
