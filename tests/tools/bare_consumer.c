/* bare_consumer - the upper bound for Kafka consumption benchmarks.
 *
 * A librdkafka high-level consumer that joins --group, reads --count records
 * from earliest, does nothing with them and prints
 * "CONSUMED n SECONDS s RATE r/s", timed from the first record received
 * (the group join, ~3 s on the mock cluster, is left out). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define MAX_EXTRA_PROPS 32
#define BATCH 1000

struct options {
    const char *bootstrap;
    const char *topic;
    const char *group;
    long long count;
    double timeout_s;             /* give up after this long; 0: never */
    const char *extra_props[MAX_EXTRA_PROPS];
    int n_extra_props;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bare_consumer --bootstrap B --topic T --group G --count N\n"
            "  [--timeout SECONDS] [-X librdkafka.prop=value]\n");
    exit(2);
}

static void parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->count = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *val = argv[i + 1];
        if (!strcmp(a, "--bootstrap")) o->bootstrap = val;
        else if (!strcmp(a, "--topic")) o->topic = val;
        else if (!strcmp(a, "--group")) o->group = val;
        else if (!strcmp(a, "--count")) o->count = atoll(val);
        else if (!strcmp(a, "--timeout")) o->timeout_s = atof(val);
        else if (!strcmp(a, "-X") && o->n_extra_props < MAX_EXTRA_PROPS)
            o->extra_props[o->n_extra_props++] = val;
        else usage();
    }
    if (argc % 2 == 0 || !o->bootstrap || !o->topic || !o->group || o->count <= 0)
        usage();
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_prop(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "bare_consumer: %s\n", err);
        exit(2);
    }
}

static rd_kafka_t *create_consumer(const struct options *o)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set_prop(conf, "bootstrap.servers", o->bootstrap);
    set_prop(conf, "group.id", o->group);
    set_prop(conf, "auto.offset.reset", "earliest");
    for (int i = 0; i < o->n_extra_props; i++) {
        char prop[512];
        snprintf(prop, sizeof prop, "%s", o->extra_props[i]);
        char *eq = strchr(prop, '=');
        if (!eq)
            usage();
        *eq = '\0';
        set_prop(conf, prop, eq + 1);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bare_consumer: %s\n", err);
        exit(2);
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static int subscribe(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e)
        fprintf(stderr, "bare_consumer: subscribe: %s\n", rd_kafka_err2str(e));
    return e ? -1 : 0;
}

/* Returns true for a record, false for an event or error (logged). */
static bool is_record(const rd_kafka_message_t *msg)
{
    if (!msg->err)
        return true;
    if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        fprintf(stderr, "bare_consumer: %s\n", rd_kafka_message_errstr(msg));
    return false;
}

int main(int argc, char **argv)
{
    struct options opts;
    parse_args(argc, argv, &opts);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    rd_kafka_t *rk = create_consumer(&opts);
    if (subscribe(rk, opts.topic)) {
        rd_kafka_destroy(rk);
        return 1;
    }
    /* Messages are taken in batches of up to BATCH from the consumer
     * queue, the cheapest way librdkafka offers: an upper bound. */
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(rk);
    static rd_kafka_message_t *batch[BATCH];
    double started = now_seconds(), first = 0, last = 0;
    long long consumed = 0;
    while (consumed < opts.count && !stop_requested) {
        /* Take what is ready; if nothing is, wait for one message only
         * (a blocking batch call waits to fill the whole batch). */
        ssize_t n = rd_kafka_consume_batch_queue(queue, 0, batch, BATCH);
        if (n == 0)
            n = rd_kafka_consume_batch_queue(queue, 100, batch, 1);
        for (ssize_t i = 0; i < n; i++) {
            if (is_record(batch[i]) && ++consumed == 1)
                first = now_seconds();
            rd_kafka_message_destroy(batch[i]);
        }
        if (n > 0)
            last = now_seconds();
        else if (opts.timeout_s > 0 && now_seconds() - started > opts.timeout_s)
            break;
    }
    rd_kafka_queue_destroy(queue);
    /* Timed from the first record to the last: n-1 intervals. */
    double seconds = consumed > 1 ? last - first : 0;
    printf("CONSUMED %lld SECONDS %.3f RATE %.0f/s\n", consumed, seconds,
           seconds > 0 ? (double)(consumed - 1) / seconds : 0);
    fflush(stdout);

    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return consumed >= opts.count ? 0 : 1;
}
