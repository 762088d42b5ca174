/* pattern_bench - the cost of matching one Kafka record against a
 * 5-field event pattern (one exact value, one prefix, one numeric range,
 * one anything-but, one exists), reading the record's JSON value as it
 * comes (no decode beforehand): 1M generated values of 256 bytes, each
 * offered as the Kafka document's members, as a filter would.
 *
 *   pattern_bench [-n RECORDS] [-r ROUNDS]
 *
 * Prints one JSON line per round: {"records", "matched", "ns_per_record",
 * "calls_per_s"}, then the best round the same way with "best": true. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge/pattern.h"

#define VALUE_LEN 256

static const char pattern[] =
    "{\"value\": {\"type\": [\"order\"], \"region\": [{\"prefix\": \"eu-\"}], "
    "\"price\": [{\"numeric\": [\">=\", 10, \"<\", 100]}], "
    "\"status\": [{\"anything-but\": [\"cancelled\", \"test\"]}], "
    "\"customer\": [{\"exists\": true}]}}";

/* A small deterministic generator, so every run sees the same records. */
static unsigned long long rng = 0x9E3779B97F4A7C15ULL;

static unsigned pick(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* One order-like JSON object of exactly VALUE_LEN bytes (a note pads it). */
static void make_value(char *out, unsigned long i)
{
    static const char *const types[] = {"order", "order", "refund", "quote"};
    static const char *const regions[] = {"eu-west-1", "eu-central-1", "us-east-1", "ap-south-1"};
    static const char *const status[] = {"paid", "pending", "cancelled", "test", "shipped"};
    char head[VALUE_LEN + 1];
    int n = snprintf(head, sizeof head,
                     "{\"id\":\"ord-%08lu\",\"type\":\"%s\",\"region\":\"%s\",\"price\":%u.%02u,"
                     "\"status\":\"%s\",%s\"items\":[{\"sku\":\"A-%u\",\"qty\":%u},"
                     "{\"sku\":\"B-%u\",\"qty\":%u}],\"note\":\"",
                     i, types[pick(4)], regions[pick(4)], pick(200), pick(100), status[pick(5)],
                     pick(10) ? "\"customer\":\"c-778\"," : "", pick(100), 1 + pick(5),
                     pick(100), 1 + pick(5));
    int pad = VALUE_LEN - n - 2;
    memcpy(out, head, (size_t)n);
    memset(out + n, 'x', (size_t)(pad > 0 ? pad : 0));
    memcpy(out + VALUE_LEN - 2, "\"}", 2);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void report(size_t n, size_t matched, double ns, bool best)
{
    printf("{\"records\": %zu, \"matched\": %zu, \"ns_per_record\": %.1f, "
           "\"calls_per_s\": %.0f%s}\n", n, matched, ns / (double)n, (double)n * 1e9 / ns,
           best ? ", \"best\": true" : "");
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    int rounds = 3, opt;
    while ((opt = getopt(argc, argv, "n:r:")) != -1) {
        if (opt == 'n')
            n = strtoul(optarg, NULL, 10);
        else if (opt == 'r')
            rounds = atoi(optarg);
        else
            return fprintf(stderr, "usage: pattern_bench [-n RECORDS] [-r ROUNDS]\n"), 2;
    }
    char err[256];
    struct br_pattern *p = br_pattern_compile(pattern, sizeof pattern - 1, err, sizeof err);
    char *values = malloc(n * VALUE_LEN);
    if (!p || !values || n == 0 || rounds < 1)
        return fprintf(stderr, "pattern_bench: %s\n", p ? "out of memory" : err), 1;
    for (size_t i = 0; i < n; i++)
        make_value(values + i * VALUE_LEN, i);

    struct br_doc_member doc[] = {
        {"topic", "\"orders\"", 8}, {"partition", "3", 1}, {"offset", "1234567", 7},
        {"timestamp", "1700000000000", 13}, {"key", "\"ord-1\"", 7},
        {"value", NULL, VALUE_LEN}, {"headers", "[]", 2},
    };
    double best = 0;
    size_t best_matched = 0;
    for (int r = 0; r < rounds; r++) {
        size_t matched = 0;
        double t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
            doc[5].json = values + i * VALUE_LEN;
            matched += br_pattern_match(p, doc, sizeof doc / sizeof doc[0]);
        }
        double ns = now_ns() - t0;
        report(n, matched, ns, false);
        if (!r || ns < best)
            best = ns, best_matched = matched;
    }
    report(n, best_matched, best, true);
    free(values);
    br_pattern_free(p);
    return 0;
}
