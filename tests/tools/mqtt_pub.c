/* mqtt_pub - the MQTT publisher fnbridge's end-to-end tests run (libmosquitto).
 *
 * Publishes N numbered messages to one topic: JSON {"id":"<prefix><k>",
 * "n":k,"pad":"xx.."} or, with --binary, bytes that are not UTF-8 but still
 * carry the id (\xff\xfe <prefix><k> \x00, then pseudo-random bytes). QoS 1
 * by default with at most --window messages awaiting their PUBACK, paced to
 * --rate if given; exits 0 once every PUBACK arrived and prints
 * "PUBLISHED n SECONDS s RATE r/s". MQTT v5 properties (response topic,
 * correlation data, user properties, content type) are set on every message
 * when asked. If the connection drops midway it prints which messages were
 * acknowledged ("ACKED a..b ...") and exits 3. See tests/tools/README.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#define MAX_USER_PROPS 16
#define CONNECT_TIMEOUT_MS 10000
#define KEEPALIVE_S 30

struct options {
    char host[256];
    int port;
    bool tls;
    const char *topic;
    long count;
    double rate;                        /* messages/s; 0: as fast as allowed */
    int qos;
    long window;
    long size;
    bool binary;
    const char *prefix;
    long start;
    int protocol;                       /* MQTT_PROTOCOL_V5 or V311 */
    const char *response_topic;
    const char *correlation_data;
    const char *content_type;
    const char *user_props[MAX_USER_PROPS];
    int n_user_props;
    const char *username, *password;
    const char *cafile;
    bool retain;
};

struct state {
    const struct options *o;
    bool connected;
    int connect_rc;                     /* -1: no CONNACK yet */
    bool lost;                          /* disconnected before the end */
    int lost_rc;
    long sent, acked, failed;
    int early_mid;                      /* QoS 0 written out inside publish */
    int early_rc;
    long *k_of_mid;                     /* mid -> message index, -1: none */
    unsigned char *acked_bits;          /* by message index */
};

static void usage(void)
{
    fprintf(stderr,
            "usage: mqtt_pub --url mqtt[s]://HOST:PORT --topic T --count N\n"
            "  [--rate MSG_PER_S] [--qos 0|1] [--window W] [--size BYTES] [--binary]\n"
            "  [--prefix ID_PREFIX] [--start K] [--protocol 5|3.1.1]\n"
            "  [--response-topic T] [--correlation-data S] [--content-type CT]\n"
            "  [--user-property k=v]... [--username U --password P] [--cafile F]\n"
            "  [--retain]\n");
    exit(2);
}

static long parse_long(const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        usage();
    return v;
}

static void parse_url(const char *url, struct options *o)
{
    const char *rest;
    if (!strncmp(url, "mqtt://", 7)) {
        rest = url + 7;
        o->port = 1883;
    } else if (!strncmp(url, "mqtts://", 8)) {
        rest = url + 8;
        o->tls = true;
        o->port = 8883;
    } else {
        usage();
    }
    const char *colon = strrchr(rest, ':');
    size_t host_len = colon ? (size_t)(colon - rest) : strlen(rest);
    if (host_len == 0 || host_len >= sizeof o->host)
        usage();
    memcpy(o->host, rest, host_len);
    o->host[host_len] = '\0';
    if (colon)
        o->port = (int)parse_long(colon + 1, 1, 65535);
}

