/* rt_echo - the smallest Lambda custom runtime: a loop of GET .../next and
 * POST .../response over one keep-alive connection (libcurl), answering each
 * event with an empty JSON object. make bench runs it under exec
 * `mode: runtime-api` to time what fnbridge's Runtime API adds, with no
 * interpreter in the way. Speaks only the documented Runtime API; reads
 * AWS_LAMBDA_RUNTIME_API like any runtime. Exits when the API goes away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define ID_MAX 128

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    static const char name[] = "Lambda-Runtime-Aws-Request-Id:";
    char *id = arg;
    size_t len = size * n;
    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        const char *v = p + sizeof(name) - 1;
        const char *end = p + len;
        while (v < end && *v == ' ')
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        size_t idlen = (size_t)(end - v) < ID_MAX - 1 ? (size_t)(end - v) : ID_MAX - 1;
        memcpy(id, v, idlen);
        id[idlen] = '\0';
    }
    return len;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

int main(void)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api) {
        fprintf(stderr, "rt_echo: AWS_LAMBDA_RUNTIME_API is not set\n");
        return 2;
    }
    char next_url[256], resp_url[512], id[ID_MAX];
    snprintf(next_url, sizeof(next_url), "http://%s/2018-06-01/runtime/invocation/next", api);
    CURL *e = curl_easy_init();
    if (!e)
        return 1;
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, id);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    for (;;) {
        id[0] = '\0';
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_URL, next_url);
        if (curl_easy_perform(e) != CURLE_OK || !id[0])
            break;
        snprintf(resp_url, sizeof(resp_url),
                 "http://%s/2018-06-01/runtime/invocation/%s/response", api, id);
        curl_easy_setopt(e, CURLOPT_URL, resp_url);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "{}");
        if (curl_easy_perform(e) != CURLE_OK)
            break;
    }
    curl_easy_cleanup(e);
    return 0;
}
