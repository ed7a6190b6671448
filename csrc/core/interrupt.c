/*
** interrupt.c -- stopping a running task: the per-thread interrupt cell,
** the registry that finds the cell running a future, interruptible waits
** and sleeps.
**
** Asking (cf_future_interrupt): set WORD_STOP on the future's word (a CAS
** that fails unless it runs), then find the cell whose task it is and
** poke it: arm the binding's hook on the cell's Lua state, wake its
** sleep, and wake the condition it waits on, if any.
**
** Waiting (cf_cond_wait_obj), with the object's mutex m held: publish
** (obj, m, c) in the cell under the cell's lock, check the stop flag,
** wait; withdraw under the cell's lock, still holding m. The poker reads
** the publication under the cell's lock and retains obj (so m stays
** valid), unlocks the cell, locks m, then checks under the cell's lock
** that the same wait is still published (c may live on the waiter's
** stack: Condition.wait) before it broadcasts c. The flag is set before
** the poker reads the cell and checked by the waiter after it published,
** both under the cell's lock, so one of them sees the other: no wake-up
** is lost.
**
** Lock order. The registry's lock is a leaf: finding cells retains them
** (cells are reference counted) and pokes after unlocking. An object's
** mutex, then a cell's lock: a waiter publishes and withdraws holding the
** object's mutex, and the poker re-checks the publication holding it.
** Otherwise a cell's lock is taken alone: the poker releases it before it
** locks the object's mutex (so no cycle), and the arm callback that runs
** under it only calls lua_sethook (or writes an eventfd: procstop.c).
** cf_task_sleep waits on the cell's own condition under the cell's lock.
** A wait that is no condition (the binding's poll on a state's fd while
** it runs spawned coroutines, runtime/block.c) publishes a wake function
** and a shared object instead (cf_icell_wake_with); the poker retains the
** object under the cell's lock and calls the function after unlocking
** it, under no lock. The waiter checks the stop flag after publishing and
** before each poll, so, as above, one of them sees the other.
** timeout.c's lock is a leaf too.
**
** Cost when unused: a worker stores its task in its cell (one atomic
** store) and checks the stop bit it had anyway in the word it loaded;
** nothing else runs unless a stop is asked.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdlib.h>

#include "future.h"
#include "interrupt.h"

struct cf_icell {
  cf_object hdr;                /* these three: cf_icell_head (interrupt.h) */
  _Atomic(cf_future *) task;
  atomic_int armed;
  pthread_mutex_t mu;
  pthread_cond_t sleep_cv;      /* cf_task_sleep waits on it */
  const void *owner;
  cf_arm_fn arm;                /* guarded by mu */
  void *arm_ud;
  void *wobj;                   /* the published wait, guarded by mu */
  pthread_mutex_t *wm;
  pthread_cond_t *wc;
  unsigned long wgen;
  cf_wake_fn wake;              /* a wait on something else (an fd), by mu */
  void *wake_obj;
  cf_icell *prev, *next;        /* registry, guarded by reg_mu */
};

volatile int cf_stop_signalled;

static CF_TLS cf_icell *tls_cell;
static CF_TLS int shielded;

void cf_wait_shield(int delta) {
  shielded += delta;
}

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static cf_icell *reg_head;

