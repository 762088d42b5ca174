/* breaker.c - the circuit breaker's transitions (breaker.h). */
#include "breaker.h"

void br_breaker_init(struct br_breaker *b, int64_t failures, int64_t cooldown_ms)
{
    *b = (struct br_breaker){.failures = failures, .cooldown_ms = cooldown_ms,
                             .state = BR_BREAKER_CLOSED};
}

static void go(struct br_breaker *b, enum br_breaker_state to, int64_t now)
{
    b->state = to;
    b->epoch++;
    b->in_a_row = 0;
    b->probe_out = false;
    b->open_until_ms = to == BR_BREAKER_OPEN ? now + b->cooldown_ms : 0;
}

enum br_breaker_change br_breaker_tick(struct br_breaker *b, int64_t now)
{
    if (b->state != BR_BREAKER_OPEN || now < b->open_until_ms)
        return BR_BREAKER_SAME;
    go(b, BR_BREAKER_HALF_OPEN, now);
    return BR_BREAKER_PROBING;
}

int64_t br_breaker_wait(const struct br_breaker *b, int64_t now)
{
    switch (b->state) {
    case BR_BREAKER_OPEN:
        return b->open_until_ms > now ? b->open_until_ms - now : 0;
    case BR_BREAKER_HALF_OPEN:
        return b->probe_out ? -1 : 0;
    case BR_BREAKER_CLOSED:
        break;
    }
    return 0;
}

unsigned br_breaker_start(struct br_breaker *b)
{
    if (b->state == BR_BREAKER_HALF_OPEN)
        b->probe_out = true;
    return b->epoch;
}

enum br_breaker_change br_breaker_end(struct br_breaker *b, unsigned ticket, bool failed,
                                      int64_t now)
{
    if (b->failures <= 0 || ticket != b->epoch)
        return BR_BREAKER_SAME;     /* no breaker, or started before the
                                       last transition */
    if (b->state == BR_BREAKER_HALF_OPEN) {
        go(b, failed ? BR_BREAKER_OPEN : BR_BREAKER_CLOSED, now);
        return failed ? BR_BREAKER_REOPENED : BR_BREAKER_CLOSED_AGAIN;
    }
    if (b->state != BR_BREAKER_CLOSED)
        return BR_BREAKER_SAME;     /* cannot happen: nothing starts while open */
    if (!failed) {
        b->in_a_row = 0;
        return BR_BREAKER_SAME;
    }
    if (++b->in_a_row < b->failures)
        return BR_BREAKER_SAME;
    go(b, BR_BREAKER_OPEN, now);
    return BR_BREAKER_OPENED;
}
