/* mqtt_lat.c - the MQTT half of make bench: publishes QoS 1 messages that
 * carry their send time, at a steady rate or as a burst, and (unless
 * --no-sub) subscribes to them itself to measure the raw broker's
 * publish -> subscribe latency and throughput: the limit fnbridge is
 * compared with in the same run.
 *
 *   mqtt_lat --url mqtt://127.0.0.1:PORT --topic T --count N
 *            [--rate MSG_PER_S] [--window W] [--size BYTES] [--no-sub]
 *
 * Payload: {"id":"lat-<k>","ts":<CLOCK_MONOTONIC ns at publish>,"pad":"..."}.
 * Prints `PUBLISHED n SECONDS s START_NS t` (t: CLOCK_MONOTONIC of the first
 * publish) and, with the subscriber,
 * `RECEIVED n SECONDS s RATE r/s P50_US x P99_US y MAX_US z`
 * (seconds from the first publish to the last receipt). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct sub_state {
    long want;
    atomic_long got;
    int64_t *lat_ns;
    atomic_llong last_ns;
    atomic_bool subscribed;
};

struct pub_state {
    atomic_long acked;
};

static void on_sub_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    struct sub_state *s = obj;
    int64_t t = now_ns();
    (void)m;
    const char *p = msg->payload ? strstr(msg->payload, "\"ts\":") : NULL;
    long i = atomic_fetch_add(&s->got, 1);
    if (p && i < s->want)
        s->lat_ns[i] = t - atoll(p + 5);
    atomic_store(&s->last_ns, t);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *q)
{
    (void)m, (void)mid, (void)n, (void)q;
    atomic_store(&((struct sub_state *)obj)->subscribed, true);
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m, (void)mid;
    atomic_fetch_add(&((struct pub_state *)obj)->acked, 1);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static struct mosquitto *client(const char *id, void *obj, const char *host, int port)
{
    struct mosquitto *m = mosquitto_new(id, true, obj);
    if (!m || mosquitto_connect(m, host, port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "mqtt_lat: cannot connect to %s:%d\n", host, port);
        exit(1);
    }
    return m;
}

static void wait_until(atomic_bool *flag)
{
    for (int i = 0; i < 10000 && !atomic_load(flag); i++)
        usleep(1000);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *topic = NULL;
    long count = 0, rate = 0, window = 100, size = 64;
    bool sub = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-sub")) { sub = false; continue; }
        if (!v) break;
        if (!strcmp(a, "--url")) url = v;
        else if (!strcmp(a, "--topic")) topic = v;
        else if (!strcmp(a, "--count")) count = atol(v);
        else if (!strcmp(a, "--rate")) rate = atol(v);
        else if (!strcmp(a, "--window")) window = atol(v);
        else if (!strcmp(a, "--size")) size = atol(v);
        i++;
    }
    if (!url || strncmp(url, "mqtt://", 7) || !topic || count <= 0 || window <= 0) {
        fprintf(stderr, "usage: mqtt_lat --url mqtt://HOST:PORT --topic T --count N "
                        "[--rate R] [--window W] [--size B] [--no-sub]\n");
        return 2;
    }
    char host[256];
    snprintf(host, sizeof(host), "%s", url + 7);
    char *colon = strchr(host, ':');
    int port = colon ? atoi(colon + 1) : 1883;
    if (colon)
        *colon = '\0';
    mosquitto_lib_init();

    struct sub_state ss = {.want = count};
    struct mosquitto *s = NULL;
    if (sub) {
        ss.lat_ns = calloc((size_t)count, sizeof(int64_t));
        s = client("mqtt-lat-sub", &ss, host, port);
        mosquitto_message_callback_set(s, on_sub_message);
        mosquitto_subscribe_callback_set(s, on_subscribe);
        mosquitto_subscribe(s, NULL, topic, 1);
        mosquitto_loop_start(s);
        wait_until(&ss.subscribed);
    }
    struct pub_state ps = {0};
    struct mosquitto *p = client("mqtt-lat-pub", &ps, host, port);
    mosquitto_publish_callback_set(p, on_publish);
    mosquitto_max_inflight_messages_set(p, (unsigned)window);
    mosquitto_loop_start(p);

    char *payload = malloc((size_t)size + 128);
    int64_t start = now_ns(), interval = rate > 0 ? 1000000000 / rate : 0;
    for (long k = 0; k < count; k++) {
        if (interval) {               /* steady pacing, on absolute slots */
            int64_t at = start + k * interval;
            struct timespec ts = {.tv_sec = at / 1000000000, .tv_nsec = at % 1000000000};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        while (k - atomic_load(&ps.acked) >= window)
            usleep(50);
        int n = snprintf(payload, (size_t)size + 128, "{\"id\":\"lat-%ld\",\"ts\":%lld,\"pad\":\"",
                         k, (long long)now_ns());
        while (n < size - 2)
            payload[n++] = 'x';
        payload[n++] = '"';
        payload[n++] = '}';
        mosquitto_publish(p, NULL, topic, n, payload, 1, false);
    }
    while (atomic_load(&ps.acked) < count)
        usleep(100);
    printf("PUBLISHED %ld SECONDS %.3f START_NS %lld\n", count, (now_ns() - start) / 1e9,
           (long long)start);
    if (sub) {
        for (int i = 0; i < 30000 && atomic_load(&ss.got) < count; i++)
            usleep(1000);
        long got = atomic_load(&ss.got);
        long n = got < count ? got : count;
        qsort(ss.lat_ns, (size_t)n, sizeof(int64_t), cmp64);
        double secs = (atomic_load(&ss.last_ns) - start) / 1e9;
        printf("RECEIVED %ld SECONDS %.3f RATE %.0f/s P50_US %.1f P99_US %.1f MAX_US %.1f\n",
               got, secs, got / secs, n ? ss.lat_ns[n / 2] / 1e3 : 0,
               n ? ss.lat_ns[(n * 99) / 100] / 1e3 : 0, n ? ss.lat_ns[n - 1] / 1e3 : 0);
        mosquitto_loop_stop(s, true);
        mosquitto_destroy(s);
    }
    mosquitto_disconnect(p);
    mosquitto_loop_stop(p, false);
    mosquitto_destroy(p);
    mosquitto_lib_cleanup();
    free(payload);
    free(ss.lat_ns);
    return 0;
}
