/* test_cloudevents.c - the cloudevents format: structured batch mode and
 * binary mode for Kafka, MQTT and S3 records. Every required attribute,
 * the documented attribute choices, data versus data_base64, escaping of
 * odd topics, keys, headers and pipeline names, header values free of
 * CR/LF, binary mode carrying the same attributes as structured mode, the
 * content types, the cap, and br_format_record_bound as a true bound. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bridge/format.h"
#include "unit.h"
#include "connectors/kafka/kafka_event.h"
#include "connectors/mqtt/mqtt_event.h"
#include "connectors/s3/s3_event.h"

#define BATCH_TYPE "application/cloudevents-batch+json"

static const struct br_event_ctx ev = {
    .pipeline = "orders", .source_kind = "kafka", .origin = "k1:9092",
};
static const struct br_event_ctx ev_bin = {
    .pipeline = "orders", .source_kind = "kafka", .origin = "k1:9092", .ce_binary = true,
};

/* ---------------------------------------------------------------- records */

static struct br_record *must(struct br_record *rec)
{
    if (!rec) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return rec;
}

static struct br_record *mkkafka(const char *topic, int32_t part, int64_t off,
                                 const void *key, size_t key_len,
                                 const void *value, size_t value_len,
                                 const struct br_header *hdrs, size_t n_hdrs)
{
    struct br_record_init init = {
        .kind = &br_kind_kafka, .topic = topic, .partition = part, .offset = off,
        .timestamp_ms = 1595035749700, .timestamp_type = BR_TS_CREATE,
        .key = key, .key_len = key_len, .value = value, .value_len = value_len,
        .headers = hdrs, .n_headers = n_hdrs,
    };
    return must(br_record_create(&init));
}

static struct br_record *mktext(const char *topic, int64_t off, const char *value)
{
    return mkkafka(topic, 0, off, NULL, 0, value, value ? strlen(value) : 0, NULL, 0);
}

static struct br_record *mkmqtt(int64_t seq, const char *topic, const void *payload,
                                size_t len, const char *content_type)
{
    struct br_mqtt_meta meta = {.qos = 1, .content_type = content_type};
    struct br_record_init init = {
        .kind = &br_kind_mqtt, .topic = topic, .offset = seq,
        .timestamp_ms = 1700000000123, .value = payload, .value_len = len, .meta = &meta,
    };
    return must(br_record_create(&init));
}

static struct br_record *mks3(const char *key, bool removed, int64_t seq, const char *bucket)
{
    struct br_s3_meta meta = {.removed = removed, .size = 1024,
                              .etag = removed ? NULL : "d41d8cd98f00b204e9800998ecf8427e",
                              .bucket = bucket, .region = "eu-west-1"};
    struct br_record_init init = {.kind = &br_kind_s3, .topic = key, .offset = seq,
                                  .timestamp_ms = 1700000000456, .meta = &meta};
    return must(br_record_create(&init));
}

static void free_recs(struct br_record **recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        br_record_free(recs[i]);
}

/* ---------------------------------------------------------------- helpers */

/* Encodes recs in structured mode and parses the array (duplicate keys
 * refused); *len gets the body's length when len is not NULL. */
static json_t *encode(const struct br_event_ctx *e, struct br_record **recs, size_t n,
                      size_t *len)
{
    struct br_buf out;
    br_buf_init(&out, 0);
    CHECK(br_format_encode(BR_FORMAT_CLOUDEVENTS, e, recs, n, &out) == 0);
    json_error_t err;
    json_t *root = json_loadb(out.data ? out.data : "", out.len, JSON_REJECT_DUPLICATES, &err);
    CHECK_MSG(root && json_is_array(root), "not a JSON array: %s: %s", err.text, out.data);
    CHECK_MSG(!root || json_array_size(root) == n, "%zu events for %zu records",
              json_array_size(root), n);
    if (len)
        *len = out.len;
    br_buf_free(&out);
    return root;
}

static const char *str(const json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name));
}

static bool lower_alnum(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* "2020-07-18T01:29:09.700Z" */
static bool rfc3339_ms(const char *t)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (!t || strlen(t) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)t[i]) : t[i] != shape[i])
            return false;
    return true;
}

/* What every event must have: the required attributes, id as br_record_id,
 * attribute names of a-z 0-9 only, string-valued attributes. */