static void cell_destroy(void *obj) {
  cf_icell *c = obj;
  pthread_cond_destroy(&c->sleep_cv);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

static const cf_kind cell_kind = {"interrupt cell", cell_destroy};

/* After fork only the forking thread runs: the registry's lock may be
** held by a thread that is gone, and the cells of other threads are
** dead (their memory is left: a child of a forked pool never pokes). */
static void reset_in_child(void) {
  pthread_mutex_init(&reg_mu, NULL);
  reg_head = NULL;
  if (tls_cell) tls_cell->prev = tls_cell->next = NULL;
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void setup_fork(void) {
  pthread_atfork(NULL, NULL, reset_in_child);
}

cf_icell *cf_icell_new(const void *owner) {
  cf_icell *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  pthread_once(&fork_once, setup_fork);
  cf_object_init(c, &cell_kind);
  cf_mutex_init(&c->mu);
  cf_cond_init(&c->sleep_cv);
  atomic_init(&c->task, NULL);
  atomic_init(&c->armed, 0);
  c->owner = owner;
  cf_mutex_lock(&reg_mu);
  c->next = reg_head;
  if (reg_head) reg_head->prev = c;
  reg_head = c;
  cf_mutex_unlock(&reg_mu);
  return c;
}

void cf_icell_adopt(cf_icell *c) {
  tls_cell = c;
}

cf_icell *cf_icell_current(void) {
  return tls_cell;
}

void cf_icell_remove(cf_icell *c) {
  cf_mutex_lock(&reg_mu);
  if (c->prev) c->prev->next = c->next;
  else if (reg_head == c) reg_head = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  cf_mutex_unlock(&reg_mu);
}

void cf_icell_leave(void) {
  cf_icell *c = tls_cell;
  if (c == NULL) return;
  tls_cell = NULL;
  cf_icell_remove(c);
  cf_release(c);
}

static int stop_asked(cf_future *f) {
  return f != NULL &&
         (atomic_load_explicit(&f->word, memory_order_acquire) & WORD_STOP);
}

int cf_future_stop_requested(cf_future *f) {
  return stop_asked(f);
}

int cf_task_stop_requested(void) {
  cf_icell *c = tls_cell;
  if (cf_stop_signalled) return 1;
  return c != NULL && stop_asked(atomic_load_explicit(&c->task,
                                                      memory_order_relaxed));
}

static void arm_locked(cf_icell *c, int how) {
  if (c->arm) c->arm(c->arm_ud, how);
  atomic_store_explicit(&c->armed, how != CF_ARM_OFF, memory_order_relaxed);
}

/* The slow halves of cf_icell_begin and cf_icell_end (interrupt.h). */
void cf_icell_arm_late(cf_icell *c) {
  cf_mutex_lock(&c->mu);
  arm_locked(c, CF_ARM_NOW);
  cf_mutex_unlock(&c->mu);
}

void cf_icell_disarm(cf_icell *c) {
  cf_mutex_lock(&c->mu);
  arm_locked(c, CF_ARM_OFF);
  cf_mutex_unlock(&c->mu);
}

cf_future *cf_icell_task(cf_icell *c) {
  return atomic_load_explicit(&c->task, memory_order_acquire);
}

void cf_icell_set_arm(cf_arm_fn arm, void *ud) {
  if (tls_cell != NULL) cf_icell_arm_with(tls_cell, arm, ud);
}

void cf_icell_arm_with(cf_icell *c, cf_arm_fn arm, void *ud) {
  cf_mutex_lock(&c->mu);
  if (arm == NULL && c->arm != NULL) arm_locked(c, CF_ARM_OFF);
  c->arm = arm;
  c->arm_ud = ud;
  if (arm != NULL && stop_asked(atomic_load(&c->task)))
    arm_locked(c, CF_ARM_NOW);
  cf_mutex_unlock(&c->mu);
}

int cf_icell_hook_check(void) {
  cf_icell *c = tls_cell;
  int stop;
  if (c == NULL) return cf_stop_signalled;
  cf_mutex_lock(&c->mu);
  stop = stop_asked(atomic_load(&c->task));
  arm_locked(c, stop ? CF_ARM_AGAIN : CF_ARM_OFF);
  cf_mutex_unlock(&c->mu);
  return stop;
}

void cf_icell_wake_with(cf_wake_fn wake, void *obj) {
  cf_icell *c = tls_cell;
  if (c == NULL) return;
  cf_mutex_lock(&c->mu);
  c->wake = wake;
  c->wake_obj = wake != NULL ? obj : NULL;
  cf_mutex_unlock(&c->mu);
}

/* Arm the hook, wake a sleep, and wake the wait published, if any. */
static void poke(cf_icell *c) {
  void *obj, *wake_obj;
  pthread_mutex_t *m;
  pthread_cond_t *cv;
  unsigned long gen;
  cf_wake_fn wake;
  cf_mutex_lock(&c->mu);
  arm_locked(c, CF_ARM_NOW);
  pthread_cond_broadcast(&c->sleep_cv);
  obj = cf_retain(c->wobj);
  m = c->wm;
  cv = c->wc;
  gen = c->wgen;
  wake = c->wake;
  wake_obj = wake != NULL ? cf_retain(c->wake_obj) : NULL;
  cf_mutex_unlock(&c->mu);
  if (wake != NULL) {         /* outside every lock: it may write an fd */
    wake(wake_obj);
    cf_release(wake_obj);
  }
  if (m == NULL) return;
  cf_mutex_lock(m);
  cf_mutex_lock(&c->mu);
  if (c->wm == m && c->wgen == gen) pthread_cond_broadcast(cv);
  cf_mutex_unlock(&c->mu);
  cf_mutex_unlock(m);
  cf_release(obj);
}

/* The cells matching (owner or task), retained, at most n of them. */
static int find_cells(const void *owner, cf_future *task, cf_icell **out,
                      int n) {
  cf_icell *c;
  int k = 0;
  cf_mutex_lock(&reg_mu);
  for (c = reg_head; c != NULL && k < n; c = c->next) {
    if (owner ? c->owner == owner
              : atomic_load_explicit(&c->task, memory_order_seq_cst) == task)
      out[k++] = cf_retain(c);
  }
  cf_mutex_unlock(&reg_mu);
  return k;
}

void cf_icell_poke_task(cf_future *f) {
  cf_icell *c;
  if (find_cells(NULL, f, &c, 1) == 1) {
    poke(c);
    cf_release(c);
  }
}

int cf_future_interrupt(cf_future *f) {
  uint32_t w = atomic_load_explicit(&f->word, memory_order_acquire);
  if ((w & WORD_STATE) == CF_PENDING && cf_future_cancel(f)) return 1;
  if (!cf_future_flag_stop(f, 0))
    return (atomic_load(&f->word) & WORD_STATE) == CF_CANCELLED;
  cf_icell_poke_task(f);
  return 1;
}

int cf_icell_interrupt_owner(const void *owner, int timeout_reason) {
  cf_icell *cells[64];
  int n, i, count = 0;
  /* Batches of 64: a pool has at most a few hundred workers. */
  do {
    n = find_cells(owner, NULL, cells, 64);
    for (i = 0; i < n; i++) {
      cf_future *f = cf_icell_task(cells[i]);
      if (f != NULL && !stop_asked(f) && cf_future_flag_stop(f, timeout_reason)) {
        count++;
        poke(cells[i]);
      }
      cf_release(cells[i]);
    }
  } while (n == 64 && count > 0);
  return count;
}

int cf_cond_wait_obj(void *obj, pthread_cond_t *cv, pthread_mutex_t *m,
                     const cf_deadline *d) {
  cf_icell *c = tls_cell;
  cf_future *t;
  int rc;
  if (c == NULL || shielded ||
      (t = atomic_load_explicit(&c->task, memory_order_relaxed)) == NULL)
    return cf_cond_wait_until(cv, m, d);
  if (stop_asked(t)) return CF_ETIMEDOUT;
  cf_mutex_lock(&c->mu);
  c->wobj = obj;
  c->wm = m;
  c->wc = cv;
  c->wgen++;
  cf_mutex_unlock(&c->mu);
  rc = stop_asked(t) ? CF_ETIMEDOUT : cf_cond_wait_until(cv, m, d);
  cf_mutex_lock(&c->mu);
  c->wobj = NULL;
  c->wm = NULL;
  c->wc = NULL;
  cf_mutex_unlock(&c->mu);
  return stop_asked(t) ? CF_ETIMEDOUT : rc;
}

int cf_task_sleep(double seconds) {
  cf_icell *c = tls_cell;
  cf_deadline d;
  cf_future *t;
  int rc = 0;
  if (c == NULL || (t = cf_icell_task(c)) == NULL) {
    cf_sleep(seconds);
    return cf_stop_signalled ? CF_ETIMEDOUT : 0;
  }
  if (!(seconds > 0)) return stop_asked(t) ? CF_ETIMEDOUT : 0;
  cf_deadline_set(&d, seconds);
  cf_mutex_lock(&c->mu);
  while (!stop_asked(t) && rc == 0)
    rc = cf_cond_wait_until(&c->sleep_cv, &c->mu, &d);
  cf_mutex_unlock(&c->mu);
  return stop_asked(t) ? CF_ETIMEDOUT : 0;
}
