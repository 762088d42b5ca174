/* record.c - records as single allocations (their kind's metadata
 * included), and FIFO lists of them. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "record_kind.h"

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

/* The kind's block is placed right after the header array: both are
 * multiples of 8 bytes from a malloc'd start, so the block is aligned for
 * pointers and 64-bit integers. */
static size_t meta_block(const struct br_record_kind *kind)
{
    return (kind->meta_size + 7) & ~(size_t)7;
}

static size_t meta_bytes(const struct br_record_init *init)
{
    const struct br_record_kind *kind = init->kind;
    if (!kind->meta_size)
        return 0;
    bool extra = init->meta && kind->meta_extra;
    return meta_block(kind) + (extra ? kind->meta_extra(init->meta) : 0);
}

/* A kind with a block always gets one: zeroed when init has none. */
static void copy_meta(struct br_record *rec, const struct br_record_init *init,
                      char **cursor)
{
    const struct br_record_kind *kind = init->kind;
    if (!kind->meta_size)
        return;
    void *block = *cursor;
    *cursor += meta_block(kind);
    if (!init->meta)
        memset(block, 0, kind->meta_size);
    else if (kind->meta_copy)
        kind->meta_copy(block, init->meta, cursor);
    else
        memcpy(block, init->meta, kind->meta_size);
    rec->meta = block;
}

struct br_record *br_record_create(const struct br_record_init *init)
{
    if (!init->kind)
        return NULL;
    size_t topic_len = init->topic ? strlen(init->topic) + 1 : 1;
    size_t hdr_bytes = headers_bytes(init);
    size_t total = sizeof(struct br_record) +
                   init->n_headers * sizeof(struct br_header) + topic_len +
                   init->key_len + init->value_len + hdr_bytes + meta_bytes(init);
    struct br_record *rec = malloc(total);
    if (!rec)
        return NULL;
    memset(rec, 0, sizeof(*rec));
    char *cursor = (char *)(rec + 1);
    rec->headers = (struct br_header *)cursor;
    rec->n_headers = init->n_headers;
    cursor += init->n_headers * sizeof(struct br_header);
    copy_meta(rec, init, &cursor);
    rec->topic = put(&cursor, init->topic ? init->topic : "", topic_len);
    rec->key = init->key ? put(&cursor, init->key, init->key_len) : NULL;
    rec->key_len = init->key ? init->key_len : 0;
    rec->value = init->value ? put(&cursor, init->value, init->value_len) : NULL;
    rec->value_len = init->value ? init->value_len : 0;
    copy_headers(rec, init, &cursor);
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

size_t br_record_id(const struct br_record *rec, char *buf, size_t n)
{
    if (n == 0)
        return 0;
    size_t len = rec->kind->id(rec, buf, n);
    return len < n ? len : strlen(buf);     /* a kind may cut it short */
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
