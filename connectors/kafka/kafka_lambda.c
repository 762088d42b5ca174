/* kafka_lambda.c - Kafka records in the lambda format: the event AWS
 * Lambda gives a function for a self-managed Kafka source,
 * {"eventSource":"SelfManagedKafka","bootstrapServers":..,"records":
 * {"<topic>-<partition>":[...]}}, records grouped by partition in the
 * order of first appearance (README: What the function receives).
 *
 * The hot path: every byte of a Kafka pipeline's records passes through
 * here, so the JSON is written by hand with the inline appends of
 * event_json.h; nothing allocates except the grouping index for batches
 * that mix many partitions. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/event_json.h"
#include "bridge/hash.h"
#include "kafka_event.h"

/* Lambda serialises the Java TimestampType enum by name() (CREATE_TIME,
 * LOG_APPEND_TIME); its third constant is NO_TIMESTAMP_TYPE, used here for
 * records without a timestamp (timestamp is then -1, as in Java's
 * ConsumerRecord.NO_TIMESTAMP). */
static const char *ts_type_name(enum br_ts_type t)
{
    switch (t) {
    case BR_TS_CREATE:     return "CREATE_TIME";
    case BR_TS_LOG_APPEND: return "LOG_APPEND_TIME";
    default:               return "NO_TIMESTAMP_TYPE";
    }
}

/* Header values are JSON arrays of *signed* bytes, as Java's byte[]
 * serialises. Written in chunks through a stack buffer: one append per
 * 64 bytes instead of one per byte. */
static int put_signed_bytes(struct br_buf *out, const unsigned char *p, size_t n)
{
    char tmp[64 * 5];
    size_t i = 0;
    while (i < n) {
        char *o = tmp;
        for (size_t end = i + 64 < n ? i + 64 : n; i < end; i++) {
            int v = (signed char)p[i];
            if (i)
                *o++ = ',';
            if (v < 0) {
                *o++ = '-';
                v = -v;
            }
            if (v >= 100)
                *o++ = (char)('0' + v / 100);
            if (v >= 10)
                *o++ = (char)('0' + v / 10 % 10);
            *o++ = (char)('0' + v % 10);
        }
        if (br_ev_put(out, tmp, (size_t)(o - tmp)) < 0)
            return -1;
    }
    return 0;
}

/* [{"<name>":[bytes]},...]; a null header value is written as [] (Java
 * would give null, which handlers that decode every header choke on). */
static int lambda_headers(struct br_buf *out, const struct br_record *rec)
{
    if (br_ev_putc(out, '[') < 0)
        return -1;
    for (size_t i = 0; i < rec->n_headers; i++) {
        const struct br_header *h = &rec->headers[i];
        if ((i && br_ev_putc(out, ',') < 0) || br_ev_putc(out, '{') < 0 ||
            br_ev_str(out, h->name) < 0 || BR_EV_LIT(out, ":[") < 0 ||
            put_signed_bytes(out, h->value, h->value ? h->value_len : 0) < 0 ||
            BR_EV_LIT(out, "]}") < 0)
            return -1;
    }
    return br_ev_putc(out, ']');
}

/* "key" is omitted when the record has none, as Lambda does. A null value
 * (a tombstone) is omitted too: Lambda sends tombstones without a "value"
 * field (seen by aws-powertools-lambda-typescript users, issue #5016 and
 * PR #5017), and that keeps them distinct from an empty value (""). */
static int lambda_b64_field(struct br_buf *out, const char *field_open,
                            size_t open_len, const unsigned char *p, size_t n)
{
    if (!p)
        return 0;
    if (br_ev_put(out, field_open, open_len) < 0 ||
        br_buf_put_base64(out, p, n) < 0 || br_ev_putc(out, '"') < 0)
        return -1;
    return 0;
}

static int lambda_record(struct br_buf *out, const struct br_record *rec)
{
    if (BR_EV_LIT(out, "{\"topic\":") < 0 || br_ev_str(out, rec->topic) < 0 ||
        BR_EV_LIT(out, ",\"partition\":") < 0 ||
        br_buf_put_i64(out, rec->partition) < 0 ||
        BR_EV_LIT(out, ",\"offset\":") < 0 || br_buf_put_i64(out, rec->offset) < 0 ||
        BR_EV_LIT(out, ",\"timestamp\":") < 0 ||
        br_buf_put_i64(out, rec->timestamp_ms) < 0 ||
        BR_EV_LIT(out, ",\"timestampType\":\"") < 0 ||
        br_ev_puts(out, ts_type_name(rec->timestamp_type)) < 0 ||
        br_ev_putc(out, '"') < 0)
        return -1;
    if (lambda_b64_field(out, ",\"key\":\"", 8, rec->key, rec->key_len) < 0 ||
        lambda_b64_field(out, ",\"value\":\"", 10, rec->value, rec->value_len) < 0 ||
        BR_EV_LIT(out, ",\"headers\":") < 0 || lambda_headers(out, rec) < 0)
        return -1;
    return br_ev_putc(out, '}');
}

/* ------------------------------------------------ grouping by partition */

/* Records of one topic-partition share one key in the Lambda event, in the
 * order of first appearance. The batch is usually one partition (checked
 * first, no allocation); otherwise a small open-addressing hash of
 * (topic, partition) -> group chains the records in O(n). */
