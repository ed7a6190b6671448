/*
** future.c -- the future state machine (pending -> running -> finished,
** pending -> cancelled), waits, done-callbacks, and the watch records
** that hand a finished future to its waiters (the waiters: waiter.c).
**
** The state is one atomic word, so the common paths take no lock: a
** worker claims a task (PENDING -> RUNNING), a finisher claims the right
** to write the payload (WORD_CLAIMED), writes it, then publishes FINISHED
** with a release CAS; readers that see FINISHED (acquire) read the
** payload, which never changes again. Only when someone waits, watches
** or added a callback (flags WORD_WAITED / WORD_LISTENED, set under the lock
** with a CAS that fails once the future is done) does the finisher take
** the lock to hand the future over and wake the sleepers.
**
** Locks: futures share NSTRIPES striped mutexes, each with a condition
** that its sleepers wait on (a broadcast wakes the sleepers of every
** future of the stripe; they re-check their own). Code never holds two
** future locks at once. Lock order: a future's stripe before a waiter's
** mutex. A waiter never locks a future while holding its own mutex.
** Callbacks run after the stripe is unlocked; objects are never released
** under it.
**
** What few futures need (callbacks, watches, a traceback, a pool's
** argument, submit_with's options) lives in an extension made on demand
** (future_ext.c).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "future.h"
#include "future_ext.h"
#include "interrupt.h"

CF_TLS cf_future *cf_current_task;
CF_TLS cf_buffer *cf_current_input;
CF_TLS atomic_int *cf_current_finishing;
CF_TLS int cf_current_counted;
CF_TLS cf_counts *cf_current_counts;
CF_TLS int cf_current_nested;

static void future_destroy(void *obj);
static const cf_kind future_kind = {"future", future_destroy};

/* ---------------------------------------------------------------------- */
/* Stripes.                                                               */

#define NSTRIPES 64

typedef struct stripe {
  pthread_mutex_t mu;
  pthread_cond_t cv;
} __attribute__((aligned(128))) stripe;

