/* clock.h - the two clocks: monotonic for timers, wall for event times. */
#ifndef BR_CLOCK_H
#define BR_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline int64_t br_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic microseconds: for durations billed per millisecond. */
static inline int64_t br_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t br_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Epoch ms as ISO 8601 UTC with milliseconds, "2026-11-27T11:08:14.123Z"
 * (24 characters; n of 32 is plenty). Returns the length written. */
static inline size_t br_utc_text(int64_t ms, char *out, size_t n)
{
    if (ms < 0)
        ms = 0;
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (n == 0 || !gmtime_r(&secs, &tm))
        return 0;
    size_t len = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    int tail = snprintf(out + len, n - len, ".%03dZ", (int)(ms % 1000));
    len += tail < 0 ? 0 : (size_t)tail;
    return len < n ? len : n - 1;
}

#endif
