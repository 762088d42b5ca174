/* outcome.c - what a function's answer means for a batch: HTTP status
 * classes, and Lambda's partial-batch response
 * {"batchItemFailures":[{"itemIdentifier":...}]} matched against the
 * batch's records (README: Outcomes); how an identifier names a record is
 * the record kind's (record_kind.h). Bodies are small: jansson parses;
 * one that opens as an object but does not parse fails the whole batch. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hash.h"
#include "outcome.h"
#include "record_kind.h"

bool br_result_reached(const struct br_result *res)
{
    if (res->not_run)
        return false;
    return res->kind == BR_RES_OK || res->kind == BR_RES_FUNCTION_ERROR ||
           res->status != 0 || res->timed_out;
}

enum br_result_kind br_outcome_from_http(long status)
{
    if (status >= 200 && status <= 299)
        return BR_RES_OK;
    if (status == 408 || status == 425 || status == 429)
        return BR_RES_RETRY;
    if (status == 413)
        return BR_RES_TOO_LARGE;
    if (status >= 400 && status <= 499)
        return BR_RES_PERMANENT;
    return BR_RES_RETRY;            /* 5xx, and 1xx/3xx we did not expect */
}

/* ------------------------------------------------ record coordinates index */

/* Open-addressing hash of the batch's coordinates as their kind gives them
 * (a Kafka record's topic, partition and offset; an MQTT record's spool
 * sequence), so that matching k identifiers against n records is O(n + k). */
struct coord_index {
    struct br_record *const *recs;
    uint32_t *slots;                /* record index + 1; 0 when empty */
    size_t mask;
};

static uint64_t coord_hash(const struct br_coord *c)
{
    uint64_t h = br_fnv1a(BR_FNV_BASIS, c->topic, c->topic_len);
    h ^= (uint32_t)c->partition * 0x9E3779B97F4A7C15ULL;
    h ^= (uint64_t)c->offset * 0xC2B2AE3D27D4EB4FULL;
    return h ^ h >> 31;
}

static bool same_coord(const struct br_coord *a, const struct br_coord *b)
{
    return a->partition == b->partition && a->offset == b->offset &&
           a->topic_len == b->topic_len && memcmp(a->topic, b->topic, a->topic_len) == 0;
}

static int coord_index_init(struct coord_index *ix,
                            struct br_record *const *recs, size_t n)
{
    size_t tsize = 8;
    while (tsize < 2 * n)
        tsize *= 2;
    ix->recs = recs;
    ix->mask = tsize - 1;
    ix->slots = calloc(tsize, sizeof(uint32_t));
    if (!ix->slots)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct br_coord c;
        recs[i]->kind->coord(recs[i], &c);
        size_t s = coord_hash(&c) & ix->mask;
        while (ix->slots[s])
            s = (s + 1) & ix->mask;
        ix->slots[s] = (uint32_t)i + 1;
    }
    return 0;
}

/* Marks every record at these coordinates as failed; returns how many. */
static size_t coord_mark(const struct coord_index *ix, const struct br_coord *want,
                         bool *failed)
{
    size_t hits = 0;
    size_t s = coord_hash(want) & ix->mask;
    for (; ix->slots[s]; s = (s + 1) & ix->mask) {
        uint32_t i = ix->slots[s] - 1;
        const struct br_record *rec = ix->recs[i];
        struct br_coord c;
        rec->kind->coord(rec, &c);
        if (same_coord(&c, want)) {
            failed[i] = true;
            hits++;
        }
    }
    return hits;
}

/* Marks the record(s) named by one itemIdentifier, which the batch's kind
 * parses; false when it is malformed or names no record of the batch. */
static bool mark_identifier(const struct coord_index *ix, const json_t *id,
                            bool *failed)
{
    struct br_coord c;
    return ix->recs[0]->kind->parse_id(id, &c) && coord_mark(ix, &c, failed) > 0;
}

/* ------------------------------------------------------------ the parser */

/* The first byte that is not white space, or NULL when there is none. A
 * UTF-8 byte order mark counts as blank: some serializers write one before
 * an object, and such an answer must not pass for plain text. */
static const char *first_non_blank(const char *body, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    for (; i < len; i++)
        if (!isspace((unsigned char)body[i]))
            return body + i;
    return NULL;
}

