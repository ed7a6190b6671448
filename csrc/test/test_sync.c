/*
** test_sync.c -- the core's synchronisation objects under real threads:
** locks, rlocks, conditions, semaphores, events, barriers, queues, values
** and dicts. Plain C, no Lua. Exit status 0 only if every check passed.
**
** Timing checks use wide margins: a 0.05 s timeout must take >= 0.04 s and
** < 2 s, so a loaded machine (or a sanitizer) does not make them flaky.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/object.h"

#include "check.h"

#define TIMED_OUT_OK(t0) (cf_monotonic() - (t0) >= 0.04 && \
                          cf_monotonic() - (t0) < 2.0)

typedef void *(*thread_fn)(void *);

static pthread_t spawn(thread_fn fn, void *arg) {
  pthread_t t;
  if (pthread_create(&t, NULL, fn, arg) != 0) abort();
  return t;
}

static void join(pthread_t t) {
  if (pthread_join(t, NULL) != 0) abort();
}

static long refs_of(void *obj) {
  return atomic_load(&((cf_object *)obj)->refs);
}

static void buf_set(cf_buffer *b, const char *s) {
  cf_buffer_reset(b);
  if (cf_buffer_append(b, s, strlen(s)) != 0) abort();
}

static int buf_is(const cf_buffer *b, const char *s) {
  return b->len == strlen(s) && (b->len == 0 ||
                                  memcmp(b->data, s, b->len) == 0);
}

static void buf_set_long(cf_buffer *b, long v) {
  cf_buffer_reset(b);
  if (cf_buffer_append(b, &v, sizeof v) != 0) abort();
}

static long buf_long(const cf_buffer *b) {
  long v = 0;
  if (b->len == sizeof v) memcpy(&v, b->data, sizeof v);
  return v;
}

/* ---------------------------------------------------------------------- */
/* Lock                                                                    */

typedef struct {
  cf_lock *lock;
  long counter;
  atomic_int flag;
} lock_ctx;

static void *lock_counter_thread(void *p) {
  lock_ctx *x = p;
  int i;
  for (i = 0; i < 100000; i++) {
    if (cf_lock_acquire(x->lock, 1, -1.0) != 0) abort();
    x->counter++;
    if (cf_lock_release(x->lock) != 0) abort();
  }
  return NULL;
}

static void *lock_release_thread(void *p) {
  lock_ctx *x = p;
  CHECK(cf_lock_release(x->lock) == 0);   /* any thread may release */
  return NULL;
}

static void *lock_blocked_thread(void *p) {
  lock_ctx *x = p;
  CHECK(cf_lock_acquire(x->lock, 1, -1.0) == 0);
  atomic_store(&x->flag, 1);
  return NULL;
}

static void test_lock(void) {
  lock_ctx x;
  pthread_t t[4];
  double t0;
  int i;
  memset(&x, 0, sizeof x);
  x.lock = cf_lock_new();
  CHECK(x.lock != NULL);
  CHECK(strcmp(cf_kind_name(x.lock), "lock") == 0);
  CHECK(!cf_lock_locked(x.lock));
  CHECK(cf_lock_acquire(x.lock, 1, -1.0) == 0);
  CHECK(cf_lock_locked(x.lock));
  CHECK(cf_lock_acquire(x.lock, 0, -1.0) == CF_ETIMEDOUT);
  CHECK(cf_lock_acquire(x.lock, 1, 0.0) == CF_ETIMEDOUT);
  t0 = cf_monotonic();
  CHECK(cf_lock_acquire(x.lock, 1, 0.05) == CF_ETIMEDOUT);
  CHECK(TIMED_OUT_OK(t0));
  CHECK(cf_lock_release(x.lock) == 0);
  CHECK(cf_lock_release(x.lock) == CF_ESTATE);

  /* released by another thread */
  CHECK(cf_lock_acquire(x.lock, 1, -1.0) == 0);
  join(spawn(lock_release_thread, &x));
  CHECK(!cf_lock_locked(x.lock));

  /* a blocked acquirer is woken by release */
  CHECK(cf_lock_acquire(x.lock, 1, -1.0) == 0);
  t[0] = spawn(lock_blocked_thread, &x);
  cf_sleep(0.1);
  CHECK(atomic_load(&x.flag) == 0);
  CHECK(cf_lock_release(x.lock) == 0);
  join(t[0]);
  CHECK(atomic_load(&x.flag) == 1);
  CHECK(cf_lock_locked(x.lock));
  CHECK(cf_lock_release(x.lock) == 0);

  /* mutual exclusion */
  for (i = 0; i < 4; i++) t[i] = spawn(lock_counter_thread, &x);
  for (i = 0; i < 4; i++) join(t[i]);
  CHECK(x.counter == 400000);
  CHECK(!cf_lock_locked(x.lock));
  cf_release(x.lock);
}

/* ---------------------------------------------------------------------- */
/* RLock                                                                   */

typedef struct {
  cf_rlock *r;
  long counter;
  uint64_t ident;
} rlock_ctx;

