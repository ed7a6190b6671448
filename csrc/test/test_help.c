/*
** test_help.c -- waits that help (core/help.c), through the core C API
** and help.h only, without Lua: a task waiting on a future of its own
** 1-worker pool gets it done by running it nested; at the nesting bound
** the waiter blocks instead (and nothing crashes); a waiter never runs a
** task of another pool. Run by `make test`.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/help.h"
#include "../core/object.h"

#include "check.h"

/* What a task saw, written by the task, read by main after the task's
** future is done. */
typedef struct seen {
  pthread_t thread;
  int depth;                    /* cf_help_depth() inside the task */
  atomic_int ran;
} seen;

static void note(seen *s) {
  s->thread = pthread_self();
  s->depth = cf_help_depth();
  atomic_fetch_add(&s->ran, 1);
}

static int int_result(cf_future *f) {
  const cf_buffer *b;
  int v = -1;
  if (cf_future_outcome(f, &b, NULL) == CF_OUTCOME_RESULT && b->len == sizeof v)
    memcpy(&v, b->data, sizeof v);
  return v;
}

/* ---- a waiter gets its own pool's task done by running it ------------ */

static seen outer_seen, inner_seen;

static void inner_task(cf_future *f, void *ctx, void *arg) {
  int v = 7;
  (void)ctx;
  (void)arg;
  note(&inner_seen);
  cf_future_set_result(f, &v, sizeof v);
}

/* Submits inner_task to its own (1-worker) pool and waits for it: only
** helping can run it, since this task holds the pool's one worker. */
static void outer_task(cf_future *f, void *ctx, void *arg) {
  cf_pool *p = arg;
  int rc, v = -1;
  cf_future *g;
  (void)ctx;
  note(&outer_seen);
  g = cf_pool_submit(p, inner_task, NULL, NULL, &rc);
  if (g != NULL) {
    if (cf_help_wait(g, 5) == 0) v = int_result(g) * 10;   /* 70 */
    cf_release(g);
  }
  cf_future_set_result(f, &v, sizeof v);
}

static void test_help_runs_own_task(void) {
  cf_pool *p = cf_pool_new(1, NULL);
  int rc;
  cf_future *f = cf_pool_submit(p, outer_task, p, NULL, &rc);
  CHECK(f != NULL);
  CHECK(cf_future_wait(f, 10) == 0);
  CHECK(int_result(f) == 70);                 /* the inner wait succeeded */
  CHECK(atomic_load(&inner_seen.ran) == 1);
  CHECK(pthread_equal(inner_seen.thread, outer_seen.thread));   /* nested */
  CHECK(outer_seen.depth == 0);
  CHECK(inner_seen.depth == 1);
  CHECK(cf_help_depth() == -1);               /* main is no pool's worker */
  cf_release(f);
  CHECK(cf_pool_shutdown(p, 1, 0) == 0);
  cf_release(p);
}

/* ---- the nesting bound ----------------------------------------------- */

typedef struct chain {
  cf_pool *p;
  atomic_int deepest;           /* the largest cf_help_depth() seen */
  atomic_int ran;               /* tasks that ran */
  atomic_int blocked;           /* waits that timed out (at the bound) */
  atomic_int pending_at_bound;  /* ... whose future had not started */
  atomic_int wrong_depth;       /* a timed-out wait below the bound */
} chain;

static chain the_chain;

/* Each level submits the next to its own 1-worker pool and waits: every
** level below the bound runs the next nested; the one at the bound cannot
** (the pool's only worker is the waiter), so its wait times out. */
static void chain_task(cf_future *f, void *ctx, void *arg) {
  chain *c = arg;
  int d = cf_help_depth(), rc, cur;
  cf_future *g;
  (void)ctx;
  (void)f;
  atomic_fetch_add(&c->ran, 1);
  cur = atomic_load(&c->deepest);
  while (d > cur && !atomic_compare_exchange_weak(&c->deepest, &cur, d)) {}
  if (d >= CF_HELP_MAX_DEPTH + 5) return;    /* never reached if bounded */
  g = cf_pool_submit(c->p, chain_task, c, NULL, &rc);
  if (g == NULL) return;
  if (cf_help_wait(g, d == CF_HELP_MAX_DEPTH ? 0.2 : 30) == CF_ETIMEDOUT) {
    atomic_fetch_add(&c->blocked, 1);
    if (d != CF_HELP_MAX_DEPTH) atomic_fetch_add(&c->wrong_depth, 1);
    if (cf_future_state(g) == CF_PENDING) atomic_fetch_add(&c->pending_at_bound, 1);
    cf_future_cancel(g);       /* the chain ends here */
  }
  cf_release(g);
}

