/* mqtt_doc.c - the document a filter sees of an MQTT message (README:
 * Filters): {"topic","qos","retain","receivedAt","payload","properties"},
 * the payload decoded as Lambda's FilterCriteria decode a message (the
 * JSON itself, else the UTF-8 text, else absent), and the MQTT 5
 * properties the message had, user properties as one object. */
#include <string.h>

#include "bridge/record_doc.h"
#include "mqtt_event.h"

/* ,"key": before a member (keys are ours: plain ASCII). */
static int put_key(struct br_buf *b, bool *first, const char *key)
{
    /* Each append in its own statement: the operands of | are unsequenced. */
    int rc = *first ? 0 : br_buf_putc(b, ',');
    *first = false;
    rc |= br_buf_put_json_str(b, key, strlen(key));
    return rc | br_buf_putc(b, ':');
}

/* "key":"<s>" when s is given and is text (the protocol says UTF-8; a
 * broker may not check). */
static int put_text(struct br_buf *b, bool *first, const char *key, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (!s || !br_doc_utf8((const unsigned char *)s, n))
        return 0;
    int rc = put_key(b, first, key);
    return rc | br_buf_put_json_str(b, s, n);
}

/* {"contentType","responseTopic","correlationData" (base64),
 *  "userProperties":{...}}, each only when the message had it. */
static int put_properties(struct br_doc *d, struct br_buf *b, const struct br_record *rec)
{
    const struct br_mqtt_meta *m = br_mqtt_meta_of(rec);
    bool first = true;
    int rc = br_buf_putc(b, '{');
    rc |= put_text(b, &first, "contentType", m->content_type);
    rc |= put_text(b, &first, "responseTopic", m->response_topic);
    if (m->correlation) {
        rc |= put_key(b, &first, "correlationData");
        rc |= br_buf_putc(b, '"');
        rc |= br_buf_put_base64(b, m->correlation, m->correlation_len);
        rc |= br_buf_putc(b, '"');
    }
    if (rec->n_headers) {
        rc |= put_key(b, &first, "userProperties");
        rc |= br_doc_put_headers(d, b, rec->headers, rec->n_headers);
    }
    return rc | br_buf_putc(b, '}');
}

int mqtt_doc(struct br_doc *d, const struct br_event_ctx *ev, const struct br_record *rec)
{
    (void)ev;
    const struct br_mqtt_meta *m = br_mqtt_meta_of(rec);
    /* An empty message still has a payload: the empty string. */
    static const unsigned char empty[1];
    br_doc_str(d, "topic", rec->topic, strlen(rec->topic));
    br_doc_i64(d, "qos", m->qos);
    br_doc_bool(d, "retain", m->retain);
    br_doc_i64(d, "receivedAt", rec->timestamp_ms);
    br_doc_payload(d, "payload", rec->value ? rec->value : empty, rec->value_len);
    if (!br_doc_wants(d, "properties"))
        return d->failed ? -1 : 0;
    struct br_buf *b = br_doc_open(d, "properties");
    return br_doc_close(d, b ? put_properties(d, b, rec) : -1);
}
