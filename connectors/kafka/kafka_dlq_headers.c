/* kafka_dlq_headers.c - reading the fnbridge.dlq.* headers back
 * (kafka_dlq_headers.h). Strict: a dead letter whose coordinates cannot
 * be trusted is not replayed as if they could. */
#include <stdio.h>
#include <string.h>

#include "bridge/record_kind.h"
#include "kafka_dlq_headers.h"

#define PREFIX "fnbridge.dlq."
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define COUNT_MAX 1000000000          /* replay counts and attempts */

enum field { F_PIPELINE, F_TOPIC, F_PARTITION, F_OFFSET, F_CONDITION, F_ATTEMPTS,
             F_REPLAY_COUNT, F_COUNT };

static const char *const field_names[F_COUNT] = {
    "pipeline", "topic", "partition", "offset", "condition", "attempts", "replay_count",
};

static int field_of(const char *suffix)
{
    for (int i = 0; i < F_COUNT; i++)
        if (!strcmp(field_names[i], suffix))
            return i;
    return -1;
}

static int64_t *number_of(struct kafka_dlq_fields *f, int field, int64_t *max)
{
    *max = COUNT_MAX;
    switch (field) {
    case F_PARTITION: *max = INT32_MAX; return &f->partition;
    case F_OFFSET: *max = INT64_MAX; return &f->offset;
    case F_ATTEMPTS: return &f->attempts;
    case F_REPLAY_COUNT: return &f->replay_count;
    default: return NULL;
    }
}

static struct kafka_span *text_of(struct kafka_dlq_fields *f, int field)
{
    switch (field) {
    case F_PIPELINE: return &f->pipeline;
    case F_TOPIC: return &f->topic;
    case F_CONDITION: return &f->condition;
    default: return NULL;
    }
}

/* One known header's value into f. */
static int take(struct kafka_dlq_fields *f, int field, const struct br_header *h, char *why,
                size_t whylen)
{
    const char *v = (const char *)h->value;
    int64_t max, *num = number_of(f, field, &max);
    if (!v) {
        snprintf(why, whylen, "header %s has no value", h->name);
        return -1;
    }
    if (num) {
        if (!br_kind_parse_dec(v, h->value_len, max, num)) {
            snprintf(why, whylen, "header %s is not a decimal number from 0 to %lld",
                     h->name, (long long)max);
            return -1;
        }
        return 0;
    }
    if (memchr(v, '\0', h->value_len)) {
        snprintf(why, whylen, "header %s holds a NUL byte", h->name);
        return -1;
    }
    *text_of(f, field) = (struct kafka_span){v, h->value_len};
    return 0;
}

static int check_required(const bool *seen, const struct kafka_dlq_fields *f, char *why,
                          size_t whylen)
{
    static const int required[] = {F_PIPELINE, F_TOPIC, F_PARTITION, F_OFFSET};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!seen[required[i]]) {
            snprintf(why, whylen, "no header " PREFIX "%s: not a dead letter of the "
                     "kafka sink", field_names[required[i]]);
            return -1;
        }
    if (!f->pipeline.n || !f->topic.n) {
        snprintf(why, whylen, "header " PREFIX "%s is empty",
                 f->pipeline.n ? "topic" : "pipeline");
        return -1;
    }
    return 0;
}

int kafka_dlq_headers_parse(const struct br_header *h, size_t n, struct kafka_dlq_fields *f,
                            bool *keep, char *why, size_t whylen)
{
    bool seen[F_COUNT] = {false};
    *f = (struct kafka_dlq_fields){.attempts = -1, .condition = {"", 0}};
    for (size_t i = 0; i < n; i++) {
        keep[i] = strncmp(h[i].name, PREFIX, PREFIX_LEN) != 0;
        if (keep[i])
            continue;
        int field = field_of(h[i].name + PREFIX_LEN);
        if (field < 0)
            continue;
        if (seen[field]) {
            snprintf(why, whylen, "header %s is given twice", h[i].name);
            return -1;
        }
        seen[field] = true;
        if (take(f, field, &h[i], why, whylen) < 0)
            return -1;
    }
    return check_required(seen, f, why, whylen);
}
