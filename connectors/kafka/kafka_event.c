/* kafka_event.c - the record kind of Kafka records (kafka_event.h): the
 * id "<topic>-<partition>-<offset>", partial answers that name a record
 * by {"partition":"<topic>-<n>","offset":<n>} or by its id, the entry of
 * the json format, the bounds, and the dead letter's partitions. The
 * lambda and cloudevents shapes have files of their own. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bridge/event_json.h"
#include "kafka_event.h"

static size_t kafka_id(const struct br_record *rec, char *buf, size_t n)
{
    int len = snprintf(buf, n, "%s-%" PRId32 "-%" PRId64, rec->topic, rec->partition,
                       rec->offset);
    return len < 0 ? 0 : (size_t)len;
}

static void kafka_coord(const struct br_record *rec, struct br_coord *c)
{
    *c = (struct br_coord){rec->topic, strlen(rec->topic), rec->partition, rec->offset};
}

/* ------------------------------------------------- identifiers in answers */

/* Splits "<topic>-<n>" at its last dash (topics may contain dashes). */
static bool split_last_dash(const char *s, size_t n, size_t *topic_len,
                            int64_t max, int64_t *num)
{
    const char *dash = NULL;
    for (size_t i = n; i > 0; i--)
        if (s[i - 1] == '-') {
            dash = s + i - 1;
            break;
        }
    if (!dash || dash == s)
        return false;
    *topic_len = (size_t)(dash - s);
    return br_kind_parse_dec(dash + 1, n - *topic_len - 1, max, num);
}

/* The offset of an identifier object: a JSON integer or a numeric string. */
static bool parse_offset(const json_t *v, int64_t *offset)
{
    if (json_is_integer(v)) {
        *offset = (int64_t)json_integer_value(v);
        return *offset >= 0;
    }
    if (json_is_string(v))
        return br_kind_parse_dec(json_string_value(v), json_string_length(v),
                                 INT64_MAX, offset);
    /* 11.0, or any integer after the INT_AS_REAL re-parse (outcome.c):
     * accepted when integral and exact (below 2^53). */
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(int64_t)d)
            return false;
        *offset = (int64_t)d;
        return true;
    }
    return false;
}

/* {"partition":"<topic>-<n>","offset":n}, as Lambda's own Kafka answers,
 * or the id "<topic>-<partition>-<offset>". */
static bool kafka_parse_id(const json_t *id, struct br_coord *c)
{
    int64_t part;
    if (json_is_object(id)) {
        const json_t *p = json_object_get(id, "partition");
        if (!json_is_string(p) || !parse_offset(json_object_get(id, "offset"), &c->offset))
            return false;
        c->topic = json_string_value(p);
        if (!split_last_dash(c->topic, json_string_length(p), &c->topic_len, INT32_MAX, &part))
            return false;
    } else if (json_is_string(id)) {
        size_t head_len;
        c->topic = json_string_value(id);
        if (!split_last_dash(c->topic, json_string_length(id), &head_len, INT64_MAX,
                             &c->offset) ||
            !split_last_dash(c->topic, head_len, &c->topic_len, INT32_MAX, &part))
            return false;
    } else {
        return false;
    }
    c->partition = (int32_t)part;
    return true;
}

/* ----------------------------------------------------------- json format */

/* {"name":"<base64>"|null,...}; duplicate header names (legal in Kafka)
 * are kept as repeated keys, in order. */
static int json_headers(struct br_buf *out, const struct br_record *rec)
{
    if (br_ev_putc(out, '{') < 0)
        return -1;
    for (size_t i = 0; i < rec->n_headers; i++) {
        const struct br_header *h = &rec->headers[i];
        if ((i && br_ev_putc(out, ',') < 0) || br_ev_str(out, h->name) < 0 ||
            br_ev_putc(out, ':') < 0)
            return -1;
        if (!h->value ? BR_EV_LIT(out, "null") < 0
                      : (br_ev_putc(out, '"') < 0 ||
                         br_buf_put_base64(out, h->value, h->value_len) < 0 ||
                         br_ev_putc(out, '"') < 0))
            return -1;
    }
    return br_ev_putc(out, '}');
}

