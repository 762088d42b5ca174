/* s3_doc.c - the document a filter sees of an S3 change (README:
 * Filters): the members of its entry of the event's "Records", as the
 * function receives it (s3_lambda.c): eventName, awsRegion, eventTime,
 * s3.bucket.name, s3.object.key (URL-encoded, as S3 writes it) ... */
#include <string.h>

#include "bridge/clock.h"
#include "bridge/record_doc.h"
#include "s3_event.h"
#include "s3_key.h"

#define LIT(d, name, text) br_doc_json(d, name, text, sizeof(text) - 1)

static int event_time(struct br_doc *d, const struct br_record *rec)
{
    if (!br_doc_wants(d, "eventTime"))
        return d->failed ? -1 : 0;
    char text[40];
    size_t n = br_utc_text(rec->timestamp_ms, text, sizeof(text));
    return n ? br_doc_str(d, "eventTime", text, n) : br_doc_absent(d, "eventTime");
}

static int response_elements(struct br_doc *d, const struct br_record *rec)
{
    if (!br_doc_wants(d, "responseElements"))
        return d->failed ? -1 : 0;
    struct br_buf *b = br_doc_open(d, "responseElements");
    int rc = b ? br_buf_printf(b, "{\"x-amz-request-id\":\"" BR_S3_SEQUENCER_FMT "\","
                                  "\"x-amz-id-2\":\"" S3_PRINCIPAL "\"}",
                               (uint64_t)rec->offset) : -1;
    return br_doc_close(d, rc);
}

int s3_doc(struct br_doc *d, const struct br_event_ctx *ev, const struct br_record *rec)
{
    const struct br_s3_meta *m = br_s3_meta_of(rec);
    const char *region = m->region ? m->region : "";
    LIT(d, "eventVersion", "\"2.1\"");
    LIT(d, "eventSource", "\"aws:s3\"");
    br_doc_str(d, "awsRegion", region, strlen(region));
    event_time(d, rec);
    if (m->removed)
        LIT(d, "eventName", "\"ObjectRemoved:Delete\"");
    else
        LIT(d, "eventName", "\"ObjectCreated:Put\"");
    LIT(d, "userIdentity", "{\"principalId\":\"" S3_PRINCIPAL "\"}");
    LIT(d, "requestParameters", "{\"sourceIPAddress\":\"127.0.0.1\"}");
    response_elements(d, rec);
    if (!br_doc_wants(d, "s3"))
        return d->failed ? -1 : 0;
    struct br_buf *b = br_doc_open(d, "s3");
    return br_doc_close(d, b ? s3_event_s3(b, ev, rec) : -1);
}
