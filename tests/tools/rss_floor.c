/* rss_floor.c - the idle memory floor under fnbridge, for make bench: a
 * program that does nothing but what fnbridge cannot avoid doing, i.e. load
 * librdkafka and libcurl (Debian's builds, with their dependencies), make a
 * curl multi handle and join a consumer group on an idle topic, then print
 * its resident set. fnbridge's idle RSS is compared against this.
 *
 *   rss_floor --bootstrap HOST:PORT --topic T [--seconds S]
 *   prints: RSS <kB> ANON <kB> FILE <kB>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

static long status_kb(const char *key)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, n) && line[n] == ':')
            kb = atol(line + n + 1);
    fclose(f);
    return kb;
}

static rd_kafka_t *join(const char *bootstrap, const char *topic)
{
    char err[512];
    char group[64];
    snprintf(group, sizeof(group), "rss-floor-%ld", (long)time(NULL));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *props[][2] = {
        {"bootstrap.servers", bootstrap}, {"group.id", group},
        {"enable.auto.offset.store", "false"}, {"auto.offset.reset", "latest"},
        {"queued.max.messages.kbytes", "2048"}, {"fetch.max.bytes", "1048576"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof(err))) {
            fprintf(stderr, "rss_floor: %s\n", err);
            exit(2);
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "rss_floor: %s\n", err);
        exit(1);
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    return rk;
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL;
    int seconds = 8;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bootstrap"))
            bootstrap = argv[i + 1];
        else if (!strcmp(argv[i], "--topic"))
            topic = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atoi(argv[i + 1]);
    }
    if (!bootstrap || !topic) {
        fprintf(stderr, "usage: rss_floor --bootstrap HOST:PORT --topic T [--seconds S]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    CURL *easy = curl_easy_init();
    rd_kafka_t *rk = join(bootstrap, topic);
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    printf("RSS %ld ANON %ld FILE %ld\n", status_kb("VmRSS"), status_kb("RssAnon"),
           status_kb("RssFile"));
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    curl_easy_cleanup(easy);
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return 0;
}
