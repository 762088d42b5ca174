/* batch.c - the batch as a data structure: creation, the lists batches
 * wait in, halving for bisection, taking records out, and what the last
 * answer was. No policy lives here (verdict.c) and nothing is scheduled
 * (runner.c). */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "config/secrets.h"
#include "dlq_json.h"

#define LAST_BODY_MAX 4096

void br_batch_list_push(struct br_batch_list *l, struct br_batch *b)
{
    b->next = NULL;
    b->prev = l->tail;
    if (l->tail)
        l->tail->next = b;
    else
        l->head = b;
    l->tail = b;
    l->count++;
}

void br_batch_list_remove(struct br_batch_list *l, struct br_batch *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        l->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        l->tail = b->prev;
    b->next = b->prev = NULL;
    l->count--;
}

struct br_batch *br_batch_create(struct br_pipeline *pl, struct br_record **recs,
                                 size_t n, size_t max_payload)
{
    struct br_batch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->pl = pl;
    b->recs = recs;
    b->n = n;
    b->oldest_ms = INT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (recs[i]->received_ms < b->oldest_ms)
            b->oldest_ms = recs[i]->received_ms;
    br_buf_init(&b->body, max_payload);
    br_buf_init(&b->headers, 0);
    return b;
}

void br_batch_free(struct br_batch *b)
{
    if (!b)
        return;
    br_buf_free(&b->body);
    br_buf_free(&b->headers);
    free(b->inv.result.body);
    free(b->last_body);
    free(b->recs);
    free(b);
}

void br_batch_free_all(struct br_batch *b)
{
    while (b) {
        struct br_batch *next = b->successor;
        for (size_t i = 0; i < b->n; i++)
            br_record_free(b->recs[i]);
        br_batch_free(b);
        b = next;
    }
}

int br_batch_halve(struct br_batch *b, size_t max_payload, struct br_batch **first,
                   struct br_batch **second)
{
    size_t half = b->n / 2;
    struct br_record **ra = malloc(half * sizeof(*ra));
    struct br_record **rb = malloc((b->n - half) * sizeof(*rb));
    struct br_batch *fa = NULL, *fb = NULL;
    if (ra && rb) {
        memcpy(ra, b->recs, half * sizeof(*ra));
        memcpy(rb, b->recs + half, (b->n - half) * sizeof(*rb));
        fa = br_batch_create(b->pl, ra, half, max_payload);
        fb = fa ? br_batch_create(b->pl, rb, b->n - half, max_payload) : NULL;
    }
    if (!fa || !fb) {
        br_batch_free(fa);       /* frees ra with it */
        free(fa ? NULL : ra);
        free(rb);
        return -1;
    }
    fb->successor = b->successor;
    fa->successor = fb;
    b->successor = NULL;
    b->n = 0;
    br_batch_free(b);
    *first = fa;
    *second = fb;
    return 0;
}

void br_batch_take(struct br_batch *b, const enum br_settle *fate, enum br_settle how,
                   struct br_record_list *out)
{
    size_t kept = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct br_record *rec = b->recs[i];
        enum br_settle f = fate ? fate[i] : how;
        if (f == BR_SETTLE_NONE) {
            b->recs[kept++] = rec;
            continue;
        }
        rec->settle = f;
        br_record_list_push(out, rec);
    }
    b->n = kept;
    br_buf_reset(&b->body);
}

void br_batch_note_answer(struct br_batch *b, const struct br_result *res,
                          const char *body, size_t body_len)
{
    b->last_status = res->status;
    /* A transport error may quote the URL or host: dead letters print it */
    br_secrets_mask(res->error, b->last_error, sizeof(b->last_error));
    free(b->last_body);
    b->last_body = NULL;
    b->last_body_len = 0;
    if (!body)
        return;
    /* Not in the middle of a character: a cut one is not text. */
    size_t n = br_utf8_cut((const unsigned char *)body, body_len, LAST_BODY_MAX);
    if ((b->last_body = malloc(n + 1))) {
        memcpy(b->last_body, body, n);
        b->last_body[n] = '\0';
        b->last_body_len = n;
    }
}
