/*
** help.c -- waits that help. A worker of a thread pool that waits for a
** future of its own pool (result, exception, a waiter's next: so wait,
** as_completed and map too) runs that pool's pending tasks meanwhile,
** nested on its own stack, so divide and conquer by recursive submit
** never deadlocks a bounded pool: fib(20) finishes on one worker.
**
** What a waiter runs, in this order, until its future is done:
**   1. the future it waits for, if still queued: claimed in place (its
**      queue entry stays, found started and dropped by whoever dequeues
**      it), so a recursion runs depth first, as it would serially;
**   2. else the first queued task of its pool (never another pool's:
**      every future carries its pool's tag in its state word);
**   3. nothing: it sleeps on a waiter that wakes when its future is done
**      or a submit pokes it (a submit that no idle worker takes), so new
**      work is picked up at once, with no polling.
**
** Bounds. A nested task runs on the C stack of the wait under it. A
** waiter runs nothing at CF_HELP_MAX_DEPTH or when less than
** CF_HELP_STACK_ROOM bytes of its thread's stack are left (a nested task
** then has at least as much C stack as Lua's own limit of 200 nested C
** calls needs); it then blocks as a plain wait does. (A lower bound for
** rule 2 alone was tried: a waiter past it could not take the task that
** a worker blocked at the bound waits for, and both waited for ever.)
** Rule 1 keeps the depth close to the program's recursion. The binding
** runs each nested level on a Lua thread of its own (worker/nested.c), so
** Lua's C-call count starts afresh there and the C stack is guarded here.
**
** Why it cannot deadlock. Helping adds one kind of dependency: a task
** suspended in a wait cannot finish before the tasks nested above it.
** Such a task above started after the one below began waiting. A task
** that waits only for futures submitted after it started (its own
** subtasks, theirs, ...: every divide-and-conquer, map and as_completed
** over its own submissions) waits only for tasks that start later than
** it. So every "cannot finish before" edge, of either kind, goes from a
** task to one that started later: there is no cycle, and while a task
** waits for one that is queued it runs it (rule 1), below the bounds. A
** program that hands a task an older future (one submitted before it
** started, such as its caller's) can make a task wait, nested, for one
** suspended beneath it; that is the case rule 1 cannot cover.
** Also, a nested task runs in the waiting worker's thread: locks owned
** by a thread (RLock) held by the task beneath are held by the nested
** one too. See ARCHITECTURE.md.
*/
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "help.h"

/* The calling thread's pool, its context and tag, and how deep it is. */
static CF_TLS cf_pool *my_pool;
static CF_TLS void *my_ctx;
static CF_TLS unsigned my_tag;
static CF_TLS int depth;
static CF_TLS uintptr_t stack_low;    /* lowest usable address, 0: unknown */
static CF_TLS int stack_asked;         /* stack_low was looked up */

/* ---------------------------------------------------------------------- */
/* Tags: a free list of the tags of pools freed, then fresh ones.         */

