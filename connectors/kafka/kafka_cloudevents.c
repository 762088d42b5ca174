/* kafka_cloudevents.c - Kafka records as CloudEvents, the way a Knative
 * KafkaSource writes them (the contract is in bridge/format_cloudevents.c):
 * type dev.knative.kafka.event, source /fnbridge/<pipeline>/kafka/<topic>,
 * subject partition:<p>#<offset>, the key as "key" or "keybase64", and
 * headers whose values are CloudEvents strings as kafkaheader<name>. */
#include <stdio.h>
#include <string.h>

#include "bridge/ce_attr.h"
#include "bridge/event_json.h"
#include "kafka_event.h"

#define CE_MAX_HEADER_EXTS 64

const char *kafka_ce_type(const struct br_record *rec)
{
    (void)rec;
    return "dev.knative.kafka.event";
}

int kafka_ce_source(struct br_buf *v, const struct br_record *rec)
{
    int rc = br_buf_puts(v, "/kafka/");
    rc |= br_ce_put_pct(v, rec->topic, strlen(rec->topic), br_ce_uri_unreserved);
    return rc ? -1 : 0;
}

int kafka_ce_subject(struct br_buf *v, const struct br_record *rec)
{
    return br_buf_printf(v, "partition:%d#%lld", (int)rec->partition,
                         (long long)rec->offset) < 0 ? -1 : 0;
}

/* Do two header names give the same extension name? */
static bool same_ext_name(const char *a, const char *b)
{
    for (;;) {
        while (*a && !br_ce_name_char((unsigned char)*a))
            a++;
        while (*b && !br_ce_name_char((unsigned char)*b))
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        if (br_ce_lower((unsigned char)*a++) != br_ce_lower((unsigned char)*b++))
            return false;
    }
}

/* Fills idx with the headers that become kafkaheader<name> extensions, in
 * order: the first of a name wins; returns how many (at most
 * CE_MAX_HEADER_EXTS). */
static size_t header_exts(const struct br_record *rec, size_t *idx)
{
    size_t count = 0;
    for (size_t i = 0; i < rec->n_headers && count < CE_MAX_HEADER_EXTS; i++) {
        const struct br_header *h = &rec->headers[i];
        if (!h->value || !br_ce_string_ok(h->value, h->value_len))
            continue;
        bool taken = false;
        for (size_t k = 0; k < count && !taken; k++)
            taken = same_ext_name(rec->headers[idx[k]].name, h->name);
        if (!taken)
            idx[count++] = i;
    }
    return count;
}

/* key or keybase64, and the kafkaheader<name> extensions. */
int kafka_ce_extensions(const struct br_ce_out *o, const struct br_record *rec)
{
    if (rec->key) {
        int rc = br_ce_string_ok(rec->key, rec->key_len)
                     ? br_ce_attr_str(o, "key", NULL, rec->key, rec->key_len)
                     : br_ce_attr_b64(o, "keybase64", rec->key, rec->key_len);
        if (rc < 0)
            return -1;
    }
    size_t idx[CE_MAX_HEADER_EXTS];
    size_t count = header_exts(rec, idx);
    for (size_t k = 0; k < count; k++) {
        const struct br_header *h = &rec->headers[idx[k]];
        if (br_ce_attr_str(o, "kafkaheader", h->name, h->value, h->value_len) < 0)
            return -1;
    }
    return 0;
}

/* The data as base64 at worst, the topic JSON-escaped in id and
 * percent-encoded in source, the key as a string and in base64, each
 * header a checked CloudEvents string. */
size_t kafka_ce_bound(const struct br_event_ctx *ev, const struct br_record *rec)
{
    (void)ev;
    size_t topic = strlen(rec->topic);
    size_t bound = br_b64_len(rec->value_len) + 6 * topic + 3 * topic;
    if (rec->key)
        bound += 32 + 2 * rec->key_len + br_b64_len(rec->key_len);
    for (size_t i = 0; i < rec->n_headers; i++)
        bound += 20 + strlen(rec->headers[i].name) + 2 * rec->headers[i].value_len;
    return bound;
}
