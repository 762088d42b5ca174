/* ratelimit.h - a token bucket for invocation starts, pure: time is
 * passed in (monotonic ms). The bucket holds at most `burst` tokens and
 * starts full; it gains `per_second` tokens a second; each start takes
 * one. So over any t seconds at most burst + per_second * t starts. */
#ifndef BR_RATELIMIT_H
#define BR_RATELIMIT_H

#include <stdint.h>

struct br_ratelimit {
    double per_second;            /* <= 0: no limit */
    double burst;
    double tokens;
    int64_t last_ms;              /* when tokens was last brought up to date */
};

/* per_second <= 0 makes a limit that never waits. */
void br_ratelimit_init(struct br_ratelimit *rl, double per_second, int64_t burst,
                       int64_t now);
/* 0 if a token is there now; else the ms until the next one is (so the
 * caller sleeps exactly that long). */
int64_t br_ratelimit_wait(struct br_ratelimit *rl, int64_t now);
/* Takes a token (br_ratelimit_wait said 0). */
void br_ratelimit_take(struct br_ratelimit *rl, int64_t now);

#endif
