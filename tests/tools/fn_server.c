/* fn_server - the function test server fnbridge's tests invoke over HTTP.
 *
 * Accepts POSTed events (lambda or json format, README: What the function receives), logs one
 * line "<status> <record-id>" per record, and injects what tests ask for:
 * failures, 429 + Retry-After, delays, hangs, poison records and partial
 * batch responses. GET /stats reports totals. With --payload-ids, MQTT
 * records are logged by the id their publisher (mqtt_pub) put in the payload. Delays and hangs park the
 * connection (MHD suspend/resume) so they never block a server thread.
 * It also counts the requests it is serving (the function's concurrency,
 * as the function sees it) and, with --trace, writes when each record
 * arrived and when its answer left, for tests that check ordering and
 * commits against what the function had answered.
 * See tests/tools/README.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#define MAX_IDS 64                      /* --poison / --partial each */
_Static_assert(MAX_IDS <= 64, "request.partial_once_taken is a 64-bit mask");
#define MAX_BODY (256u << 20)           /* larger bodies get 413 */
#define HANG_CHECK_MS 100               /* how often a hung request looks for
                                           its client having gone */
#define SHUTDOWN_GRACE_MS 100         /* for answers to delayed requests */
#define OFFSET_KEY "\"offset\":"
#define OFFSET_KEY_LEN (sizeof OFFSET_KEY - 1)

struct options {
    int port;
    const char *log_path;
    double fail_rate;
    double rate_429;
    const char *retry_after;
    double hang_rate;
    int delay_ms;
    int delay_spread_ms;                /* delay: uniform in delay + [0, spread] */
    const char *poison[MAX_IDS];
    int n_poison;
    const char *partial[MAX_IDS];
    int n_partial;
    const char *fail_once[MAX_IDS];     /* first request naming it: 500 */
    int n_fail_once;
    const char *partial_once[MAX_IDS];  /* first request naming it: partial */
    int n_partial_once;
    const char *trace_path;
    bool count_only;
    bool payload_ids;                   /* json events: id from the payload */
    bool latency;                       /* json events: payload "ts" -> latency */
    int status;                         /* 0: decide per request */
    uint64_t seed;
    unsigned threads;
};

/* One record named in an event. */
struct record_ref {
    char *id;                           /* "<topic>-<partition>-<offset>", ... */
    char *partition_key;                /* lambda Kafka: "<topic>-<partition>" */
    json_int_t offset;                  /* lambda Kafka only */
    char *item_id;                      /* --payload-ids: the record's own id,
                                           for batchItemFailures; else NULL */
};

struct record_list {
    struct record_ref *items;
    size_t n, cap;
};

enum request_state { REQ_READING, REQ_PARKED };

/* Per-request state, MHD's con_cls; freed by on_request_done. */
struct request {
    enum request_state state;
    char *body;                         /* not used with --count-only */
    size_t body_len, body_cap;
    bool too_large;
    size_t offsets_counted;             /* --count-only: "offset": seen */
    char carry[OFFSET_KEY_LEN - 1];     /* --count-only: tail of last chunk */
    size_t carry_len;
    struct record_list records;
    bool hung;
    int status;
    char *response;                     /* JSON body, malloc'd */
    uint64_t seq;                       /* request number, in arrival order */
    bool counted;                       /* in srv->in_flight */
    uint64_t partial_once_taken;        /* bit k: partial_once[k] named now */
};

struct parked {
    struct MHD_Connection *conn;
    uint64_t due_ms;
};

/* Connections waiting for a delay to pass or a hang check to come round;
 * each is suspended while it is in the list. */
struct parking_lot {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct parked *items;
    size_t n, cap;
    bool closed;                        /* shutting down: park nothing more */
    pthread_t timer;
};

/* --latency: per record, receipt time minus the payload's "ts" (both
 * CLOCK_MONOTONIC ns, so sender and server must share the machine). */
struct latencies {
    pthread_mutex_t lock;
    int64_t *ns;
    size_t n, cap;
    int64_t last_ns;                    /* receipt time of the latest record */
};

