/* test_breaker.c - the circuit breaker's transitions, one case per rule:
 * opening after N failures in a row, a success resetting the count, the
 * cooldown, exactly one probe, the probe closing or reopening, outcomes of
 * invocations started before a transition, and no breaker at all. */
#include "bridge/breaker.h"
#include "unit.h"

/* Starts one invocation at now (the breaker must allow it) and ends it. */
static enum br_breaker_change call(struct br_breaker *b, bool failed, int64_t now)
{
    br_breaker_tick(b, now);
    CHECK_INT(br_breaker_wait(b, now), 0);
    unsigned t = br_breaker_start(b);
    return br_breaker_end(b, t, failed, now);
}

static void test_opens_after_failures_in_a_row(void)
{
    struct br_breaker b;
    br_breaker_init(&b, 3, 1000);
    CHECK_INT(call(&b, true, 0), BR_BREAKER_SAME);
    CHECK_INT(call(&b, true, 1), BR_BREAKER_SAME);
    CHECK_INT(b.state, BR_BREAKER_CLOSED);
    CHECK_INT(call(&b, true, 2), BR_BREAKER_OPENED);
    CHECK_INT(b.state, BR_BREAKER_OPEN);
    CHECK_INT(b.open_until_ms, 1002);
    CHECK_INT(br_breaker_wait(&b, 2), 1000);
    CHECK_INT(br_breaker_wait(&b, 500), 502);
}

static void test_success_resets_the_count(void)
{
    struct br_breaker b;
    br_breaker_init(&b, 3, 1000);
    call(&b, true, 0);
    call(&b, true, 0);
    CHECK_INT(call(&b, false, 0), BR_BREAKER_SAME);
    call(&b, true, 0);
    CHECK_INT(call(&b, true, 0), BR_BREAKER_SAME);
    CHECK_INT(b.state, BR_BREAKER_CLOSED);
    CHECK_INT(call(&b, true, 0), BR_BREAKER_OPENED);
}

static void test_one_failure_opens_with_failures_1(void)
{
    struct br_breaker b;
    br_breaker_init(&b, 1, 50);
    CHECK_INT(call(&b, true, 10), BR_BREAKER_OPENED);
    CHECK_INT(br_breaker_wait(&b, 10), 50);
}

static void test_cooldown_then_one_probe(void)
{
    struct br_breaker b;
    br_breaker_init(&b, 1, 1000);
    call(&b, true, 0);
    CHECK_INT(br_breaker_tick(&b, 999), BR_BREAKER_SAME);
    CHECK_INT(br_breaker_wait(&b, 999), 1);
    CHECK_INT(br_breaker_tick(&b, 1000), BR_BREAKER_PROBING);
    CHECK_INT(b.state, BR_BREAKER_HALF_OPEN);
    CHECK_INT(br_breaker_tick(&b, 1001), BR_BREAKER_SAME);
    CHECK_INT(br_breaker_wait(&b, 1000), 0);
    unsigned probe = br_breaker_start(&b);
    /* exactly one: no second start until the probe ends */
    CHECK_INT(br_breaker_wait(&b, 1000), -1);
    CHECK_INT(br_breaker_wait(&b, 900000), -1);
    CHECK_INT(br_breaker_end(&b, probe, false, 1200), BR_BREAKER_CLOSED_AGAIN);
    CHECK_INT(b.state, BR_BREAKER_CLOSED);
    CHECK_INT(br_breaker_wait(&b, 1200), 0);
    /* closed again with a fresh count */
    CHECK_INT(call(&b, true, 1300), BR_BREAKER_OPENED);
}

static void test_failed_probe_reopens(void)
{
    struct br_breaker b;
    br_breaker_init(&b, 2, 1000);
    call(&b, true, 0);
    call(&b, true, 0);
    br_breaker_tick(&b, 1000);
    unsigned probe = br_breaker_start(&b);
    CHECK_INT(br_breaker_end(&b, probe, true, 1500), BR_BREAKER_REOPENED);
    CHECK_INT(b.state, BR_BREAKER_OPEN);
    CHECK_INT(b.open_until_ms, 2500);       /* another whole cooldown */
    CHECK_INT(br_breaker_wait(&b, 1500), 1000);
    CHECK_INT(br_breaker_tick(&b, 2500), BR_BREAKER_PROBING);
    probe = br_breaker_start(&b);
    CHECK_INT(br_breaker_end(&b, probe, false, 2600), BR_BREAKER_CLOSED_AGAIN);
}

/* Invocations still in flight when the circuit opened end later: their
 * outcomes neither extend the cooldown nor decide the probe, nor count
 * once the circuit closed again. */
static void test_outcomes_of_earlier_invocations_are_ignored(void)
{
    struct br_breaker b;
    br_breaker_init(&b, 2, 1000);
    unsigned t1 = br_breaker_start(&b), t2 = br_breaker_start(&b);
    unsigned t3 = br_breaker_start(&b), t4 = br_breaker_start(&b);
    CHECK_INT(br_breaker_end(&b, t1, true, 0), BR_BREAKER_SAME);
    CHECK_INT(br_breaker_end(&b, t2, true, 0), BR_BREAKER_OPENED);
    CHECK_INT(br_breaker_end(&b, t3, true, 10), BR_BREAKER_SAME);
    CHECK_INT(b.open_until_ms, 1000);
    br_breaker_tick(&b, 1000);
    unsigned probe = br_breaker_start(&b);
    CHECK_INT(br_breaker_end(&b, t4, false, 1001), BR_BREAKER_SAME);
    CHECK_INT(b.state, BR_BREAKER_HALF_OPEN);
    CHECK_INT(br_breaker_wait(&b, 1001), -1);
    CHECK_INT(br_breaker_end(&b, probe, false, 1002), BR_BREAKER_CLOSED_AGAIN);
    CHECK_INT(br_breaker_end(&b, t3, true, 1003), BR_BREAKER_SAME);
    CHECK_INT(b.in_a_row, 0);
}

static void test_no_breaker(void)
{
    struct br_breaker b;
    br_breaker_init(&b, 0, 0);
    for (int i = 0; i < 1000; i++)
        CHECK_INT(call(&b, true, i), BR_BREAKER_SAME);
    CHECK_INT(b.state, BR_BREAKER_CLOSED);
}

int main(void)
{
    test_opens_after_failures_in_a_row();
    test_success_resets_the_count();
    test_one_failure_opens_with_failures_1();
    test_cooldown_then_one_probe();
    test_failed_probe_reopens();
    test_outcomes_of_earlier_invocations_are_ignored();
    test_no_breaker();
    return UNIT_DONE("breaker");
}