static void *rlock_other_thread(void *p) {
  rlock_ctx *x = p;
  uint64_t me = cf_thread_ident();
  double t0;
  x->ident = me;
  CHECK(me != 0 && me == cf_thread_ident());
  CHECK(!cf_rlock_is_owned(x->r, me));
  CHECK(cf_rlock_acquire(x->r, me, 0, -1.0) == CF_ETIMEDOUT);
  t0 = cf_monotonic();
  CHECK(cf_rlock_acquire(x->r, me, 1, 0.05) == CF_ETIMEDOUT);
  CHECK(TIMED_OUT_OK(t0));
  CHECK(cf_rlock_release(x->r, me) == CF_ESTATE);   /* not the owner */
  return NULL;
}

static void *rlock_counter_thread(void *p) {
  rlock_ctx *x = p;
  uint64_t me = cf_thread_ident();
  int i;
  for (i = 0; i < 20000; i++) {
    if (cf_rlock_acquire(x->r, me, 1, -1.0) != 0) abort();
    if (cf_rlock_acquire(x->r, me, 1, -1.0) != 0) abort();
    x->counter++;
    if (cf_rlock_release(x->r, me) != 0) abort();
    if (cf_rlock_release(x->r, me) != 0) abort();
  }
  return NULL;
}

static void *ident_thread(void *p) {
  *(uint64_t *)p = cf_thread_ident();
  return NULL;
}

static void test_rlock(void) {
  rlock_ctx x;
  uint64_t me = cf_thread_ident(), ids[8];
  pthread_t t[8];
  long count = 0;
  int i, j, distinct = 1;
  memset(&x, 0, sizeof x);
  CHECK(me != 0 && me == cf_thread_ident());
  for (i = 0; i < 8; i++) t[i] = spawn(ident_thread, &ids[i]);
  for (i = 0; i < 8; i++) join(t[i]);
  for (i = 0; i < 8; i++) {
    if (ids[i] == 0 || ids[i] == me) distinct = 0;
    for (j = 0; j < i; j++) if (ids[i] == ids[j]) distinct = 0;
  }
  CHECK(distinct);

  x.r = cf_rlock_new();
  CHECK(x.r != NULL && strcmp(cf_kind_name(x.r), "rlock") == 0);
  CHECK(cf_rlock_acquire(x.r, 0, 1, -1.0) == CF_ESTATE);
  CHECK(cf_rlock_acquire(x.r, me, 1, -1.0) == 0);
  CHECK(cf_rlock_acquire(x.r, me, 0, 0.0) == 0);      /* re-entrant */
  CHECK(cf_rlock_locked(x.r) && cf_rlock_is_owned(x.r, me));
  join(spawn(rlock_other_thread, &x));
  CHECK(x.ident != me);
  CHECK(cf_rlock_release(x.r, me) == 0);
  CHECK(cf_rlock_is_owned(x.r, me));
  CHECK(cf_rlock_release(x.r, me) == 0);
  CHECK(!cf_rlock_locked(x.r));
  CHECK(cf_rlock_release(x.r, me) == CF_ESTATE);

  /* release_all / acquire_restore keep the depth */
  for (i = 0; i < 3; i++) CHECK(cf_rlock_acquire(x.r, me, 1, -1.0) == 0);
  CHECK(cf_rlock_release_all(x.r, me, &count) == 0 && count == 3);
  CHECK(!cf_rlock_locked(x.r));
  CHECK(cf_rlock_release_all(x.r, me, &count) == CF_ESTATE);
  CHECK(cf_rlock_acquire_restore(x.r, me, 3) == 0);
  for (i = 0; i < 3; i++) CHECK(cf_rlock_release(x.r, me) == 0);
  CHECK(cf_rlock_release(x.r, me) == CF_ESTATE);

  for (i = 0; i < 4; i++) t[i] = spawn(rlock_counter_thread, &x);
  for (i = 0; i < 4; i++) join(t[i]);
  CHECK(x.counter == 80000);
  CHECK(!cf_rlock_locked(x.r));
  cf_release(x.r);
}

/* ---------------------------------------------------------------------- */
/* Condition                                                               */

typedef struct {
  cf_condition *c;
  int waiting, woken;   /* guarded by the condition's lock */
} cond_ctx;

static void *cond_waiter_thread(void *p) {
  cond_ctx *x = p;
  uint64_t me = cf_thread_ident();
  CHECK(cf_condition_acquire(x->c, me, 1, -1.0) == 0);
  x->waiting++;
  CHECK(cf_condition_wait(x->c, me, -1.0) == 0);
  CHECK(cf_condition_is_owned(x->c, me));
  x->woken++;
  CHECK(cf_condition_release(x->c, me) == 0);
  return NULL;
}

