/* test_backoff.c - backoff ceilings, saturation for huge attempts, and
 * full jitter staying within [0, ceiling]. */
#include <limits.h>
#include <stdint.h>

#include "bridge/backoff.h"
#include "unit.h"

static void test_sequence_no_jitter(void)
{
    struct br_backoff bo = { 100, 5000, 2.0, BR_JITTER_NONE };
    static const int64_t want[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000 };
    for (int a = 1; a <= 8; a++)
        CHECK_INT(br_backoff_delay(&bo, a, 12345), want[a - 1]);
}

static void test_ceilings(void)
{
    static const struct {
        struct br_backoff bo;
        int attempt;
        int64_t want;
    } cases[] = {
        { { 100, 5000, 2.0, BR_JITTER_NONE }, 0, 100 },        /* clamped to 1 */
        { { 100, 5000, 2.0, BR_JITTER_NONE }, INT_MAX, 5000 }, /* no overflow */
        { { 100, INT64_MAX, 2.0, BR_JITTER_NONE }, INT_MAX, INT64_MAX },
        { { 100, INT64_MAX, 10.0, BR_JITTER_NONE }, 1000, INT64_MAX },
        { { INT64_MAX, INT64_MAX, 2.0, BR_JITTER_NONE }, 3, INT64_MAX },
        { { 100, 5000, 1.0, BR_JITTER_NONE }, 50, 100 },       /* constant */
        { { 100, 5000, 1.5, BR_JITTER_NONE }, 3, 225 },
        { { 500, 200, 2.0, BR_JITTER_NONE }, 1, 200 },         /* max < initial */
        { { 0, 5000, 2.0, BR_JITTER_NONE }, 4, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INT(br_backoff_ceiling(&cases[i].bo, cases[i].attempt), cases[i].want);
}

/* A small xorshift so the test is deterministic. */
static uint64_t next_rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_full_jitter(void)
{
    struct br_backoff bo = { 100, 5000, 2.0, BR_JITTER_FULL };
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    for (int a = 1; a <= 10; a++) {
        int64_t ceiling = br_backoff_ceiling(&bo, a);
        int in_range = 1, hit_low = 0, hit_high = 0;
        for (int i = 0; i < 2000; i++) {
            int64_t d = br_backoff_delay(&bo, a, next_rnd(&seed));
            in_range &= d >= 0 && d <= ceiling;
            hit_low |= d < ceiling / 4;
            hit_high |= d > ceiling * 3 / 4;
        }
        CHECK_MSG(in_range, "attempt %d: delay outside [0, %lld]", a,
                  (long long)ceiling);
        CHECK_MSG(hit_low && hit_high, "attempt %d: jitter not spread", a);
    }
    /* Extremes of rnd, and a ceiling of INT64_MAX. */
    CHECK_INT(br_backoff_delay(&bo, 1, 0), 0);
    CHECK_INT(br_backoff_delay(&bo, 1, 100), 100);
    CHECK_INT(br_backoff_delay(&bo, 1, 101), 0);
    struct br_backoff huge = { 1, INT64_MAX, 2.0, BR_JITTER_FULL };
    CHECK(br_backoff_delay(&huge, INT_MAX, UINT64_MAX) >= 0);
}

int main(void)
{
    test_sequence_no_jitter();
    test_ceilings();
    test_full_jitter();
    return UNIT_DONE("backoff");
}
