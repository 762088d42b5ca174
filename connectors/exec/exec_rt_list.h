/* exec_rt_list.h - the invocations of the exec target's runtime-api mode
 * while they are ours, and the lists that hold them (the runtime's queue
 * and its finished ones). Below both exec_runtime.c and exec_workers.c;
 * no locking of its own (the runtime's lock covers every list). Internal
 * to the exec target. */
#ifndef BR_EXEC_RT_LIST_H
#define BR_EXEC_RT_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/connector.h"

struct rt_slot;

enum ri_state { RI_QUEUED, RI_HELD, RI_DONE };

/* One invocation while it is ours. */
struct rt_inv {
    struct rt_inv *next;
    struct br_invocation *inv;      /* borrowed from the core */
    struct rt_slot *slot;           /* RI_HELD: the worker holding it */
    enum ri_state state;
    bool sent;                      /* handed to the runtime */
    int64_t deadline_ms;            /* monotonic, set when assigned */
    char id[37];                    /* Lambda-Runtime-Aws-Request-Id */
    struct br_result result;        /* RI_DONE */
};

struct rt_list {
    struct rt_inv *head, *tail;
    size_t n;
};

void rt_list_push(struct rt_list *l, struct rt_inv *ri);
void rt_list_push_front(struct rt_list *l, struct rt_inv *ri);
/* The oldest, taken off the list; NULL when empty. */
struct rt_inv *rt_list_pop(struct rt_list *l);
/* Takes ri off l if it is there. */
void rt_list_remove(struct rt_list *l, struct rt_inv *ri);
/* Frees every invocation on l and its result body (not the core's
 * br_invocation it points to). */
void rt_list_free(struct rt_list *l);

#endif
