/*
** squeue.c -- priority order and latest-wins keys for the pools' queues
** (cf_pool_submit_with, cf_procpool_submit_with). The list is kept sorted
** as tasks are queued, so the head is always the next task and taking one
** is unchanged. A task of priority 0 goes to the tail at once while no
** other priority is queued (`ranked`, cleared by the pool when its queue
** empties), so the common case pays no walk; otherwise it is inserted
** after the last task of its priority or higher.
*/
#include "squeue.h"

void cf_squeue_push(cf_squeue q, cf_future *f, int prio) {
  cf_future **pp;
  f->next = NULL;
  if ((prio == 0 && !*q.ranked) || *q.tail == NULL ||
      cf_future_priority(*q.tail) >= prio) {
    if (*q.tail) (*q.tail)->next = f; else *q.head = f;
    *q.tail = f;
  } else {
    for (pp = q.head; cf_future_priority(*pp) >= prio; pp = &(*pp)->next) {}
    f->next = *pp;
    *pp = f;
  }
  if (prio != 0) *q.ranked = 1;
}

cf_future *cf_squeue_take_key(cf_squeue q, const char *key, size_t klen,
                              int *n) {
  cf_future **pp = q.head, *taken = NULL, *f;
  *n = 0;
  *q.tail = NULL;
  while ((f = *pp) != NULL) {
    if (cf_future_has_key(f, key, klen)) {
      *pp = f->next;
      f->next = taken;
      taken = f;
      (*n)++;
    } else {
      *q.tail = f;
      pp = &f->next;
    }
  }
  return taken;
}
