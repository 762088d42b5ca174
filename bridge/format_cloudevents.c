/* format_cloudevents.c - the cloudevents format (DESIGN section 4): each
 * record as a CloudEvents 1.0 event, the way a Knative service receives
 * them from a KafkaSource.
 *
 * Structured batch mode (the default): the body is a JSON array of
 * events, Content-Type application/cloudevents-batch+json. Binary mode
 * (the pipeline's batch.max_records is 1, so each event is one record):
 * the body is the record's data, Content-Type its datacontenttype, and the
 * other attributes travel as ce-<name> request headers, their values
 * percent-encoded as the HTTP binding asks (space, '"', '%' and every byte
 * outside 0x21-0x7E), so a header value never holds a CR or LF.
 *
 * The attributes are the user's contract; keep them stable.
 *
 *   specversion  "1.0"
 *   id           the record's stable id (br_record_id), the one partial
 *                batch responses name: Kafka "<topic>-<partition>-<offset>",
 *                MQTT the spool sequence, S3 "<bucket>/<key>@<sequencer>"
 *   source       "/fnbridge/<pipeline>/kafka/<topic>",
 *                "/fnbridge/<pipeline>/mqtt", "/fnbridge/<pipeline>/s3/<bucket>",
 *                each segment percent-encoded but for A-Z a-z 0-9 - . _ ~
 *                (a URI reference). The pipeline is part of it because MQTT
 *                spool sequences are per pipeline: source + id stay unique.
 *   type         Kafka "dev.knative.kafka.event" (as KafkaSource);
 *                MQTT "dev.fnbridge.mqtt.message";
 *                S3 "com.amazonaws.s3.ObjectCreated:Put" or
 *                "com.amazonaws.s3.ObjectRemoved:Delete" (the CloudEvents
 *                AWS S3 adapter: "com.amazonaws.s3." + eventName)
 *   subject      Kafka "partition:<partition>#<offset>" (as KafkaSource);
 *                MQTT the topic; S3 the object key as the S3 event writes
 *                it, URL-encoded (s3.object.key, as the S3 adapter says)
 *   time         RFC 3339, UTC, milliseconds: Kafka the record's timestamp
 *                (no time when it has none), MQTT when fnbridge received
 *                the message, S3 the event's eventTime
 *   datacontenttype and data or data_base64:
 *                S3: application/json, data = the S3 event record (one
 *                entry of the lambda format's "Records").
 *                Kafka and MQTT: a value that is one valid JSON document
 *                is data (embedded), datacontenttype application/json;
 *                anything else is data_base64, application/octet-stream.
 *                When an MQTT v5 publisher set a content type (usable as an
 *                HTTP header) it is the datacontenttype instead, and the
 *                payload is embedded only if that type is JSON
 *                (application/json, text/json, or a +json suffix).
 *                A Kafka record without a value (a tombstone) has neither
 *                data nor datacontenttype (in binary mode: an empty body as
 *                application/octet-stream); an empty MQTT message is an
 *                empty data_base64.
 *   key          Kafka extension: the record's key when it is a valid
 *                CloudEvents string (UTF-8, no control characters), as
 *                KafkaSource's default key type "string"
 *   keybase64    Kafka extension: the key in base64 when it is not such a
 *                string (neither attribute when the record has no key)
 *   kafkaheader<name>  Kafka extensions, as KafkaSource maps headers:
 *                <name> is the header's name lowercased with everything
 *                but a-z 0-9 dropped, the value the header's when that is
 *                a valid CloudEvents string. The first header of a name
 *                wins; at most CE_MAX_HEADER_EXTS are mapped. Headers with
 *                other values (binary, null) are left out: the lambda and
 *                json formats carry every header.
 * Not mapped: MQTT QoS, retain and v5 properties other than the content
 * type (the json format has them). A Kafka record that is itself a
 * CloudEvent (ce_* headers) is wrapped like any other, not unwrapped. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "format.h"
#include "s3key.h"

#define CE_BATCH_TYPE "application/cloudevents-batch+json"
#define CE_JSON "application/json"
#define CE_OCTETS "application/octet-stream"
#define CE_MAX_HEADER_EXTS 64

static size_t b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

static bool binary_mode(const struct br_event_ctx *ev, size_t n)
{
    return ev && ev->ce_binary && n == 1;
}

/* ------------------------------------------------------------ the data */

