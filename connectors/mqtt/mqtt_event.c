/* mqtt_event.c - the record kind of MQTT messages (mqtt_event.h): their
 * metadata copied into the record, the id (the spool sequence, which a
 * partial answer names them by too), the json format's entry with the
 * v5 properties, the publisher's content type, and the cloudevents type
 * dev.fnbridge.mqtt.message with the topic as subject. */
#include <string.h>

#include "bridge/ce_attr.h"
#include "bridge/event_json.h"
#include "mqtt_event.h"

/* ------------------------------------------------------------ metadata */

static size_t meta_extra(const void *meta)
{
    const struct br_mqtt_meta *m = meta;
    return (m->content_type ? strlen(m->content_type) + 1 : 0) +
           (m->response_topic ? strlen(m->response_topic) + 1 : 0) +
           (m->correlation ? m->correlation_len : 0);
}

static const void *put(char **cursor, const void *p, size_t n)
{
    void *at = *cursor;
    if (n)
        memcpy(at, p, n);
    *cursor += n;
    return at;
}

static void meta_copy(void *block, const void *meta, char **cursor)
{
    const struct br_mqtt_meta *m = meta;
    struct br_mqtt_meta *copy = block;
    *copy = (struct br_mqtt_meta){.qos = m->qos, .retain = m->retain};
    if (m->content_type)
        copy->content_type = put(cursor, m->content_type, strlen(m->content_type) + 1);
    if (m->response_topic)
        copy->response_topic = put(cursor, m->response_topic, strlen(m->response_topic) + 1);
    if (m->correlation) {
        copy->correlation = put(cursor, m->correlation, m->correlation_len);
        copy->correlation_len = m->correlation_len;
    }
}

/* ----------------------------------------------------------- json format */

/* "userProperties":[{"key":..,"value":..}] from the record's headers:
 * MQTT v5 allows a name more than once, so a list, not an object. */
static int user_properties(struct br_buf *out, const struct br_record *rec)
{
    if (BR_EV_LIT(out, "\"userProperties\":[") < 0)
        return -1;
    for (size_t i = 0; i < rec->n_headers; i++) {
        const struct br_header *h = &rec->headers[i];
        const unsigned char *value = h->value ? h->value : (const unsigned char *)"";
        if ((i && br_ev_putc(out, ',') < 0) || BR_EV_LIT(out, "{\"key\":") < 0 ||
            br_ev_str(out, h->name) < 0 || BR_EV_LIT(out, ",\"value\":") < 0 ||
            br_buf_put_json_str(out, (const char *)value, h->value_len) < 0 ||
            br_ev_putc(out, '}') < 0)
            return -1;
    }
    return br_ev_putc(out, ']');
}

/* "properties":{...} with only the MQTT v5 properties the message had. */
static int properties(struct br_buf *out, const struct br_record *rec)
{
    const struct br_mqtt_meta *m = br_mqtt_meta_of(rec);
    bool first = true;
    if (BR_EV_LIT(out, ",\"properties\":{") < 0)
        return -1;
    if (m->content_type) {
        if (BR_EV_LIT(out, "\"contentType\":") < 0 || br_ev_str(out, m->content_type) < 0)
            return -1;
        first = false;
    }
    if (m->response_topic) {
        if ((!first && br_ev_putc(out, ',') < 0) || BR_EV_LIT(out, "\"responseTopic\":") < 0 ||
            br_ev_str(out, m->response_topic) < 0)
            return -1;
        first = false;
    }
    if (m->correlation) {
        if ((!first && br_ev_putc(out, ',') < 0) ||
            BR_EV_LIT(out, "\"correlationData\":\"") < 0 ||
            br_buf_put_base64(out, m->correlation, m->correlation_len) < 0 ||
            br_ev_putc(out, '"') < 0)
            return -1;
        first = false;
    }
    if (rec->n_headers &&
        ((!first && br_ev_putc(out, ',') < 0) || user_properties(out, rec) < 0))
        return -1;
    return br_ev_putc(out, '}');
}

