/* s3_list.c - the bare paginated listing make bench compares fnbridge's S3
 * poll with: lists a whole bucket with ListObjectsV2, one page after the
 * other over one keep-alive libcurl easy handle, and does only what any
 * client must with each page: parse it (expat, streaming, straight from the
 * write callback), count the <Contents>, and take <NextContinuationToken> and
 * <IsTruncated>. Nothing is kept per object.
 *
 *   s3_list --endpoint URL --bucket B [--prefix P] [--page-size N]
 *           [--access-key K --secret-key S [--region R]] [--verbose]
 *   prints: objects=N pages=P ms=T cpu_ms=C peak_rss_kb=R
 *
 * Requests are path style, `GET <endpoint>/<bucket>?continuation-token=..&
 * list-type=2&max-keys=N&prefix=..`, query keys in sorted order and RFC 3986
 * encoded (as fnbridge sends them). With --access-key they are signed with
 * libcurl's SigV4 ("aws:amz:<region>:s3") and carry x-amz-content-sha256 of
 * the empty body; without, unsigned. ms and cpu_ms (user + system) cover
 * the listing, from the first request to the last page parsed (not the
 * process's start); peak_rss_kb is VmHWM at the end (a parent's wait4
 * rusage would count the memory of the process that forked it). --verbose: one line per page on stderr
 * (objects, bytes, ms). Exit 1 with one line on stderr when a request fails
 * (HTTP error, with the S3 error document's Code and Message; transport
 * error; malformed XML); 2: usage.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>
#include <expat.h>

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define TEXT_MAX 4096 /* longest token, code or message kept; S3's are ~200 B */

/* What the parser takes from one page (or from an error document). */
enum field { F_NONE, F_TOKEN, F_TRUNCATED, F_CODE, F_MESSAGE };

struct page {
    XML_Parser parser;
    bool failed;            /* expat error: the transfer is aborted */
    int depth;
    enum field field;       /* the depth-2 element whose text is collected */
    long contents;          /* <Contents> directly under the root */
    char token[TEXT_MAX];   /* NextContinuationToken */
    size_t token_len;
    char truncated[8];      /* IsTruncated: "true" or "false" */
    size_t truncated_len;
    char code[128], message[512];
    size_t code_len, message_len;
    size_t bytes;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static long peak_rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = atol(line + 6);
    fclose(f);
    return kb;
}

static void on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    struct page *pg = data;
    pg->depth++;
    if (pg->depth != 2)
        return;
    /* Compared by their first letter first: most elements here are Contents. */
    if (name[0] == 'C' && !strcmp(name, "Contents"))
        pg->contents++;
    else if (name[0] == 'N' && !strcmp(name, "NextContinuationToken"))
        pg->field = F_TOKEN, pg->token_len = 0;
    else if (name[0] == 'I' && !strcmp(name, "IsTruncated"))
        pg->field = F_TRUNCATED, pg->truncated_len = 0;
    else if (!strcmp(name, "Code"))
        pg->field = F_CODE, pg->code_len = 0;
    else if (!strcmp(name, "Message"))
        pg->field = F_MESSAGE, pg->message_len = 0;
}

static void on_end(void *data, const XML_Char *name)
{
    (void)name;
    struct page *pg = data;
    if (pg->depth == 2)
        pg->field = F_NONE;
    pg->depth--;
}

static void append(char *buf, size_t cap, size_t *len, const char *s, int n)
{
    size_t room = cap - 1 - *len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(buf + *len, s, take);
    *len += take;
    buf[*len] = '\0';
}