struct server {
    struct options opts;
    struct latencies lat;
    FILE *log;
    pthread_mutex_t log_lock;
    pthread_mutex_t rng_lock;
    uint64_t rng_state;
    atomic_ullong requests, records, bytes;
    /* Requests whose body is in and whose answer has not left yet. */
    atomic_int in_flight, max_in_flight;
    atomic_bool fail_once_spent[MAX_IDS], partial_once_spent[MAX_IDS];
    FILE *trace;                        /* --trace; under log_lock */
    uint64_t trace_seq;                 /* under log_lock */
    struct parking_lot lot;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* ---------------------------------------------------------------- options */

static void usage(void)
{
    fprintf(stderr,
            "usage: fn_server [--port P] [--log FILE] [--seed S] [--threads N]\n"
            "  [--fail-rate F] [--rate-429 F --retry-after SECS] [--hang-rate F]\n"
            "  [--delay-ms MS [--delay-spread-ms MS]] [--poison ID]... [--partial ID]...\n"
            "  [--status CODE] [--fail-once ID]... [--partial-once ID]... [--trace FILE]\n"
            "  [--count-only] [--payload-ids] [--latency]\n");
    exit(2);
}

static double parse_fraction(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < 0 || v > 1)
        usage();
    return v;
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

static void add_id(const char **ids, int *n, const char *id)
{
    if (*n == MAX_IDS)
        usage();
    ids[(*n)++] = id;
}

static void parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->retry_after = "1";
    o->seed = 1;
    o->threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--latency")) {
            o->latency = true;
            continue;
        }
        if (!strcmp(a, "--count-only")) {
            o->count_only = true;
            continue;
        }
        if (!strcmp(a, "--payload-ids")) {
            o->payload_ids = true;
            continue;
        }
        if (!val)
            usage();
        i++;
        if (!strcmp(a, "--port")) o->port = (int)parse_long(val, 0, 65535);
        else if (!strcmp(a, "--log")) o->log_path = val;
        else if (!strcmp(a, "--fail-rate")) o->fail_rate = parse_fraction(val);
        else if (!strcmp(a, "--rate-429")) o->rate_429 = parse_fraction(val);
        else if (!strcmp(a, "--retry-after")) o->retry_after = val;
        else if (!strcmp(a, "--hang-rate")) o->hang_rate = parse_fraction(val);
        else if (!strcmp(a, "--delay-ms")) o->delay_ms = (int)parse_long(val, 0, 86400000);
        else if (!strcmp(a, "--delay-spread-ms"))
            o->delay_spread_ms = (int)parse_long(val, 0, 86400000);
        else if (!strcmp(a, "--poison")) add_id(o->poison, &o->n_poison, val);
        else if (!strcmp(a, "--partial")) add_id(o->partial, &o->n_partial, val);
        else if (!strcmp(a, "--fail-once")) add_id(o->fail_once, &o->n_fail_once, val);
        else if (!strcmp(a, "--partial-once")) add_id(o->partial_once, &o->n_partial_once, val);
        else if (!strcmp(a, "--trace")) o->trace_path = val;
        else if (!strcmp(a, "--status")) o->status = (int)parse_long(val, 100, 599);
        else if (!strcmp(a, "--seed")) o->seed = (uint64_t)parse_long(val, 0, LONG_MAX);
        else if (!strcmp(a, "--threads")) o->threads = (unsigned)parse_long(val, 1, 64);
        else usage();
    }
    if (o->fail_rate + o->rate_429 + o->hang_rate > 1) {
        fprintf(stderr, "fn_server: --fail-rate + --rate-429 + --hang-rate > 1\n");
        exit(2);
    }
}

/* ------------------------------------------------------------- utilities */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A uniform draw in [0, 1) from the seeded generator (splitmix64), shared
 * by all threads so a seed gives the same sequence of outcomes. */
static double next_random(struct server *srv)
{
    pthread_mutex_lock(&srv->rng_lock);
    uint64_t z = (srv->rng_state += 0x9e3779b97f4a7c15ull);
    pthread_mutex_unlock(&srv->rng_lock);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / (double)(1ull << 53);
}

static char *format_string(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Returns a new malloc'd string (NULL when out of memory). */
static char *format_string(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* ------------------------------------------------------- request records */

/* Appends a record to l, taking id and partition_key (malloc'd; freed here
 * on failure). Returns 0, or -1 when out of memory. */
static int add_record(struct record_list *l, char *id, char *partition_key,
                      json_int_t offset)
{
    if (id && l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 128;
        struct record_ref *grown = realloc(l->items, cap * sizeof *grown);
        if (grown) {
            l->items = grown;
            l->cap = cap;
        }
    }
    if (!id || l->n == l->cap) {
        free(id);
        free(partition_key);
        return -1;
    }
    l->items[l->n++] = (struct record_ref){id, partition_key, offset, NULL};
    return 0;
}

static void free_records(struct record_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].id);
        free(l->items[i].partition_key);
        free(l->items[i].item_id);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* lambda format, Kafka: {"records":{"<topic>-<p>":[{topic,partition,offset}]}} */
static const char *collect_lambda_kafka(json_t *by_partition, struct record_list *out)
{
    const char *key;
    json_t *batch;
    json_object_foreach(by_partition, key, batch) {
        size_t i;
        json_t *rec;
        if (!json_is_array(batch))
            return "records.<topic-partition> is not an array";
        json_array_foreach(batch, i, rec) {
            const char *topic = json_string_value(json_object_get(rec, "topic"));
            json_t *partition = json_object_get(rec, "partition");
            json_t *offset = json_object_get(rec, "offset");
            if (!topic || !json_is_integer(partition) || !json_is_integer(offset))
                return "a Kafka record lacks topic, partition or offset";
            json_int_t p = json_integer_value(partition), off = json_integer_value(offset);
            if (add_record(out, format_string("%s-%" JSON_INTEGER_FORMAT "-%" JSON_INTEGER_FORMAT,
                                              topic, p, off),
                           format_string("%s-%" JSON_INTEGER_FORMAT, topic, p), off))
                return "out of memory";
        }
    }
    return NULL;
}

/* Decodes standard base64 (padding optional); returns a malloc'd buffer
 * and its length in *len, or NULL if s is not base64 or out of memory. */
static unsigned char *base64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *out = malloc(n / 4 * 3 + 3);
    if (!out)
        return NULL;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        const char *digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *d = s[i] ? strchr(digits, s[i]) : NULL;
        if (!d) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)(d - digits);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *len = o;
    return out;
}

