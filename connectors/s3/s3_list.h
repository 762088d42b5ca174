/* s3_list.h - one ListObjectsV2 page at a time from an S3-compatible store:
 * libcurl with SigV4, the XML parsed by expat as it arrives. */
#ifndef BR_S3_LIST_H
#define BR_S3_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct s3_list_config {
    const char *endpoint;         /* scheme://host[:port], no bucket */
    const char *bucket;
    const char *prefix;           /* may be NULL */
    const char *region;
    const char *access_key;       /* NULL: unsigned requests */
    const char *secret_key;
    const char *session_token;    /* may be NULL */
    bool path_style;              /* endpoint/bucket, else bucket.host */
    int page_size;                /* max-keys, 1..1000 */
    /* Asked while a request runs; true aborts it (shutdown). */
    bool (*cancelled)(void *arg);
    void *cancel_arg;
};

struct s3_object {
    const char *key;              /* NUL-terminated, may hold any UTF-8 */
    size_t key_len;
    const char *etag;             /* quotes removed */
    int64_t size;
    int64_t mtime_ms;             /* LastModified, epoch ms */
};

/* One page; the objects and strings live until the next s3_list_page on
 * the same lister. Keys are in the order listed. */
struct s3_page {
    struct s3_object *objects;
    size_t n;
    bool truncated;               /* more pages follow */
    const char *next_token;       /* when truncated */
};

/* Why a request failed: status is the HTTP status (0 when the request
 * never got an answer, or the answer could not be read); code the S3
 * error code when the store sent one ("AccessDenied"). */
struct s3_error {
    long status;
    char code[64];
    char message[300];
    int64_t retry_after_ms;       /* -1 when none given */
    int curl_code;                /* the transfer's CURLcode when status is 0 */
};

struct s3_lister;

struct s3_lister *s3_lister_new(const struct s3_list_config *cfg, char *err, size_t errlen);
void s3_lister_free(struct s3_lister *l);

/* Fetches the page after token (NULL: the first). 0, or -1 with e filled. */
int s3_list_page(struct s3_lister *l, const char *token, struct s3_page *page,
                 struct s3_error *e);

/* Reads body as s3_list_page reads the body of an answer with this HTTP
 * status, fed in pieces of chunk bytes (0: whole), as libcurl may cut it.
 * Same results; for the unit tests and the fuzzer, which have a page in
 * memory. body is borrowed. */
int s3_list_parse(struct s3_lister *l, long status, const char *body, size_t len,
                  size_t chunk, struct s3_page *page, struct s3_error *e);

#endif