static void check_event(const json_t *e, const struct br_record *rec)
{
    char id[1024];
    br_record_id(rec, id, sizeof(id));
    CHECK_STR(str(e, "specversion"), "1.0");
    CHECK_STR(str(e, "id"), id);
    CHECK_MSG(str(e, "source") && str(e, "source")[0] == '/', "source %s", str(e, "source"));
    CHECK(str(e, "type") && str(e, "type")[0]);
    CHECK(str(e, "subject") != NULL);
    if (rec->timestamp_ms >= 0)
        CHECK_MSG(rfc3339_ms(str(e, "time")), "time %s", str(e, "time"));
    CHECK(!(json_object_get(e, "data") && json_object_get(e, "data_base64")));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)e, k, v) {
        if (!strcmp(k, "data") || !strcmp(k, "data_base64"))
            continue;
        CHECK_MSG(lower_alnum(k), "attribute name \"%s\"", k);
        CHECK_MSG(json_is_string(v), "attribute %s is not a string", k);
    }
}

static long b64_decode(const char *s, unsigned char *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0, len = s ? strlen(s) : 0;
    if (len % 4)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *at = s[i + k] == '=' ? NULL : strchr(alphabet, s[i + k]);
            if (s[i + k] == '=')
                pad++;
            else if (!at || !s[i + k] || pad)
                return -1;
            v = v << 6 | (uint32_t)(at ? at - alphabet : 0);
        }
        for (int k = 0; k < 3 - pad; k++) {
            if (n >= cap)
                return -1;
            out[n++] = (unsigned char)(v >> (16 - 8 * k));
        }
    }
    return (long)n;
}

static bool b64_is(const json_t *e, const char *name, const void *want, size_t n)
{
    unsigned char buf[4096];
    long got = b64_decode(str(e, name), buf, sizeof(buf));
    return got == (long)n && (n == 0 || memcmp(buf, want, n) == 0);
}

/* Decodes %XX in place; false on a malformed escape. */
static bool pct_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s != '%') {
            *o++ = *s;
            continue;
        }
        if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]))
            return false;
        char hex[3] = {s[1], s[2], 0};
        *o++ = (char)strtol(hex, NULL, 16);
        s += 2;
    }
    *o = '\0';
    return true;
}

/* Parses binary-mode headers ("ce-name: value\0"...) into {name: value}
 * (percent-decoded), checking each line's shape: a lowercase ce- name, and
 * a value of printable ASCII without space, '"' or CR/LF. */
static json_t *parse_headers(const char *h, size_t len)
{
    json_t *attrs = json_object();
    size_t at = 0;
    while (at < len) {
        const char *line = h + at;
        size_t n = strnlen(line, len - at);
        CHECK_MSG(at + n < len, "header line without its NUL");
        at += n + 1;
        const char *colon = strstr(line, ": ");
        CHECK_MSG(colon && !strncmp(line, "ce-", 3), "header line \"%s\"", line);
        if (!colon)
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(colon - line - 3), line + 3);
        CHECK_MSG(lower_alnum(name), "header name \"%s\"", name);
        for (const char *v = colon + 2; *v; v++)
            CHECK_MSG(*v > 0x20 && *v < 0x7f && *v != '"', "byte 0x%02x in header %s",
                      (unsigned char)*v, name);
        char *value = strdup(colon + 2);
        CHECK_MSG(pct_decode(value), "bad percent-encoding in %s", line);
        CHECK_MSG(!json_object_get(attrs, name), "header %s twice", name);
        json_object_set_new(attrs, name, json_string(value));
        free(value);
    }
    return attrs;
}

/* Encodes one record in binary mode: body, headers, content type. */
struct binary {
    struct br_buf body, headers;
    const char *content_type;
    json_t *attrs;
};

static void encode_binary(const struct br_event_ctx *e, struct br_record *rec,
                          struct binary *b)
{
    br_buf_init(&b->body, 0);
    br_buf_init(&b->headers, 0);
    CHECK(br_format_encode(BR_FORMAT_CLOUDEVENTS, e, &rec, 1, &b->body) == 0);
    CHECK(br_format_headers(BR_FORMAT_CLOUDEVENTS, e, &rec, 1, &b->headers) == 0);
    b->content_type = br_format_content_type(BR_FORMAT_CLOUDEVENTS, e, &rec, 1);
    b->attrs = parse_headers(b->headers.data, b->headers.len);
}

static void binary_free(struct binary *b)
{
    br_buf_free(&b->body);
    br_buf_free(&b->headers);
    json_decref(b->attrs);
}

/* Binary mode must carry exactly the structured event's attributes, its
 * datacontenttype as Content-Type and its data as the body. */
