/* ratelimit.c - the token bucket (ratelimit.h). */
#include <math.h>

#include "ratelimit.h"

/* A token short of 1 by less than this is a whole one: the sum of many
 * refills in doubles must not make a due start wait one more ms. */
#define TOKEN_SLACK 1e-9

void br_ratelimit_init(struct br_ratelimit *rl, double per_second, int64_t burst,
                       int64_t now)
{
    *rl = (struct br_ratelimit){.per_second = per_second,
                                .burst = (double)(burst < 1 ? 1 : burst),
                                .last_ms = now};
    rl->tokens = rl->burst;
}

static void refill(struct br_ratelimit *rl, int64_t now)
{
    if (now <= rl->last_ms)
        return;         /* a clock that did not move, or a stale now */
    rl->tokens += (double)(now - rl->last_ms) * rl->per_second / 1000.0;
    if (rl->tokens > rl->burst)
        rl->tokens = rl->burst;
    rl->last_ms = now;
}

int64_t br_ratelimit_wait(struct br_ratelimit *rl, int64_t now)
{
    if (rl->per_second <= 0)
        return 0;
    refill(rl, now);
    double missing = 1.0 - rl->tokens;
    if (missing <= TOKEN_SLACK)
        return 0;
    double ms = ceil(missing * 1000.0 / rl->per_second - TOKEN_SLACK);
    if (ms > (double)INT32_MAX)      /* no overflow whatever the rate */
        return INT32_MAX;
    return ms < 1 ? 1 : (int64_t)ms;
}

void br_ratelimit_take(struct br_ratelimit *rl, int64_t now)
{
    if (rl->per_second <= 0)
        return;
    refill(rl, now);
    rl->tokens -= 1.0;
}
