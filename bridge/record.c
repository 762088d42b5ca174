/* record.c - records as single allocations, and FIFO lists of them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "s3key.h"

static size_t headers_bytes(const struct br_record_init *init)
{
    size_t bytes = 0;
    for (size_t i = 0; i < init->n_headers; i++)
        bytes += strlen(init->headers[i].name) + 1 + init->headers[i].value_len;
    return bytes;
}

/* Copies n bytes to *cursor and advances it; returns the copy. */
static void *put(char **cursor, const void *p, size_t n)
{
    void *at = *cursor;
    if (n)
        memcpy(at, p, n);
    *cursor += n;
    return at;
}

static void copy_headers(struct br_record *rec, const struct br_record_init *init,
                         char **cursor)
{
    for (size_t i = 0; i < init->n_headers; i++) {
        const struct br_header *h = &init->headers[i];
        rec->headers[i].name = put(cursor, h->name, strlen(h->name) + 1);
        rec->headers[i].value = h->value ? put(cursor, h->value, h->value_len) : NULL;
        rec->headers[i].value_len = h->value ? h->value_len : 0;
    }
}

static size_t mqtt_bytes(const struct br_mqtt_meta *m)
{
    if (!m)
        return 0;
    return (m->content_type ? strlen(m->content_type) + 1 : 0) +
           (m->response_topic ? strlen(m->response_topic) + 1 : 0) +
           (m->correlation ? m->correlation_len : 0);
}

static void copy_mqtt(struct br_record *rec, const struct br_mqtt_meta *m,
                      char **cursor)
{
    if (!m)
        return;
    rec->mqtt.qos = m->qos;
    rec->mqtt.retain = m->retain;
    if (m->content_type)
        rec->mqtt.content_type = put(cursor, m->content_type, strlen(m->content_type) + 1);
    if (m->response_topic)
        rec->mqtt.response_topic = put(cursor, m->response_topic,
                                       strlen(m->response_topic) + 1);
    if (m->correlation) {
        rec->mqtt.correlation = put(cursor, m->correlation, m->correlation_len);
        rec->mqtt.correlation_len = m->correlation_len;
    }
}

static size_t s3_bytes(const struct br_s3_meta *m)
{
    return m && m->etag ? strlen(m->etag) + 1 : 0;
}

static void copy_s3(struct br_record *rec, const struct br_s3_meta *m, char **cursor)
{
    if (!m)
        return;
    rec->s3 = *m;
    if (m->etag)
        rec->s3.etag = put(cursor, m->etag, strlen(m->etag) + 1);
}

struct br_record *br_record_create(const struct br_record_init *init)
{
    size_t topic_len = init->topic ? strlen(init->topic) + 1 : 1;
    size_t hdr_bytes = headers_bytes(init);
    size_t total = sizeof(struct br_record) +
                   init->n_headers * sizeof(struct br_header) + topic_len +
                   init->key_len + init->value_len + hdr_bytes +
                   mqtt_bytes(init->mqtt) + s3_bytes(init->s3);
    struct br_record *rec = malloc(total);
    if (!rec)
        return NULL;
    memset(rec, 0, sizeof(*rec));
    char *cursor = (char *)(rec + 1);
    rec->headers = (struct br_header *)cursor;
    rec->n_headers = init->n_headers;
    cursor += init->n_headers * sizeof(struct br_header);
    rec->topic = put(&cursor, init->topic ? init->topic : "", topic_len);
    rec->key = init->key ? put(&cursor, init->key, init->key_len) : NULL;
    rec->key_len = init->key ? init->key_len : 0;
    rec->value = init->value ? put(&cursor, init->value, init->value_len) : NULL;
    rec->value_len = init->value ? init->value_len : 0;
    copy_headers(rec, init, &cursor);
    copy_mqtt(rec, init->mqtt, &cursor);
    copy_s3(rec, init->s3, &cursor);
    rec->kind = init->kind;
    rec->partition = init->partition;
    rec->offset = init->offset;
    rec->timestamp_ms = init->timestamp_ms;
    rec->timestamp_type = init->timestamp_type;
    rec->size = rec->key_len + rec->value_len + hdr_bytes;
    return rec;
}

void br_record_free(struct br_record *rec)
{
    free(rec);
}

/* "<bucket>/<encoded key>@<sequencer>", truncated to n - 1. */
static size_t s3_id(const struct br_record *rec, char *buf, size_t n)
{
    int head = snprintf(buf, n, "%s/", rec->s3.bucket ? rec->s3.bucket : "");
    size_t at = head < 0 ? 0 : (size_t)head < n ? (size_t)head : n - 1;
    br_s3_key_encode(rec->topic, strlen(rec->topic), buf + at, n - at);
    at += strlen(buf + at);             /* a cut key stops at a whole escape */
    snprintf(buf + at, n - at, "@" BR_S3_SEQUENCER_FMT, (uint64_t)rec->offset);
    return at + strlen(buf + at);
}

size_t br_record_id(const struct br_record *rec, char *buf, size_t n)
{
    if (n == 0)
        return 0;
    if (rec->kind == BR_REC_S3)
        return s3_id(rec, buf, n);
    int len = rec->kind == BR_REC_MQTT
                  ? snprintf(buf, n, "%" PRId64, rec->offset)
                  : snprintf(buf, n, "%s-%" PRId32 "-%" PRId64, rec->topic,
                             rec->partition, rec->offset);
    if (len < 0)
        return 0;
    return (size_t)len < n ? (size_t)len : n - 1;
}

void br_record_list_push(struct br_record_list *l, struct br_record *rec)
{
    rec->next = NULL;
    if (l->tail)
        l->tail->next = rec;
    else
        l->head = rec;
    l->tail = rec;
    l->count++;
    l->bytes += rec->size;
}

struct br_record *br_record_list_pop(struct br_record_list *l)
{
    struct br_record *rec = l->head;
    if (!rec)
        return NULL;
    l->head = rec->next;
    if (!l->head)
        l->tail = NULL;
    rec->next = NULL;
    l->count--;
    l->bytes -= rec->size;
    return rec;
}

void br_record_list_concat(struct br_record_list *dst, struct br_record_list *src)
{
    if (!src->head)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->count += src->count;
    dst->bytes += src->bytes;
    memset(src, 0, sizeof(*src));
}

void br_record_list_free(struct br_record_list *l)
{
    struct br_record *rec;
    while ((rec = br_record_list_pop(l)))
        br_record_free(rec);
}
