/*
** future.c -- the future state machine (pending -> running -> finished,
** pending -> cancelled), waits, waiters and done-callbacks.
**
** Lock order: a future's mutex before a waiter's mutex. A waiter never
** locks a future while holding its own mutex. Callbacks run after the
** future's mutex is released.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "future.h"

struct cf_watch {
  cf_waiter *w;
  struct cf_watch *next;
};

struct cf_callback {
  cf_done_fn fn;
  void *ud;
  struct cf_callback *next;
};

struct cf_waiter {
  cf_object hdr;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  cf_future **ready;           /* ring of finished futures, retained */
  size_t rhead, rlen, rcap;
  cf_future **watched;         /* every future watched, retained */
  size_t nwatched, wcap;
  size_t returned;
};

static void future_destroy(void *obj);
static const cf_kind future_kind = {"future", future_destroy};

static pthread_condattr_t mono_attr;
static pthread_once_t mono_once = PTHREAD_ONCE_INIT;

static void init_mono_attr(void) {
  if (pthread_condattr_init(&mono_attr) != 0) abort();
  if (pthread_condattr_setclock(&mono_attr, CLOCK_MONOTONIC) != 0) abort();
}

cf_future *cf_future_new(void) {
  cf_future *f = calloc(1, sizeof *f);
  if (f == NULL) return NULL;
  cf_object_init(f, &future_kind);
  pthread_once(&mono_once, init_mono_attr);
  cf_mutex_init(&f->mu);
  if (pthread_cond_init(&f->cv, &mono_attr) != 0) abort();
  f->cb_tail = &f->callbacks;
  return f;
}

