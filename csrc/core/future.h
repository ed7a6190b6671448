/*
** future.h -- the future's layout, shared by future.c and pool.c (the pool
** queues futures through their `next` link and stores the task in them, so
** one allocation carries a task from submit to result).
*/
#ifndef CF_FUTURE_H
#define CF_FUTURE_H

#include "object.h"

struct cf_watch;
struct cf_callback;

struct cf_future {
  cf_object hdr;
  pthread_mutex_t mu;          /* guards everything below but the task */
  pthread_cond_t cv;           /* signalled when done, if nwaiting > 0 */
  cf_state state;
  cf_outcome outcome;
  int nwaiting;                /* threads blocked in cf_future_wait */
  cf_buffer payload;           /* results, error value or message */
  char *traceback;
  struct cf_watch *watches;    /* waiters to notify when done */
  struct cf_callback *callbacks, **cb_tail;
  /* The task, owned by the pool until it runs (not under mu). */
  cf_task_fn fn;
  void *arg;
  void (*arg_free)(void *);
  cf_buffer input;
  struct cf_future *next;      /* pool queue link, guarded by the pool */
  atomic_int *finishing;       /* pool's count of workers about to be idle */
};

#endif
