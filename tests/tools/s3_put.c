/* s3_put.c - fast bulk object creation for the S3 bench and tests: PUTs
 * (or DELETEs) the objects <prefix>obj-<%08d> through a curl multi handle,
 * K requests in flight over K keep-alive connections.
 *
 *   s3_put --endpoint URL --bucket B --count N [--start S] [--prefix P]
 *          [--dir-size M] [--size BYTES] [--parallel K] [--delete]
 *          [--access-key K --secret-key S [--region R]]
 *   prints: created=N ms=T   (with --delete: deleted=N ms=T)
 *
 * Objects S .. S+N-1 (--start defaults to 0). With --dir-size M the keys
 * are spread over "directories" of M objects each: <prefix>d<%05d>/obj-<%08d>,
 * the first number being the object's number / M. (s3rver keeps objects as
 * files, and lists a page by reading and stat'ing the whole directory up to
 * the page's start: in one flat directory each page costs O(objects), so
 * that a bucket of 100k takes minutes to list; directories of 100-1000 keep
 * its pages cheap and constant, as S3's are.) Each body is --size bytes
 * (default 64): "obj-<%08d>\n" padded with 'x', so every object has its own
 * ETag. Requests are unsigned unless --access-key is given (s3rver accepts
 * both); signed ones use libcurl's SigV4 with x-amz-content-sha256:
 * UNSIGNED-PAYLOAD. A request that fails (transport error, 5xx, 429) is
 * retried up to 3 times; any other failure, or one that keeps failing,
 * exits 1 after the rest are done, with the first failures on stderr.
 * 2: usage.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_ATTEMPTS 4

struct slot {
    CURL *easy;
    long index;         /* object number; -1 when idle */
    int attempts;
    char *body;
    char reply[256];    /* start of the response body, for error messages */
    size_t reply_len;
    char url[2048];
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t on_reply(char *data, size_t size, size_t n, void *arg)
{
    struct slot *s = arg;
    size_t len = size * n, room = sizeof s->reply - 1 - s->reply_len;
    size_t take = len < room ? len : room;
    memcpy(s->reply + s->reply_len, data, take);
    s->reply_len += take;
    s->reply[s->reply_len] = '\0';
    return len;
}

/* Appends s to out URL-encoded as a path: unreserved bytes and '/' kept. */
static size_t encode_path(char *out, size_t at, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s && at + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            out[at++] = (char)c;
        } else {
            out[at++] = '%';
            out[at++] = hex[c >> 4];
            out[at++] = hex[c & 15];
        }
    }
    out[at] = '\0';
    return at;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: s3_put --endpoint URL --bucket B --count N [--start S] [--prefix P]\n"
            "              [--dir-size M] [--size BYTES] [--parallel K] [--delete]\n"
            "              [--access-key K --secret-key S [--region R]]\n");
    exit(2);
}

struct run {
    const char *endpoint, *bucket, *prefix;
    long start, count, size, dir_size;
    bool delete;
    long next, done, failed;
};

/* Points slot s at object i and (re)arms its easy handle. */
static void arm(struct run *r, struct slot *s, long i)
{
    char key[1024];
    if (r->dir_size)
        snprintf(key, sizeof key, "%sd%05ld/obj-%08ld", r->prefix, i / r->dir_size, i);
    else
        snprintf(key, sizeof key, "%sobj-%08ld", r->prefix, i);
    size_t at = (size_t)snprintf(s->url, sizeof s->url, "%s%s", r->endpoint,
                                 r->endpoint[strlen(r->endpoint) - 1] == '/' ? "" : "/");
    at = encode_path(s->url, at, sizeof s->url, r->bucket);
    s->url[at++] = '/';
    encode_path(s->url, at, sizeof s->url, key);
    curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
    if (!r->delete) {
        int n = snprintf(s->body, (size_t)r->size + 1, "%sobj-%08ld\n", r->prefix, i);
        if (n < r->size)
            memset(s->body + n, 'x', (size_t)(r->size - n));
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, r->size);
    }
    s->index = i;
    s->reply_len = 0;
    s->reply[0] = '\0';
}

