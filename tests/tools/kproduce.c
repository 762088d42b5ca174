/* kproduce - a fast Kafka producer for tests and benchmarks.
 *
 * Produces --count records with sequence numbers --start-seq.., waits for
 * every delivery report and prints "PRODUCED <n> p<i>=<first>..<last> ..."
 * from those reports, so tests know exactly which topic-partition-offset
 * ids exist. Exits 1 if any record failed. See tests/tools/README.md. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define MAX_EXTRA_PROPS 32

enum value_kind { VALUE_JSON, VALUE_TEXT, VALUE_BINARY, VALUE_FILE };

struct options {
    const char *bootstrap;
    const char *topic;
    long long count;
    long long start_seq;
    size_t size;
    int partitions;               /* 0: librdkafka's partitioner */
    double rate;                  /* records per second, 0: unlimited */
    bool keys;
    bool headers;
    enum value_kind value_kind;
    const char *value_file;
    const char *compression;
    const char *extra_props[MAX_EXTRA_PROPS];   /* "name=value" for -X */
    int n_extra_props;
};

/* Offsets seen in delivery reports, per partition. */
struct partition_range {
    int64_t first;                /* -1: nothing delivered yet */
    int64_t last;
};

struct delivery_stats {
    long long delivered;
    long long failed;
    struct partition_range *ranges;
    int n_ranges;
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
            "usage: kproduce --bootstrap B --topic T --count N [--size BYTES]\n"
            "  [--partitions P] [--start-seq S] [--rate MSG_PER_S] [--keys]\n"
            "  [--no-value-json | --binary | --value-file FILE] [--headers]\n"
            "  [--compression gzip|snappy|lz4|zstd] [-X librdkafka.prop=value]\n");
    exit(2);
}

static long long parse_ll(const char *s, long long min)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min)
        usage();
    return v;
}

static void parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->count = -1;
    o->size = 256;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool used_val = true;
        if (!strcmp(a, "--bootstrap") && val) o->bootstrap = val;
        else if (!strcmp(a, "--topic") && val) o->topic = val;
        else if (!strcmp(a, "--count") && val) o->count = parse_ll(val, 0);
        else if (!strcmp(a, "--size") && val) o->size = (size_t)parse_ll(val, 0);
        else if (!strcmp(a, "--partitions") && val) o->partitions = (int)parse_ll(val, 1);
        else if (!strcmp(a, "--start-seq") && val) o->start_seq = parse_ll(val, 0);
        else if (!strcmp(a, "--rate") && val) o->rate = (double)parse_ll(val, 1);
        else if (!strcmp(a, "--value-file") && val) {
            o->value_file = val;
            o->value_kind = VALUE_FILE;
        } else if (!strcmp(a, "--compression") && val) o->compression = val;
        else if (!strcmp(a, "-X") && val && o->n_extra_props < MAX_EXTRA_PROPS)
            o->extra_props[o->n_extra_props++] = val;
        else {
            used_val = false;
            if (!strcmp(a, "--keys")) o->keys = true;
            else if (!strcmp(a, "--headers")) o->headers = true;
            else if (!strcmp(a, "--no-value-json")) o->value_kind = VALUE_TEXT;
            else if (!strcmp(a, "--binary")) o->value_kind = VALUE_BINARY;
            else usage();
        }
        if (used_val)
            i++;
    }
    if (!o->bootstrap || !o->topic || o->count < 0)
        usage();
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads a whole file into a new malloc'd buffer (caller frees). */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "kproduce: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *grown = realloc(buf, cap * 2);
            if (!grown)
                free(buf);
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "kproduce: out of memory reading %s\n", path);
        exit(1);
    }
    *len = n;
    return buf;
}

/* Writes record seq's value into buf (capacity cap >= opts size + 64);
 * returns its length. */
static size_t build_value(const struct options *o, long long seq,
                          unsigned char *buf, size_t cap)
{
    size_t len;
    switch (o->value_kind) {
    case VALUE_BINARY:
        /* 8-byte big-endian seq, then bytes that can never be UTF-8 (0xff
         * is invalid anywhere in UTF-8). */
        for (int i = 0; i < 8; i++)
            buf[i] = (unsigned char)((uint64_t)seq >> (56 - 8 * i));
        len = o->size < 9 ? 9 : o->size;
        for (size_t i = 8; i < len; i++)
            buf[i] = (unsigned char)(0x80 | (rand() & 0x7f));
        buf[8] = 0xff;
        return len;
    case VALUE_TEXT:
        len = (size_t)snprintf((char *)buf, cap, "seq=%lld ", seq);
        break;
    default: /* VALUE_JSON; VALUE_FILE never gets here */
        len = (size_t)snprintf((char *)buf, cap, "{\"seq\":%lld,\"pad\":\"", seq);
        break;
    }
    size_t tail = o->value_kind == VALUE_JSON ? 2 : 0;   /* "} */
    if (len + tail < o->size) {
        memset(buf + len, 'x', o->size - tail - len);
        len = o->size - tail;
    }
    if (tail) {
        buf[len++] = '"';
        buf[len++] = '}';
    }
    return len;
}

/* Two headers; the second carries bytes 0x80..0xff so a consumer that
 * renders them as signed bytes (Lambda's shape) sees negatives. */
static rd_kafka_headers_t *build_headers(long long seq)
{
    static const unsigned char binary[] = {0x00, 0x01, 0x7f, 0x80, 0x81, 0xc3, 0xfe, 0xff};
    char trace[32];
    int n = snprintf(trace, sizeof trace, "trace-%lld", seq);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
    rd_kafka_header_add(hdrs, "trace-id", -1, trace, n);
    rd_kafka_header_add(hdrs, "bin", -1, binary, sizeof binary);
    return hdrs;
}