/* {"id":"<seq>","topic","qos","retain","receivedAt","payload",
 *  "payloadEncoding","properties"} */
static int mqtt_json_record(struct br_buf *out, const struct br_record *rec)
{
    const struct br_mqtt_meta *m = br_mqtt_meta_of(rec);
    if (BR_EV_LIT(out, "{\"id\":\"") < 0 || br_buf_put_i64(out, rec->offset) < 0 ||
        BR_EV_LIT(out, "\",\"topic\":") < 0 || br_ev_str(out, rec->topic) < 0 ||
        BR_EV_LIT(out, ",\"qos\":") < 0 || br_buf_put_i64(out, m->qos) < 0 ||
        (m->retain ? BR_EV_LIT(out, ",\"retain\":true") < 0
                   : BR_EV_LIT(out, ",\"retain\":false") < 0) ||
        BR_EV_LIT(out, ",\"receivedAt\":") < 0 ||
        br_buf_put_i64(out, rec->timestamp_ms) < 0)
        return -1;
    /* An empty message still has a payload: the empty string. */
    static const unsigned char empty[1];
    if (br_ev_payload(out, "payload", rec->value ? rec->value : empty, rec->value_len) < 0 ||
        properties(out, rec) < 0)
        return -1;
    return br_ev_putc(out, '}');
}

/* Strings escaped at worst, the payload and correlation as base64, each
 * user property a name and a value. */
static size_t json_bound(const struct br_event_ctx *ev, const struct br_record *rec)
{
    (void)ev;
    const struct br_mqtt_meta *m = br_mqtt_meta_of(rec);
    size_t bound = 256 + 12 * strlen(rec->topic) + br_b64_len(rec->key_len) +
                   br_b64_len(rec->value_len) + 128 +
                   (m->content_type ? 6 * strlen(m->content_type) : 0) +
                   (m->response_topic ? 6 * strlen(m->response_topic) : 0) +
                   br_b64_len(m->correlation_len);
    for (size_t i = 0; i < rec->n_headers; i++)
        bound += 16 + 6 * strlen(rec->headers[i].name) + 6 * rec->headers[i].value_len + 24;
    return bound;
}

static const char *mqtt_content_type(const struct br_record *rec)
{
    return br_mqtt_meta_of(rec)->content_type;
}

/* ------------------------------------------------------------ cloudevents */

static const char *ce_type(const struct br_record *rec)
{
    (void)rec;
    return "dev.fnbridge.mqtt.message";
}

/* No topic: a pipeline's spool sequences are unique across its topics. */
static int ce_source(struct br_buf *v, const struct br_record *rec)
{
    (void)rec;
    return br_buf_puts(v, "/mqtt");
}

static int ce_subject(struct br_buf *v, const struct br_record *rec)
{
    return br_buf_puts(v, rec->topic);
}

/* The data as base64 at worst, the topic JSON-escaped as subject, the
 * content type a checked header value. */
static size_t ce_bound(const struct br_event_ctx *ev, const struct br_record *rec)
{
    (void)ev;
    const char *ct = br_mqtt_meta_of(rec)->content_type;
    return br_b64_len(rec->value_len) + 6 * strlen(rec->topic) + (ct ? 2 * strlen(ct) : 0);
}

/* ---------------------------------------------------------------- the kind */

const struct br_record_kind br_kind_mqtt = {
    .name = "mqtt",
    .flags = BR_KIND_EMPTY_IS_DATA | BR_KIND_TOPIC_IS_CHANNEL,
    .meta_size = sizeof(struct br_mqtt_meta),
    .meta_extra = meta_extra,
    .meta_copy = meta_copy,
    .id = br_kind_seq_id,
    .coord = br_kind_seq_coord,
    .parse_id = br_kind_seq_parse_id,
    .content_type = mqtt_content_type,
    .json = {mqtt_json_record, json_bound},
    .cloudevents = {.type = ce_type, .source = ce_source, .subject = ce_subject,
                    .bound = ce_bound},
    .doc = mqtt_doc,
    .dlq_source = br_kind_dlq_partitions,
};
