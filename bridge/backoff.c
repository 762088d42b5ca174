/* backoff.c - retry delays: exponential ceiling
 * min(max, initial * multiplier^(attempt-1)) with full jitter or none
 * (as Fluent Bit's scheduler and the AWS architecture blog describe). */
#include <math.h>

#include "backoff.h"

/* Computed in double and compared with max before converting, so a huge
 * attempt (pow -> inf) or a huge product saturates at max instead of
 * overflowing int64. */
int64_t br_backoff_ceiling(const struct br_backoff *bo, int attempt)
{
    if (bo->max_ms <= 0 || bo->initial_ms <= 0)
        return 0;
    if (attempt < 1)
        attempt = 1;
    double mult = bo->multiplier > 0 ? bo->multiplier : 1.0;
    double c = (double)bo->initial_ms * pow(mult, (double)(attempt - 1));
    if (!(c < (double)bo->max_ms))      /* also catches inf and NaN */
        return bo->max_ms;
    return (int64_t)c;                  /* 0 <= c < max: fits */
}

int64_t br_backoff_delay(const struct br_backoff *bo, int attempt, uint64_t rnd)
{
    int64_t c = br_backoff_ceiling(bo, attempt);
    if (bo->jitter == BR_JITTER_NONE)
        return c;
    /* Full jitter: uniform in [0, c]. c + 1 cannot wrap in uint64. The
     * modulo bias is below c / 2^64: negligible for delays. */
    return (int64_t)(rnd % ((uint64_t)c + 1));
}