/* Start nwait waiters, notify(n) once every one of them waits, and return
** how many woke in the next 0.2 s; then wake the rest with notify_all. */
static int notify_round(cf_condition *c, int nwait, long n) {
  cond_ctx x;
  pthread_t t[8];
  uint64_t me = cf_thread_ident();
  int i, ready = 0, woken;
  x.c = c;
  x.waiting = x.woken = 0;
  for (i = 0; i < nwait; i++) t[i] = spawn(cond_waiter_thread, &x);
  while (!ready) {   /* a waiter counted under the lock is queued */
    if (cf_condition_acquire(c, me, 1, -1.0) != 0) abort();
    ready = x.waiting == nwait;
    if (cf_condition_release(c, me) != 0) abort();
    if (!ready) cf_sleep(0.001);
  }
  CHECK(cf_condition_acquire(c, me, 1, -1.0) == 0);
  CHECK(cf_condition_notify(c, me, n) == 0);
  CHECK(cf_condition_release(c, me) == 0);
  cf_sleep(0.2);
  CHECK(cf_condition_acquire(c, me, 1, -1.0) == 0);
  woken = x.woken;
  CHECK(cf_condition_notify_all(c, me) == 0);
  CHECK(cf_condition_release(c, me) == 0);
  for (i = 0; i < nwait; i++) join(t[i]);
  CHECK(x.woken == nwait);
  return woken;
}

static void test_condition(void) {
  uint64_t me = cf_thread_ident();
  cf_condition *c = cf_condition_new(NULL), *c2;
  cf_lock *l = cf_lock_new();
  cf_semaphore *s = cf_semaphore_new(1, 0);
  double t0;
  CHECK(c != NULL && cf_condition_is_rlock(c));
  CHECK(strcmp(cf_kind_name(c), "condition") == 0);
  CHECK(strcmp(cf_kind_name(cf_condition_lock(c)), "rlock") == 0);
  CHECK(cf_condition_new(s) == NULL);   /* not a lock */

  CHECK(notify_round(c, 3, 1) == 1);
  CHECK(notify_round(c, 4, 2) == 2);
  CHECK(notify_round(c, 3, 0) == 0);

  /* not owned */
  CHECK(cf_condition_wait(c, me, 0.01) == CF_ESTATE);
  CHECK(cf_condition_notify(c, me, 1) == CF_ESTATE);
  CHECK(cf_condition_notify_all(c, me) == CF_ESTATE);

  /* timeout: the lock comes back with its depth */
  CHECK(cf_condition_acquire(c, me, 1, -1.0) == 0);
  CHECK(cf_condition_acquire(c, me, 1, -1.0) == 0);
  t0 = cf_monotonic();
  CHECK(cf_condition_wait(c, me, 0.05) == CF_ETIMEDOUT);
  CHECK(TIMED_OUT_OK(t0));
  CHECK(cf_condition_is_owned(c, me));
  CHECK(cf_condition_wait(c, me, 0.0) == CF_ETIMEDOUT);
  CHECK(cf_condition_release(c, me) == 0);
  CHECK(cf_condition_release(c, me) == 0);
  CHECK(cf_condition_release(c, me) == CF_ESTATE);

  /* over a plain Lock (retained by the condition) */
  c2 = cf_condition_new(l);
  CHECK(c2 != NULL && !cf_condition_is_rlock(c2));
  CHECK(cf_condition_lock(c2) == l && refs_of(l) == 2);
  cf_release(l);
  CHECK(notify_round(c2, 3, 1) == 1);
  CHECK(cf_condition_acquire(c2, me, 1, -1.0) == 0);
  t0 = cf_monotonic();
  CHECK(cf_condition_wait(c2, me, 0.05) == CF_ETIMEDOUT);
  CHECK(TIMED_OUT_OK(t0));
  CHECK(cf_lock_locked(l));
  CHECK(cf_condition_release(c2, me) == 0);
  CHECK(cf_condition_wait(c2, me, 0.0) == CF_ESTATE);

  cf_release(c2);
  cf_release(c);
  cf_release(s);
}

/* ---------------------------------------------------------------------- */
/* Semaphore                                                               */

typedef struct {
  cf_semaphore *s;
  atomic_int active, max;
} sem_ctx;

static void *sem_acquire_thread(void *p) {
  sem_ctx *x = p;
  CHECK(cf_semaphore_acquire(x->s, 1, -1.0) == 0);
  return NULL;
}

static void *sem_limit_thread(void *p) {
  sem_ctx *x = p;
  int i, a, m;
  for (i = 0; i < 200; i++) {
    if (cf_semaphore_acquire(x->s, 1, -1.0) != 0) abort();
    a = atomic_fetch_add(&x->active, 1) + 1;
    m = atomic_load(&x->max);
    while (a > m && !atomic_compare_exchange_weak(&x->max, &m, a)) {}
    atomic_fetch_sub(&x->active, 1);
    if (cf_semaphore_release(x->s, 1) != 0) abort();
  }
  return NULL;
}