static void check_binary_matches(struct br_record *rec)
{
    struct br_event_ctx structured = ev_bin, binary = ev_bin;
    structured.ce_binary = false;
    json_t *arr = encode(&structured, &rec, 1, NULL);
    json_t *e = json_deep_copy(json_array_get(arr, 0));
    json_decref(arr);
    if (!e)
        return;
    struct binary b;
    encode_binary(&binary, rec, &b);

    const char *dct = str(e, "datacontenttype");
    CHECK_STR(b.content_type, dct ? dct : "application/octet-stream");
    json_t *data = json_object_get(e, "data");
    if (json_object_get(e, "data_base64")) {
        CHECK(b64_is(e, "data_base64", b.body.data, b.body.len));
    } else if (data) {
        json_t *body = json_loadb(b.body.data, b.body.len, JSON_DECODE_ANY, NULL);
        CHECK_MSG(json_equal(body, data), "binary body is not the data: %s", b.body.data);
        json_decref(body);
    } else {
        CHECK_INT(b.body.len, 0);
    }
    json_object_del(e, "data");
    json_object_del(e, "data_base64");
    json_object_del(e, "datacontenttype");
    char *want = json_dumps(e, JSON_SORT_KEYS), *got = json_dumps(b.attrs, JSON_SORT_KEYS);
    CHECK_MSG(json_equal(e, b.attrs), "binary attributes %s, structured %s", got, want);
    free(want);
    free(got);
    json_decref(e);
    binary_free(&b);
}

/* ------------------------------------------------------------------ Kafka */

static void test_kafka_structured(void)
{
    static const unsigned char bin[] = {0xff, 0x00, 0x01, 0x80, 'x'};
    static const char json_value[] = "{\"order\":7,\"items\":[1,2]}";
    struct br_header hdrs[] = {
        {"X-Trace_Id", (const unsigned char *)"abc 123", 7},
        {"x.trace.id", (const unsigned char *)"second", 6},  /* same name: dropped */
        {"bin", bin, sizeof(bin)},                            /* not a string */
        {"nullv", NULL, 0},
        {"empty", bin, 0},
        {"ÜTF8-Name", (const unsigned char *)"wert ü", 7},
        {"ce_specversion", (const unsigned char *)"1.0", 3},
    };
    struct br_record *recs[] = {
        mkkafka("orders", 3, 42, "k1", 2, json_value, strlen(json_value), hdrs, 7),
        mkkafka("orders", 0, 7, bin, sizeof(bin), bin, sizeof(bin), NULL, 0),
        mkkafka("orders", 1, 9, "", 0, "seq=1 plain", 11, NULL, 0),
        mkkafka("orders", 1, 10, "tomb", 4, NULL, 0, NULL, 0),       /* tombstone */
        mkkafka("orders", 2, 11, NULL, 0, "", 0, NULL, 0),            /* empty value */
        mkkafka("orders", 2, 12, NULL, 0, "42", 2, NULL, 0),          /* a JSON scalar */
    };
    size_t n = sizeof(recs) / sizeof(recs[0]);
    json_t *arr = encode(&ev, recs, n, NULL);
    for (size_t i = 0; i < n && arr; i++) {
        json_t *e = json_array_get(arr, i);
        check_event(e, recs[i]);
        CHECK_STR(str(e, "type"), "dev.knative.kafka.event");
        CHECK_STR(str(e, "source"), "/fnbridge/orders/kafka/orders");
        CHECK_STR(str(e, "time"), "2020-07-18T01:29:09.700Z");
    }
    json_t *e0 = json_array_get(arr, 0), *e1 = json_array_get(arr, 1),
           *e2 = json_array_get(arr, 2), *e3 = json_array_get(arr, 3),
           *e4 = json_array_get(arr, 4), *e5 = json_array_get(arr, 5);
    CHECK_STR(str(e0, "id"), "orders-3-42");
    CHECK_STR(str(e0, "subject"), "partition:3#42");
    CHECK_STR(str(e0, "datacontenttype"), "application/json");
    json_t *want = json_loads(json_value, 0, NULL);
    CHECK(json_equal(json_object_get(e0, "data"), want));
    json_decref(want);
    CHECK_STR(str(e0, "key"), "k1");
    CHECK(!json_object_get(e0, "keybase64"));
    CHECK_STR(str(e0, "kafkaheaderxtraceid"), "abc 123");
    CHECK(!json_object_get(e0, "kafkaheaderbin"));
    CHECK(!json_object_get(e0, "kafkaheadernullv"));
    CHECK_STR(str(e0, "kafkaheaderempty"), "");
    CHECK_STR(str(e0, "kafkaheadertf8name"), "wert ü");
    CHECK_STR(str(e0, "kafkaheadercespecversion"), "1.0");
    CHECK_INT(json_object_size(e0), 6 + 2 + 1 + 4);   /* required, data, key, headers */

    CHECK_STR(str(e1, "datacontenttype"), "application/octet-stream");
    CHECK(b64_is(e1, "data_base64", bin, sizeof(bin)));
    CHECK(!json_object_get(e1, "data"));
    CHECK(!json_object_get(e1, "key"));
    CHECK(b64_is(e1, "keybase64", bin, sizeof(bin)));

    CHECK(b64_is(e2, "data_base64", "seq=1 plain", 11));
    CHECK_STR(str(e2, "key"), "");                      /* an empty key is a key */

    CHECK(!json_object_get(e3, "data") && !json_object_get(e3, "data_base64"));
    CHECK(!json_object_get(e3, "datacontenttype"));
    CHECK_STR(str(e3, "key"), "tomb");

    CHECK(b64_is(e4, "data_base64", "", 0));
    CHECK(!json_object_get(e4, "key") && !json_object_get(e4, "keybase64"));
    CHECK_INT(json_integer_value(json_object_get(e5, "data")), 42);

    for (size_t i = 0; i < n; i++)
        check_binary_matches(recs[i]);
    json_decref(arr);
    free_recs(recs, n);
}

