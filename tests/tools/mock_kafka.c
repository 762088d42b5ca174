/* mock_kafka - a Kafka cluster for tests, from librdkafka's mock cluster API.
 *
 * Starts N brokers on 127.0.0.1, creates the topics asked for, prints one
 * line "BOOTSTRAP host:port,..." and runs until SIGTERM/SIGINT (or stdin EOF
 * with --stdin-control, which also reads fault-injection commands, one per
 * line, answering "ok" or "error ..."). See tests/tools/README.md. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_TOPICS 64
#define MAX_LINE 1024

struct topic_spec {
    char name[256];
    int partitions;
};

struct options {
    int brokers;
    int replication;        /* 0: min(brokers, 3) */
    bool stdin_control;
    struct topic_spec topics[MAX_TOPICS];
    int n_topics;
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
            "usage: mock_kafka [--brokers N] [--replication R] "
            "--topic NAME:PARTITIONS [--topic ...] [--stdin-control]\n"
            "stdin commands: broker-down ID | broker-up ID | rtt ID MS |\n"
            "                leader TOPIC PARTITION ID\n");
    exit(2);
}

/* Parses a decimal int in [min, max]; returns false on anything else. */
static bool parse_int(const char *s, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_topic(const char *arg, struct topic_spec *t)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof t->name)
        return false;
    memcpy(t->name, arg, (size_t)(colon - arg));
    t->name[colon - arg] = '\0';
    return parse_int(colon + 1, 1, 100000, &t->partitions);
}

static void parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->brokers = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "--brokers") && has_val) {
            if (!parse_int(argv[++i], 1, 64, &o->brokers))
                usage();
        } else if (!strcmp(a, "--replication") && has_val) {
            if (!parse_int(argv[++i], 1, 64, &o->replication))
                usage();
        } else if (!strcmp(a, "--topic") && has_val) {
            if (o->n_topics == MAX_TOPICS ||
                !parse_topic(argv[++i], &o->topics[o->n_topics++]))
                usage();
        } else if (!strcmp(a, "--stdin-control")) {
            o->stdin_control = true;
        } else {
            usage();
        }
    }
    if (o->n_topics == 0)
        usage();
    if (o->replication == 0)
        o->replication = o->brokers < 3 ? o->brokers : 3;
    if (o->replication > o->brokers) {
        fprintf(stderr, "mock_kafka: replication %d > brokers %d\n",
                o->replication, o->brokers);
        exit(2);
    }
}

/* The rd_kafka_t that hosts the mock cluster; it is never used to produce. */
static rd_kafka_t *create_host_client(void)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* No bootstrap servers: silence the warning about them. */
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "mock_kafka: rd_kafka_new: %s\n", err);
    }
    return rk;
}

static int create_topics(rd_kafka_mock_cluster_t *mc, const struct options *o)
{
    for (int i = 0; i < o->n_topics; i++) {
        const struct topic_spec *t = &o->topics[i];
        rd_kafka_resp_err_t e =
            rd_kafka_mock_topic_create(mc, t->name, t->partitions, o->replication);
        if (e) {
            fprintf(stderr, "mock_kafka: create topic %s: %s\n", t->name,
                    rd_kafka_err2str(e));
            return -1;
        }
    }
    return 0;
}

/* Runs one control command; writes the answer line into reply. */
static void run_command(rd_kafka_mock_cluster_t *mc, char *line,
                        char *reply, size_t reply_size)
{
    char *words[5];
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w && n < 5;
         w = strtok_r(NULL, " \t\r", &save))
        words[n++] = w;
    if (n == 0) {
        snprintf(reply, reply_size, "error empty command");
        return;
    }
    int id, ms, partition;
    rd_kafka_resp_err_t e;
    if (!strcmp(words[0], "broker-down") && n == 2 && parse_int(words[1], -1, INT_MAX, &id))
        e = rd_kafka_mock_broker_set_down(mc, id);
    else if (!strcmp(words[0], "broker-up") && n == 2 && parse_int(words[1], -1, INT_MAX, &id))
        e = rd_kafka_mock_broker_set_up(mc, id);
    else if (!strcmp(words[0], "rtt") && n == 3 && parse_int(words[1], -1, INT_MAX, &id) &&
             parse_int(words[2], 0, INT_MAX, &ms))
        e = rd_kafka_mock_broker_set_rtt(mc, id, ms);
    else if (!strcmp(words[0], "leader") && n == 4 &&
             parse_int(words[2], 0, INT_MAX, &partition) &&
             parse_int(words[3], -1, INT_MAX, &id))
        e = rd_kafka_mock_partition_set_leader(mc, words[1], partition, id);
    else {
        snprintf(reply, reply_size, "error unknown command or bad arguments");
        return;
    }
    if (e)
        snprintf(reply, reply_size, "error %s", rd_kafka_err2str(e));
    else
        snprintf(reply, reply_size, "ok");
}

/* Handles every complete line in buf[0..*len); keeps the partial tail. */
static void run_complete_lines(rd_kafka_mock_cluster_t *mc, char *buf, size_t *len)
{
    char *start = buf, *nl;
    while ((nl = memchr(start, '\n', *len - (size_t)(start - buf)))) {
        *nl = '\0';
        char reply[256];
        run_command(mc, start, reply, sizeof reply);
        printf("%s\n", reply);
        fflush(stdout);
        start = nl + 1;
    }
    *len -= (size_t)(start - buf);
    memmove(buf, start, *len);
}

/* Reads stdin without stdio buffering so poll() tells the truth; returns
 * when stdin hits EOF or a stop signal arrives. */
static void control_loop(rd_kafka_mock_cluster_t *mc)
{
    char buf[MAX_LINE];
    size_t len = 0;
    while (!stop_requested) {
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int r = poll(&pfd, 1, 200);
        if (r <= 0)
            continue;   /* timeout or EINTR: recheck the flag */
        if (len == sizeof buf - 1)
            len = 0;    /* an overlong line: drop it */
        ssize_t got = read(STDIN_FILENO, buf + len, sizeof buf - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return;     /* EOF: the parent is gone */
        len += (size_t)got;
        run_complete_lines(mc, buf, &len);
    }
}

static void wait_for_signal(void)
{
    while (!stop_requested)
        poll(NULL, 0, 200);
}

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    struct options opts;
    parse_args(argc, argv, &opts);
    install_signal_handlers();

    rd_kafka_t *rk = create_host_client();
    if (!rk)
        return 1;
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, opts.brokers);
    if (!mc) {
        fprintf(stderr, "mock_kafka: cannot create mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    int rc = 1;
    if (create_topics(mc, &opts) == 0) {
        printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
        fflush(stdout);
        if (opts.stdin_control)
            control_loop(mc);
        else
            wait_for_signal();
        rc = 0;
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return rc;
}
