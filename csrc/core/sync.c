/*
** sync.c -- Lock, RLock, Condition, Semaphore, Event, Barrier.
**
** Each object is one pthread mutex guarding a little state, plus one
** CLOCK_MONOTONIC condition that waiters sleep on in while-loops with a
** deadline computed once per call. Locks are built from mutex + condition
** + flag rather than a raw pthread mutex because Python lets any thread
** release a Lock and because acquire takes a timeout.
**
** Lock order: no function here holds two internal mutexes at once. The
** Condition keeps its waiter list under its own mutex and only touches the
** underlying lock (which takes that lock's mutex) after releasing it, so
** "condition mutex" and "lock mutex" are never nested in either order.
** No user code runs under any of these mutexes.
*/
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "object.h"
#include "interrupt.h"

/* ---------------------------------------------------------------------- */
/* Thread identity.                                                        */

static atomic_uint_fast64_t ident_next = 1;
static _Thread_local uint64_t ident_mine;

uint64_t cf_thread_ident(void) {
  if (ident_mine == 0)
    ident_mine = (uint64_t)atomic_fetch_add_explicit(&ident_next, 1,
                                                     memory_order_relaxed);
  return ident_mine;
}

/* For core/thread.c: the starter takes the new thread's identity from the
** counter and the thread adopts it first thing, so start() need not wait
** for the thread to learn it. */
uint64_t cf_thread_ident_next(void) {
  return (uint64_t)atomic_fetch_add_explicit(&ident_next, 1,
                                             memory_order_relaxed);
}

void cf_thread_ident_adopt(uint64_t id) {
  ident_mine = id;
}

/* ---------------------------------------------------------------------- */
/* Lock.                                                                   */

struct cf_lock {
  cf_object hdr;
  pthread_mutex_t m;
  pthread_cond_t cv;
  int locked;
  int waiters;     /* threads sleeping in acquire: release signals if > 0 */
};

static void lock_destroy(void *o) {
  cf_lock *l = o;
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->m);
  free(l);
}

static const cf_kind lock_kind = {"lock", lock_destroy};

cf_lock *cf_lock_new(void) {
  cf_lock *l = malloc(sizeof *l);
  if (l == NULL) return NULL;
  cf_object_init(l, &lock_kind);
  cf_mutex_init(&l->m);
  cf_cond_init(&l->cv);
  l->locked = 0;
  l->waiters = 0;
  return l;
}

/* A waiter that times out still re-checks the flag: if the lock was
** released at that moment it takes it, so a signal it may have absorbed
** is never lost. */
int cf_lock_acquire(cf_lock *l, int blocking, double timeout) {
  cf_deadline dl;
  int rc = 0;
  cf_mutex_lock(&l->m);
  if (l->locked && blocking) {
    cf_deadline_set(&dl, timeout);
    l->waiters++;
    while (l->locked && rc == 0) rc = cf_cond_wait_obj(l, &l->cv, &l->m, &dl);
    l->waiters--;
  }
  if (l->locked) rc = CF_ETIMEDOUT;
  else { l->locked = 1; rc = 0; }
  cf_mutex_unlock(&l->m);
  return rc;
}

int cf_lock_release(cf_lock *l) {
  int rc = 0;
  cf_mutex_lock(&l->m);
  if (!l->locked) rc = CF_ESTATE;
  else {
    l->locked = 0;
    if (l->waiters > 0) pthread_cond_signal(&l->cv);
  }
  cf_mutex_unlock(&l->m);
  return rc;
}

int cf_lock_locked(cf_lock *l) {
  int v;
  cf_mutex_lock(&l->m);
  v = l->locked;
  cf_mutex_unlock(&l->m);
  return v;
}

/* ---------------------------------------------------------------------- */
/* RLock.                                                                  */

struct cf_rlock {
  cf_object hdr;
  pthread_mutex_t m;
  pthread_cond_t cv;
  uint64_t owner;  /* 0: free */
  long count;      /* depth of the owner's acquires */
  int waiters;
};

static void rlock_destroy(void *o) {
  cf_rlock *r = o;
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->m);
  free(r);
}

static const cf_kind rlock_kind = {"rlock", rlock_destroy};

cf_rlock *cf_rlock_new(void) {
  cf_rlock *r = malloc(sizeof *r);
  if (r == NULL) return NULL;
  cf_object_init(r, &rlock_kind);
  cf_mutex_init(&r->m);
  cf_cond_init(&r->cv);
  r->owner = 0;
  r->count = 0;
  r->waiters = 0;
  return r;
}