static void test_semaphore(void) {
  sem_ctx x;
  pthread_t t[6];
  double t0;
  int i;
  cf_semaphore *s = cf_semaphore_new(2, 1);
  CHECK(cf_semaphore_new(-1, 0) == NULL);
  CHECK(s != NULL && strcmp(cf_kind_name(s), "semaphore") == 0);
  CHECK(cf_semaphore_value(s) == 2);
  CHECK(cf_semaphore_release(s, 1) == CF_ESTATE);     /* bounded */
  CHECK(cf_semaphore_acquire(s, 1, -1.0) == 0);
  CHECK(cf_semaphore_acquire(s, 0, 0.0) == 0);
  CHECK(cf_semaphore_value(s) == 0);
  CHECK(cf_semaphore_acquire(s, 0, -1.0) == CF_ETIMEDOUT);
  t0 = cf_monotonic();
  CHECK(cf_semaphore_acquire(s, 1, 0.05) == CF_ETIMEDOUT);
  CHECK(TIMED_OUT_OK(t0));
  CHECK(cf_semaphore_release(s, 3) == CF_ESTATE);
  CHECK(cf_semaphore_value(s) == 0);
  CHECK(cf_semaphore_release(s, 0) == CF_ESTATE);
  CHECK(cf_semaphore_release(s, 1) == 0);
  CHECK(cf_semaphore_release(s, 1) == 0);
  CHECK(cf_semaphore_release(s, 1) == CF_ESTATE);
  CHECK(cf_semaphore_value(s) == 2);
  cf_release(s);

  /* unbounded; a blocked acquire is woken by a release */
  memset(&x, 0, sizeof x);
  x.s = cf_semaphore_new(0, 0);
  t[0] = spawn(sem_acquire_thread, &x);
  t[1] = spawn(sem_acquire_thread, &x);
  cf_sleep(0.05);
  CHECK(cf_semaphore_release(x.s, 3) == 0);
  join(t[0]);
  join(t[1]);
  CHECK(cf_semaphore_value(x.s) == 1);
  CHECK(cf_semaphore_release(x.s, 3) == 0 && cf_semaphore_value(x.s) == 4);
  cf_release(x.s);

  /* at most `value` holders at once */
  x.s = cf_semaphore_new(2, 1);
  for (i = 0; i < 6; i++) t[i] = spawn(sem_limit_thread, &x);
  for (i = 0; i < 6; i++) join(t[i]);
  CHECK(atomic_load(&x.max) >= 1 && atomic_load(&x.max) <= 2);
  CHECK(cf_semaphore_value(x.s) == 2);
  cf_release(x.s);
}

/* ---------------------------------------------------------------------- */
/* Event                                                                   */

static void *event_set_thread(void *p) {
  cf_sleep(0.05);
  cf_event_set(p);
  return NULL;
}

static void *event_wait_thread(void *p) {
  CHECK(cf_event_wait(p, 10.0) == 1);
  return NULL;
}

static void test_event(void) {
  cf_event *e = cf_event_new();
  pthread_t t[3];
  double t0;
  int i;
  CHECK(e != NULL && strcmp(cf_kind_name(e), "event") == 0);
  CHECK(!cf_event_is_set(e));
  CHECK(cf_event_wait(e, 0.0) == 0);
  t0 = cf_monotonic();
  CHECK(cf_event_wait(e, 0.05) == 0);
  CHECK(TIMED_OUT_OK(t0));

  t[0] = spawn(event_set_thread, e);
  t0 = cf_monotonic();
  CHECK(cf_event_wait(e, -1.0) == 1);
  CHECK(TIMED_OUT_OK(t0));
  join(t[0]);
  CHECK(cf_event_is_set(e));
  CHECK(cf_event_wait(e, 0.0) == 1);
  cf_event_set(e);
  cf_event_clear(e);
  CHECK(!cf_event_is_set(e));

  for (i = 0; i < 3; i++) t[i] = spawn(event_wait_thread, e);
  cf_sleep(0.05);
  cf_event_set(e);
  for (i = 0; i < 3; i++) join(t[i]);
  cf_release(e);
}

/* ---------------------------------------------------------------------- */
/* Barrier                                                                 */

#define ROUNDS 20

typedef struct {
  cf_barrier *b;
  long idx[3][ROUNDS];
  int who;
  atomic_int next;
} bar_ctx;

static void *barrier_rounds_thread(void *p) {
  bar_ctx *x = p;
  int me = atomic_fetch_add(&x->next, 1), r;
  for (r = 0; r < ROUNDS; r++) {
    x->idx[me][r] = -1;
    CHECK(cf_barrier_wait(x->b, 10.0, &x->idx[me][r]) == 0);
  }
  return NULL;
}

static void *barrier_broken_thread(void *p) {
  long idx = 99;
  CHECK(cf_barrier_wait(p, 10.0, &idx) == CF_EBROKEN);
  CHECK(idx == 99);
  return NULL;
}

static void *barrier_ok_thread(void *p) {
  long idx = -1;
  CHECK(cf_barrier_wait(p, 10.0, &idx) == 0);
  CHECK(idx == 0 || idx == 1);
  return NULL;
}

static void wait_n_waiting(cf_barrier *b, long n) {
  while (cf_barrier_n_waiting(b) != n) cf_sleep(0.001);
}