static enum br_partial mark_failures(const json_t *list,
                                     struct br_record *const *recs, size_t n,
                                     bool *failed)
{
    struct coord_index ix;
    if (n == 0 || coord_index_init(&ix, recs, n) < 0)
        return BR_PARTIAL_ALL_FAILED;   /* safe side: retry the whole batch */
    enum br_partial res = BR_PARTIAL_SOME_FAILED;
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item) {
        const json_t *id = json_is_object(item)
                               ? json_object_get(item, "itemIdentifier") : NULL;
        if (!id || !mark_identifier(&ix, id, failed)) {
            res = BR_PARTIAL_ALL_FAILED;
            break;
        }
    }
    free(ix.slots);
    return res;
}

/* Copies jansson's message into out, escaping what is not printable
 * ASCII: it may quote bytes of the body ("near '...'"), which go on to a
 * log line and a dead-letter record. An escape is never cut in half. */
static void put_printable(char *out, size_t outlen, size_t used, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool plain = *p >= 0x20 && *p < 0x7f;
        size_t need = plain ? 1 : 4;
        if (used + need >= outlen)
            break;
        if (plain)
            out[used] = (char)*p;
        else
            snprintf(out + used, 5, "\\x%02x", *p);
        used += need;
    }
    out[used] = '\0';
}

static void describe_error(const json_error_t *err, char *why, size_t why_len)
{
    if (!why || !why_len)
        return;
    int n = snprintf(why, why_len, "line %d, column %d, byte %d: ", err->line,
                     err->column, err->position);
    if (n < 0)
        n = 0;
    if ((size_t)n >= why_len)
        return;
    put_printable(why, why_len, (size_t)n, err->text);
}

/* JSON_ALLOW_NUL: a string holding \u0000 is valid JSON, so the answer's
 * batchItemFailures are honoured. jansson refuses integers past int64
 * outright; such a body is still a partial-batch answer (with a bogus
 * offset), so it is parsed again with integers as reals and the
 * identifier check rejects it. NULL (err says why) when it does not
 * parse either way. */
static json_t *parse_body(const char *body, size_t len, json_error_t *err)
{
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, err);
    if (!root && json_error_code(err) == json_error_numeric_overflow)
        root = json_loadb(body, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, err);
    return root;
}

static enum br_partial classify(const json_t *root, struct br_record *const *recs,
                                size_t n, bool *failed)
{
    const json_t *list = json_object_get(root, "batchItemFailures");
    if (!list || json_is_null(list))
        return BR_PARTIAL_ALL_OK;
    if (!json_is_array(list))
        return BR_PARTIAL_ALL_FAILED;
    if (json_array_size(list) == 0)
        return BR_PARTIAL_ALL_OK;
    return mark_failures(list, recs, n, failed);
}

enum br_partial br_outcome_partial_why(const char *body, size_t body_len,
                                       struct br_record *const *recs, size_t n,
                                       bool *failed, char *why, size_t why_len)
{
    for (size_t i = 0; i < n; i++)
        failed[i] = false;
    if (why && why_len)
        why[0] = '\0';
    /* Plain text, or JSON that is not an object: an ordinary return value. */
    const char *start = body ? first_non_blank(body, body_len) : NULL;
    if (!start || *start != '{')
        return BR_PARTIAL_ALL_OK;
    /* A byte order mark (RFC 8259 lets a parser ignore it; jansson does not) */
    size_t skip = body_len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    json_error_t err;
    json_t *root = parse_body(body + skip, body_len - skip, &err);
    enum br_partial res;
    if (!root) {
        describe_error(&err, why, why_len);
        res = BR_PARTIAL_INVALID;
    } else {
        res = classify(root, recs, n, failed);
        json_decref(root);
    }
    if (res == BR_PARTIAL_ALL_FAILED || res == BR_PARTIAL_INVALID)
        for (size_t i = 0; i < n; i++)
            failed[i] = true;
    return res;
}

enum br_partial br_outcome_partial(const char *body, size_t body_len,
                                   struct br_record *const *recs, size_t n,
                                   bool *failed)
{
    return br_outcome_partial_why(body, body_len, recs, n, failed, NULL, 0);
}
