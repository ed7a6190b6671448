/*
** squeue.h -- the task queues' order (core/squeue.c): priorities and
** keys of cf_task_opts over a list of futures linked through ->next, for
** the thread pool (pool.c) and the process pool (procpool.c). Internal.
*/
#ifndef CF_SQUEUE_H
#define CF_SQUEUE_H

#include "future.h"

typedef struct cf_squeue {
  cf_future **head, **tail;    /* the pool's own list */
  int *ranked;                 /* a queued task may have priority != 0 */
} cf_squeue;

/* Queue f in priority order: highest first, FIFO within one; O(1) when
** prio is 0 and no other priority is queued. */
void cf_squeue_push(cf_squeue q, cf_future *f, int prio);
/* Unlink the queued tasks submitted with key: a list (through ->next) of
** them, and their number in *n. */
cf_future *cf_squeue_take_key(cf_squeue q, const char *key, size_t klen,
                              int *n);

#endif
