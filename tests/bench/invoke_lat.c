/* invoke_lat - times invocations of one pipeline's function, one after the
 * other, through fnbridge's own core (the path `fnbridge invoke` takes):
 * emit -> batch -> target -> response -> settle. make bench runs it on the
 * same handler behind each kind of target to show the latency a target
 * adds, and the first (cold) invocation.
 *
 *   invoke_lat -c FILE -p PIPELINE [-n COUNT] [-e EVENT_JSON]
 *
 * Prints one JSON line: {"n", "first_us", "p50_us", "p90_us", "p99_us",
 * "max_us", "mean_us"}; the percentiles leave the first invocation out. */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/invoke_cmd.h"
#include "bridge/log.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t pct(const int64_t *sorted, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

static void report(int64_t *lat, size_t n)
{
    int64_t first = lat[0];
    int64_t *warm = lat + 1;
    size_t m = n - 1;
    double sum = 0;
    qsort(warm, m, sizeof(*warm), cmp_i64);
    for (size_t i = 0; i < m; i++)
        sum += (double)warm[i];
    printf("{\"n\": %zu, \"first_us\": %lld, \"p50_us\": %lld, \"p90_us\": %lld, "
           "\"p99_us\": %lld, \"max_us\": %lld, \"mean_us\": %.1f}\n",
           n, (long long)first, (long long)pct(warm, m, 0.50), (long long)pct(warm, m, 0.90),
           (long long)pct(warm, m, 0.99), (long long)warm[m - 1], sum / (double)m);
}

int main(int argc, char **argv)
{
    const char *config = NULL, *pipeline = NULL, *event = "{\"bench\":true}";
    size_t count = 1000;
    int opt;
    while ((opt = getopt(argc, argv, "c:p:n:e:")) != -1) {
        if (opt == 'c')
            config = optarg;
        else if (opt == 'p')
            pipeline = optarg;
        else if (opt == 'n')
            count = (size_t)strtoul(optarg, NULL, 10);
        else if (opt == 'e')
            event = optarg;
        else
            return 2;
    }
    if (!config || !pipeline || count < 2) {
        fprintf(stderr, "usage: invoke_lat -c FILE -p PIPELINE [-n COUNT>=2] [-e JSON]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct br_errors errs = {.file = config};
    struct br_config *cfg = br_config_load(config, &errs);
    if (!cfg) {
        br_errors_print(&errs, stderr);
        br_errors_free(&errs);
        return 2;
    }
    br_errors_free(&errs);
    br_log_setup((enum br_log_level)cfg->log_level, (enum br_log_format)cfg->log_format);
    int64_t *lat = calloc(count, sizeof(*lat));
    int rc = lat ? br_invoke_timed(cfg, pipeline, event, strlen(event), count, lat) : -1;
    if (rc == 0)
        report(lat, count);
    free(lat);
    br_config_free(cfg);
    curl_global_cleanup();
    return rc == 0 ? 0 : 1;
}