static void test_help_depth_bound(void) {
  chain *c = &the_chain;
  int rc;
  cf_future *f;
  c->p = cf_pool_new(1, NULL);
  f = cf_pool_submit(c->p, chain_task, c, NULL, &rc);
  CHECK(f != NULL);
  CHECK(cf_future_wait(f, 60) == 0);
  CHECK(cf_future_outcome(f, NULL, NULL) == CF_OUTCOME_RESULT);
  CHECK(atomic_load(&c->deepest) == CF_HELP_MAX_DEPTH);
  CHECK(atomic_load(&c->ran) == CF_HELP_MAX_DEPTH + 1);
  CHECK(atomic_load(&c->blocked) == 1);
  CHECK(atomic_load(&c->wrong_depth) == 0);
  CHECK(atomic_load(&c->pending_at_bound) == 1);
  cf_release(f);
  CHECK(cf_pool_shutdown(c->p, 1, 0) == 0);
  CHECK(atomic_load(&c->ran) == CF_HELP_MAX_DEPTH + 1);   /* the cancelled one never ran */
  cf_release(c->p);
}

/* ---- never a task of another pool ------------------------------------ */

static seen other_seen, waiter_seen;
static cf_future *gate;         /* holds the other pool's only worker */

static void gate_task(cf_future *f, void *ctx, void *arg) {
  (void)f;
  (void)ctx;
  (void)arg;
  cf_future_wait(gate, 30);
}

static void other_task(cf_future *f, void *ctx, void *arg) {
  int v = 5;
  (void)ctx;
  (void)arg;
  note(&other_seen);
  cf_future_set_result(f, &v, sizeof v);
}

/* arg: the other pool's future to wait for, which is queued there behind
** gate_task. Result: the wait's return code. */
static void cross_waiter(cf_future *f, void *ctx, void *arg) {
  int rc;
  (void)ctx;
  note(&waiter_seen);
  rc = cf_help_wait(arg, 0.3);
  cf_future_set_result(f, &rc, sizeof rc);
}

static void test_help_other_pool(void) {
  cf_pool *p = cf_pool_new(1, NULL), *q = cf_pool_new(1, NULL);
  cf_future *held, *g, *w;
  int rc;
  gate = cf_future_new();
  held = cf_pool_submit(q, gate_task, NULL, NULL, &rc);
  g = cf_pool_submit(q, other_task, NULL, NULL, &rc);
  CHECK(held != NULL && g != NULL);
  w = cf_pool_submit(p, cross_waiter, g, NULL, &rc);
  CHECK(w != NULL);
  CHECK(cf_future_wait(w, 10) == 0);
  CHECK(int_result(w) == CF_ETIMEDOUT);      /* it waited, it did not run g */
  CHECK(atomic_load(&other_seen.ran) == 0);
  CHECK(cf_future_state(g) == CF_PENDING);
  cf_future_set_result(gate, NULL, 0);       /* q's worker runs g now */
  CHECK(cf_future_wait(g, 10) == 0);
  CHECK(int_result(g) == 5);
  CHECK(atomic_load(&other_seen.ran) == 1);
  CHECK(!pthread_equal(other_seen.thread, waiter_seen.thread));
  CHECK(other_seen.depth == 0);              /* top level in q's worker */
  cf_release(w);
  cf_release(g);
  cf_release(held);
  CHECK(cf_pool_shutdown(p, 1, 0) == 0);
  CHECK(cf_pool_shutdown(q, 1, 0) == 0);
  cf_release(p);
  cf_release(q);
  cf_release(gate);
}

int main(void) {
  test_help_runs_own_task();
  test_help_depth_bound();
  test_help_other_pool();
  printf("test_help: %d passed, %d failed\n", atomic_load(&passed),
         atomic_load(&failed));
  return atomic_load(&failed) != 0;
}
