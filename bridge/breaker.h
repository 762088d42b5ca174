/* breaker.h - the circuit breaker of a pipeline's target as a pure state
 * machine: time is passed in (monotonic ms), nothing is logged or
 * published here; runner.c does that with what the calls return.
 *
 *   closed    --`failures` failed invocations in a row-->  open
 *   open      --`cooldown` passed-->                      half_open
 *   half_open --the one probe succeeded-->                closed
 *   half_open --the probe failed-->                       open (again)
 *
 * An invocation's outcome counts only in the state it started in: each
 * start returns a ticket, and an invocation started before the last
 * transition (still in flight when the circuit opened) changes nothing.
 * What counts as failed is the caller's call (runner.c: timeouts,
 * transient errors, 429s, function errors). */
#ifndef BR_BREAKER_H
#define BR_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "observe.h"

struct br_breaker {
    int64_t failures;             /* in a row to open; <= 0: no breaker */
    int64_t cooldown_ms;
    enum br_breaker_state state;
    int64_t in_a_row;             /* failed invocations in a row, closed */
    int64_t open_until_ms;        /* while open */
    bool probe_out;               /* half open: the probe is in flight */
    unsigned epoch;               /* bumped at every transition */
};

/* What an outcome or the clock did to the circuit. */
enum br_breaker_change {
    BR_BREAKER_SAME = 0,
    BR_BREAKER_OPENED,            /* closed -> open */
    BR_BREAKER_REOPENED,          /* half_open -> open: the probe failed */
    BR_BREAKER_PROBING,           /* open -> half_open: the cooldown passed */
    BR_BREAKER_CLOSED_AGAIN,      /* half_open -> closed: the probe succeeded */
};

/* failures <= 0 makes a breaker that is always closed. */
void br_breaker_init(struct br_breaker *b, int64_t failures, int64_t cooldown_ms);
/* Moves open to half_open once the cooldown passed. */
enum br_breaker_change br_breaker_tick(struct br_breaker *b, int64_t now);
/* 0 if an invocation may start now; else the ms until one may (after a
 * tick), or -1 while the probe is out (only its end can change it). */
int64_t br_breaker_wait(const struct br_breaker *b, int64_t now);
/* An invocation started (br_breaker_wait said 0); in half_open it is the
 * probe. Returns its ticket for br_breaker_end. */
unsigned br_breaker_start(struct br_breaker *b);
/* The invocation of ticket ended, failed or not. */
enum br_breaker_change br_breaker_end(struct br_breaker *b, unsigned ticket, bool failed,
                                      int64_t now);

#endif
