/* test_ackset.c - the commit point only moves over a settled prefix. */
#include <stdlib.h>

#include "bridge/ackset.h"
#include "unit.h"

static void test_in_order(void)
{
    struct br_ackset *as = br_ackset_create();
    uint64_t s0 = br_ackset_track(as, 0, 10);
    uint64_t s1 = br_ackset_track(as, 0, 11);
    CHECK_INT(br_ackset_take_commit(as, 0), -1);
    CHECK(br_ackset_settle(as, 0, s0));
    CHECK_INT(br_ackset_take_commit(as, 0), 11);
    CHECK_INT(br_ackset_take_commit(as, 0), -1);      /* taken once */
    CHECK(br_ackset_settle(as, 0, s1));
    CHECK_INT(br_ackset_take_commit(as, 0), 12);
    CHECK_INT(br_ackset_outstanding(as, 0), 0);
    br_ackset_destroy(as);
}

static void test_gap_holds_commit(void)
{
    struct br_ackset *as = br_ackset_create();
    uint64_t seq[5];
    for (int i = 0; i < 5; i++)
        seq[i] = br_ackset_track(as, 3, 100 + i * 2);   /* offsets with gaps */
    CHECK(!br_ackset_settle(as, 3, seq[1]));
    CHECK(!br_ackset_settle(as, 3, seq[2]));
    CHECK(!br_ackset_settle(as, 3, seq[4]));
    CHECK_INT(br_ackset_commit_point(as, 3), -1);
    CHECK(br_ackset_settle(as, 3, seq[0]));
    CHECK_INT(br_ackset_take_commit(as, 3), 105);      /* 100,102,104 done */
    CHECK_INT(br_ackset_outstanding(as, 3), 2);
    CHECK(br_ackset_settle(as, 3, seq[3]));
    CHECK_INT(br_ackset_take_commit(as, 3), 109);
    br_ackset_destroy(as);
}

static void test_shards_independent(void)
{
    struct br_ackset *as = br_ackset_create();
    uint64_t a = br_ackset_track(as, 0, 5);
    uint64_t b = br_ackset_track(as, 7, 50);
    CHECK(br_ackset_settle(as, 7, b));
    CHECK_INT(br_ackset_take_commit(as, 7), 51);
    CHECK_INT(br_ackset_take_commit(as, 0), -1);
    CHECK(br_ackset_settle(as, 0, a));
    CHECK_INT(br_ackset_take_commit(as, 0), 6);
    CHECK_INT(br_ackset_take_commit(as, 1), -1);       /* never used */
    br_ackset_destroy(as);
}

static void test_reset_ignores_old_acks(void)
{
    struct br_ackset *as = br_ackset_create();
    uint64_t old = br_ackset_track(as, 1, 7);
    br_ackset_reset(as, 1);
    CHECK(!br_ackset_settle(as, 1, old));
    CHECK_INT(br_ackset_take_commit(as, 1), -1);
    uint64_t fresh = br_ackset_track(as, 1, 7);
    CHECK(fresh != old);
    CHECK(br_ackset_settle(as, 1, fresh));
    CHECK_INT(br_ackset_take_commit(as, 1), 8);
    CHECK(!br_ackset_settle(as, 1, 999999));          /* never tracked */
    br_ackset_destroy(as);
}

/* Many records settled in a scrambled order: the ring grows and wraps. */
static void test_growth_and_scramble(void)
{
    enum { N = 5000 };
    struct br_ackset *as = br_ackset_create();
    uint64_t *seq = malloc(N * sizeof(*seq));
    for (int i = 0; i < N; i++)
        seq[i] = br_ackset_track(as, 2, i);
    bool *settled = calloc(N, sizeof(*settled));
    int64_t last = -1;
    bool monotonic = true, never_past_unsettled = true;
    for (int k = 0; k < N; k++) {
        int i = (int)(((long)k * 7919) % N);    /* a permutation: 7919 is prime */
        settled[i] = true;
        br_ackset_settle(as, 2, seq[i]);
        int64_t c = br_ackset_take_commit(as, 2);
        if (c >= 0) {
            monotonic &= c > last;
            last = c;
            for (int64_t p = 0; p < c; p++)    /* all below it are settled */
                never_past_unsettled &= settled[p];
        }
    }
    free(settled);
    CHECK(monotonic);
    CHECK(never_past_unsettled);
    CHECK_INT(last, N);
    CHECK_INT(br_ackset_outstanding(as, 2), 0);
    free(seq);
    br_ackset_destroy(as);
}

/* One record held back while 20000 behind it settle: the ring grows to
 * hold them all, and shrinks back once that record settles; it still
 * tracks and commits rightly across both moves. */
static void test_ring_shrinks_after_a_burst(void)
{
    enum { N = 20000 };
    struct br_ackset *as = br_ackset_create();
    uint64_t first = br_ackset_track(as, 0, 0);
    for (int i = 1; i < N; i++)
        br_ackset_settle(as, 0, br_ackset_track(as, 0, i));
    CHECK(br_ackset_slots(as, 0) >= N);
    CHECK_INT(br_ackset_take_commit(as, 0), -1);      /* held by the first */
    CHECK(br_ackset_settle(as, 0, first));
    CHECK_INT(br_ackset_take_commit(as, 0), N);
    CHECK_INT(br_ackset_slots(as, 0), 256);             /* nothing live */
    /* Still right: a gap, then in order. */
    uint64_t a = br_ackset_track(as, 0, N), b = br_ackset_track(as, 0, N + 1);
    CHECK(!br_ackset_settle(as, 0, b));
    CHECK(br_ackset_settle(as, 0, a));
    CHECK_INT(br_ackset_take_commit(as, 0), N + 2);
    CHECK_INT(br_ackset_outstanding(as, 0), 0);
    br_ackset_destroy(as);
}

int main(void)
{
    test_ring_shrinks_after_a_burst();
    test_in_order();
    test_gap_holds_commit();
    test_shards_independent();
    test_reset_ignores_old_acks();
    test_growth_and_scramble();
    return UNIT_DONE("ackset");
}