/* --payload-ids: the id a publisher put in an MQTT record's payload, as a
 * new malloc'd string; NULL when there is none (or out of memory). A JSON
 * object payload carries it as "id"; a base64 payload that starts with
 * \xff\xfe carries it up to the first \0 (mqtt_pub --binary). */
static char *payload_id(json_t *rec)
{
    json_t *payload = json_object_get(rec, "payload");
    const char *id = json_string_value(json_object_get(payload, "id"));
    if (json_is_object(payload) && id)
        return strdup(id);
    const char *encoding = json_string_value(json_object_get(rec, "payloadEncoding"));
    if (!encoding || strcmp(encoding, "base64") || !json_is_string(payload))
        return NULL;
    size_t len;
    unsigned char *bytes = base64_decode(json_string_value(payload), &len);
    char *found = NULL;
    if (bytes && len >= 2 && bytes[0] == 0xff && bytes[1] == 0xfe) {
        unsigned char *end = memchr(bytes + 2, 0, len - 2);
        if (end)
            found = strndup((const char *)bytes + 2, (size_t)(end - bytes - 2));
    }
    free(bytes);
    return found;
}

/* json format ({"records":[{"id":...}]}) and CloudEvents batches ([{"id"}]).
 * With from_payload, a record's payload id wins over its own (--payload-ids). */
static const char *collect_by_id(json_t *records, struct record_list *out, bool from_payload)
{
    size_t i;
    json_t *rec;
    json_array_foreach(records, i, rec) {
        const char *id = json_string_value(json_object_get(rec, "id"));
        char *chosen = from_payload ? payload_id(rec) : NULL;
        if (!id && !chosen)
            return "a record lacks a string \"id\"";
        if (add_record(out, chosen ? chosen : strdup(id), NULL, 0))
            return "out of memory";
        if (chosen && id && !(out->items[out->n - 1].item_id = strdup(id)))
            return "out of memory";
    }
    return NULL;
}

/* lambda format, S3: {"Records":[{"s3":{bucket:{name},object:{key,sequencer}}}]};
 * id "<bucket>/<key>@<sequencer>" with the key as the event spells it. */
static const char *collect_lambda_s3(json_t *records, struct record_list *out)
{
    size_t i;
    json_t *rec;
    json_array_foreach(records, i, rec) {
        json_t *s3 = json_object_get(rec, "s3");
        const char *bucket = json_string_value(json_object_get(json_object_get(s3, "bucket"), "name"));
        json_t *object = json_object_get(s3, "object");
        const char *key = json_string_value(json_object_get(object, "key"));
        const char *seq = json_string_value(json_object_get(object, "sequencer"));
        if (!bucket || !key)
            return "an S3 record lacks s3.bucket.name or s3.object.key";
        if (add_record(out, format_string("%s/%s@%s", bucket, key, seq ? seq : ""), NULL, 0))
            return "out of memory";
    }
    return NULL;
}