enum ce_data_kind { CE_DATA_NONE, CE_DATA_JSON, CE_DATA_BASE64, CE_DATA_S3 };

struct ce_data {
    enum ce_data_kind kind;
    const char *content_type;      /* NULL with CE_DATA_NONE */
};

/* application/json, text/json or anything/anything+json, parameters aside. */
static bool json_media_type(const char *ct)
{
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (n == 9 && strncasecmp(ct, "text/json", 9) == 0) ||
           (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

static struct ce_data data_of(const struct br_record *rec)
{
    if (rec->kind == BR_REC_S3)
        return (struct ce_data){CE_DATA_S3, CE_JSON};
    if (rec->kind != BR_REC_MQTT && !rec->value)
        return (struct ce_data){CE_DATA_NONE, NULL};
    const char *declared = NULL;
    if (rec->kind == BR_REC_MQTT && rec->mqtt.content_type &&
        br_format_usable_content_type(rec->mqtt.content_type))
        declared = rec->mqtt.content_type;
    if (rec->value && (!declared || json_media_type(declared)) &&
        br_format_json_valid(rec->value, rec->value_len))
        return (struct ce_data){CE_DATA_JSON, declared ? declared : CE_JSON};
    return (struct ce_data){CE_DATA_BASE64, declared ? declared : CE_OCTETS};
}

/* ------------------------------------------------------ string checks */

/* A CloudEvents String: UTF-8 without control characters (U+0000-001F,
 * U+007F-009F), surrogates or noncharacters (U+FDD0-FDEF, U+xFFFE/F). */
static bool ce_string_ok(const unsigned char *p, size_t n)
{
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)      len = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
        else                             return false;
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
            cp <= 0x9F || (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE)
            return false;
        i += len;
    }
    return true;
}

static bool ext_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Do two header names give the same extension name? */
static bool same_ext_name(const char *a, const char *b)
{
    for (;;) {
        while (*a && !ext_name_char((unsigned char)*a))
            a++;
        while (*b && !ext_name_char((unsigned char)*b))
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        if (lower((unsigned char)*a++) != lower((unsigned char)*b++))
            return false;
    }
}

/* Fills idx with the headers that become kafkaheader<name> extensions, in
 * order; returns how many (at most CE_MAX_HEADER_EXTS). */
static size_t header_exts(const struct br_record *rec, size_t *idx)
{
    size_t count = 0;
    for (size_t i = 0; i < rec->n_headers && count < CE_MAX_HEADER_EXTS; i++) {
        const struct br_header *h = &rec->headers[i];
        if (!h->value || !ce_string_ok(h->value, h->value_len))
            continue;
        bool taken = false;
        for (size_t k = 0; k < count && !taken; k++)
            taken = same_ext_name(rec->headers[idx[k]].name, h->name);
        if (!taken)
            idx[count++] = i;
    }
    return count;
}

/* ---------------------------------------------------- percent-encoding */

