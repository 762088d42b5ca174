/* gate.h - what lets a pipeline's invocation start: its circuit breaker
 * (breaker.c) and its rate limit (ratelimit.c), with the side effects of
 * the breaker's transitions: the state in pl->obs, the source held paused
 * while the circuit is open (BR_HOLD_BREAKER), one log line each.
 * Dispatcher thread only; the runner asks it before every start
 * (README: Circuit breaker and rate limit). */
#ifndef BR_GATE_H
#define BR_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include "breaker.h"
#include "connector.h"
#include "observe.h"
#include "ratelimit.h"

struct br_pipeline;

struct br_gate {
    struct br_pipeline *pl;       /* borrowed */
    struct br_breaker breaker;
    struct br_ratelimit rate;
};

/* From pl->conf: no breaker or no limit when the keys are absent. */
void br_gate_init(struct br_gate *g, struct br_pipeline *pl, int64_t now);
/* Lets an open circuit's cooldown end (half open: the source may resume
 * and the probe start). */
void br_gate_tick(struct br_gate *g, int64_t now);
/* 0 if an invocation may start now; else the ms until one may, or -1
 * while the half-open probe is out. */
int64_t br_gate_wait(struct br_gate *g, int64_t now);
/* The ms until the gate changes by itself (an open circuit's cooldown
 * ends), or -1: for the dispatcher's sleep even with nothing queued. */
int64_t br_gate_timer(const struct br_gate *g, int64_t now);
/* An invocation starts (br_gate_wait said 0): takes a token; returns its
 * breaker ticket for br_gate_end. */
unsigned br_gate_start(struct br_gate *g, int64_t now);
/* The invocation of ticket ended with outcome (res for the log line). */
void br_gate_end(struct br_gate *g, unsigned ticket, enum br_outcome outcome,
                 const struct br_result *res, int64_t now);

#endif
