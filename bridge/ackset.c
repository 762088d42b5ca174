/* ackset.c - per-shard rings of received positions with settled flags. */
#include <stdlib.h>
#include <string.h>

#include "ackset.h"

struct shard_ring {
    int64_t *pos;           /* pos[seq % cap] */
    bool *settled;
    size_t cap;             /* power of two */
    uint64_t head;          /* oldest unsettled-or-not-yet-popped seq */
    uint64_t tail;          /* next seq to hand out */
    int64_t commit_point;   /* -1: nothing settled since the last reset */
    bool moved;             /* commit_point changed since the last take */
};

struct br_ackset {
    struct shard_ring *shards;
    size_t n;
};

struct br_ackset *br_ackset_create(void)
{
    return calloc(1, sizeof(struct br_ackset));
}

void br_ackset_destroy(struct br_ackset *as)
{
    if (!as)
        return;
    for (size_t i = 0; i < as->n; i++) {
        free(as->shards[i].pos);
        free(as->shards[i].settled);
    }
    free(as->shards);
    free(as);
}

static struct shard_ring *shard_get(struct br_ackset *as, int shard)
{
    if (shard < 0)
        return NULL;
    if ((size_t)shard >= as->n) {
        size_t n = (size_t)shard + 1;
        struct shard_ring *grown = realloc(as->shards, n * sizeof(*grown));
        if (!grown)
            return NULL;
        memset(grown + as->n, 0, (n - as->n) * sizeof(*grown));
        for (size_t i = as->n; i < n; i++)
            grown[i].commit_point = -1;
        as->shards = grown;
        as->n = n;
    }
    return &as->shards[shard];
}

#define RING_MIN 256

/* Moves the ring to cap slots (a power of two holding every live entry),
 * keeping live entries at their seq % cap slots. */
static int ring_resize(struct shard_ring *r, size_t cap)
{
    int64_t *pos = malloc(cap * sizeof(*pos));
    bool *settled = malloc(cap * sizeof(*settled));
    if (!pos || !settled) {
        free(pos);
        free(settled);
        return -1;
    }
    for (uint64_t seq = r->head; seq < r->tail; seq++) {
        pos[seq & (cap - 1)] = r->pos[seq & (r->cap - 1)];
        settled[seq & (cap - 1)] = r->settled[seq & (r->cap - 1)];
    }
    free(r->pos);
    free(r->settled);
    r->pos = pos;
    r->settled = settled;
    r->cap = cap;
    return 0;
}

/* A ring grown for a burst (a partition's backlog behind one slow record)
 * shrinks once less than an eighth of it is in use, to four times what is
 * live: else every ring keeps the most it ever held, for the life of the
 * assignment. The gap between the thresholds keeps it from resizing back
 * and forth. */
static void ring_shrink(struct shard_ring *r)
{
    uint64_t live = r->tail - r->head;
    if (r->cap <= RING_MIN || live >= r->cap / 8)
        return;
    size_t cap = RING_MIN;
    while (cap < live * 4)
        cap *= 2;
    (void)ring_resize(r, cap);
}

uint64_t br_ackset_track(struct br_ackset *as, int shard, int64_t pos)
{
    struct shard_ring *r = shard_get(as, shard);
    if (!r)
        return UINT64_MAX;
    if (r->tail - r->head == r->cap && ring_resize(r, r->cap ? r->cap * 2 : RING_MIN) < 0)
        return UINT64_MAX;
    uint64_t seq = r->tail++;
    r->pos[seq & (r->cap - 1)] = pos;
    r->settled[seq & (r->cap - 1)] = false;
    return seq;
}

bool br_ackset_settle(struct br_ackset *as, int shard, uint64_t seq)
{
    if (shard < 0 || (size_t)shard >= as->n)
        return false;
    struct shard_ring *r = &as->shards[shard];
    if (seq < r->head || seq >= r->tail)
        return false;
    r->settled[seq & (r->cap - 1)] = true;
    bool moved = false;
    while (r->head < r->tail && r->settled[r->head & (r->cap - 1)]) {
        r->commit_point = r->pos[r->head & (r->cap - 1)] + 1;
        r->head++;
        moved = true;
    }
    if (moved) {
        r->moved = true;
        ring_shrink(r);
    }
    return moved;
}

int64_t br_ackset_take_commit(struct br_ackset *as, int shard)
{
    if (shard < 0 || (size_t)shard >= as->n || !as->shards[shard].moved)
        return -1;
    as->shards[shard].moved = false;
    return as->shards[shard].commit_point;
}

int64_t br_ackset_commit_point(const struct br_ackset *as, int shard)
{
    if (shard < 0 || (size_t)shard >= as->n)
        return -1;
    return as->shards[shard].commit_point;
}

size_t br_ackset_slots(const struct br_ackset *as, int shard)
{
    if (shard < 0 || (size_t)shard >= as->n)
        return 0;
    return as->shards[shard].cap;
}

size_t br_ackset_outstanding(const struct br_ackset *as, int shard)
{
    if (shard < 0 || (size_t)shard >= as->n)
        return 0;
    return (size_t)(as->shards[shard].tail - as->shards[shard].head);
}

void br_ackset_reset(struct br_ackset *as, int shard)
{
    if (shard < 0 || (size_t)shard >= as->n)
        return;
    struct shard_ring *r = &as->shards[shard];
    r->head = r->tail;
    r->commit_point = -1;
    r->moved = false;
}
