/* format.c - encodes a batch of records into the event a function
 * receives (DESIGN section 4): the AWS Lambda self-managed Kafka shape,
 * fnbridge's generic JSON shape (Kafka and MQTT records), and the raw
 * payload of one record; the S3 shape and CloudEvents have files of their
 * own (format_s3.c, format_cloudevents.c), dispatched from here.
 *
 * This is the hot path (one call per invocation, every record byte passes
 * through it), so the JSON is written by hand into the caller's br_buf;
 * nothing here allocates except the grouping index for batches that mix
 * many partitions. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "hash.h"

/* Inline fast path for the many short appends of an event: when the bytes
 * fit in the current allocation, copy them here (cap never exceeds
 * max + 1, so fitting in cap means fitting under the cap too); otherwise
 * br_buf_append grows the buffer or refuses. */
static inline int put(struct br_buf *out, const void *p, size_t n)
{
    if (out->cap - out->len <= n)
        return br_buf_append(out, p, n);
    memcpy(out->data + out->len, p, n);
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
}

static inline int put_c(struct br_buf *out, char c)
{
    return put(out, &c, 1);
}

static inline int put_s(struct br_buf *out, const char *s)
{
    return put(out, s, strlen(s));
}

#define PUT_LIT(b, lit) put((b), (lit), sizeof(lit) - 1)

static int put_str(struct br_buf *out, const char *s)
{
    return br_buf_put_json_str(out, s, strlen(s));
}

/* Writes the escaped string s with its opening quote only, so the caller
 * can append more text (an id suffix) before closing it. */
static int put_str_open(struct br_buf *out, const char *s)
{
    if (put_str(out, s) < 0)
        return -1;
    out->data[--out->len] = '\0';
    return 0;
}

static size_t b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* --------------------------------------------------------- lambda format */

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
        if (put(out, tmp, (size_t)(o - tmp)) < 0)
            return -1;
    }
    return 0;
}

/* [{"<name>":[bytes]},...]; a null header value is written as [] (Java
 * would give null, which handlers that decode every header choke on). */
static int lambda_headers(struct br_buf *out, const struct br_record *rec)
{
    if (put_c(out, '[') < 0)
        return -1;
    for (size_t i = 0; i < rec->n_headers; i++) {
        const struct br_header *h = &rec->headers[i];
        if ((i && put_c(out, ',') < 0) || put_c(out, '{') < 0 ||
            put_str(out, h->name) < 0 || PUT_LIT(out, ":[") < 0 ||
            put_signed_bytes(out, h->value, h->value ? h->value_len : 0) < 0 ||
            PUT_LIT(out, "]}") < 0)
            return -1;
    }
    return put_c(out, ']');
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
    if (put(out, field_open, open_len) < 0 ||
        br_buf_put_base64(out, p, n) < 0 || put_c(out, '"') < 0)
        return -1;
    return 0;
}

static int lambda_record(struct br_buf *out, const struct br_record *rec)
{
    if (PUT_LIT(out, "{\"topic\":") < 0 || put_str(out, rec->topic) < 0 ||
        PUT_LIT(out, ",\"partition\":") < 0 ||
        br_buf_put_i64(out, rec->partition) < 0 ||
        PUT_LIT(out, ",\"offset\":") < 0 || br_buf_put_i64(out, rec->offset) < 0 ||
        PUT_LIT(out, ",\"timestamp\":") < 0 ||
        br_buf_put_i64(out, rec->timestamp_ms) < 0 ||
        PUT_LIT(out, ",\"timestampType\":\"") < 0 ||
        put_s(out, ts_type_name(rec->timestamp_type)) < 0 ||
        put_c(out, '"') < 0)
        return -1;
    if (lambda_b64_field(out, ",\"key\":\"", 8, rec->key, rec->key_len) < 0 ||
        lambda_b64_field(out, ",\"value\":\"", 10, rec->value, rec->value_len) < 0 ||
        PUT_LIT(out, ",\"headers\":") < 0 || lambda_headers(out, rec) < 0)
        return -1;
    return put_c(out, '}');
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
    if (put_str_open(out, head->topic) < 0 || put_c(out, '-') < 0 ||
        br_buf_put_i64(out, head->partition) < 0 || PUT_LIT(out, "\":[") < 0)
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
        if ((i && put_c(out, ',') < 0) || lambda_record(out, recs[i]) < 0)
            return -1;
    return put_c(out, ']');
}

