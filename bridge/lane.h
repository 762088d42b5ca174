/* lane.h - how a source orders its records, and the ordering lane a
 * record travels in. The source declares its ordering on its handle
 * (struct br_source); the batcher keeps lanes by it and the outcome rules
 * use it to hold back the later records of a lane whose record failed. */
#ifndef BR_LANE_H
#define BR_LANE_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "record.h"

enum br_ordering {
    BR_ORDER_NONE = 0,    /* one lane, batches in parallel */
    BR_ORDER_SHARD,       /* a lane per shard (Kafka partition), one batch at a time */
    BR_ORDER_KEY,         /* a lane per (shard, key hash), one batch at a time */
};

#define BR_KEY_LANES 1024
/* A shard index is below this (the ackset's and pipeline's shard table). */
#define BR_MAX_SHARDS 4096

static inline size_t br_lane_count(enum br_ordering o)
{
    return o == BR_ORDER_SHARD ? BR_MAX_SHARDS : o == BR_ORDER_KEY ? BR_KEY_LANES : 1;
}

static inline size_t br_lane_of(enum br_ordering o, const struct br_record *rec)
{
    if (o == BR_ORDER_SHARD)
        return (size_t)rec->shard;
    if (o != BR_ORDER_KEY)
        return 0;
    /* FNV-1a over the shard and the key: equal keys share a lane. */
    uint64_t h = br_fnv1a(BR_FNV_BASIS ^ (uint64_t)rec->shard, rec->key, rec->key_len);
    return (size_t)(h % BR_KEY_LANES);
}

#endif
