/*
** future_ext.h -- the extension of a future: what few futures need, made
** on first need (core/future_ext.c). Internal to future.c, future_ext.c.
*/
#ifndef CF_FUTURE_EXT_H
#define CF_FUTURE_EXT_H

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

/* What few futures need; guarded by the stripe lock, except arg and
** arg_free (owned by the pool like the task) and view (set once). */
struct cf_future_ext {
  struct cf_watch *watches;
  struct cf_callback *callbacks, **cb_tail;
  struct cf_callback *settled;  /* run once the callbacks have all run */
  char *traceback;             /* set before FINISHED is published */
  void *arg;
  void (*arg_free)(void *);
  cf_buffer view;              /* cf_future_outcome's inline payload */
  int has_view;
  int priority;                /* submit_with's options (set before the */
  double time_limit;           /* future is queued; read-only then) */
  char *key;
  size_t klen;
};

/* f's extension, made if it has none (set once, by CAS): NULL when out
** of memory. */
struct cf_future_ext *cf_future_ext_get(cf_future *f);

/* f's extension, or NULL. */
static inline struct cf_future_ext *ext_of(cf_future *f) {
  return atomic_load_explicit(&f->x, memory_order_acquire);
}

#endif
