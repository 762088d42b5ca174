/* kafka_doc.c - the document a filter sees of a Kafka record (README:
 * Filters): {"topic","partition","offset","timestamp","key","value",
 * "headers"}, key and value decoded as Lambda's FilterCriteria decode
 * them (the JSON itself, else the UTF-8 text, else absent). */
#include <string.h>

#include "bridge/record_doc.h"
#include "kafka_event.h"

/* Headers as an object of strings (a name given twice: a list). */
static int headers(struct br_doc *d, const struct br_record *rec)
{
    if (!br_doc_wants(d, "headers"))
        return d->failed ? -1 : 0;
    struct br_buf *b = br_doc_open(d, "headers");
    return br_doc_close(d, b ? br_doc_put_headers(d, b, rec->headers, rec->n_headers) : -1);
}

int kafka_doc(struct br_doc *d, const struct br_event_ctx *ev, const struct br_record *rec)
{
    (void)ev;
    br_doc_str(d, "topic", rec->topic, strlen(rec->topic));
    br_doc_i64(d, "partition", rec->partition);
    br_doc_i64(d, "offset", rec->offset);
    if (rec->timestamp_ms >= 0)
        br_doc_i64(d, "timestamp", rec->timestamp_ms);
    else
        br_doc_absent(d, "timestamp");
    br_doc_payload(d, "key", rec->key, rec->key_len);
    br_doc_payload(d, "value", rec->value, rec->value_len);
    return headers(d, rec);
}