static int kafka_json_record(struct br_buf *out, const struct br_record *rec)
{
    /* id is "<topic>-<partition>-<offset>", the same as kafka_id */
    if (BR_EV_LIT(out, "{\"id\":") < 0 || br_ev_str_open(out, rec->topic) < 0 ||
        br_ev_putc(out, '-') < 0 || br_buf_put_i64(out, rec->partition) < 0 ||
        br_ev_putc(out, '-') < 0 || br_buf_put_i64(out, rec->offset) < 0 ||
        BR_EV_LIT(out, "\",\"topic\":") < 0 || br_ev_str(out, rec->topic) < 0 ||
        BR_EV_LIT(out, ",\"partition\":") < 0 ||
        br_buf_put_i64(out, rec->partition) < 0 ||
        BR_EV_LIT(out, ",\"offset\":") < 0 || br_buf_put_i64(out, rec->offset) < 0 ||
        BR_EV_LIT(out, ",\"timestamp\":") < 0 ||
        br_buf_put_i64(out, rec->timestamp_ms) < 0)
        return -1;
    if (br_ev_payload(out, "key", rec->key, rec->key_len) < 0 ||
        br_ev_payload(out, "value", rec->value, rec->value_len) < 0 ||
        BR_EV_LIT(out, ",\"headers\":") < 0 || json_headers(out, rec) < 0)
        return -1;
    return br_ev_putc(out, '}');
}

/* ---------------------------------------------------------------- bounds */

/* The topic appears twice in both formats (lambda: group key and "topic";
 * json: "id" and "topic"); a header value is a list of signed bytes in
 * the lambda format (",-128" a byte), base64 in json. */
static size_t bound(const struct br_record *rec, bool lambda)
{
    size_t bound = 256 + 12 * strlen(rec->topic) + br_b64_len(rec->key_len) +
                   br_b64_len(rec->value_len);
    for (size_t i = 0; i < rec->n_headers; i++) {
        const struct br_header *h = &rec->headers[i];
        size_t value = lambda ? 5 * h->value_len : br_b64_len(h->value_len);
        bound += 16 + 6 * strlen(h->name) + value;
    }
    return bound;
}

static size_t lambda_bound(const struct br_event_ctx *ev, const struct br_record *rec)
{
    (void)ev;
    return bound(rec, true);
}

static size_t json_bound(const struct br_event_ctx *ev, const struct br_record *rec)
{
    (void)ev;
    return bound(rec, false);
}

/* ---------------------------------------------------------------- the kind */

/* What a Kafka record is, whether read from its topic or from a
 * dead-letter topic for replay (which only adds its metadata block). */
#define KAFKA_KIND                                                            \
    .name = "kafka",                                                          \
    .flags = BR_KIND_TOPIC_IS_CHANNEL | BR_KIND_PARTITIONED,                  \
    .id = kafka_id,                                                           \
    .coord = kafka_coord,                                                     \
    .parse_id = kafka_parse_id,                                               \
    .lambda = {kafka_lambda_encode, lambda_bound},                            \
    .json = {kafka_json_record, json_bound},                                  \
    .cloudevents = {.type = kafka_ce_type, .source = kafka_ce_source,         \
                    .subject = kafka_ce_subject, .extensions = kafka_ce_extensions, \
                    .bound = kafka_ce_bound},                                 \
    .doc = kafka_doc,                                                         \
    .dlq_source = br_kind_dlq_partitions

const struct br_record_kind br_kind_kafka = {KAFKA_KIND};

const struct br_record_kind br_kind_kafka_replayed = {
    KAFKA_KIND,
    .meta_size = sizeof(struct kafka_replay_meta),
};
