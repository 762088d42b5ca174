/* exec_rt_list.c - singly linked lists of the runtime-api mode's
 * invocations (exec_rt_list.h): push at either end, pop, remove, free. */
#include <stdlib.h>

#include "exec_rt_list.h"

void rt_list_push(struct rt_list *l, struct rt_inv *ri)
{
    ri->next = NULL;
    if (l->tail)
        l->tail->next = ri;
    else
        l->head = ri;
    l->tail = ri;
    l->n++;
}

void rt_list_push_front(struct rt_list *l, struct rt_inv *ri)
{
    ri->next = l->head;
    l->head = ri;
    if (!l->tail)
        l->tail = ri;
    l->n++;
}

struct rt_inv *rt_list_pop(struct rt_list *l)
{
    struct rt_inv *ri = l->head;
    if (!ri)
        return NULL;
    l->head = ri->next;
    if (!l->head)
        l->tail = NULL;
    l->n--;
    ri->next = NULL;
    return ri;
}

void rt_list_remove(struct rt_list *l, struct rt_inv *ri)
{
    struct rt_inv *prev = NULL;
    for (struct rt_inv *p = l->head; p; prev = p, p = p->next) {
        if (p != ri)
            continue;
        if (prev)
            prev->next = p->next;
        else
            l->head = p->next;
        if (l->tail == p)
            l->tail = prev;
        l->n--;
        p->next = NULL;
        return;
    }
}

void rt_list_free(struct rt_list *l)
{
    struct rt_inv *ri;
    while ((ri = rt_list_pop(l))) {
        free(ri->result.body);
        free(ri);
    }
}