static void on_text(void *data, const XML_Char *s, int n)
{
    struct page *pg = data;
    switch (pg->field) {
    case F_NONE:
        return;
    case F_TOKEN:
        append(pg->token, sizeof pg->token, &pg->token_len, s, n);
        return;
    case F_TRUNCATED:
        append(pg->truncated, sizeof pg->truncated, &pg->truncated_len, s, n);
        return;
    case F_CODE:
        append(pg->code, sizeof pg->code, &pg->code_len, s, n);
        return;
    case F_MESSAGE:
        append(pg->message, sizeof pg->message, &pg->message_len, s, n);
        return;
    }
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct page *pg = arg;
    size_t len = size * n;
    pg->bytes += len;
    if (XML_Parse(pg->parser, data, (int)len, 0) == XML_STATUS_ERROR) {
        pg->failed = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    return len;
}

static void page_reset(struct page *pg)
{
    XML_ParserReset(pg->parser, NULL);
    XML_SetUserData(pg->parser, pg);
    XML_SetElementHandler(pg->parser, on_start, on_end);
    XML_SetCharacterDataHandler(pg->parser, on_text);
    pg->failed = false;
    pg->depth = 0;
    pg->field = F_NONE;
    pg->contents = 0;
    pg->token_len = pg->truncated_len = pg->code_len = pg->message_len = 0;
    pg->token[0] = pg->truncated[0] = pg->code[0] = pg->message[0] = '\0';
    pg->bytes = 0;
}

/* Appends s to out, RFC 3986 encoded (unreserved kept, the rest %XX). */
static size_t encode(char *out, size_t at, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s && at + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
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
    fprintf(stderr, "usage: s3_list --endpoint URL --bucket B [--prefix P] [--page-size N]\n"
                    "               [--access-key K --secret-key S [--region R]] [--verbose]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *bucket = NULL, *prefix = "", *access = NULL,
               *secret = NULL, *region = "us-east-1";
    int page_size = 1000;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--verbose")) {
            verbose = true;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--endpoint"))
            endpoint = v;
        else if (!strcmp(a, "--bucket"))
            bucket = v;
        else if (!strcmp(a, "--prefix"))
            prefix = v;
        else if (!strcmp(a, "--page-size"))
            page_size = atoi(v);
        else if (!strcmp(a, "--access-key"))
            access = v;
        else if (!strcmp(a, "--secret-key"))
            secret = v;
        else if (!strcmp(a, "--region"))
            region = v;
        else
            usage();
    }
    if (!endpoint || !bucket || page_size < 1 || page_size > 1000 || (!access != !secret))
        usage();

    int exit_code = 1;
    char *url = NULL;
    struct curl_slist *headers = NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *easy = curl_easy_init();
    struct page *pg = calloc(1, sizeof *pg);
    if (!easy || !pg || !(pg->parser = XML_ParserCreate(NULL))) {
        fprintf(stderr, "s3_list: out of memory\n");
        goto out;
    }
    char sigv4[160], userpwd[512], errbuf[CURL_ERROR_SIZE];
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, pg);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 300L);
    if (access) {
        snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", region);
        snprintf(userpwd, sizeof userpwd, "%s:%s", access, secret);
        headers = curl_slist_append(headers, "x-amz-content-sha256: " EMPTY_SHA256);
        curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(easy, CURLOPT_USERPWD, userpwd);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    }

    size_t cap = strlen(endpoint) + 3 * strlen(bucket) + 3 * strlen(prefix) +
                 3 * TEXT_MAX + 128;
    url = malloc(cap);
    if (!url) {
        fprintf(stderr, "s3_list: out of memory\n");
        goto out;
    }
    size_t base = (size_t)snprintf(url, cap, "%s%s", endpoint,
                                   endpoint[strlen(endpoint) - 1] == '/' ? "" : "/");
    base = encode(url, base, cap, bucket);
    url[base++] = '?';

    char token[TEXT_MAX] = "";
    long objects = 0, pages = 0;
    double t0 = now_ms(), c0 = cpu_ms();
    for (;;) {
        /* Keys in sorted order: continuation-token, list-type, max-keys, prefix. */
        size_t at = base;
        if (pages > 0) {
            at += (size_t)snprintf(url + at, cap - at, "continuation-token=");
            at = encode(url, at, cap, token);
            url[at++] = '&';
        }
        at += (size_t)snprintf(url + at, cap - at, "list-type=2&max-keys=%d", page_size);
        if (*prefix) {
            at += (size_t)snprintf(url + at, cap - at, "&prefix=");
            at = encode(url, at, cap, prefix);
        }
        url[at] = '\0';

        page_reset(pg);
        errbuf[0] = '\0';
        curl_easy_setopt(easy, CURLOPT_URL, url);
        double p0 = now_ms();
        CURLcode rc = curl_easy_perform(easy);
        bool parsed = !pg->failed && rc == CURLE_OK &&
                      XML_Parse(pg->parser, "", 0, 1) != XML_STATUS_ERROR;
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        pages++;
        if (status != 0 && status / 100 != 2) {
            if (pg->code_len)
                fprintf(stderr, "s3_list: listing bucket %s failed: %s (HTTP %ld): %s\n",
                        bucket, pg->code, status, pg->message);
            else
                fprintf(stderr, "s3_list: listing bucket %s failed: HTTP %ld\n", bucket, status);
            goto out;
        }
        if (pg->failed || (rc == CURLE_OK && !parsed)) {
            fprintf(stderr, "s3_list: malformed XML in page %ld: %s at line %lu\n", pages,
                    XML_ErrorString(XML_GetErrorCode(pg->parser)),
                    (unsigned long)XML_GetCurrentLineNumber(pg->parser));
            goto out;
        }
        if (rc != CURLE_OK) {
            fprintf(stderr, "s3_list: page %ld: %s\n", pages,
                    *errbuf ? errbuf : curl_easy_strerror(rc));
            goto out;
        }
        objects += pg->contents;
        if (verbose)
            fprintf(stderr, "page %ld: %ld objects, %zu bytes, %.1f ms\n", pages, pg->contents,
                    pg->bytes, now_ms() - p0);
        if (strcmp(pg->truncated, "true"))
            break;
        if (!pg->token_len) {
            fprintf(stderr, "s3_list: page %ld is truncated but has no NextContinuationToken\n",
                    pages);
            goto out;
        }
        memcpy(token, pg->token, pg->token_len + 1);
    }
    printf("objects=%ld pages=%ld ms=%.1f cpu_ms=%.1f peak_rss_kb=%ld\n", objects, pages,
           now_ms() - t0, cpu_ms() - c0, peak_rss_kb());
    exit_code = 0;
out:
    if (pg && pg->parser)
        XML_ParserFree(pg->parser);
    free(pg);
    free(url);
    curl_slist_free_all(headers);
    curl_easy_cleanup(easy);
    curl_global_cleanup();
    return exit_code;
}