static void test_barrier(void) {
  bar_ctx x;
  pthread_t t[3];
  cf_barrier *b;
  double t0;
  long idx;
  int i, r, ok = 1;
  CHECK(cf_barrier_new(0) == NULL);

  memset(&x, 0, sizeof x);
  x.b = cf_barrier_new(3);
  CHECK(x.b != NULL && strcmp(cf_kind_name(x.b), "barrier") == 0);
  CHECK(cf_barrier_parties(x.b) == 3);
  for (i = 0; i < 3; i++) t[i] = spawn(barrier_rounds_thread, &x);
  for (i = 0; i < 3; i++) join(t[i]);
  for (r = 0; r < ROUNDS; r++) {
    int seen = 0;
    for (i = 0; i < 3; i++)
      if (x.idx[i][r] >= 0 && x.idx[i][r] < 3) seen |= 1 << x.idx[i][r];
    if (seen != 7) ok = 0;
  }
  CHECK(ok);   /* 0, 1, 2 once each in every round */
  CHECK(cf_barrier_n_waiting(x.b) == 0 && !cf_barrier_broken(x.b));
  cf_release(x.b);

  /* a timeout breaks the barrier for everyone */
  b = cf_barrier_new(3);
  t[0] = spawn(barrier_broken_thread, b);
  wait_n_waiting(b, 1);
  t0 = cf_monotonic();
  CHECK(cf_barrier_wait(b, 0.05, &idx) == CF_EBROKEN);
  CHECK(TIMED_OUT_OK(t0));
  join(t[0]);
  CHECK(cf_barrier_broken(b));
  CHECK(cf_barrier_wait(b, -1.0, &idx) == CF_EBROKEN);
  CHECK(cf_barrier_n_waiting(b) == 0);
  cf_barrier_reset(b);
  CHECK(!cf_barrier_broken(b));
  cf_release(b);

  /* abort: waiters broken, broken until reset, then usable */
  b = cf_barrier_new(2);
  t[0] = spawn(barrier_broken_thread, b);
  wait_n_waiting(b, 1);
  cf_barrier_abort(b);
  join(t[0]);
  CHECK(cf_barrier_broken(b));
  CHECK(cf_barrier_wait(b, 1.0, &idx) == CF_EBROKEN);
  cf_barrier_reset(b);
  CHECK(!cf_barrier_broken(b));
  t[0] = spawn(barrier_ok_thread, b);
  t[1] = spawn(barrier_ok_thread, b);
  join(t[0]);
  join(t[1]);

  /* reset while a waiter is in progress */
  t[0] = spawn(barrier_broken_thread, b);
  wait_n_waiting(b, 1);
  cf_barrier_reset(b);
  join(t[0]);
  CHECK(!cf_barrier_broken(b) && cf_barrier_n_waiting(b) == 0);
  t[0] = spawn(barrier_ok_thread, b);
  t[1] = spawn(barrier_ok_thread, b);
  join(t[0]);
  join(t[1]);
  CHECK(!cf_barrier_broken(b));

  /* one party: never waits */
  cf_release(b);
  b = cf_barrier_new(1);
  CHECK(cf_barrier_wait(b, 0.0, &idx) == 0 && idx == 0);
  cf_release(b);
}

/* ---------------------------------------------------------------------- */
/* Queue                                                                   */

#define PER_PRODUCER 10000
#define NITEMS (3 * PER_PRODUCER)

typedef struct {
  cf_queue *q;
  atomic_int next;
  atomic_int seen[NITEMS];
  atomic_llong sum;
  atomic_int count, over;
} queue_ctx;

static void *producer_thread(void *p) {
  queue_ctx *x = p;
  int me = atomic_fetch_add(&x->next, 1), i;
  cf_buffer b = CF_BUFFER_INIT;
  for (i = 0; i < PER_PRODUCER; i++) {
    buf_set_long(&b, (long)me * PER_PRODUCER + i);
    if (cf_queue_put(x->q, &b, 1, -1.0) != 0) abort();
    if (b.data != NULL) atomic_store(&x->over, 1);  /* not moved */
  }
  return NULL;
}

static void *consumer_thread(void *p) {
  queue_ctx *x = p;
  cf_buffer b = CF_BUFFER_INIT;
  for (;;) {
    if (cf_queue_get(x->q, &b, 1, -1.0) != 0) abort();
    if (cf_queue_qsize(x->q) > 10) atomic_store(&x->over, 1);
    if (b.len == 0) {   /* sentinel */
      cf_queue_task_done(x->q);
      break;
    }
    long v = buf_long(&b);
    if (v >= 0 && v < NITEMS) atomic_fetch_add(&x->seen[v], 1);
    atomic_fetch_add(&x->sum, v);
    atomic_fetch_add(&x->count, 1);
    if (cf_queue_task_done(x->q) != 0) abort();
  }
  cf_buffer_free(&b);
  return NULL;
}

static void *queue_getter_thread(void *p) {
  cf_buffer b = CF_BUFFER_INIT;
  cf_sleep(0.05);
  CHECK(cf_queue_get(p, &b, 1, 10.0) == 0 && buf_is(&b, "one"));
  CHECK(cf_queue_task_done(p) == 0);
  cf_buffer_free(&b);
  return NULL;
}

static void *queue_join_thread(void *p) {
  CHECK(cf_queue_join(p, 10.0) == 0);
  return NULL;
}