/* Take a free rlock for owner with depth count; called with r->m held. */
static int rlock_take(cf_rlock *r, uint64_t owner, long count, int blocking,
                      double timeout) {
  cf_deadline dl;
  int rc = 0;
  if (r->owner != 0 && blocking) {
    cf_deadline_set(&dl, timeout);
    r->waiters++;
    while (r->owner != 0 && rc == 0)
      rc = cf_cond_wait_obj(r, &r->cv, &r->m, &dl);
    r->waiters--;
  }
  if (r->owner != 0) return CF_ETIMEDOUT;
  r->owner = owner;
  r->count = count;
  return 0;
}

int cf_rlock_acquire(cf_rlock *r, uint64_t owner, int blocking,
                     double timeout) {
  int rc = 0;
  if (owner == 0) return CF_ESTATE;
  cf_mutex_lock(&r->m);
  if (r->owner == owner) {
    if (r->count == LONG_MAX) rc = -EOVERFLOW;
    else r->count++;
  } else
    rc = rlock_take(r, owner, 1, blocking, timeout);
  cf_mutex_unlock(&r->m);
  return rc;
}

static void rlock_free_locked(cf_rlock *r) {
  r->owner = 0;
  r->count = 0;
  if (r->waiters > 0) pthread_cond_signal(&r->cv);
}

int cf_rlock_release(cf_rlock *r, uint64_t owner) {
  int rc = 0;
  cf_mutex_lock(&r->m);
  if (owner == 0 || r->owner != owner) rc = CF_ESTATE;
  else if (--r->count == 0) rlock_free_locked(r);
  cf_mutex_unlock(&r->m);
  return rc;
}

int cf_rlock_locked(cf_rlock *r) {
  int v;
  cf_mutex_lock(&r->m);
  v = r->owner != 0;
  cf_mutex_unlock(&r->m);
  return v;
}

int cf_rlock_is_owned(cf_rlock *r, uint64_t owner) {
  int v;
  cf_mutex_lock(&r->m);
  v = owner != 0 && r->owner == owner;
  cf_mutex_unlock(&r->m);
  return v;
}

int cf_rlock_release_all(cf_rlock *r, uint64_t owner, long *count) {
  int rc = 0;
  cf_mutex_lock(&r->m);
  if (owner == 0 || r->owner != owner) rc = CF_ESTATE;
  else {
    *count = r->count;
    rlock_free_locked(r);
  }
  cf_mutex_unlock(&r->m);
  return rc;
}

