/*
** help.h -- waits that help (help.c): a worker of a thread pool that
** waits for a future of its own pool runs that pool's pending tasks
** meanwhile, nested in its own stack. Internal to the core and the
** binding; pool.c and waiter.c give help.c the few calls it needs on
** their private structures.
*/
#ifndef CF_HELP_H
#define CF_HELP_H

#include "future.h"

/* The bounds of nesting (see help.c): a waiter at depth CF_HELP_MAX_DEPTH,
** or with less than CF_HELP_STACK_ROOM bytes of its C stack left, runs
** nothing more. */
#define CF_HELP_MAX_DEPTH 128
#define CF_HELP_STACK_ROOM (1024 * 1024)

/* A waiting worker that sleeps, linked on its pool until a submit pokes
** it (its waiter then wakes up) or it wakes for another reason. */
typedef struct cf_helper {
  cf_waiter *w;
  struct cf_helper *next;
  int linked;
} cf_helper;

/* help.c. Pool tags: unique among the pools alive (0 when all are taken:
** that pool's workers never help). */
unsigned cf_help_tag_new(void);
void cf_help_tag_free(unsigned tag);
/* The calling thread is a worker of p with context ctx (worker_main, and
** again after its state was replaced); leave: it is no longer one. */
void cf_help_enter(cf_pool *p, unsigned tag, void *ctx);
void cf_help_leave(void);
/* Nested tasks under the calling worker's current one (0 in a top-level
** task), or -1 outside a pool worker. */
int  cf_help_depth(void);
/* 1 if the calling worker is below the bounds (it may run a task now). */
int  cf_help_possible(void);
/* cf_future_wait, helping when f belongs to the caller's pool. */
int  cf_help_wait(cf_future *f, double timeout);
/* cf_waiter_next, helping when w watches futures of the caller's pool. */
cf_future *cf_help_next(cf_waiter *w, double timeout, int *rc);
/* Under the pool's lock: wake the first sleeping helper of the list. */
void cf_help_poke(cf_helper **list);

/* pool.c: pop the first queued task (a reference), or NULL. */
cf_future *cf_pool_help_take(cf_pool *p);
/* Run f nested in the calling worker (ctx: its context). in_queue: f is
** still queued (claimed in place: the queue keeps its reference, and
** nothing runs if f is no longer pending); else f was taken from the
** queue with cf_pool_help_take and its reference is dropped here.
** Returns 1 if a task ran. */
int  cf_pool_help_run(cf_pool *p, cf_future *f, void *ctx, int in_queue);
/* Link h to p's sleeping helpers, unless work is queued (returns 1
** then, and h is not linked); unpark unlinks it if no poke did. */
int  cf_pool_help_park(cf_pool *p, cf_helper *h);
void cf_pool_help_unpark(cf_pool *p, cf_helper *h);

/* waiter.c: a poke makes the waiter's sleeper return (cf_waiter_next
** gives NULL with CF_ETIMEDOUT); on = 0 forgets a poke not taken. */
void cf_waiter_poke(cf_waiter *w, int on);
/* A watched future with this pool tag that is still pending (a reference
** for the caller), or NULL; *mine: some watched future has the tag.
** Futures looked at are not looked at again (a cursor). */
cf_future *cf_waiter_claimable(cf_waiter *w, unsigned tag, int *mine);

#endif