/* Fills out with the records of an event; returns NULL or what is wrong. */
static const char *collect_records(json_t *event, struct record_list *out, bool payload_ids)
{
    if (json_is_array(event))
        return collect_by_id(event, out, false);
    json_t *records = json_object_get(event, "records");
    if (json_is_object(records))
        return collect_lambda_kafka(records, out);
    if (json_is_array(records))
        return collect_by_id(records, out, payload_ids);
    json_t *s3_records = json_object_get(event, "Records");
    if (json_is_array(s3_records))
        return collect_lambda_s3(s3_records, out);
    return "not a lambda, json or cloudevents event (no records)";
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Notes the latency of every json-format record whose payload has "ts". */
static void note_latencies(struct latencies *lat, json_t *event)
{
    int64_t now = mono_ns();
    json_t *records = json_object_get(event, "records"), *rec;
    size_t i;
    if (!json_is_array(records))
        return;
    pthread_mutex_lock(&lat->lock);
    json_array_foreach(records, i, rec) {
        json_t *ts = json_object_get(json_object_get(rec, "payload"), "ts");
        if (!json_is_integer(ts))
            continue;
        if (lat->n == lat->cap) {
            size_t cap = lat->cap ? 2 * lat->cap : 4096;
            int64_t *grown = realloc(lat->ns, cap * sizeof(*grown));
            if (!grown)
                break;
            lat->ns = grown;
            lat->cap = cap;
        }
        lat->ns[lat->n++] = now - (int64_t)json_integer_value(ts);
        lat->last_ns = now;
    }
    pthread_mutex_unlock(&lat->lock);
}

/* Parses the request body into req->records; returns NULL or an error.
 * With lat, also notes the records' latencies. */
static const char *parse_event(struct request *req, bool payload_ids, struct latencies *lat,
                               char *errbuf, size_t errsize)
{
    json_error_t jerr;
    json_t *event = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    if (!event) {
        snprintf(errbuf, errsize, "invalid JSON at line %d column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return errbuf;
    }
    const char *err = collect_records(event, &req->records, payload_ids);
    if (!err && lat)
        note_latencies(lat, event);
    json_decref(event);
    return err;
}

/* --------------------------------------------------------------- counting */

static size_t count_offset_keys(const char *p, size_t n)
{
    size_t found = 0;
    const char *end = p + n, *hit;
    while ((hit = memmem(p, (size_t)(end - p), OFFSET_KEY, OFFSET_KEY_LEN))) {
        found++;
        p = hit + OFFSET_KEY_LEN;
    }
    return found;
}

/* --count-only: counts "offset": in a body that arrives in chunks, without
 * keeping it. req->carry holds the last bytes of what came before, so a key
 * split across two chunks is counted once. */
static void count_chunk(struct request *req, const char *data, size_t n)
{
    char joint[2 * sizeof req->carry];
    size_t head = n < sizeof req->carry ? n : sizeof req->carry;
    size_t joint_len = req->carry_len + head;
    memcpy(joint, req->carry, req->carry_len);
    memcpy(joint + req->carry_len, data, head);
    for (size_t i = 0; i < req->carry_len && i + OFFSET_KEY_LEN <= joint_len; i++)
        if (!memcmp(joint + i, OFFSET_KEY, OFFSET_KEY_LEN))
            req->offsets_counted++;
    req->offsets_counted += count_offset_keys(data, n);

    if (n >= sizeof req->carry) {
        memcpy(req->carry, data + n - sizeof req->carry, sizeof req->carry);
        req->carry_len = sizeof req->carry;
    } else {
        size_t keep = joint_len < sizeof req->carry ? joint_len : sizeof req->carry;
        memmove(req->carry, joint + joint_len - keep, keep);
        req->carry_len = keep;
    }
}

static void append_body(struct request *req, const char *data, size_t n)
{
    if (req->too_large || req->body_len + n > MAX_BODY) {
        req->too_large = true;
        return;
    }
    if (req->body_len + n > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 65536;
        while (cap < req->body_len + n)
            cap *= 2;
        char *grown = realloc(req->body, cap);
        if (!grown) {
            req->too_large = true;
            return;
        }
        req->body = grown;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
}

/* ------------------------------------------------------------- decisions */

static bool names_any(const struct record_list *l, const char *const *ids, int n_ids)
{
    for (size_t i = 0; i < l->n; i++)
        for (int k = 0; k < n_ids; k++)
            if (!strcmp(l->items[i].id, ids[k]))
                return true;
    return false;
}

static bool is_partial_id(const struct options *o, const char *id)
{
    for (int k = 0; k < o->n_partial; k++)
        if (!strcmp(id, o->partial[k]))
            return true;
    return false;
}

/* --fail-once / --partial-once: claims, for this request, every id of
 * ids[] it names that no request claimed before (concurrent requests
 * race on spent[], so each id is claimed once). Sets bit k of *taken for
 * ids[k] (MAX_IDS is 64); returns whether any was claimed. */
static bool claim_once(const char *const *ids, int n_ids, atomic_bool *spent,
                       const struct record_list *l, uint64_t *taken)
{
    uint64_t got = 0;
    for (int k = 0; k < n_ids; k++) {
        bool named = false;
        for (size_t i = 0; i < l->n && !named; i++)
            named = !strcmp(l->items[i].id, ids[k]);
        if (named && !atomic_exchange(&spent[k], true))
            got |= UINT64_C(1) << k;
    }
    if (taken)
        *taken = got;
    return got != 0;
}

/* Is id named as failed in this request's partial batch response? */
static bool fails_partially(const struct options *o, const struct request *req,
                            const char *id)
{
    if (is_partial_id(o, id))
        return true;
    for (int k = 0; k < o->n_partial_once; k++)
        if ((req->partial_once_taken >> k & 1) && !strcmp(id, o->partial_once[k]))
            return true;
    return false;
}

/* Lambda's partial batch response naming every record of the request
 * that fails_partially. */
static char *partial_response(const struct options *o, const struct request *req)
{
    const struct record_list *l = &req->records;
    json_t *failures = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const struct record_ref *r = &l->items[i];
        if (!fails_partially(o, req, r->id))
            continue;
        json_t *ident = r->partition_key
            ? json_pack("{s:s, s:I}", "partition", r->partition_key, "offset", r->offset)
            : json_string(r->item_id ? r->item_id : r->id);
        json_array_append_new(failures, json_pack("{s:o}", "itemIdentifier", ident));
    }
    json_t *body = json_pack("{s:o}", "batchItemFailures", failures);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

/* {"ok":false,"error":MESSAGE} as a new malloc'd string. */
static char *error_body(const char *message)
{
    json_t *body = json_pack("{s:b, s:s}", "ok", 0, "error", message);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

static void set_outcome(struct request *req, int status, char *response)
{
    req->status = status;
    free(req->response);
    req->response = response;
}

/* Does the request get a partial batch response? A --partial-once id it
 * names is claimed (spent) here, also when a --partial id matched too. */
static bool wants_partial(struct server *srv, struct request *req)
{
    const struct options *o = &srv->opts;
    bool partial = o->n_partial && names_any(&req->records, o->partial, o->n_partial);
    bool once = claim_once(o->partial_once, o->n_partial_once, srv->partial_once_spent,
                           &req->records, &req->partial_once_taken);
    return partial || once;
}

static void decide_injected(struct server *srv, struct request *req, size_t n_records)
{
    const struct options *o = &srv->opts;
    double u = next_random(srv);
    if (u < o->hang_rate)
        req->hung = true;
    else if (u < o->hang_rate + o->fail_rate)
        set_outcome(req, 500, error_body("injected failure"));
    else if (u < o->hang_rate + o->fail_rate + o->rate_429)
        set_outcome(req, 429, error_body("injected throttle"));
    else if (wants_partial(srv, req))
        set_outcome(req, 200, partial_response(o, req));
    else
        set_outcome(req, 200, format_string("{\"ok\":true,\"records\":%zu}", n_records));
}

/* Sets req->status and req->response (or req->hung) for a complete body. */
static void decide(struct server *srv, struct request *req, struct MHD_Connection *conn)
{
    const struct options *o = &srv->opts;
    char errbuf[256];
    const char *ce_id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "ce-id");
    size_t n_records;

    if (req->too_large) {
        set_outcome(req, 413, error_body("body too large"));
        return;
    }
    if (o->count_only) {
        n_records = req->offsets_counted;
    } else if (ce_id) {                 /* CloudEvents binary mode: one record */
        add_record(&req->records, strdup(ce_id), NULL, 0);
        n_records = req->records.n;
    } else {
        const char *err = parse_event(req, o->payload_ids, o->latency ? &srv->lat : NULL,
                                      errbuf, sizeof errbuf);
        if (err) {
            fprintf(stderr, "fn_server: 400: %s\n", err);
            set_outcome(req, 400, error_body(err));
            free_records(&req->records);    /* half-read: log none of them */
            return;
        }
        n_records = req->records.n;
    }
    atomic_fetch_add(&srv->records, n_records);

    if (o->status)
        set_outcome(req, o->status,
                    o->status < 300 ? format_string("{\"ok\":true,\"records\":%zu}", n_records)
                                    : error_body("--status"));
    else if (o->n_poison && names_any(&req->records, o->poison, o->n_poison))
        set_outcome(req, 500, error_body("poison record"));
    else if (claim_once(o->fail_once, o->n_fail_once, srv->fail_once_spent,
                        &req->records, NULL))
        set_outcome(req, 500, error_body("injected failure (--fail-once)"));
    else
        decide_injected(srv, req, n_records);
}

/* ------------------------------------------------------------------- log */

/* One line per record; a record named in a partial batch response is
 * logged 500 (it failed although the HTTP status was 200). */
static void log_records(struct server *srv, const struct request *req, int status)
{
    if (!srv->log || req->records.n == 0)
        return;
    pthread_mutex_lock(&srv->log_lock);
    for (size_t i = 0; i < req->records.n; i++) {
        const char *id = req->records.items[i].id;
        int record_status = status;
        if (status == 200 && fails_partially(&srv->opts, req, id))
            record_status = 500;
        fprintf(srv->log, "%d %s\n", record_status, id);
    }
    fflush(srv->log);
    pthread_mutex_unlock(&srv->log_lock);
}

/* --trace: "<ns> in <seq> <id>" per record once the request's body is
 * in, and "<ns> out <seq> <status> <id>" just before its answer is queued
 * (status as in the log), ns from CLOCK_MONOTONIC. The out time is taken
 * before the client can have the answer, so a client's action seen after
 * it may depend on the answer; one seen before it cannot. */
static void trace_arrival(struct server *srv, struct request *req)
{
    if (!srv->trace)
        return;
    pthread_mutex_lock(&srv->log_lock);
    req->seq = ++srv->trace_seq;
    int64_t ns = mono_ns();
    for (size_t i = 0; i < req->records.n; i++)
        fprintf(srv->trace, "%" PRId64 " in %" PRIu64 " %s\n", ns, req->seq,
                req->records.items[i].id);
    fflush(srv->trace);
    pthread_mutex_unlock(&srv->log_lock);
}

static void trace_answer(struct server *srv, const struct request *req, int status)
{
    if (!srv->trace || !req->records.n)
        return;
    pthread_mutex_lock(&srv->log_lock);
    int64_t ns = mono_ns();
    for (size_t i = 0; i < req->records.n; i++) {
        const char *id = req->records.items[i].id;
        int record_status = status == 200 && fails_partially(&srv->opts, req, id) ? 500 : status;
        fprintf(srv->trace, "%" PRId64 " out %" PRIu64 " %d %s\n", ns, req->seq,
                record_status, id);
    }
    fflush(srv->trace);
    pthread_mutex_unlock(&srv->log_lock);
}

/* The function's concurrency as it sees it: requests whose body is in and
 * whose answer has not been queued (or, hung, whose client is still there). */
static void flight_begin(struct server *srv, struct request *req)
{
    int now = atomic_fetch_add(&srv->in_flight, 1) + 1;
    int max = atomic_load(&srv->max_in_flight);
    while (now > max && !atomic_compare_exchange_weak(&srv->max_in_flight, &max, now))
        ;
    req->counted = true;
}

static void flight_end(struct server *srv, struct request *req)
{
    if (req->counted)
        atomic_fetch_sub(&srv->in_flight, 1);
    req->counted = false;
}

/* --------------------------------------------------------------- replies */

static enum MHD_Result send_json(struct MHD_Connection *conn, int status,
                                 const char *body, const char *retry_after)
{
    if (!body)
        body = "{\"ok\":false,\"error\":\"out of memory\"}";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (retry_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply(struct server *srv, struct request *req,
                             struct MHD_Connection *conn)
{
    log_records(srv, req, req->status);
    trace_answer(srv, req, req->status);
    flight_end(srv, req);
    return send_json(conn, req->status, req->response,
                     req->status == 429 ? srv->opts.retry_after : NULL);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* ,"lat_count":n,"lat_p50_us":..,"lat_p99_us":..,"lat_max_us":..,"last_ns":.. */
static void latency_stats(struct latencies *lat, char *out, size_t size)
{
    pthread_mutex_lock(&lat->lock);
    size_t n = lat->n;
    int64_t last = lat->last_ns;
    int64_t *sorted = n ? malloc(n * sizeof(*sorted)) : NULL;
    if (sorted)
        memcpy(sorted, lat->ns, n * sizeof(*sorted));
    pthread_mutex_unlock(&lat->lock);
    if (!sorted) {
        snprintf(out, size, ",\"lat_count\":0");
        return;
    }
    qsort(sorted, n, sizeof(*sorted), cmp_i64);
    snprintf(out, size, ",\"lat_count\":%zu,\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,"
             "\"lat_max_us\":%.1f,\"last_ns\":%lld", n, sorted[n / 2] / 1e3,
             sorted[n * 99 / 100] / 1e3, sorted[n - 1] / 1e3, (long long)last);
    free(sorted);
}

static enum MHD_Result reply_stats(struct server *srv, struct MHD_Connection *conn)
{
    char body[512], lat[320] = "";
    if (srv->opts.latency)
        latency_stats(&srv->lat, lat, sizeof lat);
    snprintf(body, sizeof body,
             "{\"requests\":%llu,\"records\":%llu,\"bytes\":%llu,"
             "\"in_flight\":%d,\"max_in_flight\":%d%s}",
             atomic_load(&srv->requests), atomic_load(&srv->records),
             atomic_load(&srv->bytes), atomic_load(&srv->in_flight),
             atomic_load(&srv->max_in_flight), lat);
    return send_json(conn, 200, body, NULL);
}

/* ----------------------------------------------------------- parking lot */

/* Suspends conn until due_ms. Returns false when shutting down (the
 * caller answers or closes now instead). Called from the MHD handler. */
static bool park(struct parking_lot *lot, struct MHD_Connection *conn, uint64_t due_ms)
{
    bool parked = false;
    pthread_mutex_lock(&lot->lock);
    if (!lot->closed && lot->n == lot->cap) {
        size_t cap = lot->cap ? lot->cap * 2 : 64;
        struct parked *grown = realloc(lot->items, cap * sizeof *grown);
        if (grown) {
            lot->items = grown;
            lot->cap = cap;
        }
    }
    if (!lot->closed && lot->n < lot->cap) {
        MHD_suspend_connection(conn);
        lot->items[lot->n++] = (struct parked){conn, due_ms};
        pthread_cond_signal(&lot->changed);
        parked = true;
    }
    pthread_mutex_unlock(&lot->lock);
    return parked;
}

/* Moves the entries due by now into due[] (capacity max); returns how many
 * and sets *next_due to the earliest remaining deadline (UINT64_MAX: none). */
static size_t take_due(struct parking_lot *lot, uint64_t now, struct MHD_Connection **due,
                       size_t max, uint64_t *next_due)
{
    size_t n_due = 0, kept = 0;
    *next_due = UINT64_MAX;
    for (size_t i = 0; i < lot->n; i++) {
        struct parked p = lot->items[i];
        if (p.due_ms <= now && n_due < max) {
            due[n_due++] = p.conn;
        } else {
            lot->items[kept++] = p;
            if (p.due_ms < *next_due)
                *next_due = p.due_ms;
        }
    }
    lot->n = kept;
    return n_due;
}

static void wait_until(struct parking_lot *lot, uint64_t due_ms)
{
    if (due_ms == UINT64_MAX) {
        pthread_cond_wait(&lot->changed, &lot->lock);
        return;
    }
    uint64_t wait_ms = due_ms - now_ms();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(wait_ms / 1000);
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&lot->changed, &lot->lock, &ts);
}

/* The timer thread: resumes parked connections when they fall due. The
 * resume happens outside the lock; MHD then calls the handler again. */
static void *run_timer(void *arg)
{
    struct parking_lot *lot = arg;
    struct MHD_Connection *due[256];
    pthread_mutex_lock(&lot->lock);
    while (!lot->closed) {
        uint64_t next_due;
        size_t n = take_due(lot, now_ms(), due, 256, &next_due);
        if (n) {
            pthread_mutex_unlock(&lot->lock);
            for (size_t i = 0; i < n; i++)
                MHD_resume_connection(due[i]);
            pthread_mutex_lock(&lot->lock);
        } else {
            wait_until(lot, next_due);
        }
    }
    pthread_mutex_unlock(&lot->lock);
    return NULL;
}

/* Stops parking and resumes everything parked, so MHD can close it. */
static void close_parking_lot(struct parking_lot *lot)
{
    pthread_mutex_lock(&lot->lock);
    lot->closed = true;
    pthread_cond_signal(&lot->changed);
    pthread_mutex_unlock(&lot->lock);
    pthread_join(lot->timer, NULL);
    for (size_t i = 0; i < lot->n; i++)
        MHD_resume_connection(lot->items[i].conn);
    lot->n = 0;
}

/* True once the client closed (or reset) the connection. */
static bool client_gone(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info)
        return true;
    char byte;
    ssize_t r = recv(info->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* ------------------------------------------------------------- handlers */

/* A parked request came back: answer it, or keep holding a hung one. */
static enum MHD_Result on_resumed(struct server *srv, struct request *req,
                                  struct MHD_Connection *conn)
{
    if (!req->hung)
        return reply(srv, req, conn);
    if (client_gone(conn))
        return MHD_NO;              /* close; on_request_done frees req */
    if (park(&srv->lot, conn, now_ms() + HANG_CHECK_MS))
        return MHD_YES;
    return MHD_NO;                  /* shutting down */
}

/* The whole body is in: decide, then answer now or park. */
static enum MHD_Result on_body_complete(struct server *srv, struct request *req,
                                        struct MHD_Connection *conn)
{
    atomic_fetch_add(&srv->requests, 1);
    flight_begin(srv, req);
    decide(srv, req, conn);
    trace_arrival(srv, req);
    if (req->hung)
        log_records(srv, req, 0);
    uint64_t delay = (uint64_t)srv->opts.delay_ms;
    if (srv->opts.delay_spread_ms)      /* drawn only then: seeds keep their outcomes */
        delay += (uint64_t)(next_random(srv) * (srv->opts.delay_spread_ms + 1));
    if (req->hung || delay > 0) {
        uint64_t due = now_ms() + (req->hung ? HANG_CHECK_MS : delay);
        req->state = REQ_PARKED;
        if (park(&srv->lot, conn, due))
            return MHD_YES;
        if (req->hung)
            return MHD_NO;
    }
    return reply(srv, req, conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct server *srv = cls;
    struct request *req = *con_cls;

    if (!req) {
        if (!strcmp(method, MHD_HTTP_METHOD_GET))
            return !strcmp(url, "/stats")
                ? reply_stats(srv, conn)
                : send_json(conn, 404, "{\"ok\":false,\"error\":\"not found\"}", NULL);
        if (strcmp(method, MHD_HTTP_METHOD_POST))
            return send_json(conn, 405, "{\"ok\":false,\"error\":\"POST an event\"}", NULL);
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        return MHD_YES;
    }
    if (req->state == REQ_PARKED)
        return on_resumed(srv, req, conn);
    if (*upload_data_size) {
        atomic_fetch_add(&srv->bytes, *upload_data_size);
        if (srv->opts.count_only)
            count_chunk(req, upload_data, *upload_data_size);
        else
            append_body(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return on_body_complete(srv, req, conn);
}

static void on_request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                            enum MHD_RequestTerminationCode why)
{
    (void)conn;
    (void)why;
    struct request *req = *con_cls;
    if (!req)
        return;
    flight_end(cls, req);
    free_records(&req->records);
    free(req->body);
    free(req->response);
    free(req);
    *con_cls = NULL;
}

/* ------------------------------------------------------------------ main */

/* MHD's error log, less the line it writes each time a hung request is
 * closed on purpose (the handler returns MHD_NO for that). */
static void log_mhd_error(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    if (!strstr(line, "Application reported internal error"))
        fprintf(stderr, "fn_server: libmicrohttpd: %s", line);
}

static struct MHD_Daemon *start_daemon(struct server *srv)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)srv->opts.port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    /* A pool of one is refused with a warning: then no pool option at all. */
    struct MHD_OptionItem pool[] = {
        {srv->opts.threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
         (intptr_t)srv->opts.threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    return MHD_start_daemon(flags, (uint16_t)srv->opts.port, NULL, NULL, on_request, srv,
                            MHD_OPTION_EXTERNAL_LOGGER, log_mhd_error, NULL, /* first */
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_request_done, srv,
                            MHD_OPTION_CONNECTION_TIMEOUT, 0u,
                            MHD_OPTION_ARRAY, pool,
                            MHD_OPTION_END);
}

static int init_server(struct server *srv)
{
    pthread_mutex_init(&srv->log_lock, NULL);
    pthread_mutex_init(&srv->lat.lock, NULL);
    pthread_mutex_init(&srv->rng_lock, NULL);
    pthread_mutex_init(&srv->lot.lock, NULL);
    pthread_cond_init(&srv->lot.changed, NULL);
    srv->rng_state = srv->opts.seed;
    if (srv->opts.log_path && !srv->opts.count_only) {
        srv->log = fopen(srv->opts.log_path, "a");
        if (!srv->log) {
            fprintf(stderr, "fn_server: %s: %s\n", srv->opts.log_path, strerror(errno));
            return -1;
        }
    }
    if (srv->opts.trace_path && !srv->opts.count_only) {
        srv->trace = fopen(srv->opts.trace_path, "a");
        if (!srv->trace) {
            fprintf(stderr, "fn_server: %s: %s\n", srv->opts.trace_path, strerror(errno));
            return -1;
        }
    }
    if (pthread_create(&srv->lot.timer, NULL, run_timer, &srv->lot)) {
        fprintf(stderr, "fn_server: cannot start the timer thread\n");
        return -1;
    }
    return 0;
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
    static struct server srv;
    parse_args(argc, argv, &srv.opts);
    install_signal_handlers();
    if (init_server(&srv))
        return 1;
    struct MHD_Daemon *daemon = start_daemon(&srv);
    if (!daemon) {
        fprintf(stderr, "fn_server: cannot listen on 127.0.0.1:%d\n", srv.opts.port);
        close_parking_lot(&srv.lot);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    printf("PORT %u\n", (unsigned)info->port);
    fflush(stdout);

    while (!stop_requested)
        poll(NULL, 0, 100);

    close_parking_lot(&srv.lot);
    poll(NULL, 0, SHUTDOWN_GRACE_MS);   /* let resumed delays answer */
    MHD_stop_daemon(daemon);
    free(srv.lot.items);
    if (srv.log)
        fclose(srv.log);
    if (srv.trace)
        fclose(srv.trace);
    return 0;
}