static int lambda_group(struct br_buf *out, struct br_record *const *recs,
                        const struct groups *g, size_t gi)
{
    uint32_t first = g->first[gi];
    if (lambda_group_open(out, recs[first]) < 0)
        return -1;
    for (uint32_t i = first; i != NONE; i = g->next[i])
        if ((i != first && put_c(out, ',') < 0) ||
            lambda_record(out, recs[i]) < 0)
            return -1;
    return put_c(out, ']');
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
        if ((gi && put_c(out, ',') < 0) || lambda_group(out, recs, &g, gi) < 0)
            rc = -1;
    free(g.heap);
    return rc;
}

static int encode_lambda(const struct br_event_ctx *ev,
                         struct br_record *const *recs, size_t n,
                         struct br_buf *out)
{
    if (n && recs[0]->kind == BR_REC_S3)
        return br_format_s3_lambda(ev, recs, n, out);
    if (PUT_LIT(out, "{\"eventSource\":\"SelfManagedKafka\",\"bootstrapServers\":") < 0 ||
        put_str(out, ev->origin ? ev->origin : "") < 0 ||
        PUT_LIT(out, ",\"records\":{") < 0 || lambda_groups(out, recs, n) < 0)
        return -1;
    return PUT_LIT(out, "}}");
}

/* ------------------------------------------------ strict JSON validation */

/* The json format embeds a key or value verbatim when its bytes are one
 * complete JSON value (RFC 8259): valid UTF-8, no NaN/Infinity, no
 * trailing garbage, no lone surrogate escapes (jansson and others refuse
 * them, which would fail the whole event). Iterative, with a nesting
 * limit: deeper documents are sent as base64 rather than risk the
 * receiver's parser recursion limit. */
#define JSON_MAX_DEPTH 512

struct jscan {
    const unsigned char *p;
    const unsigned char *end;
};

static void skip_ws(struct jscan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool in_range(const unsigned char *p, unsigned char lo, unsigned char hi)
{
    return *p >= lo && *p <= hi;
}

/* One multi-byte UTF-8 sequence at s->p (first byte >= 0x80), checked per
 * Unicode Table 3-7: no overlongs, no surrogates, nothing past U+10FFFF. */
static bool scan_utf8(struct jscan *s)
{
    const unsigned char *p = s->p;
    size_t left = (size_t)(s->end - p);
    unsigned char c = *p;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;     /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)      len = 2;
    else if (c == 0xE0)              len = 3, lo = 0xA0;
    else if (c == 0xED)              len = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0)              len = 4, lo = 0x90;
    else if (c == 0xF4)              len = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else                             return false;
    if (left < len || !in_range(p + 1, lo, hi))
        return false;
    for (size_t i = 2; i < len; i++)
        if (!in_range(p + i, 0x80, 0xBF))
            return false;
    s->p += len;
    return true;
}

static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9')      d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else                           return -1;
        v = v << 4 | d;
    }
    return v;
}

/* \uXXXX at s->p (past the backslash and 'u'); a high surrogate must be
 * followed by an escaped low one. */
static bool scan_u_escape(struct jscan *s)
{
    if (s->end - s->p < 4)
        return false;
    int u = hex4(s->p);
    s->p += 4;
    if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
        return false;
    if (u < 0xD800 || u > 0xDBFF)
        return true;
    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u')
        return false;
    int lo = hex4(s->p + 2);
    s->p += 6;
    return lo >= 0xDC00 && lo <= 0xDFFF;
}

