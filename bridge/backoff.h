/* backoff.h - retry delays: min(max, initial * multiplier^(attempt-1)),
 * with full jitter (uniform in [0, delay]) or none. */
#ifndef BR_BACKOFF_H
#define BR_BACKOFF_H

#include <stdint.h>

enum br_jitter { BR_JITTER_FULL = 0, BR_JITTER_NONE = 1 };

struct br_backoff {
    int64_t initial_ms;
    int64_t max_ms;
    double multiplier;
    enum br_jitter jitter;
};

/* The ceiling for attempt (1-based: the delay after the first failure). */
int64_t br_backoff_ceiling(const struct br_backoff *bo, int attempt);
/* The delay to wait; rnd is a uniform random 64-bit value. */
int64_t br_backoff_delay(const struct br_backoff *bo, int attempt, uint64_t rnd);

#endif