/* Keys and header values that are not CloudEvents strings: control
 * characters, C1 controls, invalid UTF-8, surrogates, noncharacters. */
static void test_kafka_key_strings(void)
{
    static const struct { const char *bytes; bool is_string; } cases[] = {
        {"plain", true}, {"ü€𝄞", true}, {"quote\"back\\slash", true},
        {"tab\t", false}, {"nl\n", false}, {"del\x7f", false}, {"c1\xc2\x85", false},
        {"bad\xc3", false}, {"over\xc0\xaf", false}, {"sur\xed\xa0\x80", false},
        {"nonch\xef\xb7\x90", false}, {"fffe\xef\xbf\xbe", false},
        {"big\xf4\x90\x80\x80", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *k = cases[i].bytes;
        struct br_header h = {"h", (const unsigned char *)k, strlen(k)};
        struct br_record *rec = mkkafka("t", 0, (int64_t)i, k, strlen(k), "{}", 2, &h, 1);
        json_t *arr = encode(&ev, &rec, 1, NULL);
        json_t *e = json_array_get(arr, 0);
        if (cases[i].is_string) {
            CHECK_STR(str(e, "key"), k);
            CHECK_STR(str(e, "kafkaheaderh"), k);
        } else {
            CHECK_MSG(!json_object_get(e, "key") && b64_is(e, "keybase64", k, strlen(k)),
                      "case %zu: key not in keybase64", i);
            CHECK_MSG(!json_object_get(e, "kafkaheaderh"), "case %zu: header mapped", i);
        }
        check_binary_matches(rec);
        json_decref(arr);
        br_record_free(rec);
    }
}

/* Many headers of one extension name give one attribute; at most 64. */
static void test_kafka_many_headers(void)
{
    static struct br_header hdrs[300];
    static char names[300][16];
    for (size_t i = 0; i < 300; i++) {
        if (i < 100)
            snprintf(names[i], sizeof(names[i]), i % 2 ? "X-Dup" : "x_dup");
        else
            snprintf(names[i], sizeof(names[i]), "h-%zu", i);
        hdrs[i] = (struct br_header){names[i], (const unsigned char *)"v", 1};
    }
    struct br_record *rec = mkkafka("t", 0, 1, NULL, 0, "{}", 2, hdrs, 300);
    json_t *arr = encode(&ev, &rec, 1, NULL);
    json_t *e = json_array_get(arr, 0);
    size_t exts = 0;
    const char *k;
    json_t *v;
    json_object_foreach(e, k, v)
        exts += strncmp(k, "kafkaheader", 11) == 0;
    CHECK_INT(exts, 64);
    CHECK(json_object_get(e, "kafkaheaderxdup") && json_object_get(e, "kafkaheaderh100"));
    check_binary_matches(rec);
    json_decref(arr);
    br_record_free(rec);
}

/* Topics and pipeline names with every kind of awkward byte: the JSON stays
 * valid, the source a URI reference that decodes back to them. */
static void test_odd_names(void)
{
    static const char *const topics[] = {
        "a\"b\\c", "sp ace/slash%pct", "ctl\x01\x1f", "ünï", "#?&=+:@",
    };
    struct br_event_ctx odd = ev;
    odd.pipeline = "my pipe/ü\"%";
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        struct br_record *rec = mktext(topics[i], 5, "{\"a\":1}");
        json_t *arr = encode(&odd, &rec, 1, NULL);
        json_t *e = json_array_get(arr, 0);
        check_event(e, rec);
        const char *src = str(e, "source");
        for (const char *s = src; s && *s; s++)
            CHECK_MSG(isalnum((unsigned char)*s) || strchr("-._~%/", *s),
                      "byte '%c' in source %s", *s, src);
        char *dec = strdup(src ? src : "");
        CHECK(pct_decode(dec));
        char want[256];
        snprintf(want, sizeof(want), "/fnbridge/%s/kafka/%s", odd.pipeline, topics[i]);
        CHECK_STR(dec, want);
        free(dec);
        /* the pipeline's '/' is encoded: the source keeps four segments */
        CHECK(src && strncmp(src, "/fnbridge/my%20pipe%2F%C3%BC%22%25/kafka/", 41) == 0);
        struct br_event_ctx odd_bin = odd;
        odd_bin.ce_binary = true;
        struct br_buf h;
        br_buf_init(&h, 0);
        CHECK(br_format_headers(BR_FORMAT_CLOUDEVENTS, &odd_bin, &rec, 1, &h) == 0);
        json_t *attrs = parse_headers(h.data, h.len);
        CHECK_STR(str(attrs, "source"), src);
        json_decref(attrs);
        br_buf_free(&h);
        json_decref(arr);
        br_record_free(rec);
    }
}

