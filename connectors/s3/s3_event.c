/* s3_event.c - the record kind of S3 object changes (s3_event.h): the
 * metadata copied into the record, the id "<bucket>/<key as in the
 * event>@<sequencer>" (a partial answer names a record by it; the
 * sequencer alone is unique), the cloudevents attributes of the CloudEvents
 * AWS S3 adapter, and the dead letter's bucket and keys. The event shape
 * itself is in s3_lambda.c. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bridge/ce_attr.h"
#include "bridge/dlq_json.h"
#include "s3_event.h"
#include "s3_key.h"

static const char *bucket_of(const struct br_record *rec)
{
    const char *bucket = br_s3_meta_of(rec)->bucket;
    return bucket ? bucket : "";
}

/* ------------------------------------------------------------ metadata */

static size_t meta_extra(const void *meta)
{
    const struct br_s3_meta *m = meta;
    return m->etag ? strlen(m->etag) + 1 : 0;
}

static void meta_copy(void *block, const void *meta, char **cursor)
{
    const struct br_s3_meta *m = meta;
    struct br_s3_meta *copy = block;
    *copy = *m;
    if (m->etag) {
        size_t n = strlen(m->etag) + 1;
        copy->etag = memcpy(*cursor, m->etag, n);
        *cursor += n;
    }
}

/* ---------------------------------------------------------- identities */

/* "<bucket>/<encoded key>@<sequencer>"; a cut key stops at a whole escape. */
static size_t s3_id(const struct br_record *rec, char *buf, size_t n)
{
    size_t key_len = strlen(rec->topic);
    size_t whole = strlen(bucket_of(rec)) + 1 + br_s3_key_encoded_len(rec->topic, key_len) +
                   1 + BR_S3_SEQUENCER_LEN;
    int head = snprintf(buf, n, "%s/", bucket_of(rec));
    size_t at = head < 0 ? 0 : (size_t)head < n ? (size_t)head : n - 1;
    br_s3_key_encode(rec->topic, key_len, buf + at, n - at);
    at += strlen(buf + at);
    snprintf(buf + at, n - at, "@" BR_S3_SEQUENCER_FMT, (uint64_t)rec->offset);
    return whole;
}

/* The sequencer of an id "<bucket>/<key>@<sequencer>": 1 to 16 hex
 * digits after the last '@'. */
static bool parse_sequencer(const char *s, size_t n, int64_t *seq)
{
    size_t at = n;
    while (at > 0 && s[at - 1] != '@')
        at--;
    if (at == 0 || n - at == 0 || n - at > 16)
        return false;
    uint64_t v = 0;
    for (size_t i = at; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
              : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    if (v > INT64_MAX)
        return false;
    *seq = (int64_t)v;
    return true;
}

/* The sequencer is unique on its own: indexed under the empty topic. */
static bool s3_parse_id(const json_t *id, struct br_coord *c)
{
    *c = (struct br_coord){"", 0, 0, 0};
    return json_is_string(id) && parse_sequencer(json_string_value(id),
                                                 json_string_length(id), &c->offset);
}

/* ------------------------------------------------------------ cloudevents */

static const char *ce_type(const struct br_record *rec)
{
    return br_s3_meta_of(rec)->removed ? "com.amazonaws.s3.ObjectRemoved:Delete"
                                       : "com.amazonaws.s3.ObjectCreated:Put";
}

static int ce_source(struct br_buf *v, const struct br_record *rec)
{
    const char *bucket = bucket_of(rec);
    int rc = br_buf_puts(v, "/s3/");
    rc |= br_ce_put_pct(v, bucket, strlen(bucket), br_ce_uri_unreserved);
    return rc ? -1 : 0;
}

/* The object key as the S3 event writes it (s3.object.key). */
static int ce_subject(struct br_buf *v, const struct br_record *rec)
{
    size_t topic = strlen(rec->topic);
    size_t enc = br_s3_key_encoded_len(rec->topic, topic);
    if (br_buf_reserve(v, enc) < 0)
        return -1;
    br_s3_key_encode(rec->topic, topic, v->data + v->len, enc + 1);
    v->len += enc;
    return 0;
}

static int ce_data(struct br_buf *out, const struct br_event_ctx *ev,
                   const struct br_record *rec)
{
    return s3_event_record(out, ev, rec);
}

/* id, source, subject (key encoding 3 a byte, JSON escaping 6), then the
 * S3 record as data. */
static size_t ce_bound(const struct br_event_ctx *ev, const struct br_record *rec)
{
    size_t bucket = strlen(bucket_of(rec));
    size_t topic = strlen(rec->topic);
    return (6 * bucket + 3 * topic) + 3 * bucket + 3 * topic + s3_record_bound(ev, rec);
}

/* ---------------------------------------------------------- dead letters */

static bool is_text(const char *s)
{
    return br_dlq_is_text((const unsigned char *)s, strlen(s));
}

/* The bucket and the keys (as listed, not encoded) of the batch. A store
 * may list keys that are not UTF-8: then "keys" holds them cleaned for
 * reading and "keysBase64" every key's exact bytes, in the same order. */
static int s3_dlq_source(struct br_buf *out, const char *type,
                         struct br_record *const *recs, size_t n)
{
    (void)type;
    const char *bucket = bucket_of(recs[0]);
    int rc = br_buf_puts(out, "{\"type\":\"s3\",");
    rc |= br_dlq_put_label(out, "bucket", bucket, strlen(bucket));
    rc |= br_buf_puts(out, ",\"keys\":[");
    bool all_text = true;
    for (size_t i = 0; i < n; i++) {
        const char *key = recs[i]->topic;
        if (i)
            rc |= br_buf_putc(out, ',');
        rc |= br_dlq_put_text(out, (const unsigned char *)key, strlen(key));
        all_text = all_text && is_text(key);
    }
    rc |= br_buf_putc(out, ']');
    if (!all_text) {
        rc |= br_buf_puts(out, ",\"keysBase64\":[");
        for (size_t i = 0; i < n; i++) {
            const char *key = recs[i]->topic;
            rc |= br_buf_puts(out, i ? ",\"" : "\"");
            rc |= br_buf_put_base64(out, (const unsigned char *)key, strlen(key));
            rc |= br_buf_putc(out, '"');
        }
        rc |= br_buf_putc(out, ']');
    }
    return rc | br_buf_putc(out, '}');
}

/* ---------------------------------------------------------------- the kind */

static size_t lambda_bound(const struct br_event_ctx *ev, const struct br_record *rec)
{
    return s3_record_bound(ev, rec);
}

const struct br_record_kind br_kind_s3 = {
    .name = "s3",
    .meta_size = sizeof(struct br_s3_meta),
    .meta_extra = meta_extra,
    .meta_copy = meta_copy,
    .id = s3_id,
    .coord = br_kind_seq_coord,
    .parse_id = s3_parse_id,
    .lambda = {s3_lambda_encode, lambda_bound},
    .cloudevents = {.type = ce_type, .source = ce_source, .subject = ce_subject,
                    .data = ce_data, .bound = ce_bound},
    .doc = s3_doc,
    .dlq_source = s3_dlq_source,
};