int cf_rlock_acquire_restore(cf_rlock *r, uint64_t owner, long count) {
  int rc;
  if (owner == 0 || count < 1) return CF_ESTATE;
  cf_mutex_lock(&r->m);
  if (r->owner == owner) rc = CF_ESTATE;  /* it was never released */
  else rc = rlock_take(r, owner, count, 1, -1.0);
  cf_mutex_unlock(&r->m);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Condition.                                                              */
/*                                                                         */
/* Each waiter puts a node on its own stack into a FIFO (under c->m)       */
/* before it releases the user lock, and sleeps on the node's own pthread  */
/* condition until its flag is set. notify(n) pops at most n nodes, sets   */
/* their flags and signals them: exactly the threads that were waiting     */
/* when it was called, oldest first. A waiter that times out unlinks its   */
/* node itself, under c->m, so it is never counted by a later notify.      */

typedef struct cwaiter {
  struct cwaiter *prev, *next;
  pthread_cond_t cv;
  int notified;
} cwaiter;

struct cf_condition {
  cf_object hdr;
  void *lock;            /* a retained cf_lock or cf_rlock */
  int is_rlock;
  pthread_mutex_t m;     /* guards the waiter list */
  cwaiter *head, *tail;
};

static void condition_destroy(void *o) {
  cf_condition *c = o;
  cf_release(c->lock);
  pthread_mutex_destroy(&c->m);
  free(c);
}

static const cf_kind condition_kind = {"condition", condition_destroy};

cf_condition *cf_condition_new(void *lock) {
  cf_condition *c;
  int is_rlock;
  if (lock == NULL) is_rlock = 1;
  else if (((cf_object *)lock)->kind == &rlock_kind) is_rlock = 1;
  else if (((cf_object *)lock)->kind == &lock_kind) is_rlock = 0;
  else return NULL;
  c = malloc(sizeof *c);
  if (c == NULL) return NULL;
  if (lock == NULL) {
    if ((lock = cf_rlock_new()) == NULL) { free(c); return NULL; }
  } else
    cf_retain(lock);
  cf_object_init(c, &condition_kind);
  c->lock = lock;
  c->is_rlock = is_rlock;
  cf_mutex_init(&c->m);
  c->head = c->tail = NULL;
  return c;
}

void *cf_condition_lock(cf_condition *c) { return c->lock; }

int cf_condition_is_rlock(cf_condition *c) { return c->is_rlock; }

int cf_condition_acquire(cf_condition *c, uint64_t owner, int blocking,
                         double timeout) {
  return c->is_rlock ? cf_rlock_acquire(c->lock, owner, blocking, timeout)
                     : cf_lock_acquire(c->lock, blocking, timeout);
}

int cf_condition_release(cf_condition *c, uint64_t owner) {
  return c->is_rlock ? cf_rlock_release(c->lock, owner)
                     : cf_lock_release(c->lock);
}

int cf_condition_is_owned(cf_condition *c, uint64_t owner) {
  return c->is_rlock ? cf_rlock_is_owned(c->lock, owner)
                     : cf_lock_locked(c->lock);
}

static void cw_link(cf_condition *c, cwaiter *w) {
  w->next = NULL;
  w->prev = c->tail;
  if (c->tail) c->tail->next = w; else c->head = w;
  c->tail = w;
}

static void cw_unlink(cf_condition *c, cwaiter *w) {
  if (w->prev) w->prev->next = w->next; else c->head = w->next;
  if (w->next) w->next->prev = w->prev; else c->tail = w->prev;
  w->prev = w->next = NULL;
}

/* The node is queued before the user lock is released: a notify can only
** come from a thread that holds the lock, so it cannot slip in between and
** be missed. The lock is taken back in every case, as Python does. */
int cf_condition_wait(cf_condition *c, uint64_t owner, double timeout) {
  cwaiter w;
  cf_deadline dl;
  long count = 0;
  int rc, notified;
  if (!cf_condition_is_owned(c, owner)) return CF_ESTATE;
  cf_deadline_set(&dl, timeout);
  cf_cond_init(&w.cv);
  w.notified = 0;
  cf_mutex_lock(&c->m);
  cw_link(c, &w);
  cf_mutex_unlock(&c->m);
  rc = c->is_rlock ? cf_rlock_release_all(c->lock, owner, &count)
                   : cf_lock_release(c->lock);
  if (rc != 0) {   /* lost the lock to a misusing thread meanwhile */
    cf_mutex_lock(&c->m);
    if (!w.notified) cw_unlink(c, &w);
    cf_mutex_unlock(&c->m);
    pthread_cond_destroy(&w.cv);
    return CF_ESTATE;
  }
  cf_mutex_lock(&c->m);
  while (!w.notified && rc == 0) rc = cf_cond_wait_obj(c, &w.cv, &c->m, &dl);
  notified = w.notified;
  if (!notified) cw_unlink(c, &w);
  cf_mutex_unlock(&c->m);
  /* Safe: a notifier signals w.cv only under c->m, before we retook it. */
  pthread_cond_destroy(&w.cv);
  cf_wait_shield(1);      /* the lock comes back even to a stopped task */
  if (c->is_rlock) cf_rlock_acquire_restore(c->lock, owner, count);
  else cf_lock_acquire(c->lock, 1, -1.0);
  cf_wait_shield(-1);
  return notified ? 0 : CF_ETIMEDOUT;
}

int cf_condition_notify(cf_condition *c, uint64_t owner, long n) {
  cwaiter *w;
  if (!cf_condition_is_owned(c, owner)) return CF_ESTATE;
  cf_mutex_lock(&c->m);
  while (n > 0 && (w = c->head) != NULL) {
    cw_unlink(c, w);
    w->notified = 1;
    pthread_cond_signal(&w->cv);
    n--;
  }
  cf_mutex_unlock(&c->m);
  return 0;
}

int cf_condition_notify_all(cf_condition *c, uint64_t owner) {
  return cf_condition_notify(c, owner, LONG_MAX);
}

/* ---------------------------------------------------------------------- */
/* Semaphore.                                                              */

struct cf_semaphore {
  cf_object hdr;
  pthread_mutex_t m;
  pthread_cond_t cv;
  long value, initial;
  int bounded;
  int waiters;
};

static void semaphore_destroy(void *o) {
  cf_semaphore *s = o;
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->m);
  free(s);
}

static const cf_kind semaphore_kind = {"semaphore", semaphore_destroy};

cf_semaphore *cf_semaphore_new(long value, int bounded) {
  cf_semaphore *s;
  if (value < 0) return NULL;
  if ((s = malloc(sizeof *s)) == NULL) return NULL;
  cf_object_init(s, &semaphore_kind);
  cf_mutex_init(&s->m);
  cf_cond_init(&s->cv);
  s->value = s->initial = value;
  s->bounded = bounded != 0;
  s->waiters = 0;
  return s;
}

