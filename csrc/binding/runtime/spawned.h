/*
** spawned.h -- the per-state record of the coroutines made by
** futures.spawn (classes/spawn.c), below the Lua classes: their tasks,
** wakes, timers (timers.c), the state's poll fd (futures.fd) and the
** blocking waits that keep resuming them (block.c). Resuming a coroutine
** and finishing its future is classes/spawn.c's: it hands that down as
** the task's inbox item.
*/
#ifndef LCF_SPAWNED_H
#define LCF_SPAWNED_H

#include <stdatomic.h>

#include <lua.h>

#include "compat.h"

#include "../../core/object.h"
#include "inbox.h"
#include "record.h"

typedef struct lcf_spawn_rec lcf_spawn_rec;

/* A spawned coroutine (see classes/spawn.c for who holds references).
** Only the queued flag is touched by other threads. */
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

/* spawned.c */
lcf_spawn_rec *lcf_spawn_rec_get(lcf_state *s);   /* NULL: no memory */
/* Any thread: queue t on its inbox to be resumed, unless it is queued. */
void lcf_spawn_wake(lcf_task *t);
/* The wait t was suspended in is over: no timer, no notify. */
void lcf_task_await_end(lcf_task *t);
/* Finish t's future as broken, with why (if it is not done yet). */
void lcf_task_finish_broken(lcf_task *t, const char *why);
/* t's coroutine ended: off the live list, which drops its reference. */
void lcf_task_forget(lcf_task *t);
/* Before each run of the inbox: queue the coroutines whose timers are
** due; 0 if the inbox is not to run now: inside a resumed coroutine, a
** blocking call's run (implicit) never runs it, and futures.poll only to
** a few levels deep. */
int lcf_spawned_before_run(lcf_state *s, int implicit);
/* The state closes (after its inbox): suspended coroutines' futures end
** broken, the record goes. */
void lcf_spawned_close(lcf_state *s);

/* timers.c */
void lcf_timers_init(lcf_spawn_rec *rec);
void lcf_timers_close(lcf_spawn_rec *rec);
/* Queue the tasks whose timers are due. */
void lcf_timers_fire(lcf_spawn_rec *rec);
/* Set (or move) t's timer; out of memory, t is woken at once instead
** (its wait re-checks the clock). */
void lcf_timer_set(lcf_task *t, double deadline);
void lcf_timer_clear(lcf_task *t);
/* The fd readable while futures.poll has work for L; -1 and errno when it
** cannot be made. Never raises. */
int lcf_spawn_fd(lua_State *L);

/* block.c: a blocking wait (L is not a spawned coroutine) for f, for w or
** (both NULL) for the timeout alone: while the state has spawned
** coroutines, run them as they become ready until what it waits for is
** ready or the timeout passes. Returns the timeout left for the usual
** wait (-1: none; 0: it passed). Raises only the error of a hook that
** raised meanwhile (Ctrl-C; see wait.c). */
double lcf_spawn_block(lua_State *L, cf_future *f, cf_waiter *w,
                       double timeout);

#endif