static pthread_mutex_t tags_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned *free_tags;
static size_t nfree, free_cap;
static unsigned next_tag = 1;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* In a forked child only the forking thread lives on: it is no pool's
** worker there (its pool's threads are gone), and the tags' lock may have
** been held by a thread that is gone. */
static void forget_in_child(void) {
  my_pool = NULL;
  my_ctx = NULL;
  my_tag = 0;
  pthread_mutex_init(&tags_mu, NULL);
}

static void setup_fork(void) {
  pthread_atfork(NULL, NULL, forget_in_child);
}

unsigned cf_help_tag_new(void) {
  unsigned t = 0;
  pthread_once(&fork_once, setup_fork);
  cf_mutex_lock(&tags_mu);
  if (nfree > 0) t = free_tags[--nfree];
  else if (next_tag <= WORD_TAG_MAX) t = next_tag++;
  cf_mutex_unlock(&tags_mu);
  return t;
}

/* A tag is reused only once its pool is freed: then none of its futures
** is queued or running, so a stale tag matches only finished futures. */
void cf_help_tag_free(unsigned tag) {
  if (tag == 0) return;
  cf_mutex_lock(&tags_mu);
  if (nfree == free_cap) {
    size_t n = free_cap ? free_cap * 2 : 16;
    unsigned *nt = realloc(free_tags, n * sizeof *nt);
    if (nt == NULL) {          /* lost: one tag fewer */
      cf_mutex_unlock(&tags_mu);
      return;
    }
    free_tags = nt;
    free_cap = n;
  }
  free_tags[nfree++] = tag;
  cf_mutex_unlock(&tags_mu);
}

/* ---------------------------------------------------------------------- */
/* The calling worker.                                                    */

void cf_help_enter(cf_pool *p, unsigned tag, void *ctx) {
  my_pool = p;
  my_ctx = ctx;
  my_tag = tag;
  depth = 0;
  stack_low = 0;
  stack_asked = 0;
}

/* The calling thread's stack bound, looked up on the first wait that
** could help (most workers never nest one): pthread_getattr_np asks the
** kernel for the thread's CPU set, a system call a worker start. */
static uintptr_t stack_bound(void) {
  pthread_attr_t a;
  if (stack_asked) return stack_low;
  stack_asked = 1;
  if (pthread_getattr_np(pthread_self(), &a) == 0) {
    void *addr;
    size_t size;
    if (pthread_attr_getstack(&a, &addr, &size) == 0)
      stack_low = (uintptr_t)addr;
    pthread_attr_destroy(&a);
  }
  return stack_low;
}

void cf_help_leave(void) {
  my_pool = NULL;
  my_ctx = NULL;
  my_tag = 0;
}

int cf_help_depth(void) {
  return my_pool ? depth : -1;
}

/* Below the bounds: the calling worker may run one more task nested. The
** stack grows down on every target we build for. */
static int below(void) {
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  if (my_pool == NULL || my_tag == 0) return 0;
  if (depth >= CF_HELP_MAX_DEPTH) return 0;
  if (stack_bound() != 0 && here - stack_low < CF_HELP_STACK_ROOM) return 0;
  return 1;
}

int cf_help_possible(void) {
  return below();
}

static inline unsigned tag_of(cf_future *f) {
  return atomic_load_explicit(&f->word, memory_order_relaxed) >> WORD_TAG_SHIFT;
}

/* Run f (still queued) here if it is pending: 1 if it ran. */
static int claim(cf_future *f) {
  int ran;
  if (cf_future_state(f) != CF_PENDING || tag_of(f) != my_tag || !below())
    return 0;
  depth++;
  ran = cf_pool_help_run(my_pool, f, my_ctx, 1);
  depth--;
  return ran;
}

/* Run the first queued task of the pool: 1 if there was one. */
static int take_one(void) {
  cf_future *f;
  if (!below() || (f = cf_pool_help_take(my_pool)) == NULL) return 0;
  depth++;
  cf_pool_help_run(my_pool, f, my_ctx, 0);
  depth--;
  return 1;
}

static double left_of(double until) {
  double left;
  if (until < 0) return -1;
  left = until - cf_monotonic();
  return left > 0 ? left : 0;
}

/* Sleep on w until one of its futures is done, a submit pokes it, or the
** timeout: the future cf_waiter_next gave, or NULL. */
static cf_future *sleep_on(cf_waiter *w, double timeout, int *rc) {
  cf_helper h = {w, NULL, 0};
  cf_future *f;
  *rc = 0;
  if (cf_pool_help_park(my_pool, &h)) return NULL;   /* work came */
  f = cf_waiter_next(w, timeout, rc);
  cf_pool_help_unpark(my_pool, &h);
  return f;
}

int cf_help_wait(cf_future *f, double timeout) {
  double until = timeout >= 0 ? cf_monotonic() + timeout : -1;
  cf_waiter *w = NULL;
  int rc = 0;
  if (my_pool == NULL || timeout == 0 || tag_of(f) != my_tag || my_tag == 0)
    return cf_future_wait(f, timeout);
  for (;;) {
    double left;
    cf_future *g;
    if (cf_future_settled(f)) {
      rc = 0;                        /* a poke's timeout is not ours */
      break;
    }
    /* The waiting task is asked to stop: start nothing more on its
    ** stack; the caller sees the timeout and raises the interruption. */
    if (cf_task_stop_requested()) {
      rc = CF_ETIMEDOUT;
      break;
    }
    if (claim(f) || take_one()) continue;
    left = left_of(until);
    if (left == 0) {
      rc = cf_future_wait(f, 0);
      break;
    }
    if (!below()) {                 /* at the bounds: a plain wait */
      rc = cf_future_wait(f, left);
      break;
    }
    if (w == NULL) {
      w = cf_waiter_new();
      if (w == NULL || cf_waiter_watch(w, f) != 0) {
        rc = cf_future_wait(f, left);  /* no memory to help: just wait */
        break;
      }
    }
    g = sleep_on(w, left, &rc);
    if (g != NULL) {                 /* f is done: let its callbacks end */
      cf_release(g);
      rc = cf_future_wait(f, -1);
      break;
    }
  }
  cf_release(w);
  return rc == CF_ETIMEDOUT ? CF_ETIMEDOUT : 0;
}

cf_future *cf_help_next(cf_waiter *w, double timeout, int *rc) {
  double until = timeout >= 0 ? cf_monotonic() + timeout : -1;
  if (my_pool == NULL || timeout == 0 || my_tag == 0)
    return cf_waiter_next(w, timeout, rc);
  for (;;) {
    int mine = 0;
    double left;
    cf_future *f = cf_waiter_next(w, 0, rc), *c;
    if (f != NULL || cf_waiter_pending(w) == 0) return f;
    if (cf_task_stop_requested()) {   /* as in cf_help_wait */
      *rc = CF_ETIMEDOUT;
      return NULL;
    }
    c = cf_waiter_claimable(w, my_tag, &mine);
    if (c != NULL) {
      claim(c);
      cf_release(c);
      continue;
    }
    left = left_of(until);
    if (!mine || !below() || left == 0)   /* no help: a plain wait */
      return cf_waiter_next(w, left, rc);
    if (take_one()) continue;
    f = sleep_on(w, left, rc);
    if (f != NULL) return f;
    if (left_of(until) == 0) return cf_waiter_next(w, 0, rc);
  }
}

void cf_help_poke(cf_helper **list) {
  cf_helper *h = *list;
  if (h == NULL) return;
  *list = h->next;
  h->linked = 0;
  cf_waiter_poke(h->w, 1);
}