static void note_delivery(struct delivery_stats *st, int32_t partition, int64_t offset)
{
    if (partition >= st->n_ranges) {
        int n = partition + 1;
        struct partition_range *grown = realloc(st->ranges, (size_t)n * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "kproduce: out of memory\n");
            exit(1);
        }
        for (int i = st->n_ranges; i < n; i++)
            grown[i].first = grown[i].last = -1;
        st->ranges = grown;
        st->n_ranges = n;
    }
    struct partition_range *r = &st->ranges[partition];
    if (r->first < 0 || offset < r->first)
        r->first = offset;
    if (offset > r->last)
        r->last = offset;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct delivery_stats *st = opaque;
    if (msg->err) {
        if (st->failed++ < 10)
            fprintf(stderr, "kproduce: delivery failed: %s\n", rd_kafka_err2str(msg->err));
        return;
    }
    st->delivered++;
    note_delivery(st, msg->partition, msg->offset);
}

static void set_prop(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kproduce: %s\n", err);
        exit(2);
    }
}

static rd_kafka_t *create_producer(const struct options *o, struct delivery_stats *st,
                                   size_t max_value)
{
    char err[512], num[32];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set_prop(conf, "bootstrap.servers", o->bootstrap);
    set_prop(conf, "linger.ms", "5");
    set_prop(conf, "batch.num.messages", "10000");
    set_prop(conf, "queue.buffering.max.messages", "2000000");
    set_prop(conf, "queue.buffering.max.kbytes", "2097152");
    if (max_value + 4096 > 1000000) {   /* room for an oversized record */
        snprintf(num, sizeof num, "%zu", max_value + 65536);
        set_prop(conf, "message.max.bytes", num);
    }
    if (o->compression)
        set_prop(conf, "compression.codec", o->compression);
    for (int i = 0; i < o->n_extra_props; i++) {
        char prop[512];
        snprintf(prop, sizeof prop, "%s", o->extra_props[i]);
        char *eq = strchr(prop, '=');
        if (!eq)
            usage();
        *eq = '\0';
        set_prop(conf, prop, eq + 1);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kproduce: %s\n", err);
        exit(2);
    }
    return rk;
}

/* Sleeps until record i is due under --rate. */
static void pace(const struct options *o, double start, long long i)
{
    if (o->rate <= 0)
        return;
    double ahead = start + (double)i / o->rate - now_seconds();
    if (ahead > 0.001) {
        struct timespec ts = {(time_t)ahead, (long)((ahead - (double)(time_t)ahead) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* Enqueues one record, waiting on a full queue. Returns 0 or -1. */
static int produce_one(rd_kafka_t *rk, const struct options *o, long long seq, long long i,
                       const unsigned char *value, size_t value_len)
{
    char key[24];
    int key_len = o->keys ? snprintf(key, sizeof key, "k%lld", seq % 50) : 0;
    int32_t partition = o->partitions ? (int32_t)(i % o->partitions) : RD_KAFKA_PARTITION_UA;
    rd_kafka_headers_t *hdrs = o->headers ? build_headers(seq) : NULL;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_KEY(o->keys ? key : NULL, (size_t)key_len),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (!e)
            return 0;   /* hdrs now belong to librdkafka */
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop_requested) {
            fprintf(stderr, "kproduce: produce: %s\n", rd_kafka_err2str(e));
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            return -1;
        }
        rd_kafka_poll(rk, 10);
    }
}

static void print_summary(const struct delivery_stats *st)
{
    printf("PRODUCED %lld", st->delivered);
    for (int p = 0; p < st->n_ranges; p++)
        if (st->ranges[p].first >= 0)
            printf(" p%d=%" PRId64 "..%" PRId64, p, st->ranges[p].first, st->ranges[p].last);
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct options opts;
    parse_args(argc, argv, &opts);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    size_t file_len = 0;
    unsigned char *file_value = opts.value_file ? read_file(opts.value_file, &file_len) : NULL;
    size_t value_cap = opts.size + 64;
    unsigned char *value = malloc(value_cap);
    if (!value)
        return 1;
    srand((unsigned)opts.start_seq + 1);

    struct delivery_stats st = {0};
    rd_kafka_t *rk = create_producer(&opts, &st, file_value ? file_len : opts.size);
    double start = now_seconds();
    long long produced = 0;
    for (long long i = 0; i < opts.count && !stop_requested; i++) {
        long long seq = opts.start_seq + i;
        pace(&opts, start, i);
        size_t len = file_value ? file_len : build_value(&opts, seq, value, value_cap);
        if (produce_one(rk, &opts, seq, i, file_value ? file_value : value, len))
            break;
        produced++;
        rd_kafka_poll(rk, 0);
    }
    while (rd_kafka_outq_len(rk) > 0 && !stop_requested)
        rd_kafka_poll(rk, 100);
    rd_kafka_flush(rk, 1000);
    double elapsed = now_seconds() - start;

    print_summary(&st);
    fprintf(stderr, "kproduce: %lld delivered, %lld failed in %.3f s (%.0f msg/s)\n",
            st.delivered, st.failed, elapsed, elapsed > 0 ? (double)st.delivered / elapsed : 0);
    int rc = (st.failed || st.delivered != opts.count || produced != opts.count) ? 1 : 0;
    rd_kafka_destroy(rk);
    free(st.ranges);
    free(value);
    free(file_value);
    return rc;
}