int main(int argc, char **argv)
{
    struct run r = {.prefix = "", .size = 64};
    const char *access = NULL, *secret = NULL, *region = "us-east-1";
    long parallel = 16;
    r.count = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--delete")) {
            r.delete = true;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--endpoint"))
            r.endpoint = v;
        else if (!strcmp(a, "--bucket"))
            r.bucket = v;
        else if (!strcmp(a, "--count"))
            r.count = atol(v);
        else if (!strcmp(a, "--start"))
            r.start = atol(v);
        else if (!strcmp(a, "--prefix"))
            r.prefix = v;
        else if (!strcmp(a, "--dir-size"))
            r.dir_size = atol(v);
        else if (!strcmp(a, "--size"))
            r.size = atol(v);
        else if (!strcmp(a, "--parallel"))
            parallel = atol(v);
        else if (!strcmp(a, "--access-key"))
            access = v;
        else if (!strcmp(a, "--secret-key"))
            secret = v;
        else if (!strcmp(a, "--region"))
            region = v;
        else
            usage();
    }
    if (!r.endpoint || !r.bucket || r.count < 0 || r.start < 0 || r.size < 0 || r.dir_size < 0 ||
        parallel < 1 || parallel > 1024 || (!access != !secret) || strlen(r.prefix) > 900)
        usage();

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, parallel);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, parallel);
    /* At least one header, so that headers == NULL means out of memory. */
    struct curl_slist *headers = curl_slist_append(NULL, "User-Agent: s3_put");
    if (!r.delete)
        headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
    /* No "Expect: 100-continue" round trip for bodies over 1 KiB; but
     * libcurl 7.88's SigV4 would sign the removed header as "expect:", a
     * signature S3 rejects, so signed requests keep it. */
    if (!r.delete && !access)
        headers = curl_slist_append(headers, "Expect:");
    char sigv4[160], userpwd[512];
    if (access) {
        headers = curl_slist_append(headers, r.delete ? "x-amz-content-sha256: " EMPTY_SHA256
                                                      : "x-amz-content-sha256: UNSIGNED-PAYLOAD");
        snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", region);
        snprintf(userpwd, sizeof userpwd, "%s:%s", access, secret);
    }

    long nslots = parallel < r.count ? parallel : r.count;
    struct slot *slots = calloc((size_t)(nslots ? nslots : 1), sizeof *slots);
    if (!multi || !headers || !slots) {
        fprintf(stderr, "s3_put: out of memory\n");
        return 1;
    }
    double t0 = now_ms();
    r.next = r.start;
    for (long k = 0; k < nslots; k++) {
        struct slot *s = &slots[k];
        s->easy = curl_easy_init();
        s->body = malloc((size_t)r.size + 1 + strlen(r.prefix) + 16);
        if (!s->easy || !s->body) {
            fprintf(stderr, "s3_put: out of memory\n");
            return 1;
        }
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_reply);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST, r.delete ? "DELETE" : "PUT");
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, headers);
        if (access) {
            curl_easy_setopt(s->easy, CURLOPT_AWS_SIGV4, sigv4);
            curl_easy_setopt(s->easy, CURLOPT_USERPWD, userpwd);
        }
        arm(&r, s, r.next++);
        curl_multi_add_handle(multi, s->easy);
    }

    int running = (int)nslots;
    while (r.done < r.count) {
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *easy = msg->easy_handle;
            CURLcode rc = msg->data.result;
            struct slot *s;
            long status = 0;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(multi, easy);
            bool ok = rc == CURLE_OK && status / 100 == 2;
            bool transient = rc != CURLE_OK || status >= 500 || status == 429;
            if (!ok && transient && ++s->attempts < MAX_ATTEMPTS) {
                usleep(50000u * (unsigned)s->attempts);
                arm(&r, s, s->index);
                curl_multi_add_handle(multi, easy);
                continue;
            }
            if (!ok && r.failed++ < 5)
                fprintf(stderr, "s3_put: %s %s: %s\n", r.delete ? "DELETE" : "PUT", s->url,
                        rc != CURLE_OK ? curl_easy_strerror(rc) : s->reply);
            r.done++;
            s->attempts = 0;
            if (r.next < r.start + r.count) {
                arm(&r, s, r.next++);
                curl_multi_add_handle(multi, easy);
            }
        }
        if (r.done < r.count)
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    double ms = now_ms() - t0;
    if (r.failed)
        fprintf(stderr, "s3_put: %ld of %ld requests failed\n", r.failed, r.count);
    printf("%s=%ld ms=%.1f\n", r.delete ? "deleted" : "created", r.count - r.failed, ms);

    for (long k = 0; k < nslots; k++) {
        curl_easy_cleanup(slots[k].easy);
        free(slots[k].body);
    }
    free(slots);
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return r.failed ? 1 : 0;
}
