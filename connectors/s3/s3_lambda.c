/* s3_lambda.c - S3 change records as the event AWS S3 sends to Lambda
 * (README: What the function receives): {"Records":[{eventVersion 2.1, eventSource aws:s3,
 * ...}]}, one entry per record, the shape existing handlers expect; the
 * cloudevents format sends one entry as an event's data. */
#include <stdio.h>
#include <string.h>

#include "bridge/clock.h"
#include "s3_event.h"
#include "s3_key.h"

static int put_lit(struct br_buf *out, const char *s)
{
    return br_buf_append(out, s, strlen(s));
}

/* ISO 8601 with milliseconds, UTC, as S3's eventTime. */
static int put_time(struct br_buf *out, int64_t ms)
{
    char text[40];
    size_t n = br_utc_text(ms, text, sizeof(text));
    return n ? br_buf_put_json_str(out, text, n) : -1;
}

static int put_key(struct br_buf *out, const char *key)
{
    size_t len = strlen(key);
    size_t enc = br_s3_key_encoded_len(key, len);
    if (br_buf_reserve(out, enc + 3) < 0 || br_buf_putc(out, '"') < 0)
        return -1;
    br_s3_key_encode(key, len, out->data + out->len, out->cap - out->len);
    out->len += enc;
    return br_buf_putc(out, '"');
}

static int put_sequencer(struct br_buf *out, const struct br_record *rec)
{
    return br_buf_printf(out, "\"" BR_S3_SEQUENCER_FMT "\"", (uint64_t)rec->offset);
}

/* Each append in its own statement: the operands of | are unsequenced. */
static int put_object(struct br_buf *out, const struct br_record *rec)
{
    const struct br_s3_meta *m = br_s3_meta_of(rec);
    int rc = put_lit(out, "\"object\":{\"key\":");
    rc |= put_key(out, rec->topic);
    if (!m->removed) {
        const char *etag = m->etag ? m->etag : "";
        rc |= put_lit(out, ",\"size\":");
        rc |= br_buf_put_i64(out, m->size);
        rc |= put_lit(out, ",\"eTag\":");
        rc |= br_buf_put_json_str(out, etag, strlen(etag));
    }
    rc |= put_lit(out, ",\"sequencer\":");
    rc |= put_sequencer(out, rec);
    return rc | put_lit(out, "}");
}

static int put_bucket(struct br_buf *out, const char *bucket)
{
    int rc = put_lit(out, "\"bucket\":{\"name\":");
    rc |= br_buf_put_json_str(out, bucket, strlen(bucket));
    rc |= put_lit(out, ",\"ownerIdentity\":{\"principalId\":\"" S3_PRINCIPAL "\"},"
                       "\"arn\":\"arn:aws:s3:::");
    rc |= put_lit(out, bucket);       /* bucket names need no escaping */
    return rc | put_lit(out, "\"}");
}

int s3_event_s3(struct br_buf *out, const struct br_event_ctx *ev, const struct br_record *rec)
{
    const struct br_s3_meta *m = br_s3_meta_of(rec);
    const char *config = ev && ev->pipeline ? ev->pipeline : "";
    int rc = put_lit(out, "{\"s3SchemaVersion\":\"1.0\",\"configurationId\":");
    rc |= br_buf_put_json_str(out, config, strlen(config));
    rc |= put_lit(out, ",");
    rc |= put_bucket(out, m->bucket ? m->bucket : "");
    rc |= put_lit(out, ",");
    rc |= put_object(out, rec);
    return rc | put_lit(out, "}");
}

int s3_event_record(struct br_buf *out, const struct br_event_ctx *ev,
                     const struct br_record *rec)
{
    const struct br_s3_meta *m = br_s3_meta_of(rec);
    const char *region = m->region ? m->region : "";
    int rc = put_lit(out, "{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\","
                          "\"awsRegion\":");
    rc |= br_buf_put_json_str(out, region, strlen(region));
    rc |= put_lit(out, ",\"eventTime\":");
    rc |= put_time(out, rec->timestamp_ms);
    rc |= put_lit(out, m->removed ? ",\"eventName\":\"ObjectRemoved:Delete\""
                                       : ",\"eventName\":\"ObjectCreated:Put\"");
    rc |= put_lit(out, ",\"userIdentity\":{\"principalId\":\"" S3_PRINCIPAL "\"},"
                       "\"requestParameters\":{\"sourceIPAddress\":\"127.0.0.1\"},"
                       "\"responseElements\":{\"x-amz-request-id\":");
    rc |= put_sequencer(out, rec);
    rc |= put_lit(out, ",\"x-amz-id-2\":\"" S3_PRINCIPAL "\"},\"s3\":");
    rc |= s3_event_s3(out, ev, rec);
    rc |= put_lit(out, "}");
    return rc ? -1 : 0;
}

int s3_lambda_encode(const struct br_event_ctx *ev, struct br_record *const *recs,
                     size_t n, struct br_buf *out)
{
    if (put_lit(out, "{\"Records\":[") < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((i && br_buf_putc(out, ',') < 0) || s3_event_record(out, ev, recs[i]) < 0)
            return -1;
    return put_lit(out, "]}");
}

/* The configurationId is the pipeline name, JSON-escaped. */
size_t s3_record_bound(const struct br_event_ctx *ev, const struct br_record *rec)
{
    const struct br_s3_meta *m = br_s3_meta_of(rec);
    size_t pipeline = ev && ev->pipeline ? strlen(ev->pipeline) : BR_CE_PIPELINE_ALLOWANCE;
    size_t bucket = m->bucket ? strlen(m->bucket) : 0;
    size_t region = m->region ? strlen(m->region) : 0;
    size_t etag = m->etag ? strlen(m->etag) : 0;
    return 768 + 3 * strlen(rec->topic) + 7 * bucket + 6 * region + 6 * etag + 6 * pipeline;
}
