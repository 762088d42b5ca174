/* format_cloudevents.c - the cloudevents format (README: What the function receives): each
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
 * CloudEvent (ce_* headers) is wrapped like any other, not unwrapped.
 *
 * This file writes specversion, id, time, datacontenttype and the data;
 * source (past "/fnbridge/<pipeline>"), type, subject, the extensions and
 * a data of its own are the record kind's (record_kind.h), written with
 * ce_attr.h. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "ce_attr.h"
#include "clock.h"
#include "event_json.h"
#include "format_cloudevents.h"
#include "json_check.h"
#include "record_kind.h"

#define CE_BATCH_TYPE "application/cloudevents-batch+json"
#define CE_JSON "application/json"
#define CE_OCTETS "application/octet-stream"

static bool binary_mode(const struct br_event_ctx *ev, size_t n)
{
    return ev && ev->ce_binary && n == 1;
}

/* ------------------------------------------------------------ the data */

enum ce_data_kind { CE_DATA_NONE, CE_DATA_JSON, CE_DATA_BASE64, CE_DATA_OWN };

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
    const struct br_record_kind *kind = rec->kind;
    if (kind->cloudevents.data)
        return (struct ce_data){CE_DATA_OWN, CE_JSON};
    if (!(kind->flags & BR_KIND_EMPTY_IS_DATA) && !rec->value)
        return (struct ce_data){CE_DATA_NONE, NULL};
    const char *declared = kind->content_type ? kind->content_type(rec) : NULL;
    if (declared && !br_ev_usable_content_type(declared))
        declared = NULL;
    if (rec->value && (!declared || json_media_type(declared)) &&
        br_json_valid(rec->value, rec->value_len))
        return (struct ce_data){CE_DATA_JSON, declared ? declared : CE_JSON};
    return (struct ce_data){CE_DATA_BASE64, declared ? declared : CE_OCTETS};
}

/* ----------------------------------------------------------- attributes */

/* The record's id (br_record_id) into v. */
static int id_value(struct br_buf *v, const struct br_record *rec)
{
    char probe[1];
    size_t need = rec->kind->id(rec, probe, sizeof(probe));
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
    br_buf_reset(v);
    int rc = br_buf_puts(v, "/fnbridge/");
    rc |= br_ce_put_pct(v, pipeline, strlen(pipeline), br_ce_uri_unreserved);
    rc |= rec->kind->cloudevents.source(v, rec);
    return rc ? -1 : 0;
}

static int subject_value(struct br_buf *v, const struct br_record *rec)
{
    br_buf_reset(v);
    if (rec->kind->cloudevents.subject(v, rec) < 0)
        return -1;
    return 0;
}

static int time_attr(const struct br_ce_out *o, const struct br_record *rec)
{
    char text[40];
    if (rec->timestamp_ms < 0)
        return 0;
    /* A timestamp gmtime cannot convert is left out, like a missing one. */
    size_t n = br_utc_text(rec->timestamp_ms, text, sizeof(text));
    return n ? br_ce_attr_str(o, "time", NULL, text, n) : 0;
}

/* Every attribute but specversion (written first by the caller) and
 * datacontenttype (a member in structured mode, Content-Type in binary).
 * v is scratch space for the values that are built. */
static int attributes(const struct br_ce_out *o, const struct br_event_ctx *ev,
                      const struct br_record *rec, struct br_buf *v)
{
    const struct br_kind_cloudevents *shape = &rec->kind->cloudevents;
    if (id_value(v, rec) < 0 || br_ce_attr_str(o, "id", NULL, v->data, v->len) < 0 ||
        source_value(v, ev, rec) < 0 ||
        br_ce_attr_str(o, "source", NULL, v->data, v->len) < 0 ||
        br_ce_attr_cstr(o, "type", shape->type(rec)) < 0 || subject_value(v, rec) < 0 ||
        br_ce_attr_str(o, "subject", NULL, v->data ? v->data : "", v->len) < 0 ||
        time_attr(o, rec) < 0)
        return -1;
    return shape->extensions ? shape->extensions(o, rec) : 0;
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
    case CE_DATA_OWN:
        rc |= br_buf_append(out, ",\"data\":", 8);
        rc |= rec->kind->cloudevents.data(out, ev, rec);
        break;
    case CE_DATA_NONE:
        break;
    }
    return rc ? -1 : 0;
}

static int structured_event(struct br_buf *out, const struct br_event_ctx *ev,
                            const struct br_record *rec, struct br_buf *v)
{
    const struct br_ce_out o = {out, false};
    struct ce_data d = data_of(rec);
    static const char open[] = "{\"specversion\":\"1.0\"";
    if (br_buf_append(out, open, sizeof(open) - 1) < 0 || attributes(&o, ev, rec, v) < 0 ||
        (d.content_type && br_ce_attr_cstr(&o, "datacontenttype", d.content_type) < 0) ||
        data_member(out, ev, rec, &d) < 0)
        return -1;
    return br_buf_putc(out, '}');
}

/* --------------------------------------------------------- binary mode */

/* The body: the record's data as it is. */
static int binary_body(struct br_buf *out, const struct br_event_ctx *ev,
                       const struct br_record *rec)
{
    if (rec->kind->cloudevents.data)
        return rec->kind->cloudevents.data(out, ev, rec);
    return rec->value ? br_buf_append(out, rec->value, rec->value_len) : 0;
}

/* ------------------------------------------------------------ interface */

/* A record whose kind has no cloudevents shape (its source does not offer
 * the format) cannot be encoded. */
static bool has_shape(struct br_record *const *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!recs[i]->kind->cloudevents.type)
            return false;
    return true;
}

int br_ce_encode(const struct br_event_ctx *ev, struct br_record *const *recs, size_t n,
                 struct br_buf *out)
{
    if (!has_shape(recs, n))
        return -1;
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

int br_ce_headers(const struct br_event_ctx *ev, struct br_record *const *recs, size_t n,
                  struct br_buf *out)
{
    if (!binary_mode(ev, n))
        return 0;
    if (!has_shape(recs, n))
        return -1;
    const struct br_ce_out o = {out, true};
    struct br_buf v;
    br_buf_init(&v, 0);
    int rc = br_ce_attr_cstr(&o, "specversion", "1.0");
    if (rc == 0)
        rc = attributes(&o, ev, recs[0], &v);
    br_buf_free(&v);
    return rc;
}

const char *br_ce_content_type(const struct br_event_ctx *ev, struct br_record *const *recs,
                               size_t n)
{
    if (!binary_mode(ev, n))
        return CE_BATCH_TYPE;
    struct ce_data d = data_of(recs[0]);
    return d.content_type ? d.content_type : CE_OCTETS;
}

/* The structured event's worst case (binary mode's body is smaller): a
 * fixed allowance for the names, punctuation, specversion, numbers and
 * time, the pipeline percent-encoded in source, then what the kind's
 * parts add (each variable part at its widest: JSON escaping 6 bytes a
 * byte, 2 for a checked CloudEvents string, percent-encoding 3, base64
 * 4/3 rounded up, never less than the value embedded as it is). */
size_t br_ce_record_bound(const struct br_event_ctx *ev, const struct br_record *rec)
{
    size_t pipeline = ev && ev->pipeline ? strlen(ev->pipeline) : BR_CE_PIPELINE_ALLOWANCE;
    size_t (*bound)(const struct br_event_ctx *, const struct br_record *) =
        rec->kind->cloudevents.bound;
    return 384 + 3 * pipeline + (bound ? bound(ev, rec) : 0);
}