int cf_semaphore_acquire(cf_semaphore *s, int blocking, double timeout) {
  cf_deadline dl;
  int rc = 0;
  cf_mutex_lock(&s->m);
  if (s->value == 0 && blocking) {
    cf_deadline_set(&dl, timeout);
    s->waiters++;
    while (s->value == 0 && rc == 0)
      rc = cf_cond_wait_obj(s, &s->cv, &s->m, &dl);
    s->waiters--;
  }
  if (s->value == 0) rc = CF_ETIMEDOUT;
  else { s->value--; rc = 0; }
  cf_mutex_unlock(&s->m);
  return rc;
}

int cf_semaphore_release(cf_semaphore *s, long n) {
  int rc = 0;
  if (n < 1) return CF_ESTATE;
  cf_mutex_lock(&s->m);
  if (s->bounded && s->value > s->initial - n) rc = CF_ESTATE;
  else if (s->value > LONG_MAX - n) rc = -EOVERFLOW;
  else {
    s->value += n;
    if (s->waiters > 0) {
      if (n == 1) pthread_cond_signal(&s->cv);
      else pthread_cond_broadcast(&s->cv);
    }
  }
  cf_mutex_unlock(&s->m);
  return rc;
}

long cf_semaphore_value(cf_semaphore *s) {
  long v;
  cf_mutex_lock(&s->m);
  v = s->value;
  cf_mutex_unlock(&s->m);
  return v;
}

/* ---------------------------------------------------------------------- */
/* Event. A generation count, bumped by every set that raises the flag,    */
/* lets a waiter see a set even if a clear followed before it woke (Python */
/* returns True then too).                                                 */

struct cf_event {
  cf_object hdr;
  pthread_mutex_t m;
  pthread_cond_t cv;
  int flag;
  unsigned long gen;
};

static void event_destroy(void *o) {
  cf_event *e = o;
  pthread_cond_destroy(&e->cv);
  pthread_mutex_destroy(&e->m);
  free(e);
}

static const cf_kind event_kind = {"event", event_destroy};

cf_event *cf_event_new(void) {
  cf_event *e = malloc(sizeof *e);
  if (e == NULL) return NULL;
  cf_object_init(e, &event_kind);
  cf_mutex_init(&e->m);
  cf_cond_init(&e->cv);
  e->flag = 0;
  e->gen = 0;
  return e;
}

void cf_event_set(cf_event *e) {
  cf_mutex_lock(&e->m);
  if (!e->flag) {
    e->flag = 1;
    e->gen++;
    pthread_cond_broadcast(&e->cv);
  }
  cf_mutex_unlock(&e->m);
}

void cf_event_clear(cf_event *e) {
  cf_mutex_lock(&e->m);
  e->flag = 0;
  cf_mutex_unlock(&e->m);
}

int cf_event_is_set(cf_event *e) {
  int v;
  cf_mutex_lock(&e->m);
  v = e->flag;
  cf_mutex_unlock(&e->m);
  return v;
}

int cf_event_wait(cf_event *e, double timeout) {
  cf_deadline dl;
  unsigned long gen;
  int rc = 0, v;
  cf_mutex_lock(&e->m);
  gen = e->gen;
  if (!e->flag) {
    cf_deadline_set(&dl, timeout);
    while (!e->flag && e->gen == gen && rc == 0)
      rc = cf_cond_wait_obj(e, &e->cv, &e->m, &dl);
  }
  v = e->flag || e->gen != gen;
  cf_mutex_unlock(&e->m);
  return v;
}

/* ---------------------------------------------------------------------- */
/* Barrier.                                                                */
/*                                                                         */
/* The waiters of the current round are a list of nodes on their stacks,  */
/* each with its own outcome. Whoever ends the round (the last arrival,    */
/* reset, abort, or a waiter that timed out) writes every node's outcome   */
/* and empties the list before the next round can begin, so a slow waiter  */
/* of an old round reads its own result, never the state of a newer round. */
/* This does the job of a generation counter without its ambiguity         */
/* (completed round vs reset round).                                       */

#define ROUND_PENDING (-1)

typedef struct bwaiter {
  struct bwaiter *next;
  int result;            /* ROUND_PENDING, 0 or CF_EBROKEN */
} bwaiter;