static stripe stripes[NSTRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void init_stripes(void) {
  int i;
  for (i = 0; i < NSTRIPES; i++) {
    cf_mutex_init(&stripes[i].mu);
    cf_cond_init(&stripes[i].cv);
  }
}

/* After fork only the forking thread exists: a stripe held by another
** thread at that moment would stay locked for ever in the child. */
static void reinit_stripes_in_child(void) {
  init_stripes();
}

static void setup_stripes(void) {
  init_stripes();
  pthread_atfork(NULL, NULL, reinit_stripes_in_child);
}

static inline stripe *stripe_of(const cf_future *f) {
  uintptr_t h = (uintptr_t)f >> 4;
  h ^= h >> 7;
  h ^= h >> 13;
  return &stripes[h % NSTRIPES];
}

static inline uint32_t load_word(cf_future *f) {
  return atomic_load_explicit(&f->word, memory_order_acquire);
}

static inline int is_done(uint32_t w) {
  uint32_t s = w & WORD_STATE;
  return s == CF_FINISHED || s == CF_CANCELLED;
}

/* The future whose callbacks this thread is running: a callback that
** waits on it must not wait for itself to return. */
static CF_TLS cf_future *calling_future;

static inline int is_settled(cf_future *f, uint32_t w) {
  return is_done(w) && (!(w & WORD_CALLING) || calling_future == f);
}

int cf_future_settled(cf_future *f) {
  return is_settled(f, load_word(f));
}

/* ---------------------------------------------------------------------- */
/* Data: the task input, then the payload.                                */

static inline cf_buffer *heap_of(cf_future *f) {
  return (cf_buffer *)f->inl[0];
}

size_t cf_future_room_for(const cf_buffer *b) {
  if (b->len > UINT16_MAX || b->nrefs > UINT8_MAX) return (size_t)-1;
  return b->nrefs * sizeof(void *) + b->len;
}

/* Futures of the common size come from falloc.c. */
static void *block_alloc(size_t words) {
  if (words == CF_STD_WORDS) return cf_fblock_alloc();
  return malloc(sizeof(cf_future) + words * 8);
}

static void block_free(cf_future *f) {
  if (f->room_words == CF_STD_WORDS) cf_fblock_free(f);
  else free(f);
}

cf_future *cf_future_new_sized(size_t room) {
  cf_future *f;
  size_t words;
  if (room < sizeof(void *)) room = sizeof(void *);
  words = (room + 7) / 8;
  if (words > UINT8_MAX) words = 1;          /* too big to keep inline */
  if (words < CF_STD_WORDS) words = CF_STD_WORDS;
  f = block_alloc(words);
  if (f == NULL) return NULL;
  pthread_once(&stripes_once, setup_stripes);
  cf_object_init(f, &future_kind);
  atomic_init(&f->word, CF_PENDING);
  f->len = 0;
  f->nrefs = 0;
  f->room_words = (uint8_t)words;
  f->next = NULL;
  f->fn = NULL;
  atomic_init(&f->x, NULL);
  f->inl[0] = NULL;
  return f;
}

cf_future *cf_future_new(void) {
  return cf_future_new_sized(0);
}

/* Store b (moved) as f's data; the caller owns f's data slot (it is
** empty). Inline when it fits, else as a heap buffer; -ENOMEM leaves b
** with the caller. */
static int store_data(cf_future *f, cf_buffer *b) {
  size_t room = cf_future_room_for(b);
  if (b->len == 0 && b->nrefs == 0) return 0;
  if (room <= (size_t)f->room_words * 8) {
    /* memcpy with a NULL source is undefined even for 0 bytes (UBSan). */
    if (b->nrefs) memcpy(f->inl, b->refs, b->nrefs * sizeof(void *));
    if (b->len) memcpy((char *)f->inl + b->nrefs * sizeof(void *), b->data, b->len);
    f->len = (uint16_t)b->len;
    f->nrefs = (uint8_t)b->nrefs;
    b->nrefs = 0;                            /* the references moved */
    b->len = 0;
    atomic_fetch_or_explicit(&f->word, WORD_INLINE, memory_order_relaxed);
  } else {
    cf_buffer *h = malloc(sizeof *h);
    if (h == NULL) return -ENOMEM;
    *h = *b;
    cf_buffer_init(b);
    f->inl[0] = h;
    atomic_fetch_or_explicit(&f->word, WORD_HEAP, memory_order_relaxed);
  }
  return 0;
}

/* Move f's data into dst (reset first). -ENOMEM (inline data that dst has
** no room for) leaves the data in f. */
static int take_data(cf_future *f, cf_buffer *dst) {
  uint32_t w = load_word(f);
  cf_buffer_reset(dst);
  if (w & WORD_INLINE) {
    /* Room first, so that nothing has moved if there is none. */
    if (cf_buffer_reserve(dst, f->len) != 0) return -ENOMEM;
    if (dst->refcap < f->nrefs) {
      void **r = realloc(dst->refs, f->nrefs * sizeof *r);
      if (r == NULL) return -ENOMEM;
      dst->refs = r;
      dst->refcap = f->nrefs;
    }
    if (f->len) memcpy(dst->data, (char *)f->inl + f->nrefs * sizeof(void *), f->len);
    dst->len = f->len;
    /* The references move as they are (no count changes). dst->refs may
    ** be NULL: memcpy(NULL, .., 0) is UB. */
    if (f->nrefs) memcpy(dst->refs, f->inl, f->nrefs * sizeof(void *));
    dst->nrefs = f->nrefs;
    f->len = 0;
    f->nrefs = 0;
    atomic_fetch_and_explicit(&f->word, ~WORD_INLINE, memory_order_relaxed);
  } else if (w & WORD_HEAP) {
    cf_buffer *h = heap_of(f);
    cf_buffer_move(dst, h);
    free(h);
    f->inl[0] = NULL;
    atomic_fetch_and_explicit(&f->word, ~WORD_HEAP, memory_order_relaxed);
  }
  return 0;
}

static void free_data(cf_future *f) {
  uint32_t w = load_word(f);
  if (w & WORD_INLINE) {
    size_t i;
    for (i = 0; i < f->nrefs; i++) cf_release(f->inl[i]);
    f->len = 0;
    f->nrefs = 0;
    atomic_fetch_and_explicit(&f->word, ~WORD_INLINE, memory_order_relaxed);
  } else if (w & WORD_HEAP) {
    cf_buffer *h = heap_of(f);
    cf_buffer_free(h);
    free(h);
    f->inl[0] = NULL;
    atomic_fetch_and_explicit(&f->word, ~WORD_HEAP, memory_order_relaxed);
  }
}

int cf_future_put_input(cf_future *f, cf_buffer *b) {
  return store_data(f, b);
}

/* b's memory was kept when its bytes moved in (store_data), so moving
** them back needs no allocation. */
void cf_future_take_input(cf_future *f, cf_buffer *b) {
  if (take_data(f, b) != 0) free_data(f);
}

/* Only a cancelled future's data is still its input that nobody else
** will touch (finishers take the input themselves, a worker takes it as
** it starts the task). */
void cf_future_drop_input(cf_future *f) {
  if ((load_word(f) & WORD_STATE) == CF_CANCELLED) free_data(f);
}

/* In a pool worker, the input already moved to the worker's buffer. A
** task run some other way (a process pool's child calls its function
** directly) gets the data moved to a heap buffer that f owns. Only the
** task's owner may call this. */
cf_buffer *cf_future_input(cf_future *f) {
  uint32_t w;
  cf_buffer *h;
  if (f == cf_current_task) return cf_current_input;
  w = load_word(f);
  if (w & WORD_HEAP) return heap_of(f);
  h = malloc(sizeof *h);
  if (h == NULL) return NULL;
  cf_buffer_init(h);
  if (take_data(f, h) != 0) {
    free(h);
    return NULL;
  }
  f->inl[0] = h;
  atomic_fetch_or_explicit(&f->word, WORD_HEAP, memory_order_release);
  return h;
}

/* ---------------------------------------------------------------------- */
/* The end of a future (its extension: future_ext.c).                     */

/* Callbacks still registered on a future that never finished are called
** once more here so that their owners can free what they hold. */
static void future_destroy(void *obj) {
  cf_future *f = obj;
  struct cf_future_ext *x = ext_of(f);
  free_data(f);
  if (x) {
    struct cf_callback *cb = x->callbacks, *next;
    struct cf_watch *wt, *wnext;
    for (; cb != NULL; cb = next) {
      next = cb->next;
      cb->fn(f, cb->ud);
      free(cb);
    }
    for (cb = x->settled; cb != NULL; cb = next) {
      next = cb->next;
      cb->fn(f, cb->ud);
      free(cb);
    }
    for (wt = x->watches; wt != NULL; wt = wnext) {  /* none: waiters hold f */
      wnext = wt->next;
      free(wt);
    }
    if (x->arg_free) x->arg_free(x->arg);
    free(x->traceback);
    free(x->key);
    free(x);
  }
  block_free(f);
}

/* ---------------------------------------------------------------------- */
/* State.                                                                 */

cf_state cf_future_state(cf_future *f) {
  return (cf_state)(load_word(f) & WORD_STATE);
}

int cf_future_done(cf_future *f) {
  return is_done(load_word(f));
}

/* Called with the stripe locked, once, after f became done: hand f to its
** waiters, wake the sleepers, and return the callbacks to run after the
** caller unlocks. */
static struct cf_callback *mark_done_locked(cf_future *f, stripe *s,
                                            uint32_t old) {
  struct cf_future_ext *x = ext_of(f);
  struct cf_callback *cbs = NULL;
  if (x) {
    struct cf_watch *wt;
    for (wt = x->watches; wt != NULL; wt = wt->next) cf_waiter_push(wt->w, f);
    cbs = x->callbacks;
    x->callbacks = NULL;
    x->cb_tail = &x->callbacks;
  }
  if (old & WORD_WAITED) pthread_cond_broadcast(&s->cv);
  return cbs;
}

static void run_callbacks(cf_future *f, struct cf_callback *cb) {
  struct cf_callback *next;
  cf_future *outer = calling_future;
  calling_future = f;
  for (; cb != NULL; cb = next) {
    next = cb->next;
    cb->fn(f, cb->ud);
    free(cb);
  }
  calling_future = outer;
}

/* Publish a new state: CAS from the current word, keeping the flags; if
** someone waits or listens, finish the hand-over under the stripe lock.
** `want` is the state (and outcome) to set, `ok` the states the CAS may
** start from; returns 0, or -1 if the word was in none of them. */
static int publish(cf_future *f, uint32_t want, uint32_t clear,
                   int (*ok)(uint32_t)) {
  uint32_t old = load_word(f), nw;
  do {
    if (!ok(old)) return -1;
    nw = (old & ~(WORD_STATE | WORD_OUTCOME | clear)) | want;
    /* With listeners, the future is "calling" until its callbacks ran:
    ** waits see it settled only then. */
    if (is_done(nw) && (old & WORD_LISTENED)) nw |= WORD_CALLING;
  } while (!atomic_compare_exchange_weak_explicit(
      &f->word, &old, nw, memory_order_acq_rel, memory_order_acquire));
  if (is_done(nw) && (old & (WORD_WAITED | WORD_LISTENED))) {
    stripe *s = stripe_of(f);
    struct cf_callback *cbs;
    cf_mutex_lock(&s->mu);
    cbs = mark_done_locked(f, s, old);
    cf_mutex_unlock(&s->mu);
    run_callbacks(f, cbs);
    if (nw & WORD_CALLING) {
      /* Under the lock, so a waiter cannot sit between seeing the flag
      ** and sleeping, and a settled-callback added meanwhile is either
      ** taken here or sees f settled. */
      struct cf_future_ext *x = ext_of(f);
      struct cf_callback *after = NULL, *next;
      cf_mutex_lock(&s->mu);
      if (atomic_fetch_and_explicit(&f->word, ~WORD_CALLING,
                                    memory_order_acq_rel) & WORD_WAITED)
        pthread_cond_broadcast(&s->cv);
      if (x) {
        after = x->settled;
        x->settled = NULL;
      }
      cf_mutex_unlock(&s->mu);
      for (; after != NULL; after = next) {
        next = after->next;
        after->fn(f, after->ud);
        free(after);
      }
    }
  }
  return 0;
}

static int pending_unclaimed(uint32_t w) {
  return (w & WORD_STATE) == CF_PENDING && !(w & WORD_CLAIMED);
}

int cf_future_cancel(cf_future *f) {
  uint32_t w = load_word(f);
  if ((w & WORD_STATE) == CF_CANCELLED) return 1;
  if (publish(f, CF_CANCELLED, 0, pending_unclaimed) == 0) return 1;
  return (load_word(f) & WORD_STATE) == CF_CANCELLED;
}

int cf_future_set_running(cf_future *f) {
  uint32_t old = load_word(f);
  for (;;) {
    if ((old & WORD_STATE) == CF_CANCELLED) return CF_ECANCELLED;
    if (!pending_unclaimed(old)) return CF_ESTATE;
    if (atomic_compare_exchange_weak_explicit(
            &f->word, &old, (old & ~WORD_STATE) | CF_RUNNING,
            memory_order_acq_rel, memory_order_acquire))
      return 0;
  }
}

/* A pool worker starts a task: PENDING -> RUNNING, and the input moves
** to dst. The claim bit is held while the input moves, so a finisher
** (someone calling set_result on a running task) cannot take it too.
** -ENOMEM: running, but dst had no room for the input (still in f): the
** caller finishes f with CF_OUTCOME_NOMEM. */
int cf_future_start(cf_future *f, cf_buffer *dst) {
  uint32_t old = load_word(f);
  int rc;
  for (;;) {
    if ((old & WORD_STATE) == CF_CANCELLED) return CF_ECANCELLED;
    if (!pending_unclaimed(old)) return CF_ESTATE;
    if (atomic_compare_exchange_weak_explicit(
            &f->word, &old, (old & ~WORD_STATE) | CF_RUNNING | WORD_CLAIMED,
            memory_order_acq_rel, memory_order_acquire))
      break;
  }
  rc = 0;
  if (dst) rc = take_data(f, dst);
  else free_data(f);
  atomic_fetch_and_explicit(&f->word, ~WORD_CLAIMED, memory_order_release);
  return rc;
}

static int claimed(uint32_t w) {
  return (w & WORD_CLAIMED) != 0;
}

/* A running task asked to stop ends stopped, whatever it gives: the stop
** flag and the finisher's claim are on the same word, so an interrupt()
** that returned true always finds the future cancelled (or timed out).
** Out of line: the common finish pays one test of the flag. */
static inline __attribute__((always_inline)) int finish(
    cf_future *f, cf_outcome how, cf_buffer *payload, const char *traceback,
    uint32_t old, uint32_t end);

static __attribute__((noinline)) int finish_stopped(cf_future *f,
                                                    uint32_t old) {
  if (old & WORD_STOP_TIME) {
    char msg[96];
    cf_buffer b = CF_BUFFER_INIT;
    int n = snprintf(msg, sizeof msg,
                     "task still running after its timeout of %g s",
                     cf_future_time_limit(f));
    if (cf_buffer_append(&b, msg, (size_t)n) == 0)
      finish(f, CF_OUTCOME_TIMEOUT, &b, NULL, old, CF_FINISHED);
    else
      finish(f, CF_OUTCOME_NOMEM, NULL, NULL, old, CF_FINISHED);
    cf_buffer_free(&b);
  } else {
    finish(f, CF_OUTCOME_NONE, NULL, NULL, old, CF_CANCELLED);
  }
  return CF_ECANCELLED;
}

int cf_future_finish(cf_future *f, cf_outcome how, cf_buffer *payload,
                     const char *traceback) {
  uint32_t old = load_word(f);
  /* Claim: only one finisher writes the payload. */
  do {
    if (is_done(old) || (old & WORD_CLAIMED)) return CF_ESTATE;
  } while (!atomic_compare_exchange_weak_explicit(
      &f->word, &old, old | WORD_CLAIMED, memory_order_acq_rel,
      memory_order_acquire));
  if ((old & WORD_STOP) && (old & WORD_STATE) == CF_RUNNING)
    return finish_stopped(f, old);
  return finish(f, how, payload, traceback, old, CF_FINISHED);
}

/* With the claim held (old: the word before it); end: CF_FINISHED, or
** CF_CANCELLED for a stopped task. */
static inline __attribute__((always_inline)) int finish(
    cf_future *f, cf_outcome how, cf_buffer *payload, const char *traceback,
    uint32_t old, uint32_t end) {
  cf_buffer input = CF_BUFFER_INIT;
  /* A task input still here (a C task that never took it) goes first. */
  if ((old & (WORD_INLINE | WORD_HEAP)) && take_data(f, &input) != 0)
    free_data(f);
  /* Out of memory for the traceback or the payload: finish all the same,
  ** as CF_OUTCOME_NOMEM (payload empty), so the failure is reported. */
  if (traceback && how != CF_OUTCOME_NOMEM) {
    struct cf_future_ext *x = cf_future_ext_get(f);
    if (x == NULL || (x->traceback = strdup(traceback)) == NULL)
      how = CF_OUTCOME_NOMEM;
  }
  if (payload && how != CF_OUTCOME_NOMEM && store_data(f, payload) != 0)
    how = CF_OUTCOME_NOMEM;
  if (payload && how == CF_OUTCOME_NOMEM) cf_buffer_reset(payload);
  /* A pool worker finishing its own task is about to take the next one:
  ** tell the pool before anyone can see the result, so a submit made
  ** right after result() returns reuses this worker instead of making
  ** one. */
  if (f == cf_current_task && cf_current_finishing &&
      (old & WORD_STATE) == CF_RUNNING) {
    atomic_fetch_add(cf_current_finishing, 1);
    cf_current_counted = 1;
  }
  if (f == cf_current_task && cf_current_counts &&
      (old & WORD_STATE) == CF_RUNNING) {
    cf_counts *c = cf_current_counts;
    atomic_fetch_add(how == CF_OUTCOME_RESULT ? &c->completed : &c->failed, 1);
    if (cf_current_nested) atomic_fetch_sub(&c->nested, 1);
    cf_current_counts = NULL;                /* counted once */
  }
  publish(f, end | ((uint32_t)how << WORD_OUTCOME_SHIFT), WORD_CLAIMED, claimed);
  cf_buffer_free(&input);
  return 0;
}

int cf_future_flag_stop(cf_future *f, int timeout_reason) {
  uint32_t old = load_word(f), add = WORD_STOP | (timeout_reason ? WORD_STOP_TIME : 0);
  for (;;) {
    if ((old & WORD_STATE) != CF_RUNNING) return 0;
    if (old & WORD_STOP) return 1;            /* the first reason stays */
    if (atomic_compare_exchange_weak_explicit(&f->word, &old, old | add,
                                              memory_order_seq_cst,
                                              memory_order_acquire))
      return 1;
  }
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

/* Spin a little before sleeping: a small task's result usually comes
** within microseconds, and a sleep costs the finisher a futex wake and
** the waiter a context switch. Yielding keeps a spinner from starving the
** workers when threads outnumber cores. */
#ifndef SPIN_PAUSES
#define SPIN_PAUSES 200
#endif
#ifndef SPIN_YIELDS
#define SPIN_YIELDS 20
#endif

int cf_future_wait(cf_future *f, double timeout) {
  cf_deadline d;
  stripe *s;
  int rc = 0, i;
  uint32_t w = load_word(f);
  if (is_settled(f, w)) return 0;
  if (timeout == 0 && !is_done(w)) return CF_ETIMEDOUT;
  for (i = 0; i < SPIN_PAUSES + SPIN_YIELDS; i++) {
    if (i < SPIN_PAUSES) cf_cpu_relax();
    else sched_yield();
    if (is_settled(f, load_word(f))) return 0;
  }
  cf_deadline_set(&d, timeout);
  s = stripe_of(f);
  cf_mutex_lock(&s->mu);
  w = load_word(f);
  while (!is_settled(f, w)) {
    if (!(w & WORD_WAITED)) {
      if (!atomic_compare_exchange_weak_explicit(&f->word, &w, w | WORD_WAITED,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire))
        continue;                            /* w reloaded: re-check */
    }
    if (cf_cond_wait_obj(NULL, &s->cv, &s->mu, &d) == CF_ETIMEDOUT) {
      w = load_word(f);
      if (!is_done(w)) rc = CF_ETIMEDOUT;
      else if (!is_settled(f, w)) {     /* done: its callbacks are brief */
        d.forever = 1;
        continue;
      }
      break;
    }
    w = load_word(f);
  }
  cf_mutex_unlock(&s->mu);
  return rc;
}

cf_outcome cf_future_peek(cf_future *f, cf_buffer *view, const char **tb) {
  uint32_t w = load_word(f);
  cf_outcome o = (w & WORD_STATE) == CF_FINISHED
                     ? (cf_outcome)((w & WORD_OUTCOME) >> WORD_OUTCOME_SHIFT)
                     : CF_OUTCOME_NONE;
  if (view) {
    cf_buffer_init(view);
    if (o != CF_OUTCOME_NONE) {
      if (w & WORD_INLINE) {
        view->refs = f->inl;
        view->nrefs = view->refcap = f->nrefs;
        view->data = (unsigned char *)f->inl + f->nrefs * sizeof(void *);
        view->len = view->cap = f->len;
      } else if (w & WORD_HEAP) {
        *view = *heap_of(f);
      }
    }
  }
  if (tb) {
    struct cf_future_ext *x = ext_of(f);
    *tb = o != CF_OUTCOME_NONE && x ? x->traceback : NULL;
  }
  return o;
}

/* The public form: the payload as a buffer owned by the future. An inline
** payload gets a view kept in the extension, made once. */
cf_outcome cf_future_outcome(cf_future *f, const cf_buffer **payload,
                             const char **traceback) {
  cf_outcome o = cf_future_peek(f, NULL, traceback);
  if (payload) {
    uint32_t w = load_word(f);
    *payload = NULL;
    if (o != CF_OUTCOME_NONE) {
      static const cf_buffer empty = CF_BUFFER_INIT;
      struct cf_future_ext *x;
      *payload = &empty;
      if (w & WORD_HEAP) {
        *payload = heap_of(f);
      } else if ((w & WORD_INLINE) && (x = cf_future_ext_get(f)) != NULL) {
        stripe *s = stripe_of(f);
        cf_mutex_lock(&s->mu);
        if (!x->has_view) {
          cf_future_peek(f, &x->view, NULL);
          x->has_view = 1;
        }
        cf_mutex_unlock(&s->mu);
        *payload = &x->view;
      }
    }
  }
  return o;
}

/* Register something to run when f is done, under the stripe lock, unless
** f is done already (then returns 1 and the caller runs it at once). */
static int listen_locked(cf_future *f) {
  uint32_t w = load_word(f);
  for (;;) {
    if (is_done(w)) return 1;
    if (w & WORD_LISTENED) return 0;
    if (atomic_compare_exchange_weak_explicit(&f->word, &w, w | WORD_LISTENED,
                                              memory_order_acq_rel,
                                              memory_order_acquire))
      return 0;
  }
}

/* The record of a callback to add to f, with f's extension in *x (both
** adders keep it there), or NULL (nothing kept) when either cannot be had. */
static struct cf_callback *new_callback(cf_future *f, cf_done_fn fn,
                                        void *ud, struct cf_future_ext **x) {
  struct cf_callback *cb = malloc(sizeof *cb);
  *x = cf_future_ext_get(f);
  if (cb == NULL || *x == NULL) {
    free(cb);
    return NULL;
  }
  cb->fn = fn;
  cb->ud = ud;
  cb->next = NULL;
  return cb;
}

/* An adder found f finished once it held the stripe lock: the callback
** runs at once, in this thread, and its record is not needed. */
static int run_now(cf_future *f, stripe *s, struct cf_callback *cb) {
  cf_mutex_unlock(&s->mu);
  cb->fn(f, cb->ud);
  free(cb);
  return 0;
}

int cf_future_add_done_callback(cf_future *f, cf_done_fn fn, void *ud) {
  struct cf_callback *cb;
  struct cf_future_ext *x;
  stripe *s = stripe_of(f);
  if (cf_future_done(f)) {
    fn(f, ud);
    return 0;
  }
  if ((cb = new_callback(f, fn, ud, &x)) == NULL) return -ENOMEM;
  cf_mutex_lock(&s->mu);
  if (listen_locked(f)) return run_now(f, s, cb);
  *x->cb_tail = cb;
  x->cb_tail = &cb->next;
  cf_mutex_unlock(&s->mu);
  return 0;
}

/* Like cf_future_add_done_callback, but fn runs once f is settled: after
** the thread that finished f has run all its done-callbacks (in that
** thread), or at once if f is settled already. A spawned coroutine's wake
** (binding/classes/spawn.c) uses it: woken while f is done but unsettled,
** the coroutine could only wait again, and its host would wake for
** nothing until the finisher is through. Order among these: none. */
int cf_future_add_settled_callback(cf_future *f, cf_done_fn fn, void *ud) {
  struct cf_callback *cb;
  struct cf_future_ext *x;
  stripe *s = stripe_of(f);
  if (cf_future_settled(f)) {
    fn(f, ud);
    return 0;
  }
  if ((cb = new_callback(f, fn, ud, &x)) == NULL) return -ENOMEM;
  cf_mutex_lock(&s->mu);
  /* Pending: listening makes the finisher set WORD_CALLING, and take the
  ** list when it clears it. Done and calling: it has not cleared it yet
  ** (it does so under this lock). */
  if (listen_locked(f) && is_settled(f, load_word(f))) return run_now(f, s, cb);
  cb->next = x->settled;
  x->settled = cb;
  cf_mutex_unlock(&s->mu);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Watch records: a waiter's registration on one future (waiter.c).       */

struct cf_watch *cf_watch_new(cf_future *f, cf_waiter *w) {
  struct cf_watch *wt = malloc(sizeof *wt);
  if (wt == NULL || cf_future_ext_get(f) == NULL) {
    free(wt);
    return NULL;
  }
  wt->w = w;
  wt->next = NULL;
  return wt;
}

void cf_watch_attach(cf_future *f, struct cf_watch *wt) {
  struct cf_future_ext *x = ext_of(f);   /* made by cf_watch_new */
  stripe *s = stripe_of(f);
  cf_mutex_lock(&s->mu);
  if (listen_locked(f)) {
    cf_waiter_push(wt->w, f);
    cf_mutex_unlock(&s->mu);
    free(wt);
    return;
  }
  wt->next = x->watches;
  x->watches = wt;
  cf_mutex_unlock(&s->mu);
}

void cf_watch_detach(cf_future *f, cf_waiter *w) {
  struct cf_future_ext *x = ext_of(f);
  stripe *s = stripe_of(f);
  struct cf_watch **pp, *dead = NULL;
  cf_mutex_lock(&s->mu);
  for (pp = x ? &x->watches : NULL; pp && *pp != NULL; pp = &(*pp)->next) {
    if ((*pp)->w == w) {
      dead = *pp;
      *pp = dead->next;
      break;
    }
  }
  cf_mutex_unlock(&s->mu);
  free(dead);
}