static void parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->count = -1;
    o->qos = 1;
    o->window = 100;
    o->size = 64;
    o->prefix = "";
    o->protocol = MQTT_PROTOCOL_V5;
    bool have_url = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--binary")) {
            o->binary = true;
            continue;
        }
        if (!strcmp(a, "--retain")) {
            o->retain = true;
            continue;
        }
        const char *val = i + 1 < argc ? argv[++i] : NULL;
        if (!val)
            usage();
        if (!strcmp(a, "--url")) {
            parse_url(val, o);
            have_url = true;
        } else if (!strcmp(a, "--topic")) o->topic = val;
        else if (!strcmp(a, "--count")) o->count = parse_long(val, 0, 100000000);
        else if (!strcmp(a, "--rate")) {
            char *end;
            o->rate = strtod(val, &end);
            if (end == val || *end || o->rate <= 0)
                usage();
        }
        else if (!strcmp(a, "--qos")) o->qos = (int)parse_long(val, 0, 1);
        else if (!strcmp(a, "--window")) o->window = parse_long(val, 1, 65535);
        else if (!strcmp(a, "--size")) o->size = parse_long(val, 0, 256L << 20);
        else if (!strcmp(a, "--prefix")) o->prefix = val;
        else if (!strcmp(a, "--start")) o->start = parse_long(val, 0, 1L << 50);
        else if (!strcmp(a, "--protocol")) {
            if (!strcmp(val, "5")) o->protocol = MQTT_PROTOCOL_V5;
            else if (!strcmp(val, "3.1.1")) o->protocol = MQTT_PROTOCOL_V311;
            else usage();
        }
        else if (!strcmp(a, "--response-topic")) o->response_topic = val;
        else if (!strcmp(a, "--correlation-data")) o->correlation_data = val;
        else if (!strcmp(a, "--content-type")) o->content_type = val;
        else if (!strcmp(a, "--user-property")) {
            if (o->n_user_props == MAX_USER_PROPS || !strchr(val, '='))
                usage();
            o->user_props[o->n_user_props++] = val;
        }
        else if (!strcmp(a, "--username")) o->username = val;
        else if (!strcmp(a, "--password")) o->password = val;
        else if (!strcmp(a, "--cafile")) o->cafile = val;
        else usage();
    }
    if (!have_url || !o->topic || o->count < 0)
        usage();
    bool has_props = o->response_topic || o->correlation_data || o->content_type ||
                     o->n_user_props;
    if (has_props && o->protocol != MQTT_PROTOCOL_V5) {
        fprintf(stderr, "mqtt_pub: message properties need --protocol 5\n");
        exit(2);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: the --binary filler, so a test can compute the same bytes. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Writes message k into buf (capacity cap); returns its length. */
static size_t make_payload(const struct options *o, long k, char *buf, size_t cap)
{
    size_t len;
    if (o->binary) {
        len = (size_t)snprintf(buf, cap, "\xff\xfe%s%ld", o->prefix, k) + 1; /* + \0 */
        uint64_t state = (uint64_t)k, word = 0;
        for (size_t i = len, j = 0; i < (size_t)o->size && i < cap; i++, j++) {
            if (j % 8 == 0)
                word = splitmix64(&state);
            buf[i] = (char)(word >> (8 * (j % 8)));
        }
        return len > (size_t)o->size ? len : (size_t)o->size;
    }
    len = (size_t)snprintf(buf, cap, "{\"id\":\"%s%ld\",\"n\":%ld,\"pad\":\"", o->prefix, k, k);
    while (len + 2 < (size_t)o->size && len + 2 < cap)
        buf[len++] = 'x';
    buf[len++] = '"';
    buf[len++] = '}';
    return len;
}

static mosquitto_property *make_properties(const struct options *o)
{
    mosquitto_property *props = NULL;
    int rc = MOSQ_ERR_SUCCESS;
    if (o->response_topic)
        rc |= mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, o->response_topic);
    if (o->correlation_data)
        rc |= mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA,
                                            o->correlation_data,
                                            (uint16_t)strlen(o->correlation_data));
    if (o->content_type)
        rc |= mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, o->content_type);
    for (int i = 0; i < o->n_user_props; i++) {
        char pair[512];
        snprintf(pair, sizeof pair, "%s", o->user_props[i]);
        char *eq = strchr(pair, '=');
        *eq = '\0';
        rc |= mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, pair, eq + 1);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "mqtt_pub: invalid message properties\n");
        exit(2);
    }
    return props;
}