/* ------------------------------------------------------------------- MQTT */

static void test_mqtt(void)
{
    static const unsigned char bin[] = {0xff, 0xfe, 'i', 'd', 0};
    struct br_event_ctx mev = {.pipeline = "sensors", .source_kind = "mqtt"};
    struct br_record *recs[] = {
        mkmqtt(1, "sensors/a b/\"q\"", "{\"t\":21.5}", 10, NULL),
        mkmqtt(2, "sensors/bin", bin, sizeof(bin), NULL),
        mkmqtt(3, "sensors/empty", NULL, 0, NULL),
        mkmqtt(4, "sensors/ct", "{\"t\":1}", 7, "application/vnd.acme+json; v=2"),
        mkmqtt(5, "sensors/ct", "{\"t\":1}", 7, "text/plain"),
        mkmqtt(6, "sensors/ct", "xyz", 3, "text/plain; charset=\"utf-8\""),
        mkmqtt(7, "sensors/ct", "{}", 2, "bad\r\ninjected: 1"),
        mkmqtt(8, "sensors/ctl\x01\ttopic", "{}", 2, NULL),
    };
    size_t n = sizeof(recs) / sizeof(recs[0]);
    json_t *arr = encode(&mev, recs, n, NULL);
    for (size_t i = 0; i < n && arr; i++) {
        json_t *e = json_array_get(arr, i);
        check_event(e, recs[i]);
        CHECK_STR(str(e, "type"), "dev.fnbridge.mqtt.message");
        CHECK_STR(str(e, "source"), "/fnbridge/sensors/mqtt");
        CHECK_STR(str(e, "subject"), recs[i]->topic);
        CHECK_STR(str(e, "time"), "2023-11-14T22:13:20.123Z");
        CHECK_INT(str(e, "id") ? atoll(str(e, "id")) : -1, i + 1);
    }
    json_t *e = json_array_get(arr, 0);
    CHECK_STR(str(e, "datacontenttype"), "application/json");
    CHECK(json_real_value(json_object_get(json_object_get(e, "data"), "t")) == 21.5);
    e = json_array_get(arr, 1);
    CHECK_STR(str(e, "datacontenttype"), "application/octet-stream");
    CHECK(b64_is(e, "data_base64", bin, sizeof(bin)));
    e = json_array_get(arr, 2);
    CHECK(b64_is(e, "data_base64", "", 0));
    e = json_array_get(arr, 3);   /* a JSON type of the publisher's: embedded */
    CHECK_STR(str(e, "datacontenttype"), "application/vnd.acme+json; v=2");
    CHECK(json_is_object(json_object_get(e, "data")));
    e = json_array_get(arr, 4);   /* JSON bytes, but the publisher says text */
    CHECK_STR(str(e, "datacontenttype"), "text/plain");
    CHECK(b64_is(e, "data_base64", "{\"t\":1}", 7));
    e = json_array_get(arr, 5);
    CHECK_STR(str(e, "datacontenttype"), "text/plain; charset=\"utf-8\"");
    CHECK(b64_is(e, "data_base64", "xyz", 3));
    e = json_array_get(arr, 6);   /* unusable as a header: ignored */
    CHECK_STR(str(e, "datacontenttype"), "application/json");
    for (size_t i = 0; i < n; i++)
        check_binary_matches(recs[i]);

    struct br_event_ctx mbin = mev;
    mbin.ce_binary = true;
    struct binary b;
    encode_binary(&mbin, recs[3], &b);
    CHECK_STR(b.content_type, "application/vnd.acme+json; v=2");
    CHECK_STR(b.body.data, "{\"t\":1}");
    CHECK_STR(str(b.attrs, "subject"), "sensors/ct");
    CHECK(memmem(b.headers.data, b.headers.len, "ce-subject: sensors/ct", 23) != NULL);
    binary_free(&b);
    encode_binary(&mbin, recs[0], &b);   /* space and quotes percent-encoded */
    CHECK(memmem(b.headers.data, b.headers.len,
                 "ce-subject: sensors/a%20b/%22q%22", 34) != NULL);
    binary_free(&b);
    encode_binary(&mbin, recs[7], &b);   /* control bytes: no raw tab or SOH */
    CHECK(memmem(b.headers.data, b.headers.len,
                 "ce-subject: sensors/ctl%01%09topic", 35) != NULL);
    binary_free(&b);
    json_decref(arr);
    free_recs(recs, n);
}