static bool scan_escape(struct jscan *s)
{
    if (++s->p >= s->end)
        return false;
    unsigned char c = *s->p++;
    if (c == 'u')
        return scan_u_escape(s);
    return c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' ||
           c == 'n' || c == 'r' || c == 't';
}

/* True when none of 8 bytes needs a closer look in a string: no control
 * byte, quote, backslash or non-ASCII byte (the classic "has zero byte" /
 * "has byte less than" word tricks, exact as yes/no answers when no byte
 * has its high bit set, which the last term checks). */
static bool plain8(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101ULL, high = ones * 0x80;
    uint64_t x, q, bs;
    memcpy(&x, p, 8);
    q = x ^ (ones * '"');
    bs = x ^ (ones * '\\');
    uint64_t special = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) |
                       ((bs - ones) & ~bs) | x;
    return (special & high) == 0;
}

/* A string at s->p (the opening quote). */
static bool scan_string(struct jscan *s)
{
    s->p++;
    while (s->p < s->end) {
        while (s->end - s->p >= 8 && plain8(s->p))
            s->p += 8;
        if (s->p >= s->end)
            break;
        unsigned char c = *s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c >= 0x20 && c < 0x80 && c != '\\')
            s->p++;
        else if (c == '\\' ? !scan_escape(s) : c < 0x20 || !scan_utf8(s))
            return false;
    }
    return false;
}

static bool scan_digits(struct jscan *s)
{
    const unsigned char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool scan_number(struct jscan *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (!scan_digits(s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!scan_digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!scan_digits(s))
            return false;
    }
    return true;
}

static bool scan_literal(struct jscan *s, const char *lit, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return false;
    s->p += n;
    return true;
}

/* A scalar at s->p (not an object or array). */
static bool scan_scalar(struct jscan *s)
{
    switch (*s->p) {
    case '"': return scan_string(s);
    case 't': return scan_literal(s, "true", 4);
    case 'f': return scan_literal(s, "false", 5);
    case 'n': return scan_literal(s, "null", 4);
    default:
        return *s->p == '-' || (*s->p >= '0' && *s->p <= '9') ? scan_number(s)
                                                              : false;
    }
}

/* An object member's key and colon; leaves s->p at the value. */
static bool scan_key(struct jscan *s)
{
    if (s->p >= s->end || *s->p != '"' || !scan_string(s))
        return false;
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':')
        return false;
    s->p++;
    skip_ws(s);
    return true;
}

bool br_format_json_valid(const unsigned char *p, size_t n)
{
    struct jscan s = { p, p + n };
    char stack[JSON_MAX_DEPTH];      /* '{' or '[' per open container */
    size_t depth = 0;

    skip_ws(&s);
    for (;;) {
        /* here a value is expected */
        if (s.p >= s.end)
            return false;
        unsigned char c = *s.p;
        if (c == '{' || c == '[') {
            if (depth == JSON_MAX_DEPTH)
                return false;
            stack[depth++] = (char)c;
            s.p++;
            skip_ws(&s);
            if (s.p < s.end && *s.p == (c == '{' ? '}' : ']')) {
                s.p++;
                depth--;
            } else if (c == '[' || scan_key(&s)) {
                continue;
            } else {
                return false;
            }
        } else if (!scan_scalar(&s)) {
            return false;
        }
        /* a value is complete: close containers or move to the next one */
        for (;;) {
            skip_ws(&s);
            if (depth == 0)
                return s.p == s.end;
            if (s.p >= s.end)
                return false;
            char open = stack[depth - 1];
            if (*s.p == (open == '{' ? '}' : ']')) {
                s.p++;
                depth--;
                continue;
            }
            if (*s.p != ',')
                return false;
            s.p++;
            skip_ws(&s);
            if (open == '{' && !scan_key(&s))
                return false;
            break;
        }
    }
}