static void test_queue(void) {
  static queue_ctx x;   /* large: not on the stack */
  cf_buffer b = CF_BUFFER_INIT, out = CF_BUFFER_INIT;
  pthread_t t[6];
  cf_lock *l;
  cf_queue *q;
  double t0;
  int i, once = 1;

  memset(&x, 0, sizeof x);
  x.q = cf_queue_new(10);
  CHECK(x.q != NULL && strcmp(cf_kind_name(x.q), "queue") == 0);
  CHECK(cf_queue_maxsize(x.q) == 10);
  for (i = 0; i < 3; i++) t[i] = spawn(consumer_thread, &x);
  for (i = 3; i < 6; i++) t[i] = spawn(producer_thread, &x);
  for (i = 3; i < 6; i++) join(t[i]);
  for (i = 0; i < 3; i++) {   /* one sentinel per consumer */
    cf_buffer_reset(&b);
    CHECK(cf_queue_put(x.q, &b, 1, -1.0) == 0);
  }
  CHECK(cf_queue_join(x.q, -1.0) == 0);
  for (i = 0; i < 3; i++) join(t[i]);
  for (i = 0; i < NITEMS; i++) if (atomic_load(&x.seen[i]) != 1) once = 0;
  CHECK(once);
  CHECK(atomic_load(&x.count) == NITEMS);
  CHECK(atomic_load(&x.sum) == (long long)NITEMS * (NITEMS - 1) / 2);
  CHECK(atomic_load(&x.over) == 0);
  CHECK(cf_queue_empty(x.q) && cf_queue_qsize(x.q) == 0);
  CHECK(cf_queue_task_done(x.q) == CF_ESTATE);
  cf_release(x.q);

  /* empty: a timed get times out and leaves out alone */
  q = cf_queue_new(2);
  buf_set(&out, "keep");
  CHECK(cf_queue_get(q, &out, 0, -1.0) == CF_ETIMEDOUT);
  t0 = cf_monotonic();
  CHECK(cf_queue_get(q, &out, 1, 0.05) == CF_ETIMEDOUT);
  CHECK(TIMED_OUT_OK(t0));
  CHECK(buf_is(&out, "keep"));

  /* full: FIFO, a refused put leaves the item with the caller */
  buf_set(&b, "one");
  CHECK(cf_queue_put(q, &b, 0, 0.0) == 0 && b.len == 0 && b.data == NULL);
  buf_set(&b, "two");
  CHECK(cf_queue_put(q, &b, 1, -1.0) == 0);
  CHECK(cf_queue_full(q) && cf_queue_qsize(q) == 2 && !cf_queue_empty(q));
  buf_set(&b, "three");
  CHECK(cf_queue_put(q, &b, 0, -1.0) == CF_ETIMEDOUT);
  t0 = cf_monotonic();
  CHECK(cf_queue_put(q, &b, 1, 0.05) == CF_ETIMEDOUT);
  CHECK(TIMED_OUT_OK(t0));
  CHECK(buf_is(&b, "three"));
  CHECK(cf_queue_get(q, &out, 1, -1.0) == 0 && buf_is(&out, "one"));
  CHECK(cf_queue_put(q, &b, 0, -1.0) == 0);
  CHECK(cf_queue_get(q, &out, 1, -1.0) == 0 && buf_is(&out, "two"));
  CHECK(cf_queue_get(q, &out, 1, -1.0) == 0 && buf_is(&out, "three"));
  CHECK(cf_queue_empty(q));

  /* a blocked put is let in by a get in another thread */
  buf_set(&b, "one");
  CHECK(cf_queue_put(q, &b, 1, -1.0) == 0);
  buf_set(&b, "two");
  CHECK(cf_queue_put(q, &b, 1, -1.0) == 0);
  t[0] = spawn(queue_getter_thread, q);
  buf_set(&b, "three");
  CHECK(cf_queue_put(q, &b, 1, 10.0) == 0);
  join(t[0]);
  CHECK(cf_queue_qsize(q) == 2);

  /* task_done / join: 6 put, 1 done so far */
  t0 = cf_monotonic();
  CHECK(cf_queue_join(q, 0.05) == CF_ETIMEDOUT);
  CHECK(TIMED_OUT_OK(t0));
  t[0] = spawn(queue_join_thread, q);
  for (i = 0; i < 5; i++) CHECK(cf_queue_task_done(q) == 0);
  join(t[0]);
  CHECK(cf_queue_join(q, 0.0) == 0);
  CHECK(cf_queue_task_done(q) == CF_ESTATE);

  /* references travel with the item and die with the queue */
  l = cf_lock_new();
  buf_set(&b, "ref");
  CHECK(cf_buffer_add_ref(&b, l, NULL) == 0 && refs_of(l) == 2);
  CHECK(cf_queue_put(q, &b, 0, 0.0) == CF_ETIMEDOUT && refs_of(l) == 2);
  CHECK(cf_queue_get(q, &out, 0, 0.0) == 0);
  CHECK(cf_queue_put(q, &b, 0, 0.0) == 0 && refs_of(l) == 2);
  cf_release(q);   /* frees the two items still queued */
  CHECK(refs_of(l) == 1);
  cf_release(l);

  q = cf_queue_new(0);   /* unbounded */
  for (i = 0; i < 1000; i++) {
    buf_set_long(&b, i);
    CHECK(cf_queue_put(q, &b, 0, 0.0) == 0);
  }
  CHECK(!cf_queue_full(q) && cf_queue_qsize(q) == 1000);
  CHECK(cf_queue_get(q, &out, 0, 0.0) == 0 && buf_long(&out) == 0);
  cf_release(q);
  cf_buffer_free(&b);
  cf_buffer_free(&out);
}

/* ---------------------------------------------------------------------- */
/* Value                                                                   */