/* --------------------------------------------------------------------- S3 */

/* The S3 record as the lambda format writes it: {"Records":[<this>]}. */
static json_t *lambda_s3_record(const struct br_event_ctx *e, struct br_record *rec)
{
    struct br_buf out;
    br_buf_init(&out, 0);
    CHECK(br_format_encode(BR_FORMAT_LAMBDA, e, &rec, 1, &out) == 0);
    json_t *doc = json_loadb(out.data, out.len, 0, NULL);
    json_t *r = json_incref(json_array_get(json_object_get(doc, "Records"), 0));
    json_decref(doc);
    br_buf_free(&out);
    return r;
}

static void test_s3(void)
{
    struct br_event_ctx sev = {.pipeline = "uploads", .source_kind = "s3"};
    struct br_record *recs[] = {
        mks3("photos/a b+c.jpg", false, 1, "media-bucket"),
        mks3("docs/ü\"x%.txt", true, 2, "media-bucket"),
        mks3("ctl\x01\x7f\n", false, 3, "media-bucket"),
    };
    size_t n = sizeof(recs) / sizeof(recs[0]);
    json_t *arr = encode(&sev, recs, n, NULL);
    for (size_t i = 0; i < n && arr; i++) {
        json_t *e = json_array_get(arr, i);
        check_event(e, recs[i]);
        CHECK_STR(str(e, "source"), "/fnbridge/uploads/s3/media-bucket");
        CHECK_STR(str(e, "datacontenttype"), "application/json");
        CHECK_STR(str(e, "time"), "2023-11-14T22:13:20.456Z");
        json_t *want = lambda_s3_record(&sev, recs[i]);
        CHECK_MSG(json_equal(json_object_get(e, "data"), want),
                  "event %zu: data is not the S3 record", i);
        /* subject: the key as the S3 record writes it */
        CHECK_STR(str(e, "subject"),
                  json_string_value(json_object_get(json_object_get(
                      json_object_get(want, "s3"), "object"), "key")));
        json_decref(want);
        check_binary_matches(recs[i]);
    }
    CHECK_STR(str(json_array_get(arr, 0), "type"), "com.amazonaws.s3.ObjectCreated:Put");
    CHECK_STR(str(json_array_get(arr, 1), "type"), "com.amazonaws.s3.ObjectRemoved:Delete");
    CHECK_STR(str(json_array_get(arr, 0), "subject"), "photos/a+b%2Bc.jpg");
    CHECK_STR(str(json_array_get(arr, 0), "id"),
              "media-bucket/photos/a+b%2Bc.jpg@0000000000000001");
    json_decref(arr);

    struct br_event_ctx sbin = sev;
    sbin.ce_binary = true;
    struct binary b;
    encode_binary(&sbin, recs[0], &b);
    CHECK_STR(b.content_type, "application/json");
    CHECK_STR(str(b.attrs, "subject"), "photos/a+b%2Bc.jpg");
    CHECK(memmem(b.headers.data, b.headers.len,
                 "ce-subject: photos/a+b%252Bc.jpg", 32) != NULL);
    binary_free(&b);
    free_recs(recs, n);
}

