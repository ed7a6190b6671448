/*
** spawn_int.h -- what spawn.c (coroutines) and timers.c (their timers and
** the state's poll fd) share.
*/
#ifndef LCF_SPAWN_INT_H
#define LCF_SPAWN_INT_H

#include <stdatomic.h>

#include "../core/object.h"
#include "callbacks.h"
#include "spawn.h"

typedef struct lcf_spawn_rec lcf_spawn_rec;

/* A spawned coroutine (see spawn.c for who holds references). Only the
** queued flag is touched by other threads. */
typedef struct lcf_task {
  cf_object hdr;
  lcf_item item;              /* queued on the inbox to resume */
  lcf_inbox *inbox;           /* retained */
  atomic_int queued;          /* the item is on the inbox */
  lua_State *co;              /* NULL once ended or the state closed */
  cf_future *future;          /* spawn's, retained */
  lcf_spawn_rec *rec;
  struct lcf_task *prev, *next;   /* the live list */
  int awaiting;               /* suspended in one of the library's waits */
  double timeout;             /* of that wait, < 0: none */
  double deadline;            /* when the timer is set */
  int heap_at;                /* index in the timer heap, or -1 */
  cf_waiter *waiter;          /* whose notify wakes it, retained, or NULL */
} lcf_task;

/* Per state (lcf_state.spawn). */
struct lcf_spawn_rec {
  lcf_task *live;             /* coroutines not ended, retained */
  lcf_task **heap;            /* timers: a min-heap on deadline */
  int ntimers, cap;
  int tfd, epfd;              /* timerfd and the epoll fd, or -1 */
  double armed;               /* the deadline tfd is set for, or HUGE_VAL */
  int depth;                  /* resumes in progress, nested */
};

/* Beyond this many nested resumes (futures.poll called inside resumed
** coroutines), the inbox waits for an outer run. */
#define LCF_MAX_NESTED_RESUMES 8

/* timers.c: queue the tasks whose timers are due. */
void lcf_timers_fire(lcf_spawn_rec *rec);

lcf_spawn_rec *lcf_spawn_rec_get(lcf_state *s);   /* NULL: no memory */
void lcf_spawn_wake(lcf_task *t);                 /* any thread */

/* timers.c */
void lcf_timers_init(lcf_spawn_rec *rec);
void lcf_timers_close(lcf_spawn_rec *rec);
/* Set (or move) t's timer; out of memory, t is woken at once instead
** (its wait re-checks the clock). */
void lcf_timer_set(lcf_task *t, double deadline);
void lcf_timer_clear(lcf_task *t);

#endif