/* ------------------------------------------------------------- callbacks */

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)mosq;
    (void)flags;
    (void)props;
    struct state *st = obj;
    st->connect_rc = rc;
    st->connected = rc == 0;
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    struct state *st = obj;
    if (st->connected && st->acked + st->failed < st->o->count) {
        st->lost = true;
        st->lost_rc = rc;
    }
    st->connected = false;
}

static void record_ack(struct state *st, long k, int reason_code)
{
    if (reason_code >= 0x80) {          /* v5 failure reason codes */
        if (st->failed++ == 0)
            fprintf(stderr, "mqtt_pub: message %s%ld refused: %s\n", st->o->prefix,
                    st->o->start + k, mosquitto_reason_string(reason_code));
        return;
    }
    st->acked_bits[k / 8] |= (unsigned char)(1u << (k % 8));
    st->acked++;
}

/* QoS 1: the PUBACK arrived; QoS 0: the message was written out, which may
 * happen inside mosquitto_publish_v5, before the caller knows the mid. */
static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason_code,
                       const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    struct state *st = obj;
    long k = st->k_of_mid[(uint16_t)mid];
    if (k < 0) {
        st->early_mid = mid;
        st->early_rc = reason_code;
        return;
    }
    st->k_of_mid[(uint16_t)mid] = -1;
    record_ack(st, k, reason_code);
}

/* ------------------------------------------------------------------ main */

static const char *connack_reason(const struct options *o, int rc)
{
    return o->protocol == MQTT_PROTOCOL_V5 ? mosquitto_reason_string(rc)
                                           : mosquitto_connack_string(rc);
}

static const char *loop_error(int rc)
{
    return rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
}

/* The acknowledged messages as ranges of k ("ACKED 0..41 43..99"). */
static void print_acked(const struct state *st)
{
    printf("ACKED");
    long run_start = -1;
    for (long i = 0; i <= st->o->count; i++) {
        bool acked = i < st->o->count && (st->acked_bits[i / 8] & (1u << (i % 8)));
        if (acked && run_start < 0)
            run_start = i;
        if (!acked && run_start >= 0) {
            printf(" %ld..%ld", st->o->start + run_start, st->o->start + i - 1);
            run_start = -1;
        }
    }
    printf("\n");
    fflush(stdout);
}

static struct mosquitto *connect_broker(const struct options *o, struct state *st)
{
    char client_id[64];
    snprintf(client_id, sizeof client_id, "mqtt_pub-%ld", (long)getpid());
    struct mosquitto *mosq = mosquitto_new(client_id, true, st);
    if (!mosq) {
        fprintf(stderr, "mqtt_pub: mosquitto_new failed\n");
        exit(1);
    }
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, o->protocol);
    mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, (int)o->window);
    mosquitto_connect_v5_callback_set(mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(mosq, on_publish);
    if (o->username && mosquitto_username_pw_set(mosq, o->username, o->password)) {
        fprintf(stderr, "mqtt_pub: invalid username or password\n");
        exit(2);
    }
    if (o->tls || o->cafile) {
        int rc = mosquitto_tls_set(mosq, o->cafile, o->cafile ? NULL : "/etc/ssl/certs",
                                   NULL, NULL, NULL);
        if (rc) {
            fprintf(stderr, "mqtt_pub: TLS setup: %s\n", mosquitto_strerror(rc));
            exit(1);
        }
    }
    int rc = mosquitto_connect(mosq, o->host, o->port, KEEPALIVE_S);
    if (rc) {
        fprintf(stderr, "mqtt_pub: cannot connect to %s:%d: %s\n", o->host, o->port,
                loop_error(rc));
        exit(1);
    }
    double deadline = now_s() + CONNECT_TIMEOUT_MS / 1000.0;
    while (st->connect_rc < 0) {
        rc = mosquitto_loop(mosq, 100, 1);
        if (rc && st->connect_rc > 0)
            break;                      /* refused: reported below */
        if (rc) {
            fprintf(stderr, "mqtt_pub: cannot connect to %s:%d: %s\n", o->host, o->port,
                    loop_error(rc));
            exit(1);
        }
        if (now_s() > deadline) {
            fprintf(stderr, "mqtt_pub: no CONNACK from %s:%d in %d ms\n", o->host, o->port,
                    CONNECT_TIMEOUT_MS);
            exit(1);
        }
    }
    if (st->connect_rc) {
        fprintf(stderr, "mqtt_pub: connection to %s:%d refused: %s\n", o->host, o->port,
                connack_reason(o, st->connect_rc));
        exit(1);
    }
    return mosq;
}