#define NONE UINT32_MAX
#define SMALL_BATCH 128     /* batches up to this size use the stack */

struct groups {
    size_t count;
    uint32_t *first;    /* per group: its first record */
    uint32_t *last;     /* per group: its last record, while building */
    uint32_t *next;     /* per record: the next of its group, or NONE */
    uint32_t *slots;    /* hash slots: group index + 1, 0 when empty */
    size_t mask;
    void *heap;         /* the arrays' block when not on the stack */
    uint32_t small[SMALL_BATCH * 3 + SMALL_BATCH * 2];  /* 3 arrays + table */
};

static bool same_partition(const struct br_record *a, const struct br_record *b)
{
    return a->partition == b->partition &&
           (a->topic == b->topic || strcmp(a->topic, b->topic) == 0);
}

static size_t partition_hash(const struct br_record *rec)
{
    uint64_t h = br_fnv1a_str(BR_FNV_BASIS, rec->topic);
    h ^= (uint32_t)rec->partition * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h ^ h >> 29);
}

static int groups_alloc(struct groups *g, size_t n)
{
    size_t tsize = 4;
    while (tsize < 2 * n)
        tsize *= 2;
    size_t words = 3 * n + tsize;
    uint32_t *mem = g->small;
    g->heap = NULL;
    if (words > sizeof(g->small) / sizeof(g->small[0])) {
        mem = g->heap = malloc(words * sizeof(uint32_t));
        if (!mem)
            return -1;
    }
    g->first = mem;
    g->last = mem + n;
    g->next = mem + 2 * n;
    g->slots = mem + 3 * n;
    memset(g->slots, 0, tsize * sizeof(uint32_t));
    g->mask = tsize - 1;
    g->count = 0;
    return 0;
}

/* Finds or creates the group of recs[i] and appends i to it. */
static void groups_add(struct groups *g, struct br_record *const *recs, uint32_t i)
{
    size_t s = partition_hash(recs[i]) & g->mask;
    for (; g->slots[s]; s = (s + 1) & g->mask) {
        uint32_t gi = g->slots[s] - 1;
        if (same_partition(recs[g->first[gi]], recs[i])) {
            g->next[g->last[gi]] = i;
            g->last[gi] = i;
            return;
        }
    }
    uint32_t gi = (uint32_t)g->count++;
    g->slots[s] = gi + 1;
    g->first[gi] = g->last[gi] = i;
}

/* Fails only when out of memory for a large mixed batch; the caller then
 * sees -1 like a full buffer and retries with smaller batches. */
static int groups_build(struct groups *g, struct br_record *const *recs, size_t n)
{
    if (n >= NONE || groups_alloc(g, n) < 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        g->next[i] = NONE;
        groups_add(g, recs, i);
    }
    return 0;
}

static bool one_partition(struct br_record *const *recs, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (!same_partition(recs[0], recs[i]))
            return false;
    return true;
}

/* Opens a group: "<topic>-<partition>":[ */
static int lambda_group_open(struct br_buf *out, const struct br_record *head)
{
    if (br_ev_str_open(out, head->topic) < 0 || br_ev_putc(out, '-') < 0 ||
        br_buf_put_i64(out, head->partition) < 0 || BR_EV_LIT(out, "\":[") < 0)
        return -1;
    return 0;
}

/* The common case: the whole batch is one partition, in order. */
static int lambda_one_group(struct br_buf *out, struct br_record *const *recs,
                            size_t n)
{
    if (lambda_group_open(out, recs[0]) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((i && br_ev_putc(out, ',') < 0) || lambda_record(out, recs[i]) < 0)
            return -1;
    return br_ev_putc(out, ']');
}

static int lambda_group(struct br_buf *out, struct br_record *const *recs,
                        const struct groups *g, size_t gi)
{
    uint32_t first = g->first[gi];
    if (lambda_group_open(out, recs[first]) < 0)
        return -1;
    for (uint32_t i = first; i != NONE; i = g->next[i])
        if ((i != first && br_ev_putc(out, ',') < 0) ||
            lambda_record(out, recs[i]) < 0)
            return -1;
    return br_ev_putc(out, ']');
}

static int lambda_groups(struct br_buf *out, struct br_record *const *recs,
                         size_t n)
{
    if (n == 0)
        return 0;
    if (one_partition(recs, n))
        return lambda_one_group(out, recs, n);
    struct groups g;
    if (groups_build(&g, recs, n) < 0)
        return -1;
    int rc = 0;
    for (size_t gi = 0; gi < g.count && rc == 0; gi++)
        if ((gi && br_ev_putc(out, ',') < 0) || lambda_group(out, recs, &g, gi) < 0)
            rc = -1;
    free(g.heap);
    return rc;
}

/* ------------------------------------------------------------ the event */

int kafka_lambda_encode(const struct br_event_ctx *ev, struct br_record *const *recs,
                        size_t n, struct br_buf *out)
{
    if (BR_EV_LIT(out, "{\"eventSource\":\"SelfManagedKafka\",\"bootstrapServers\":") < 0 ||
        br_ev_str(out, ev->origin ? ev->origin : "") < 0 ||
        BR_EV_LIT(out, ",\"records\":{") < 0 || lambda_groups(out, recs, n) < 0)
        return -1;
    return BR_EV_LIT(out, "}}");
}
