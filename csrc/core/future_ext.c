/*
** future_ext.c -- the extension of a future (future_ext.h): a pool's
** argument, submit_with's options (priority, time limit, key). The rest
** of it (callbacks, watches, the traceback) is future.c's, under the
** future's stripe lock; future.c frees it with the future.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "future_ext.h"

struct cf_future_ext *cf_future_ext_get(cf_future *f) {
  struct cf_future_ext *x = atomic_load_explicit(&f->x, memory_order_acquire);
  struct cf_future_ext *expected = NULL;
  if (x != NULL) return x;
  x = calloc(1, sizeof *x);
  if (x == NULL) return NULL;
  x->cb_tail = &x->callbacks;
  x->time_limit = -1;
  if (!atomic_compare_exchange_strong_explicit(&f->x, &expected, x,
                                               memory_order_acq_rel,
                                               memory_order_acquire)) {
    free(x);
    return expected;
  }
  return x;
}

int cf_future_set_arg(cf_future *f, void *arg, void (*arg_free)(void *)) {
  struct cf_future_ext *x;
  if (arg == NULL && arg_free == NULL) {   /* forget them (never fails) */
    if ((x = ext_of(f)) != NULL) x->arg = NULL, x->arg_free = NULL;
    return 0;
  }
  x = cf_future_ext_get(f);
  if (x == NULL) return -ENOMEM;
  x->arg = arg;
  x->arg_free = arg_free;
  return 0;
}

void *cf_future_arg(cf_future *f) {
  struct cf_future_ext *x = ext_of(f);
  return x ? x->arg : NULL;
}

void cf_future_free_arg(cf_future *f) {
  struct cf_future_ext *x = ext_of(f);
  if (x && x->arg_free) {
    void (*fr)(void *) = x->arg_free;
    x->arg_free = NULL;
    fr(x->arg);
  }
  if (x) x->arg = NULL;
}

int cf_future_set_sched(cf_future *f, int priority, double timeout,
                        const char *key, size_t klen) {
  struct cf_future_ext *x = cf_future_ext_get(f);
  if (x == NULL) return -ENOMEM;
  if (key != NULL) {
    if ((x->key = malloc(klen + 1)) == NULL) return -ENOMEM;
    memcpy(x->key, key, klen);
    x->key[klen] = 0;
    x->klen = klen;
  }
  x->priority = priority;
  x->time_limit = timeout;
  return 0;
}

int cf_future_priority(cf_future *f) {
  struct cf_future_ext *x = ext_of(f);
  return x ? x->priority : 0;
}

double cf_future_time_limit(cf_future *f) {
  struct cf_future_ext *x = ext_of(f);
  return x ? x->time_limit : -1;
}

int cf_future_has_key(cf_future *f, const char *key, size_t klen) {
  struct cf_future_ext *x = ext_of(f);
  return x && x->key && x->klen == klen && memcmp(x->key, key, klen) == 0;
}