/* ---------------------------------------------------- modes, types, cap */

static void test_modes_and_content_types(void)
{
    struct br_record *recs[] = {mktext("t", 1, "{}"), mktext("t", 2, "x")};
    struct br_buf h;
    br_buf_init(&h, 0);

    /* structured: the batch type, no headers, whatever the records */
    CHECK_STR(br_format_content_type(BR_FORMAT_CLOUDEVENTS, &ev, recs, 1), BATCH_TYPE);
    CHECK_STR(br_format_content_type(BR_FORMAT_CLOUDEVENTS, NULL, recs, 2), BATCH_TYPE);
    CHECK(br_format_headers(BR_FORMAT_CLOUDEVENTS, &ev, recs, 1, &h) == 0 && h.len == 0);

    /* binary pipeline, but two records (never formed by the batcher):
     * structured, so nothing is lost */
    CHECK_STR(br_format_content_type(BR_FORMAT_CLOUDEVENTS, &ev_bin, recs, 2),
              BATCH_TYPE);
    CHECK(br_format_headers(BR_FORMAT_CLOUDEVENTS, &ev_bin, recs, 2, &h) == 0 && h.len == 0);
    json_t *arr = encode(&ev_bin, recs, 2, NULL);
    json_decref(arr);

    /* binary: the datacontenttype */
    CHECK_STR(br_format_content_type(BR_FORMAT_CLOUDEVENTS, &ev_bin, recs, 1),
              "application/json");
    CHECK_STR(br_format_content_type(BR_FORMAT_CLOUDEVENTS, &ev_bin, recs + 1, 1),
              "application/octet-stream");

    /* other formats: no headers, content types as before */
    CHECK(br_format_headers(BR_FORMAT_LAMBDA, &ev_bin, recs, 1, &h) == 0 && h.len == 0);
    CHECK(br_format_headers(BR_FORMAT_JSON, &ev_bin, recs, 1, &h) == 0 && h.len == 0);
    CHECK_STR(br_format_content_type(BR_FORMAT_LAMBDA, &ev_bin, recs, 1),
              "application/json");
    CHECK_STR(br_format_content_type(BR_FORMAT_PAYLOAD, &ev_bin, recs + 1, 1),
              "application/octet-stream");

    /* an empty batch is an empty array */
    struct br_buf out;
    br_buf_init(&out, 0);
    CHECK(br_format_encode(BR_FORMAT_CLOUDEVENTS, &ev, recs, 0, &out) == 0);
    CHECK_STR(out.data, "[]");
    br_buf_free(&out);
    br_buf_free(&h);
    free_recs(recs, 2);
}

/* The binary body is the value's bytes exactly, NULs and all. */
static void test_binary_body_bytes(void)
{
    unsigned char bytes[256];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)i;
    struct br_record *rec = mkkafka("t", 0, 1, NULL, 0, bytes, sizeof(bytes), NULL, 0);
    struct binary b;
    encode_binary(&ev_bin, rec, &b);
    CHECK_INT(b.body.len, sizeof(bytes));
    CHECK(b.body.data && memcmp(b.body.data, bytes, sizeof(bytes)) == 0);
    CHECK_STR(b.content_type, "application/octet-stream");
    for (const char *need = "specversion\0id\0source\0type\0subject\0time\0"; *need;
         need += strlen(need) + 1)
        CHECK_MSG(json_object_get(b.attrs, need), "no ce-%s header", need);
    CHECK_STR(str(b.attrs, "specversion"), "1.0");
    CHECK_STR(str(b.attrs, "id"), "t-0-1");
    CHECK_STR(str(b.attrs, "subject"), "partition:0#1");
    CHECK(!json_object_get(b.attrs, "datacontenttype"));
    binary_free(&b);
    br_record_free(rec);
}