/* ----------------------------------------------------------- json format */

/* ,"<name>":<JSON verbatim>,"<name>Encoding":"json", or the same with a
 * base64 string. Omitted entirely when the record has no such bytes. */
static int json_payload(struct br_buf *out, const char *name,
                        const unsigned char *p, size_t n)
{
    if (!p)
        return 0;
    bool is_json = br_format_json_valid(p, n);
    if (PUT_LIT(out, ",\"") < 0 || put_s(out, name) < 0 ||
        PUT_LIT(out, "\":") < 0)
        return -1;
    if (is_json ? put(out, p, n) < 0
                : (put_c(out, '"') < 0 || br_buf_put_base64(out, p, n) < 0 ||
                   put_c(out, '"') < 0))
        return -1;
    if (PUT_LIT(out, ",\"") < 0 || put_s(out, name) < 0 ||
        PUT_LIT(out, "Encoding\":\"") < 0 ||
        put_s(out, is_json ? "json\"" : "base64\"") < 0)
        return -1;
    return 0;
}

/* {"name":"<base64>"|null,...}; duplicate header names (legal in Kafka)
 * are kept as repeated keys, in order. */
static int json_headers(struct br_buf *out, const struct br_record *rec)
{
    if (put_c(out, '{') < 0)
        return -1;
    for (size_t i = 0; i < rec->n_headers; i++) {
        const struct br_header *h = &rec->headers[i];
        if ((i && put_c(out, ',') < 0) || put_str(out, h->name) < 0 ||
            put_c(out, ':') < 0)
            return -1;
        if (!h->value ? PUT_LIT(out, "null") < 0
                      : (put_c(out, '"') < 0 ||
                         br_buf_put_base64(out, h->value, h->value_len) < 0 ||
                         put_c(out, '"') < 0))
            return -1;
    }
    return put_c(out, '}');
}

static int json_record(struct br_buf *out, const struct br_record *rec)
{
    /* id is "<topic>-<partition>-<offset>", the same as br_record_id */
    if (PUT_LIT(out, "{\"id\":") < 0 || put_str_open(out, rec->topic) < 0 ||
        put_c(out, '-') < 0 || br_buf_put_i64(out, rec->partition) < 0 ||
        put_c(out, '-') < 0 || br_buf_put_i64(out, rec->offset) < 0 ||
        PUT_LIT(out, "\",\"topic\":") < 0 || put_str(out, rec->topic) < 0 ||
        PUT_LIT(out, ",\"partition\":") < 0 ||
        br_buf_put_i64(out, rec->partition) < 0 ||
        PUT_LIT(out, ",\"offset\":") < 0 || br_buf_put_i64(out, rec->offset) < 0 ||
        PUT_LIT(out, ",\"timestamp\":") < 0 ||
        br_buf_put_i64(out, rec->timestamp_ms) < 0)
        return -1;
    if (json_payload(out, "key", rec->key, rec->key_len) < 0 ||
        json_payload(out, "value", rec->value, rec->value_len) < 0 ||
        PUT_LIT(out, ",\"headers\":") < 0 || json_headers(out, rec) < 0)
        return -1;
    return put_c(out, '}');
}

/* "userProperties":[{"key":..,"value":..}] from the record's headers:
 * MQTT v5 allows a name more than once, so a list, not an object. */
static int mqtt_user_properties(struct br_buf *out, const struct br_record *rec)
{
    if (PUT_LIT(out, "\"userProperties\":[") < 0)
        return -1;
    for (size_t i = 0; i < rec->n_headers; i++) {
        const struct br_header *h = &rec->headers[i];
        if ((i && put_c(out, ',') < 0) || PUT_LIT(out, "{\"key\":") < 0 ||
            put_str(out, h->name) < 0 || PUT_LIT(out, ",\"value\":") < 0 ||
            br_buf_put_json_str(out, (const char *)(h->value ? h->value
                                                             : (const unsigned char *)""),
                                h->value_len) < 0 ||
            put_c(out, '}') < 0)
            return -1;
    }
    return put_c(out, ']');
}