int main(int argc, char **argv)
{
    static struct options o;
    parse_args(argc, argv, &o);
    mosquitto_lib_init();

    struct state st = {.o = &o, .connect_rc = -1};
    st.k_of_mid = malloc(65536 * sizeof *st.k_of_mid);
    st.acked_bits = calloc((size_t)o.count / 8 + 1, 1);
    size_t cap = (size_t)o.size + 128 + strlen(o.prefix);
    char *buf = malloc(cap);
    if (!st.k_of_mid || !st.acked_bits || !buf) {
        fprintf(stderr, "mqtt_pub: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < 65536; i++)
        st.k_of_mid[i] = -1;
    mosquitto_property *props = make_properties(&o);
    struct mosquitto *mosq = connect_broker(&o, &st);

    double t0 = now_s();
    while (st.acked + st.failed < o.count) {
        double now = now_s();
        while (st.sent < o.count && st.sent - st.acked - st.failed < o.window &&
               (o.rate <= 0 || t0 + (double)st.sent / o.rate <= now)) {
            size_t len = make_payload(&o, o.start + st.sent, buf, cap);
            int mid;
            st.early_mid = -1;
            int rc = mosquitto_publish_v5(mosq, &mid, o.topic, (int)len, buf, o.qos,
                                          o.retain, props);
            if (rc) {
                fprintf(stderr, "mqtt_pub: publish failed after %ld PUBACKs: %s\n",
                        st.acked, loop_error(rc));
                st.lost = true;
                break;
            }
            if (st.early_mid == mid)
                record_ack(&st, st.sent++, st.early_rc);
            else
                st.k_of_mid[(uint16_t)mid] = st.sent++;
        }
        if (st.lost)
            break;
        int timeout_ms = 100;
        if (o.rate > 0 && st.sent < o.count && st.sent - st.acked - st.failed < o.window) {
            double wait = t0 + (double)st.sent / o.rate - now_s();
            timeout_ms = wait <= 0 ? 0 : wait < 0.1 ? (int)(wait * 1000) + 1 : 100;
        }
        int rc = mosquitto_loop(mosq, timeout_ms, 1);
        if (rc || st.lost) {
            fprintf(stderr, "mqtt_pub: connection lost after %ld of %ld PUBACKs: %s\n",
                    st.acked, o.count,
                    st.lost && !rc ? connack_reason(&o, st.lost_rc) : loop_error(rc));
            st.lost = true;
            break;
        }
    }
    double seconds = now_s() - t0;
    int status = 0;
    if (st.lost) {
        print_acked(&st);
        status = 3;
    } else {
        mosquitto_disconnect(mosq);
        mosquitto_loop(mosq, 100, 1);
        printf("PUBLISHED %ld SECONDS %.3f RATE %.0f/s\n", st.acked, seconds,
               seconds > 0 ? (double)st.acked / seconds : 0.0);
        fflush(stdout);
        if (st.failed) {
            fprintf(stderr, "mqtt_pub: %ld messages refused by the broker\n", st.failed);
            status = 1;
        }
    }
    mosquitto_property_free_all(&props);
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    free(buf);
    free(st.k_of_mid);
    free(st.acked_bits);
    return status;
}
