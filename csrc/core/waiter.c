/*
** waiter.c -- waiters: the futures a caller watches, handed back in the
** order they finish (as_completed and wait are built on them).
**
** A waiter owns a reference to every future it watches (the watched list)
** and to every finished one not yet returned (the ready ring). A future
** reaches the ring from the finisher's thread, under the future's stripe
** lock (cf_waiter_push, called by future.c); room for it was reserved
** when it was watched, so a push never allocates.
**
** Lock order: a future's stripe before a waiter's mutex. A waiter never
** locks a future while holding its own mutex, and never releases a
** future under it.
*/
#include <errno.h>
#include <stdlib.h>

#include "future.h"
#include "help.h"
#include "interrupt.h"

struct cf_waiter {
  cf_object hdr;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  cf_future **ready;           /* ring of finished futures, retained */
  size_t rhead, rlen, rcap;
  cf_future **watched;         /* every future watched, retained */
  size_t nwatched, wcap;
  size_t returned;
  int poked;                   /* a submit has work for its helper */
  size_t cursor;               /* cf_waiter_claimable's next look */
  int mine;                    /* ... saw a future of the caller's pool */
  void (*notify)(void *obj);   /* called on each push, or NULL */
  void *notify_obj;            /* a cf_object, retained */
};

static void waiter_destroy(void *obj);
static const cf_kind waiter_kind = {"waiter", waiter_destroy};

cf_waiter *cf_waiter_new(void) {
  cf_waiter *w = calloc(1, sizeof *w);
  if (w == NULL) return NULL;
  cf_object_init(w, &waiter_kind);
  cf_mutex_init(&w->mu);
  cf_cond_init(&w->cv);
  return w;
}