/* "properties":{...} with only the MQTT v5 properties the message had. */
static int mqtt_properties(struct br_buf *out, const struct br_record *rec)
{
    const struct br_mqtt_meta *m = &rec->mqtt;
    bool first = true;
    if (PUT_LIT(out, ",\"properties\":{") < 0)
        return -1;
    if (m->content_type) {
        if (PUT_LIT(out, "\"contentType\":") < 0 || put_str(out, m->content_type) < 0)
            return -1;
        first = false;
    }
    if (m->response_topic) {
        if ((!first && put_c(out, ',') < 0) || PUT_LIT(out, "\"responseTopic\":") < 0 ||
            put_str(out, m->response_topic) < 0)
            return -1;
        first = false;
    }
    if (m->correlation) {
        if ((!first && put_c(out, ',') < 0) ||
            PUT_LIT(out, "\"correlationData\":\"") < 0 ||
            br_buf_put_base64(out, m->correlation, m->correlation_len) < 0 ||
            put_c(out, '"') < 0)
            return -1;
        first = false;
    }
    if (rec->n_headers &&
        ((!first && put_c(out, ',') < 0) || mqtt_user_properties(out, rec) < 0))
        return -1;
    return put_c(out, '}');
}

/* {"id":"<seq>","topic","qos","retain","receivedAt","payload",
 *  "payloadEncoding","properties"} */
static int mqtt_json_record(struct br_buf *out, const struct br_record *rec)
{
    if (PUT_LIT(out, "{\"id\":\"") < 0 || br_buf_put_i64(out, rec->offset) < 0 ||
        PUT_LIT(out, "\",\"topic\":") < 0 || put_str(out, rec->topic) < 0 ||
        PUT_LIT(out, ",\"qos\":") < 0 || br_buf_put_i64(out, rec->mqtt.qos) < 0 ||
        (rec->mqtt.retain ? PUT_LIT(out, ",\"retain\":true") < 0
                          : PUT_LIT(out, ",\"retain\":false") < 0) ||
        PUT_LIT(out, ",\"receivedAt\":") < 0 ||
        br_buf_put_i64(out, rec->timestamp_ms) < 0)
        return -1;
    /* An empty message still has a payload: the empty string. */
    static const unsigned char empty[1];
    if (json_payload(out, "payload", rec->value ? rec->value : empty, rec->value_len) < 0 ||
        mqtt_properties(out, rec) < 0)
        return -1;
    return put_c(out, '}');
}