static bool uri_unreserved(unsigned char c)
{
    return ext_name_char(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* What a ce-* header value may hold as it is (HTTP binding 3.1.3.2). */
static bool header_plain(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '%';
}

/* Appends s[0..n) with each byte keep() refuses as %XX. Sized exactly
 * first, as the JSON writer does, so what fits under the cap is written. */
static int put_pct(struct br_buf *out, const char *s, size_t n,
                   bool (*keep)(unsigned char))
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    size_t need = 0;
    if (n > SIZE_MAX / 4)
        return -1;
    for (size_t i = 0; i < n; i++)
        need += keep(p[i]) ? 1 : 3;
    if (br_buf_reserve(out, need) < 0)
        return -1;
    char *o = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        if (keep(p[i])) {
            *o++ = (char)p[i];
        } else {
            *o++ = '%';
            *o++ = hex[p[i] >> 4];
            *o++ = hex[p[i] & 15];
        }
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 0;
}

/* ----------------------------------------------------------- attributes */

/* Where attributes go: JSON members ,"<name>":<value> of a structured
 * event, or "ce-<name>: <value>" header lines, each NUL-terminated. */
struct ce_out {
    struct br_buf *out;
    bool binary;
};

/* Writes the name (prefix, then suffix reduced to a-z 0-9 when given) and
 * what separates it from the value. Each append in its own statement:
 * the operands of | are unsequenced. */
static int attr_open(const struct ce_out *o, const char *prefix, const char *suffix)
{
    int rc = o->binary ? br_buf_append(o->out, "ce-", 3) : br_buf_append(o->out, ",\"", 2);
    rc |= br_buf_puts(o->out, prefix);
    for (const char *s = suffix; s && *s; s++)
        if (ext_name_char((unsigned char)*s))
            rc |= br_buf_putc(o->out, (char)lower((unsigned char)*s));
    rc |= o->binary ? br_buf_append(o->out, ": ", 2) : br_buf_append(o->out, "\":", 2);
    return rc ? -1 : 0;
}

static int attr_str(const struct ce_out *o, const char *name, const char *suffix,
                    const void *v, size_t n)
{
    if (attr_open(o, name, suffix) < 0)
        return -1;
    if (o->binary)
        return put_pct(o->out, v, n, header_plain) < 0 ? -1 : br_buf_putc(o->out, '\0');
    return br_buf_put_json_str(o->out, v, n);
}

static int attr_cstr(const struct ce_out *o, const char *name, const char *v)
{
    return attr_str(o, name, NULL, v, strlen(v));
}

/* Base64 needs no percent-encoding: its alphabet is all plain. */
static int attr_b64(const struct ce_out *o, const char *name,
                    const unsigned char *p, size_t n)
{
    int rc = attr_open(o, name, NULL);
    if (!o->binary)
        rc |= br_buf_putc(o->out, '"');
    rc |= br_buf_put_base64(o->out, p, n);
    rc |= br_buf_putc(o->out, o->binary ? '\0' : '"');
    return rc ? -1 : 0;
}

/* The record's id (br_record_id) into v. */
static int id_value(struct br_buf *v, const struct br_record *rec)
{
    size_t topic = strlen(rec->topic);
    size_t need = 48 + topic;       /* Kafka: topic and two numbers */
    if (rec->kind == BR_REC_S3)
        need = 48 + (rec->s3.bucket ? strlen(rec->s3.bucket) : 0) +
               br_s3_key_encoded_len(rec->topic, topic);
    br_buf_reset(v);
    if (br_buf_reserve(v, need) < 0)
        return -1;
    v->len = br_record_id(rec, v->data, need + 1);
    return 0;
}

static int source_value(struct br_buf *v, const struct br_event_ctx *ev,
                        const struct br_record *rec)
{
    const char *pipeline = ev && ev->pipeline ? ev->pipeline : "";
    const char *bucket = rec->s3.bucket ? rec->s3.bucket : "";
    br_buf_reset(v);
    int rc = br_buf_puts(v, "/fnbridge/");
    rc |= put_pct(v, pipeline, strlen(pipeline), uri_unreserved);
    if (rec->kind == BR_REC_MQTT) {
        rc |= br_buf_puts(v, "/mqtt");
    } else if (rec->kind == BR_REC_S3) {
        rc |= br_buf_puts(v, "/s3/");
        rc |= put_pct(v, bucket, strlen(bucket), uri_unreserved);
    } else {
        rc |= br_buf_puts(v, "/kafka/");
        rc |= put_pct(v, rec->topic, strlen(rec->topic), uri_unreserved);
    }
    return rc ? -1 : 0;
}

static const char *type_of(const struct br_record *rec)
{
    switch (rec->kind) {
    case BR_REC_MQTT: return "dev.fnbridge.mqtt.message";
    case BR_REC_S3:   return rec->s3.removed ? "com.amazonaws.s3.ObjectRemoved:Delete"
                                             : "com.amazonaws.s3.ObjectCreated:Put";
    default:          return "dev.knative.kafka.event";
    }
}

static int subject_attr(const struct ce_out *o, struct br_buf *v,
                        const struct br_record *rec)
{
    size_t topic = strlen(rec->topic);
    if (rec->kind == BR_REC_MQTT)
        return attr_str(o, "subject", NULL, rec->topic, topic);
    if (rec->kind == BR_REC_S3) {
        size_t enc = br_s3_key_encoded_len(rec->topic, topic);
        br_buf_reset(v);
        if (br_buf_reserve(v, enc) < 0)
            return -1;
        br_s3_key_encode(rec->topic, topic, v->data, enc + 1);
        return attr_str(o, "subject", NULL, v->data, enc);
    }
    char text[64];
    int n = snprintf(text, sizeof(text), "partition:%d#%lld", (int)rec->partition,
                     (long long)rec->offset);
    return attr_str(o, "subject", NULL, text, n < 0 ? 0 : (size_t)n);
}

static int time_attr(const struct ce_out *o, const struct br_record *rec)
{
    char text[40];
    if (rec->timestamp_ms < 0)
        return 0;
    /* A timestamp gmtime cannot convert is left out, like a missing one. */
    size_t n = br_utc_text(rec->timestamp_ms, text, sizeof(text));
    return n ? attr_str(o, "time", NULL, text, n) : 0;
}

/* key or keybase64, and the kafkaheader<name> extensions. */
static int kafka_exts(const struct ce_out *o, const struct br_record *rec)
{
    if (rec->key) {
        int rc = ce_string_ok(rec->key, rec->key_len)
                     ? attr_str(o, "key", NULL, rec->key, rec->key_len)
                     : attr_b64(o, "keybase64", rec->key, rec->key_len);
        if (rc < 0)
            return -1;
    }
    size_t idx[CE_MAX_HEADER_EXTS];
    size_t count = header_exts(rec, idx);
    for (size_t k = 0; k < count; k++) {
        const struct br_header *h = &rec->headers[idx[k]];
        if (attr_str(o, "kafkaheader", h->name, h->value, h->value_len) < 0)
            return -1;
    }
    return 0;
}

/* Every attribute but specversion (written first by the caller) and
 * datacontenttype (a member in structured mode, Content-Type in binary).
 * v is scratch space for the values that are built. */
static int attributes(const struct ce_out *o, const struct br_event_ctx *ev,
                      const struct br_record *rec, struct br_buf *v)
{
    if (id_value(v, rec) < 0 || attr_str(o, "id", NULL, v->data, v->len) < 0 ||
        source_value(v, ev, rec) < 0 || attr_str(o, "source", NULL, v->data, v->len) < 0 ||
        attr_cstr(o, "type", type_of(rec)) < 0 || subject_attr(o, v, rec) < 0 ||
        time_attr(o, rec) < 0)
        return -1;
    return rec->kind == BR_REC_KAFKA ? kafka_exts(o, rec) : 0;
}

/* ------------------------------------------------------ structured mode */

static int data_member(struct br_buf *out, const struct br_event_ctx *ev,
                       const struct br_record *rec, const struct ce_data *d)
{
    int rc = 0;
    switch (d->kind) {
    case CE_DATA_JSON:
        rc |= br_buf_append(out, ",\"data\":", 8);
        rc |= br_buf_append(out, rec->value, rec->value_len);
        break;
    case CE_DATA_BASE64:
        rc |= br_buf_append(out, ",\"data_base64\":\"", 16);
        rc |= br_buf_put_base64(out, rec->value, rec->value ? rec->value_len : 0);
        rc |= br_buf_putc(out, '"');
        break;
    case CE_DATA_S3:
        rc |= br_buf_append(out, ",\"data\":", 8);
        rc |= br_format_s3_record(ev, rec, out);
        break;
    case CE_DATA_NONE:
        break;
    }
    return rc ? -1 : 0;
}

static int structured_event(struct br_buf *out, const struct br_event_ctx *ev,
                            const struct br_record *rec, struct br_buf *v)
{
    const struct ce_out o = {out, false};
    struct ce_data d = data_of(rec);
    static const char open[] = "{\"specversion\":\"1.0\"";
    if (br_buf_append(out, open, sizeof(open) - 1) < 0 || attributes(&o, ev, rec, v) < 0 ||
        (d.content_type && attr_cstr(&o, "datacontenttype", d.content_type) < 0) ||
        data_member(out, ev, rec, &d) < 0)
        return -1;
    return br_buf_putc(out, '}');
}

/* --------------------------------------------------------- binary mode */

/* The body: the record's data as it is. */
static int binary_body(struct br_buf *out, const struct br_event_ctx *ev,
                       const struct br_record *rec)
{
    if (rec->kind == BR_REC_S3)
        return br_format_s3_record(ev, rec, out);
    return rec->value ? br_buf_append(out, rec->value, rec->value_len) : 0;
}

/* ------------------------------------------------------------ interface */

int br_format_cloudevents(const struct br_event_ctx *ev, struct br_record *const *recs,
                          size_t n, struct br_buf *out)
{
    if (binary_mode(ev, n))
        return binary_body(out, ev, recs[0]);
    struct br_buf v;
    br_buf_init(&v, 0);
    int rc = br_buf_putc(out, '[');
    for (size_t i = 0; i < n && rc == 0; i++)
        if ((i && br_buf_putc(out, ',') < 0) || structured_event(out, ev, recs[i], &v) < 0)
            rc = -1;
    br_buf_free(&v);
    return rc < 0 ? -1 : br_buf_putc(out, ']');
}

int br_format_cloudevents_headers(const struct br_event_ctx *ev,
                                  struct br_record *const *recs, size_t n,
                                  struct br_buf *out)
{
    if (!binary_mode(ev, n))
        return 0;
    const struct ce_out o = {out, true};
    struct br_buf v;
    br_buf_init(&v, 0);
    int rc = attr_cstr(&o, "specversion", "1.0");
    if (rc == 0)
        rc = attributes(&o, ev, recs[0], &v);
    br_buf_free(&v);
    return rc;
}

const char *br_format_cloudevents_content_type(const struct br_event_ctx *ev,
                                               struct br_record *const *recs, size_t n)
{
    if (!binary_mode(ev, n))
        return CE_BATCH_TYPE;
    struct ce_data d = data_of(recs[0]);
    return d.content_type ? d.content_type : CE_OCTETS;
}

/* The structured event's worst case (binary mode's body is smaller): a
 * fixed allowance for the names, punctuation, type, numbers and time, then
 * each variable part at its widest: JSON escaping 6 bytes a byte (2 for a
 * checked CloudEvents string, which has no control characters),
 * percent-encoding 3, S3 key encoding 3, base64 4/3 rounded up (never less
 * than the value embedded as it is). */
size_t br_format_cloudevents_record_bound(const struct br_event_ctx *ev,
                                          const struct br_record *rec)
{
    size_t pipeline = ev && ev->pipeline ? strlen(ev->pipeline) : BR_CE_PIPELINE_ALLOWANCE;
    size_t topic = strlen(rec->topic);
    size_t bound = 384 + 3 * pipeline;
    if (rec->kind == BR_REC_S3) {
        size_t bucket = rec->s3.bucket ? strlen(rec->s3.bucket) : 0;
        /* id, source, subject, then the S3 record */
        return bound + (6 * bucket + 3 * topic) + 3 * bucket + 3 * topic +
               br_format_s3_record_bound(ev, rec);
    }
    bound += b64_len(rec->value_len);
    if (rec->kind == BR_REC_MQTT)
        return bound + 6 * topic +
               (rec->mqtt.content_type ? 2 * strlen(rec->mqtt.content_type) : 0);
    bound += 6 * topic + 3 * topic;                   /* id, source */
    if (rec->key)
        bound += 32 + 2 * rec->key_len + b64_len(rec->key_len);
    for (size_t i = 0; i < rec->n_headers; i++)
        bound += 20 + strlen(rec->headers[i].name) + 2 * rec->headers[i].value_len;
    return bound;
}