/* Callbacks still registered on a future that never finished are called
** once more here so that their owners can free what they hold. */
static void future_destroy(void *obj) {
  cf_future *f = obj;
  struct cf_callback *cb = f->callbacks, *next;
  for (; cb != NULL; cb = next) {
    next = cb->next;
    cb->fn(f, cb->ud);
    free(cb);
  }
  if (f->arg_free) f->arg_free(f->arg);
  cf_buffer_free(&f->input);
  cf_buffer_free(&f->payload);
  free(f->traceback);
  pthread_cond_destroy(&f->cv);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

cf_state cf_future_state(cf_future *f) {
  cf_state s;
  cf_lock(&f->mu);
  s = f->state;
  cf_unlock(&f->mu);
  return s;
}

int cf_future_done(cf_future *f) {
  cf_state s = cf_future_state(f);
  return s == CF_FINISHED || s == CF_CANCELLED;
}

static void waiter_push(cf_waiter *w, cf_future *f);

/* Called with f->mu held, once, as f becomes done: hand f to its waiters
** and wake its blocked threads. Returns the callbacks to run after the
** caller unlocks. */
static struct cf_callback *mark_done(cf_future *f) {
  struct cf_watch *wt;
  struct cf_callback *cbs = f->callbacks;
  for (wt = f->watches; wt != NULL; wt = wt->next) waiter_push(wt->w, f);
  if (f->nwaiting > 0) pthread_cond_broadcast(&f->cv);
  f->callbacks = NULL;
  f->cb_tail = &f->callbacks;
  return cbs;
}

static void run_callbacks(cf_future *f, struct cf_callback *cb) {
  struct cf_callback *next;
  for (; cb != NULL; cb = next) {
    next = cb->next;
    cb->fn(f, cb->ud);
    free(cb);
  }
}

int cf_future_cancel(cf_future *f) {
  struct cf_callback *cbs;
  cf_lock(&f->mu);
  if (f->state == CF_CANCELLED) {
    cf_unlock(&f->mu);
    return 1;
  }
  if (f->state != CF_PENDING) {
    cf_unlock(&f->mu);
    return 0;
  }
  f->state = CF_CANCELLED;
  cbs = mark_done(f);
  cf_unlock(&f->mu);
  run_callbacks(f, cbs);
  return 1;
}

int cf_future_set_running(cf_future *f) {
  int rc = 0;
  cf_lock(&f->mu);
  if (f->state == CF_CANCELLED)
    rc = CF_ECANCELLED;
  else if (f->state != CF_PENDING)
    rc = CF_ESTATE;
  else
    f->state = CF_RUNNING;
  cf_unlock(&f->mu);
  return rc;
}

int cf_future_finish(cf_future *f, cf_outcome how, cf_buffer *payload,
                     const char *traceback) {
  struct cf_callback *cbs;
  char *tb = traceback ? strdup(traceback) : NULL;
  if (traceback && tb == NULL) return -ENOMEM;
  cf_lock(&f->mu);
  if (f->state == CF_FINISHED || f->state == CF_CANCELLED) {
    cf_unlock(&f->mu);
    free(tb);
    return CF_ESTATE;
  }
  /* A pool worker finishing its task is about to take the next one: tell
  ** the pool before anyone can see the result, so a submit made right
  ** after result() returns reuses this worker instead of making one. */
  if (f->state == CF_RUNNING && f->finishing)
    atomic_fetch_add(f->finishing, 1);
  f->state = CF_FINISHED;
  f->outcome = how;
  if (payload) cf_buffer_move(&f->payload, payload);
  f->traceback = tb;
  cbs = mark_done(f);
  cf_unlock(&f->mu);
  run_callbacks(f, cbs);
  return 0;
}

static int finish_bytes(cf_future *f, cf_outcome how, const void *data,
                        size_t len) {
  cf_buffer b = CF_BUFFER_INIT;
  int rc = cf_buffer_append(&b, data, len);
  if (rc == 0) rc = cf_future_finish(f, how, &b, NULL);
  cf_buffer_free(&b);
  return rc;
}

int cf_future_set_result(cf_future *f, const void *data, size_t len) {
  return finish_bytes(f, CF_OUTCOME_RESULT, data, len);
}

int cf_future_set_error(cf_future *f, const void *data, size_t len) {
  return finish_bytes(f, CF_OUTCOME_ERROR, data, len);
}

int cf_future_wait(cf_future *f, double timeout) {
  cf_deadline d;
  int rc = 0;
  cf_lock(&f->mu);
  if (f->state == CF_FINISHED || f->state == CF_CANCELLED) {
    cf_unlock(&f->mu);
    return 0;
  }
  if (timeout == 0) {
    cf_unlock(&f->mu);
    return CF_ETIMEDOUT;
  }
  cf_deadline_set(&d, timeout);
  f->nwaiting++;
  while (f->state != CF_FINISHED && f->state != CF_CANCELLED) {
    if (cf_cond_wait_until(&f->cv, &f->mu, &d) == CF_ETIMEDOUT) {
      if (f->state != CF_FINISHED && f->state != CF_CANCELLED)
        rc = CF_ETIMEDOUT;
      break;
    }
  }
  f->nwaiting--;
  cf_unlock(&f->mu);
  return rc;
}

cf_outcome cf_future_outcome(cf_future *f, const cf_buffer **payload,
                             const char **traceback) {
  cf_outcome o;
  cf_lock(&f->mu);
  o = f->state == CF_FINISHED ? f->outcome : CF_OUTCOME_NONE;
  cf_unlock(&f->mu);
  if (payload) *payload = o != CF_OUTCOME_NONE ? &f->payload : NULL;
  if (traceback) *traceback = o != CF_OUTCOME_NONE ? f->traceback : NULL;
  return o;
}

int cf_future_add_done_callback(cf_future *f, cf_done_fn fn, void *ud) {
  struct cf_callback *cb = malloc(sizeof *cb);
  if (cb == NULL) return -ENOMEM;
  cb->fn = fn;
  cb->ud = ud;
  cb->next = NULL;
  cf_lock(&f->mu);
  if (f->state != CF_FINISHED && f->state != CF_CANCELLED) {
    *f->cb_tail = cb;
    f->cb_tail = &cb->next;
    cf_unlock(&f->mu);
    return 0;
  }
  cf_unlock(&f->mu);
  fn(f, ud);
  free(cb);
  return 0;
}

cf_buffer *cf_future_input(cf_future *f) {
  return &f->input;
}

/* ---------------------------------------------------------------------- */
/* Waiters.                                                               */

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
  free(w->ready);
  free(w->watched);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

/* Room for every watched future is reserved in cf_waiter_watch, so a push
** (made under the future's lock) never allocates. */
static void waiter_push(cf_waiter *w, cf_future *f) {
  cf_lock(&w->mu);
  w->ready[(w->rhead + w->rlen) % w->rcap] = cf_retain(f);
  w->rlen++;
  pthread_cond_signal(&w->cv);
  cf_unlock(&w->mu);
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

int cf_waiter_watch(cf_waiter *w, cf_future *f) {
  struct cf_watch *wt = malloc(sizeof *wt);
  int rc;
  if (wt == NULL) return -ENOMEM;
  cf_lock(&w->mu);
  rc = grow(&w->watched, &w->wcap, w->nwatched + 1, sizeof *w->watched);
  if (rc == 0) rc = reserve_ready(w, w->nwatched + 1);
  if (rc == 0) w->watched[w->nwatched++] = cf_retain(f);
  cf_unlock(&w->mu);
  if (rc != 0) {
    free(wt);
    return rc;
  }
  wt->w = w;
  cf_lock(&f->mu);
  if (f->state == CF_FINISHED || f->state == CF_CANCELLED) {
    waiter_push(w, f);
    free(wt);
  } else {
    wt->next = f->watches;
    f->watches = wt;
  }
  cf_unlock(&f->mu);
  return 0;
}

void cf_waiter_unwatch_all(cf_waiter *w) {
  size_t i, n;
  cf_future **watched;
  cf_lock(&w->mu);
  watched = w->watched;
  n = w->nwatched;
  w->watched = NULL;
  w->nwatched = w->wcap = 0;
  cf_unlock(&w->mu);
  for (i = 0; i < n; i++) {
    cf_future *f = watched[i];
    struct cf_watch **pp;
    cf_lock(&f->mu);
    for (pp = &f->watches; *pp != NULL; pp = &(*pp)->next) {
      if ((*pp)->w == w) {
        struct cf_watch *dead = *pp;
        *pp = dead->next;
        free(dead);
        break;
      }
    }
    cf_unlock(&f->mu);
    cf_release(f);
  }
  free(watched);
  cf_lock(&w->mu);
  while (w->rlen > 0) {
    cf_release(w->ready[w->rhead]);
    w->rhead = (w->rhead + 1) % w->rcap;
    w->rlen--;
  }
  w->returned = 0;
  cf_unlock(&w->mu);
}

cf_future *cf_waiter_next(cf_waiter *w, double timeout, int *rc) {
  cf_deadline d;
  cf_future *f = NULL;
  cf_deadline_set(&d, timeout);
  cf_lock(&w->mu);
  *rc = 0;
  while (w->rlen == 0) {
    if (timeout == 0 || w->returned >= w->nwatched ||
        cf_cond_wait_until(&w->cv, &w->mu, &d) == CF_ETIMEDOUT) {
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
  cf_unlock(&w->mu);
  return f;
}

size_t cf_waiter_pending(cf_waiter *w) {
  size_t n;
  cf_lock(&w->mu);
  n = w->nwatched - w->returned;
  cf_unlock(&w->mu);
  return n;
}