/* A full buffer: -1 and the buffer as it was, in both modes. */
static void test_cap(void)
{
    char value[600];
    memset(value, 'a', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    struct br_record *rec = mktext("t", 1, value);
    struct br_buf out;
    br_buf_init(&out, 300);
    CHECK(br_buf_puts(&out, "pre") == 0);
    CHECK(br_format_encode(BR_FORMAT_CLOUDEVENTS, &ev, &rec, 1, &out) == -1);
    CHECK_STR(out.data, "pre");
    CHECK(br_format_encode(BR_FORMAT_CLOUDEVENTS, &ev_bin, &rec, 1, &out) == -1);
    CHECK_STR(out.data, "pre");
    br_buf_free(&out);
    br_buf_init(&out, 40);
    CHECK(br_format_headers(BR_FORMAT_CLOUDEVENTS, &ev_bin, &rec, 1, &out) == -1);
    CHECK_INT(out.len, 0);
    br_buf_free(&out);
    br_record_free(rec);
}

/* -------------------------------------------------------------- the bound */

/* Each record alone and all together: the structured event (and the
 * binary body) never exceed the bound. */
static void check_bound(const struct br_event_ctx *e, struct br_record **recs, size_t n)
{
    size_t sum = 2;      /* the array's brackets */
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        size_t bound = br_format_record_bound(BR_FORMAT_CLOUDEVENTS, e, recs[i]);
        json_decref(encode(e, &recs[i], 1, &len));
        CHECK_MSG(len - 2 + 1 <= bound, "record %zu: %zu bytes, bound %zu", i, len, bound);
        if (strlen(e->pipeline) <= BR_CE_PIPELINE_ALLOWANCE)   /* without the context */
            CHECK(len - 1 <= br_format_record_bound(BR_FORMAT_CLOUDEVENTS, NULL, recs[i]));
        struct br_event_ctx be = *e;
        be.ce_binary = true;
        struct br_buf body;
        br_buf_init(&body, 0);
        CHECK(br_format_encode(BR_FORMAT_CLOUDEVENTS, &be, &recs[i], 1, &body) == 0);
        CHECK(body.len <= bound);
        br_buf_free(&body);
        sum += bound;
    }
    size_t len = 0;
    json_decref(encode(e, recs, n, &len));
    CHECK_MSG(len <= sum, "batch: %zu bytes, bound %zu", len, sum);
}

static void test_record_bound(void)
{
    static char ctl[200], quotes[200], pipeline[400];
    memset(ctl, '\x01', sizeof(ctl) - 1);
    memset(quotes, '"', sizeof(quotes) - 1);
    memset(pipeline, '\x02', sizeof(pipeline) - 1);
    unsigned char bin[300];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)(i * 7);
    struct br_header hdrs[] = {
        {quotes, (const unsigned char *)quotes, strlen(quotes)},
        {ctl, (const unsigned char *)quotes, strlen(quotes)},
        {"b", bin, sizeof(bin)},
        {"Z", (const unsigned char *)"\\\\\\\\", 4},
    };
    struct br_record *recs[] = {
        mkkafka(ctl, INT32_MIN, INT64_MIN, quotes, strlen(quotes), bin, sizeof(bin), hdrs, 4),
        mkkafka(quotes, INT32_MAX, INT64_MAX, ctl, strlen(ctl), quotes, 2, NULL, 0),
        mkkafka("%%%%////", 0, 0, NULL, 0, "[\"\\u0001\"]", 10, NULL, 0),
        mkkafka("", 0, 0, NULL, 0, NULL, 0, NULL, 0),
        mkmqtt(INT64_MAX, ctl, bin, sizeof(bin), NULL),
        mkmqtt(1, quotes, "{}", 2, "application/x\"\\\"+json"),
        mkmqtt(1, "a", NULL, 0, "text/\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\""),
        mks3(ctl, false, INT64_MAX, "b"),
        mks3(quotes, true, 1, "bucket.with-dots"),
    };
    size_t n = sizeof(recs) / sizeof(recs[0]);
    recs[0]->timestamp_ms = INT64_MAX / 2;       /* a very wide year */
    struct br_event_ctx e = ev;
    check_bound(&e, recs, n);
    e.pipeline = quotes;
    check_bound(&e, recs, n);
    e.pipeline = pipeline;                       /* past the allowance */
    check_bound(&e, recs, n);
    free_recs(recs, n);
}

int main(void)
{
    test_kafka_structured();
    test_kafka_key_strings();
    test_kafka_many_headers();
    test_odd_names();
    test_mqtt();
    test_s3();
    test_modes_and_content_types();
    test_binary_body_bytes();
    test_cap();
    test_record_bound();
    return UNIT_DONE("cloudevents");
}