struct cf_barrier {
  cf_object hdr;
  pthread_mutex_t m;
  pthread_cond_t cv;
  long parties;
  long count;            /* arrivals in this round */
  int broken;
  bwaiter *round;        /* sleeping waiters of this round */
};

static void barrier_destroy(void *o) {
  cf_barrier *b = o;
  pthread_cond_destroy(&b->cv);
  pthread_mutex_destroy(&b->m);
  free(b);
}

static const cf_kind barrier_kind = {"barrier", barrier_destroy};

cf_barrier *cf_barrier_new(long parties) {
  cf_barrier *b;
  if (parties < 1) return NULL;
  if ((b = malloc(sizeof *b)) == NULL) return NULL;
  cf_object_init(b, &barrier_kind);
  cf_mutex_init(&b->m);
  cf_cond_init(&b->cv);
  b->parties = parties;
  b->count = 0;
  b->broken = 0;
  b->round = NULL;
  return b;
}

/* End the current round with result for all its sleepers; b->m held. */
static void end_round(cf_barrier *b, int result) {
  bwaiter *w;
  for (w = b->round; w != NULL; w = w->next) w->result = result;
  b->round = NULL;
  b->count = 0;
  pthread_cond_broadcast(&b->cv);
}

int cf_barrier_wait(cf_barrier *b, double timeout, long *index) {
  return cf_barrier_wait_poll(b, timeout, index, 0, NULL, NULL);
}

/* The earlier of the deadline dl and one `slice` seconds from now. */
static void slice_deadline(cf_deadline *sl, const cf_deadline *dl,
                           double slice) {
  cf_deadline_set(sl, slice);
  if (!dl->forever &&
      (dl->at.tv_sec < sl->at.tv_sec ||
       (dl->at.tv_sec == sl->at.tv_sec && dl->at.tv_nsec < sl->at.tv_nsec)))
    *sl = *dl;
}

/* A slice cannot simply end the wait and start another, since leaving a
** round breaks it: the waiter stays in the round and poll runs between
** slices, with the mutex released (it may run Lua; it must not jump out
** of here). If it asks to stop, the barrier breaks as on a timeout. */
int cf_barrier_wait_poll(cf_barrier *b, double timeout, long *index,
                         double slice, int (*poll)(void *), void *ud) {
  bwaiter w;
  cf_deadline dl, sl;
  long idx;
  int rc = 0;
  cf_mutex_lock(&b->m);
  if (b->broken) { cf_mutex_unlock(&b->m); return CF_EBROKEN; }
  idx = b->count++;
  if (b->count == b->parties) {
    end_round(b, 0);
    cf_mutex_unlock(&b->m);
    if (index) *index = idx;
    return 0;
  }
  w.result = ROUND_PENDING;
  w.next = b->round;
  b->round = &w;
  cf_deadline_set(&dl, timeout);
  while (w.result == ROUND_PENDING && rc == 0) {
    int stop;
    if (poll == NULL) {
      rc = cf_cond_wait_obj(b, &b->cv, &b->m, &dl);
      continue;
    }
    slice_deadline(&sl, &dl, slice);
    if (cf_cond_wait_obj(b, &b->cv, &b->m, &sl) == 0 ||
        w.result != ROUND_PENDING)
      continue;
    if (cf_deadline_passed(&dl)) break;
    cf_mutex_unlock(&b->m);
    stop = poll(ud);
    cf_mutex_lock(&b->m);
    if (stop) break;
  }
  if (w.result == ROUND_PENDING) {  /* timed out: break it, as Python */
    b->broken = 1;
    end_round(b, CF_EBROKEN);
  }
  rc = w.result;
  cf_mutex_unlock(&b->m);
  if (rc == 0 && index) *index = idx;
  return rc;
}

void cf_barrier_reset(cf_barrier *b) {
  cf_mutex_lock(&b->m);
  end_round(b, CF_EBROKEN);
  b->broken = 0;
  cf_mutex_unlock(&b->m);
}

void cf_barrier_abort(cf_barrier *b) {
  cf_mutex_lock(&b->m);
  b->broken = 1;
  end_round(b, CF_EBROKEN);
  cf_mutex_unlock(&b->m);
}

long cf_barrier_parties(cf_barrier *b) { return b->parties; }  /* const */

long cf_barrier_n_waiting(cf_barrier *b) {
  long v;
  cf_mutex_lock(&b->m);
  v = b->count;
  cf_mutex_unlock(&b->m);
  return v;
}

int cf_barrier_broken(cf_barrier *b) {
  int v;
  cf_mutex_lock(&b->m);
  v = b->broken;
  cf_mutex_unlock(&b->m);
  return v;
}