static int add_fn(cf_buffer *cur, void *ud) {
  buf_set_long(cur, buf_long(cur) + *(long *)ud);
  return 0;
}

typedef struct { long expect, repl; } cas_ud;

static int cas_fn(cf_buffer *cur, void *ud) {
  cas_ud *c = ud;
  if (buf_long(cur) != c->expect) return 0;
  buf_set_long(cur, c->repl);
  return 1;
}

static int answer_fn(cf_buffer *cur, void *ud) {
  (void)cur;
  (void)ud;
  return 42;
}

static void *value_add_thread(void *p) {
  long one = 1;
  int i;
  for (i = 0; i < 10000; i++) cf_value_apply(p, add_fn, &one);
  return NULL;
}

static void test_value(void) {
  cf_value *v = cf_value_new();
  cf_buffer b = CF_BUFFER_INIT, out = CF_BUFFER_INIT;
  cf_lock *l = cf_lock_new();
  pthread_t t[4];
  cas_ud cas;
  int i;
  CHECK(v != NULL && strcmp(cf_kind_name(v), "value") == 0);
  buf_set(&out, "junk");
  CHECK(cf_value_get(v, &out) == 0 && out.len == 0);
  buf_set(&b, "hello");
  cf_value_set(v, &b);
  CHECK(b.len == 0 && b.data == NULL);
  CHECK(cf_value_get(v, &out) == 0 && buf_is(&out, "hello"));
  CHECK(cf_value_apply(v, answer_fn, NULL) == 42);

  buf_set_long(&b, 0);
  cf_value_set(v, &b);
  for (i = 0; i < 4; i++) t[i] = spawn(value_add_thread, v);
  for (i = 0; i < 4; i++) join(t[i]);
  CHECK(cf_value_get(v, &out) == 0 && buf_long(&out) == 40000);

  cas.expect = 1; cas.repl = 7;
  CHECK(cf_value_apply(v, cas_fn, &cas) == 0);
  cas.expect = 40000;
  CHECK(cf_value_apply(v, cas_fn, &cas) == 1);
  CHECK(cf_value_get(v, &out) == 0 && buf_long(&out) == 7);

  /* references: get copies them, set releases the old ones */
  buf_set(&b, "lock");
  cf_buffer_add_ref(&b, l, NULL);
  cf_value_set(v, &b);
  CHECK(refs_of(l) == 2);
  CHECK(cf_value_get(v, &out) == 0 && out.nrefs == 1 && refs_of(l) == 3);
  cf_buffer_free(&out);
  CHECK(refs_of(l) == 2);
  buf_set(&b, "plain");
  cf_value_set(v, &b);
  CHECK(refs_of(l) == 1);
  cf_release(l);
  cf_release(v);
  cf_buffer_free(&b);
}

/* ---------------------------------------------------------------------- */
/* Dict                                                                    */

#define KEY(s) (s), strlen(s)

typedef struct {
  cf_dict *d;
  atomic_int done;
} dict_ctx;

static void *dict_plain_set_thread(void *p) {
  dict_ctx *x = p;
  cf_buffer b = CF_BUFFER_INIT;
  buf_set(&b, "other");
  CHECK(cf_dict_set(x->d, KEY("x"), &b) == 0);
  atomic_store(&x->done, 1);
  return NULL;
}

static void *dict_update_thread(void *p) {
  dict_ctx *x = p;
  uint64_t me = cf_thread_ident();
  cf_buffer b = CF_BUFFER_INIT;
  int i;
  for (i = 0; i < 2000; i++) {
    if (cf_dict_update_begin(x->d, me) != 0) abort();
    if (cf_dict_update_begin(x->d, me) != 0) abort();   /* re-entrant */
    cf_dict_get(x->d, KEY("n"), &b);
    buf_set_long(&b, buf_long(&b) + 1);
    if (cf_dict_set_owned(x->d, me, KEY("n"), &b) != 0) abort();
    if (cf_dict_update_end(x->d, me) != 0) abort();
    if (cf_dict_update_end(x->d, me) != 0) abort();
  }
  cf_buffer_free(&b);
  return NULL;
}