static int encode_json(const struct br_event_ctx *ev,
                       struct br_record *const *recs, size_t n,
                       struct br_buf *out)
{
    if (PUT_LIT(out, "{\"source\":") < 0 ||
        put_str(out, ev->source_kind ? ev->source_kind : "kafka") < 0 ||
        PUT_LIT(out, ",\"pipeline\":") < 0 ||
        put_str(out, ev->pipeline ? ev->pipeline : "") < 0 ||
        PUT_LIT(out, ",\"records\":[") < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((i && put_c(out, ',') < 0) ||
            (recs[i]->kind == BR_REC_MQTT ? mqtt_json_record(out, recs[i])
                                          : json_record(out, recs[i])) < 0)
            return -1;
    return PUT_LIT(out, "]}");
}

/* The first record's value as it is (the batcher sends one at a time). */
static int encode_payload(struct br_record *const *recs, size_t n, struct br_buf *out)
{
    if (n == 0 || !recs[0]->value)
        return 0;
    return put(out, recs[0]->value, recs[0]->value_len);
}

/* ------------------------------------------------------------ interface */

int br_format_encode(enum br_format fmt, const struct br_event_ctx *ev,
                     struct br_record *const *recs, size_t n,
                     struct br_buf *out)
{
    size_t start = out->len;
    int rc = fmt == BR_FORMAT_JSON ? encode_json(ev, recs, n, out)
           : fmt == BR_FORMAT_PAYLOAD ? encode_payload(recs, n, out)
           : fmt == BR_FORMAT_CLOUDEVENTS ? br_format_cloudevents(ev, recs, n, out)
                                          : encode_lambda(ev, recs, n, out);
    if (rc < 0) {
        /* Leave out as it was, so the caller can split the batch and retry. */
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return -1;
    }
    return 0;
}

/* A publisher's content type goes into an HTTP header only if it looks
 * like one: "type/subtype[; params]", printable ASCII, not too long. */
bool br_format_usable_content_type(const char *ct)
{
    size_t n = 0;
    bool slash = false;
    for (; ct[n]; n++) {
        unsigned char c = (unsigned char)ct[n];
        if (c < 0x20 || c > 0x7e || n >= 128)
            return false;
        slash = slash || c == '/';
    }
    return slash && ct[0] != '/';
}

const char *br_format_content_type(enum br_format fmt, const struct br_event_ctx *ev,
                                   struct br_record *const *recs, size_t n)
{
    if (fmt == BR_FORMAT_CLOUDEVENTS)
        return br_format_cloudevents_content_type(ev, recs, n);
    if (fmt != BR_FORMAT_PAYLOAD || n == 0)
        return "application/json";
    const struct br_record *rec = recs[0];
    if (rec->kind == BR_REC_MQTT && rec->mqtt.content_type &&
        br_format_usable_content_type(rec->mqtt.content_type))
        return rec->mqtt.content_type;
    bool json = rec->value && br_format_json_valid(rec->value, rec->value_len);
    return json ? "application/json" : "application/octet-stream";
}

/* Per-record bound: every string field escaped at worst (6 bytes per
 * byte), base64 at 4/3 rounded up, numbers at their widest, and a fixed
 * allowance for the field names. The topic appears twice in both formats
 * (lambda: group key and "topic"; json: "id" and "topic"). The event's
 * envelope (origin, pipeline name) is not included. */
size_t br_format_record_bound(enum br_format fmt, const struct br_event_ctx *ev,
                              const struct br_record *rec)
{
    if (fmt == BR_FORMAT_PAYLOAD)
        return rec->value_len;
    if (fmt == BR_FORMAT_CLOUDEVENTS)
        return br_format_cloudevents_record_bound(ev, rec);
    if (rec->kind == BR_REC_S3)
        return br_format_s3_record_bound(ev, rec);
    size_t bound = 256 + 12 * strlen(rec->topic) + b64_len(rec->key_len) +
                   b64_len(rec->value_len);
    if (rec->kind == BR_REC_MQTT)
        bound += 128 + (rec->mqtt.content_type ? 6 * strlen(rec->mqtt.content_type) : 0) +
                 (rec->mqtt.response_topic ? 6 * strlen(rec->mqtt.response_topic) : 0) +
                 b64_len(rec->mqtt.correlation_len);
    for (size_t i = 0; i < rec->n_headers; i++) {
        const struct br_header *h = &rec->headers[i];
        size_t value = rec->kind == BR_REC_MQTT ? 6 * h->value_len + 24
                       : fmt == BR_FORMAT_JSON ? b64_len(h->value_len)
                                               : 5 * h->value_len; /* ",-128" */
        bound += 16 + 6 * strlen(h->name) + value;
    }
    return bound;
}

/* Only CloudEvents in binary mode has headers of its own (ce-*). */
int br_format_headers(enum br_format fmt, const struct br_event_ctx *ev,
                      struct br_record *const *recs, size_t n,
                      struct br_buf *out)
{
    if (fmt != BR_FORMAT_CLOUDEVENTS)
        return 0;
    size_t start = out->len;
    if (br_format_cloudevents_headers(ev, recs, n, out) < 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return -1;
    }
    return 0;
}
