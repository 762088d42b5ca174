/* clock.h - the two clocks: monotonic for timers, wall for event times. */
#ifndef BR_CLOCK_H
#define BR_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t br_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t br_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