static void test_dict(void) {
  cf_dict *d = cf_dict_new();
  cf_buffer b = CF_BUFFER_INIT, out = CF_BUFFER_INIT, *keys;
  cf_lock *l = cf_lock_new();
  uint64_t me = cf_thread_ident();
  dict_ctx x;
  pthread_t t[4];
  char k[32];
  size_t n;
  int i, ok;
  CHECK(d != NULL && strcmp(cf_kind_name(d), "dict") == 0);
  CHECK(cf_dict_len(d) == 0);
  buf_set(&out, "junk");
  CHECK(cf_dict_get(d, KEY("a"), &out) == 0 && out.len == 0);
  buf_set(&b, "1");
  CHECK(cf_dict_set(d, KEY("a"), &b) == 0 && b.data == NULL);
  buf_set(&b, "2");
  CHECK(cf_dict_set(d, KEY("b"), &b) == 0);
  CHECK(cf_dict_len(d) == 2);
  CHECK(cf_dict_get(d, KEY("a"), &out) == 1 && buf_is(&out, "1"));
  buf_set(&b, "3");
  CHECK(cf_dict_set(d, KEY("a"), &b) == 0 && cf_dict_len(d) == 2);
  CHECK(cf_dict_get(d, KEY("a"), &out) == 1 && buf_is(&out, "3"));
  CHECK(cf_dict_get(d, KEY("a"), NULL) == 1);
  CHECK(cf_dict_delete(d, KEY("a")) == 1);
  CHECK(cf_dict_delete(d, KEY("a")) == 0);
  CHECK(cf_dict_get(d, KEY("a"), NULL) == 0 && cf_dict_len(d) == 1);
  buf_set(&b, "empty key");
  CHECK(cf_dict_set(d, "", 0, &b) == 0);
  cf_buffer_reset(&b);   /* an empty value is a value */
  CHECK(cf_dict_set(d, KEY("c"), &b) == 0);
  CHECK(cf_dict_get(d, KEY("c"), &out) == 1 && out.len == 0);
  CHECK(cf_dict_get(d, "", 0, &out) == 1 && buf_is(&out, "empty key"));
  buf_set(&b, "a again");
  CHECK(cf_dict_set(d, KEY("a"), &b) == 0);
  CHECK(cf_dict_keys(d, &keys, &n) == 0 && n == 4);
  CHECK(n == 4 && buf_is(&keys[0], "b") && buf_is(&keys[1], "") &&
        buf_is(&keys[2], "c") && buf_is(&keys[3], "a"));  /* insertion order */
  cf_dict_keys_free(keys, n);

  /* references are released on replace and delete */
  buf_set(&b, "lock");
  cf_buffer_add_ref(&b, l, NULL);
  CHECK(cf_dict_set(d, KEY("l"), &b) == 0 && refs_of(l) == 2);
  CHECK(cf_dict_delete(d, KEY("l")) == 1 && refs_of(l) == 1);

  /* growth */
  for (i = 0; i < 20000; i++) {
    snprintf(k, sizeof k, "k%d", i);
    buf_set_long(&b, i);
    if (cf_dict_set(d, KEY(k), &b) != 0) abort();
  }
  CHECK(cf_dict_len(d) == 20004);
  for (i = 0; i < 20000; i += 2) {
    snprintf(k, sizeof k, "k%d", i);
    if (cf_dict_delete(d, KEY(k)) != 1) abort();
  }
  CHECK(cf_dict_len(d) == 10004);
  ok = 1;
  for (i = 0; i < 20000; i++) {
    snprintf(k, sizeof k, "k%d", i);
    if (i % 2 == 0) ok &= cf_dict_get(d, KEY(k), &out) == 0;
    else ok &= cf_dict_get(d, KEY(k), &out) == 1 && buf_long(&out) == i;
  }
  CHECK(ok);
  CHECK(cf_dict_keys(d, &keys, &n) == 0 && n == 10004);
  CHECK(n == 10004 && buf_is(&keys[4], "k1") && buf_is(&keys[10003], "k19999"));
  cf_dict_keys_free(keys, n);

  /* update lock: re-entrant for its owner, plain writers wait */
  x.d = d;
  atomic_store(&x.done, 0);
  CHECK(cf_dict_update_begin(d, 0) == CF_ESTATE);
  CHECK(cf_dict_update_end(d, me) == CF_ESTATE);
  CHECK(cf_dict_update_begin(d, me) == 0);
  CHECK(cf_dict_update_begin(d, me) == 0);
  t[0] = spawn(dict_plain_set_thread, &x);
  cf_sleep(0.1);
  CHECK(atomic_load(&x.done) == 0);
  buf_set(&b, "mine");
  CHECK(cf_dict_set_owned(d, me, KEY("x"), &b) == 0);   /* no wait */
  CHECK(cf_dict_get(d, KEY("x"), &out) == 1 && buf_is(&out, "mine"));
  CHECK(cf_dict_delete_owned(d, me, KEY("k1")) == 1);
  CHECK(cf_dict_update_end(d, me) == 0);
  cf_sleep(0.05);
  CHECK(atomic_load(&x.done) == 0);   /* still held once */
  CHECK(cf_dict_update_end(d, me) == 0);
  join(t[0]);
  CHECK(atomic_load(&x.done) == 1);
  CHECK(cf_dict_get(d, KEY("x"), &out) == 1 && buf_is(&out, "other"));
  CHECK(cf_dict_update_end(d, me) == CF_ESTATE);

  /* update lock excludes other updaters: no lost increments */
  for (i = 0; i < 4; i++) t[i] = spawn(dict_update_thread, &x);
  for (i = 0; i < 4; i++) join(t[i]);
  CHECK(cf_dict_get(d, KEY("n"), &out) == 1 && buf_long(&out) == 8000);

  cf_release(d);
  cf_release(l);
  cf_buffer_free(&b);
  cf_buffer_free(&out);
}

int main(void) {
  test_lock();
  test_rlock();
  test_condition();
  test_semaphore();
  test_event();
  test_barrier();
  test_queue();
  test_value();
  test_dict();
  printf("test_sync: %d passed, %d failed\n", atomic_load(&passed),
         atomic_load(&failed));
  return atomic_load(&failed) == 0 ? 0 : 1;
}