static void waiter_destroy(void *obj) {
  cf_waiter *w = obj;
  cf_waiter_unwatch_all(w);
  if (w->notify_obj) cf_release(w->notify_obj);
  free(w->ready);
  free(w->watched);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

void cf_waiter_push(cf_waiter *w, cf_future *f) {
  cf_mutex_lock(&w->mu);
  w->ready[(w->rhead + w->rlen) % w->rcap] = cf_retain(f);
  w->rlen++;
  pthread_cond_signal(&w->cv);
  if (w->notify) w->notify(w->notify_obj);
  cf_mutex_unlock(&w->mu);
}

/* Under the mutex, so once this returns the old function is not running
** and will not run again; the old object is released after unlocking. */
void cf_waiter_set_notify(cf_waiter *w, void (*fn)(void *obj), void *obj) {
  void *old;
  if (obj) cf_retain(obj);
  cf_mutex_lock(&w->mu);
  old = w->notify_obj;
  w->notify = obj ? fn : NULL;
  w->notify_obj = obj;
  cf_mutex_unlock(&w->mu);
  if (old) cf_release(old);
}

static int grow(void *pp, size_t *cap, size_t need, size_t size) {
  void **p = pp;
  size_t n = *cap ? *cap : 8;
  void *np;
  if (need <= *cap) return 0;
  while (n < need) n *= 2;
  np = realloc(*p, n * size);
  if (np == NULL) return -ENOMEM;
  *p = np;
  *cap = n;
  return 0;
}

/* The ready ring is kept as large as the watched list, so it can hold every
** future at once. Growing it re-lays the ring out flat. */
static int reserve_ready(cf_waiter *w, size_t need) {
  cf_future **r;
  size_t n = w->rcap ? w->rcap : 8, i;
  if (need <= w->rcap) return 0;
  while (n < need) n *= 2;
  r = malloc(n * sizeof *r);
  if (r == NULL) return -ENOMEM;
  for (i = 0; i < w->rlen; i++) r[i] = w->ready[(w->rhead + i) % w->rcap];
  free(w->ready);
  w->ready = r;
  w->rhead = 0;
  w->rcap = n;
  return 0;
}

/* Everything that can fail comes first (the record, f's extension, room in
** both lists), so a future is either watched in full or not at all. */
int cf_waiter_watch(cf_waiter *w, cf_future *f) {
  struct cf_watch *wt = cf_watch_new(f, w);
  int rc;
  if (wt == NULL) return -ENOMEM;
  cf_mutex_lock(&w->mu);
  rc = grow(&w->watched, &w->wcap, w->nwatched + 1, sizeof *w->watched);
  if (rc == 0) rc = reserve_ready(w, w->nwatched + 1);
  if (rc == 0) w->watched[w->nwatched++] = cf_retain(f);
  cf_mutex_unlock(&w->mu);
  if (rc != 0) {
    free(wt);
    return rc;
  }
  cf_watch_attach(f, wt);
  return 0;
}

void cf_waiter_unwatch_all(cf_waiter *w) {
  size_t i, n;
  cf_future **watched;
  cf_mutex_lock(&w->mu);
  watched = w->watched;
  n = w->nwatched;
  w->watched = NULL;
  w->nwatched = w->wcap = 0;
  cf_mutex_unlock(&w->mu);
  for (i = 0; i < n; i++) {
    cf_watch_detach(watched[i], w);
    cf_release(watched[i]);
  }
  free(watched);
  cf_mutex_lock(&w->mu);
  while (w->rlen > 0) {
    cf_future *f = w->ready[w->rhead];
    w->rhead = (w->rhead + 1) % w->rcap;
    w->rlen--;
    cf_mutex_unlock(&w->mu);
    cf_release(f);                 /* not under the waiter's mutex */
    cf_mutex_lock(&w->mu);
  }
  w->returned = 0;
  w->cursor = 0;
  w->mine = 0;
  cf_mutex_unlock(&w->mu);
}

cf_future *cf_waiter_next(cf_waiter *w, double timeout, int *rc) {
  cf_deadline d;
  cf_future *f = NULL;
  cf_deadline_set(&d, timeout);
  cf_mutex_lock(&w->mu);
  *rc = 0;
  while (w->rlen == 0) {
    if (timeout == 0 || w->returned >= w->nwatched || w->poked ||
        cf_cond_wait_obj(w, &w->cv, &w->mu, &d) == CF_ETIMEDOUT) {
      if (w->rlen == 0) *rc = CF_ETIMEDOUT;
      break;
    }
  }
  if (w->rlen > 0) {
    f = w->ready[w->rhead];
    w->rhead = (w->rhead + 1) % w->rcap;
    w->rlen--;
    w->returned++;
  }
  w->poked = 0;
  cf_mutex_unlock(&w->mu);
  return f;
}

void cf_waiter_poke(cf_waiter *w, int on) {
  cf_mutex_lock(&w->mu);
  w->poked = on;
  if (on) pthread_cond_signal(&w->cv);
  cf_mutex_unlock(&w->mu);
}

cf_future *cf_waiter_claimable(cf_waiter *w, unsigned tag, int *mine) {
  cf_future *found = NULL;
  cf_mutex_lock(&w->mu);
  while (w->cursor < w->nwatched) {
    cf_future *f = w->watched[w->cursor++];
    uint32_t word = atomic_load_explicit(&f->word, memory_order_acquire);
    if ((word >> WORD_TAG_SHIFT) != tag) continue;
    w->mine = 1;
    if ((word & WORD_STATE) == CF_PENDING) {
      found = cf_retain(f);
      break;
    }
  }
  *mine = w->mine;
  cf_mutex_unlock(&w->mu);
  return found;
}

size_t cf_waiter_pending(cf_waiter *w) {
  size_t n;
  cf_mutex_lock(&w->mu);
  n = w->nwatched - w->returned;
  cf_mutex_unlock(&w->mu);
  return n;
}

size_t cf_waiter_ready(cf_waiter *w) {
  size_t n;
  cf_mutex_lock(&w->mu);
  n = w->rlen;
  cf_mutex_unlock(&w->mu);
  return n;
}
