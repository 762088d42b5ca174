/* record_kind.c - pieces record kinds share (record_kind.h): decimal
 * identifiers, the one-sequence id scheme (MQTT's spool, the invoke
 * command), and the dead letter's per-partition coordinates. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dlq_json.h"
#include "record_kind.h"

bool br_kind_parse_dec(const char *s, size_t n, int64_t max, int64_t *out)
{
    if (n == 0)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (max - d) / 10)         /* v * 10 + d would pass max */
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

size_t br_kind_seq_id(const struct br_record *rec, char *buf, size_t n)
{
    int len = snprintf(buf, n, "%" PRId64, rec->offset);
    return len < 0 ? 0 : (size_t)len;
}

/* The sequence is unique on its own: indexed under the empty topic. */
void br_kind_seq_coord(const struct br_record *rec, struct br_coord *c)
{
    *c = (struct br_coord){"", 0, 0, rec->offset};
}

bool br_kind_seq_parse_id(const json_t *id, struct br_coord *c)
{
    *c = (struct br_coord){"", 0, 0, 0};
    return json_is_string(id) &&
           br_kind_parse_dec(json_string_value(id), json_string_length(id), INT64_MAX,
                             &c->offset);
}

/* One entry per topic-partition: offsets and count of the batch's records. */
int br_kind_dlq_partitions(struct br_buf *out, const char *type,
                           struct br_record *const *recs, size_t n)
{
    int rc = br_buf_printf(out, "{\"type\":\"%s\",\"partitions\":[", type);
    bool *done = calloc(n, sizeof(*done));
    bool first = true;
    if (!done)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        const struct br_record *r = recs[i];
        int64_t lo = r->offset, hi = r->offset;
        size_t count = 0;
        for (size_t j = i; j < n; j++) {
            const struct br_record *o = recs[j];
            if (done[j] || o->partition != r->partition || strcmp(o->topic, r->topic))
                continue;
            done[j] = true;
            count++;
            lo = o->offset < lo ? o->offset : lo;
            hi = o->offset > hi ? o->offset : hi;
        }
        rc |= br_buf_puts(out, first ? "{" : ",{");
        first = false;
        rc |= br_dlq_put_label(out, "topic", r->topic, strlen(r->topic));
        rc |= br_buf_printf(out, ",\"partition\":%d,\"startOffset\":%lld,"
                                 "\"endOffset\":%lld,\"batchSize\":%zu}",
                            (int)r->partition, (long long)lo, (long long)hi, count);
    }
    free(done);
    return rc | br_buf_puts(out, "]}");
}
