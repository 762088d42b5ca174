/* test_ratelimit.c - the token bucket: a full bucket's burst, the wait
 * until the next token (exact, so the dispatcher sleeps that long),
 * fractional rates, the cap at burst after a quiet spell, and the bound
 * burst + rate * t over every window of a greedy run. */
#include <stdbool.h>
#include <stdlib.h>

#include "bridge/ratelimit.h"
#include "unit.h"

static void test_burst_then_wait(void)
{
    struct br_ratelimit rl;
    br_ratelimit_init(&rl, 10, 3, 1000);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(br_ratelimit_wait(&rl, 1000), 0);
        br_ratelimit_take(&rl, 1000);
    }
    CHECK_INT(br_ratelimit_wait(&rl, 1000), 100);
    CHECK_INT(br_ratelimit_wait(&rl, 1040), 60);
    CHECK_INT(br_ratelimit_wait(&rl, 1099), 1);
    CHECK_INT(br_ratelimit_wait(&rl, 1100), 0);
    br_ratelimit_take(&rl, 1100);
    CHECK_INT(br_ratelimit_wait(&rl, 1100), 100);
}

static void test_fractional_rate(void)
{
    struct br_ratelimit rl;
    br_ratelimit_init(&rl, 0.5, 1, 0);
    br_ratelimit_take(&rl, 0);
    CHECK_INT(br_ratelimit_wait(&rl, 0), 2000);
    CHECK_INT(br_ratelimit_wait(&rl, 1999), 1);
    CHECK_INT(br_ratelimit_wait(&rl, 2000), 0);
}

static void test_fast_rate_rounds_up(void)
{
    struct br_ratelimit rl;
    br_ratelimit_init(&rl, 3000, 1, 0);   /* 3 tokens per ms */
    br_ratelimit_take(&rl, 0);
    CHECK_INT(br_ratelimit_wait(&rl, 0), 1);
    CHECK_INT(br_ratelimit_wait(&rl, 1), 0);
    rl = (struct br_ratelimit){0};
    br_ratelimit_init(&rl, 3, 1, 0);      /* 333.33 ms per token */
    br_ratelimit_take(&rl, 0);
    CHECK_INT(br_ratelimit_wait(&rl, 0), 334);
    CHECK_INT(br_ratelimit_wait(&rl, 333), 1);
    CHECK_INT(br_ratelimit_wait(&rl, 334), 0);
}

static void test_quiet_spell_caps_at_burst(void)
{
    struct br_ratelimit rl;
    br_ratelimit_init(&rl, 100, 4, 0);
    int started = 0;
    while (br_ratelimit_wait(&rl, 3600000) == 0 && started < 100) {
        br_ratelimit_take(&rl, 3600000);
        started++;
    }
    CHECK_INT(started, 4);
}

static void test_no_limit(void)
{
    struct br_ratelimit rl;
    br_ratelimit_init(&rl, 0, 1, 0);
    for (int i = 0; i < 100; i++) {
        CHECK_INT(br_ratelimit_wait(&rl, 0), 0);
        br_ratelimit_take(&rl, 0);
    }
}

/* A caller that starts whenever it may and otherwise sleeps exactly the
 * wait it was told: every window of its starts keeps the bound, and it
 * gets the whole rate (the wait is never longer than needed). */
static void check_greedy(double rate, int64_t burst)
{
    enum { N = 2000 };
    int64_t *at = malloc(N * sizeof(*at));
    struct br_ratelimit rl;
    br_ratelimit_init(&rl, rate, burst, 0);
    int64_t now = 0;
    for (int i = 0; i < N; i++) {
        int64_t w;
        while ((w = br_ratelimit_wait(&rl, now)) > 0)
            now += w;
        br_ratelimit_take(&rl, now);
        at[i] = now;
    }
    bool bound = true;
    for (int i = 0; i < N && bound; i++)
        for (int j = i; j < N; j++)
            if ((double)(j - i + 1) > (double)burst + rate * (double)(at[j] - at[i]) / 1000.0
                                          + 1e-6) {
                bound = false;
                CHECK_MSG(false, "rate %g burst %lld: %d starts in %lld ms", rate,
                          (long long)burst, j - i + 1, (long long)(at[j] - at[i]));
                break;
            }
    CHECK(bound);
    /* the whole rate: N starts take no longer than (N - burst) / rate
     * plus a ms of rounding per start */
    double ideal = (double)(N - burst) / rate * 1000.0;
    CHECK_MSG((double)at[N - 1] <= ideal + N, "rate %g: %lld ms for %d starts, ideal %.0f",
              rate, (long long)at[N - 1], N, ideal);
    free(at);
}

static void test_greedy_runs_keep_the_bound(void)
{
    check_greedy(50, 10);
    check_greedy(3, 1);
    check_greedy(0.7, 2);
    check_greedy(2500, 5);
    check_greedy(1000, 1);
}

int main(void)
{
    test_burst_then_wait();
    test_fractional_rate();
    test_fast_rate_rounds_up();
    test_quiet_spell_caps_at_burst();
    test_no_limit();
    test_greedy_runs_keep_the_bound();
    return UNIT_DONE("ratelimit");
}
