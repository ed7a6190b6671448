/*
** test_core.c -- tests of the C core without Lua: futures, waiters,
** callbacks, pools and thread handles. Run by `make test`.
*/
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/future.h"
#include "../core/object.h"

#include "check.h"

/* ---- futures ---------------------------------------------------------- */

static void test_future_states(void) {
  cf_future *f = cf_future_new();
  const cf_buffer *p;
  CHECK(cf_future_state(f) == CF_PENDING);
  CHECK(cf_future_wait(f, 0) == CF_ETIMEDOUT);
  CHECK(cf_future_set_running(f) == 0);
  CHECK(cf_future_cancel(f) == 0);          /* running: cannot cancel */
  CHECK(cf_future_set_result(f, "abc", 3) == 0);
  CHECK(cf_future_set_result(f, "x", 1) == CF_ESTATE);
  CHECK(cf_future_outcome(f, &p, NULL) == CF_OUTCOME_RESULT);
  CHECK(p->len == 3 && memcmp(p->data, "abc", 3) == 0);
  CHECK(cf_future_wait(f, -1) == 0);
  cf_release(f);

  f = cf_future_new();
  CHECK(cf_future_cancel(f) == 1);
  CHECK(cf_future_cancel(f) == 1);          /* again: still cancelled */
  CHECK(cf_future_state(f) == CF_CANCELLED);
  CHECK(cf_future_set_running(f) == CF_ECANCELLED);
  CHECK(cf_future_outcome(f, NULL, NULL) == CF_OUTCOME_NONE);
  cf_release(f);
}

static void *finish_later(void *arg) {
  cf_sleep(0.05);
  cf_future_set_error(arg, "err", 3);
  return NULL;
}

static void test_future_wait_timeout(void) {
  cf_future *f = cf_future_new();
  pthread_t t;
  double t0 = cf_monotonic();
  CHECK(cf_future_wait(f, 0.05) == CF_ETIMEDOUT);
  CHECK(cf_monotonic() - t0 >= 0.04);
  pthread_create(&t, NULL, finish_later, f);
  CHECK(cf_future_wait(f, 5) == 0);
  CHECK(cf_future_outcome(f, NULL, NULL) == CF_OUTCOME_ERROR);
  pthread_join(t, NULL);
  cf_release(f);
}

static atomic_int callback_calls;

static void count_cb(cf_future *f, void *ud) {
  (void)f;
  atomic_fetch_add(&callback_calls, *(int *)ud);
}

static void test_callbacks(void) {
  static int one = 1, ten = 10;
  cf_future *f = cf_future_new();
  atomic_store(&callback_calls, 0);
  cf_future_add_done_callback(f, count_cb, &one);
  cf_future_add_done_callback(f, count_cb, &ten);
  CHECK(atomic_load(&callback_calls) == 0);
  cf_future_set_result(f, NULL, 0);
  CHECK(atomic_load(&callback_calls) == 11);
  cf_future_add_done_callback(f, count_cb, &one);   /* done: at once */
  CHECK(atomic_load(&callback_calls) == 12);
  cf_release(f);
  /* Freed without finishing: called once so ud can be freed. */
  f = cf_future_new();
  cf_future_add_done_callback(f, count_cb, &ten);
  cf_release(f);
  CHECK(atomic_load(&callback_calls) == 22);
}

/* Settled-callbacks (future.c) run after the finisher's done-callbacks:
** one added while a slow done-callback runs waits for it to return. */
static atomic_int slow_cb_returned, settled_saw_slow_done;
static cf_future *slow_f;

static void slow_cb(cf_future *f, void *ud) {
  (void)f;
  (void)ud;
  cf_sleep(0.2);
  atomic_store(&slow_cb_returned, 1);
}

static void settled_cb(cf_future *f, void *ud) {
  CHECK(cf_future_settled(f));
  atomic_store(&settled_saw_slow_done, atomic_load(&slow_cb_returned));
  atomic_fetch_add(&callback_calls, *(int *)ud);
}

static void *finish_slow(void *arg) {
  (void)arg;
  cf_future_set_result(slow_f, NULL, 0);
  return NULL;
}

static void test_settled_callbacks(void) {
  static int one = 1, hundred = 100;
  pthread_t t;
  double t0;
  atomic_store(&callback_calls, 0);
  atomic_store(&slow_cb_returned, 0);
  slow_f = cf_future_new();
  cf_future_add_done_callback(slow_f, slow_cb, NULL);
  cf_future_add_settled_callback(slow_f, settled_cb, &one);   /* pending */
  pthread_create(&t, NULL, finish_slow, NULL);
  t0 = cf_monotonic();
  while (!cf_future_done(slow_f) && cf_monotonic() - t0 < 5) cf_sleep(0.001);
  CHECK(cf_future_done(slow_f) && !cf_future_settled(slow_f));
  cf_future_add_settled_callback(slow_f, settled_cb, &hundred);   /* calling */
  CHECK(atomic_load(&callback_calls) == 0);   /* not before slow_cb returns */
  pthread_join(t, NULL);
  CHECK(atomic_load(&callback_calls) == 101);
  CHECK(atomic_load(&settled_saw_slow_done) == 1);
  cf_future_add_settled_callback(slow_f, settled_cb, &one);   /* settled: at once */
  CHECK(atomic_load(&callback_calls) == 102);
  cf_release(slow_f);
  slow_f = cf_future_new();                   /* freed unfinished: called */
  cf_future_add_settled_callback(slow_f, count_cb, &hundred);
  cf_release(slow_f);
  CHECK(atomic_load(&callback_calls) == 202);
}

/* The callback adders without memory (future.c's new_callback): test_core
** is linked with --wrap=malloc,--wrap=calloc (Makefile), so the core's
** allocations come here; the Nth one from now in this thread fails. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
static _Thread_local int fail_alloc_in;   /* 0: none fails */

static int alloc_fails(void) {
  return fail_alloc_in > 0 && --fail_alloc_in == 0;
}

void *__wrap_malloc(size_t n) {
  return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n) {
  return alloc_fails() ? NULL : __real_calloc(k, n);
}

typedef int (*adder_fn)(cf_future *, cf_done_fn, void *);

/* With the record's malloc (1st) or the extension's calloc (2nd) failing,
** add reports -ENOMEM and keeps nothing: fn never runs, not even when f
** finishes (ASan's leak check sees a record kept by mistake). Then the
** same call succeeds, and fn runs once f is done. */
static void check_adder_nomem(adder_fn add) {
  static int one = 1;
  int which;
  for (which = 1; which <= 2; which++) {
    cf_future *f = cf_future_new();
    atomic_store(&callback_calls, 0);
    fail_alloc_in = which;
    CHECK(add(f, count_cb, &one) == -ENOMEM);
    CHECK(fail_alloc_in == 0);                /* that allocation was tried */
    fail_alloc_in = 0;
    CHECK(add(f, count_cb, &one) == 0);
    CHECK(atomic_load(&callback_calls) == 0);
    CHECK(cf_future_set_result(f, NULL, 0) == 0);
    CHECK(atomic_load(&callback_calls) == 1);
    cf_release(f);
  }
  /* Finished already: fn runs at once and nothing is allocated. */
  {
    cf_future *f = cf_future_new();
    CHECK(cf_future_set_result(f, NULL, 0) == 0);
    atomic_store(&callback_calls, 0);
    fail_alloc_in = 1;
    CHECK(add(f, count_cb, &one) == 0);
    CHECK(fail_alloc_in == 1 && atomic_load(&callback_calls) == 1);
    fail_alloc_in = 0;
    cf_release(f);
  }
}

static void test_callbacks_nomem(void) {
  check_adder_nomem(cf_future_add_done_callback);
  check_adder_nomem(cf_future_add_settled_callback);
}

/* ---- waiters ---------------------------------------------------------- */

static void test_waiter_order(void) {
  cf_future *f[3];
  cf_waiter *w = cf_waiter_new();
  int i, rc;
  for (i = 0; i < 3; i++) f[i] = cf_future_new();
  cf_future_set_result(f[1], NULL, 0);       /* done before watching */
  for (i = 0; i < 3; i++) CHECK(cf_waiter_watch(w, f[i]) == 0);
  CHECK(cf_waiter_pending(w) == 3);
  cf_future *g = cf_waiter_next(w, 0, &rc);
  CHECK(g == f[1] && rc == 0);
  cf_release(g);
  CHECK(cf_waiter_next(w, 0.01, &rc) == NULL && rc == CF_ETIMEDOUT);
  cf_future_cancel(f[2]);
  cf_future_set_result(f[0], NULL, 0);
  g = cf_waiter_next(w, -1, &rc);
  CHECK(g == f[2]);
  cf_release(g);
  g = cf_waiter_next(w, -1, &rc);
  CHECK(g == f[0]);
  cf_release(g);
  CHECK(cf_waiter_pending(w) == 0);
  cf_release(w);
  for (i = 0; i < 3; i++) cf_release(f[i]);
}

static void test_waiter_unwatch(void) {
  cf_future *f = cf_future_new();
  cf_waiter *w = cf_waiter_new();
  cf_waiter_watch(w, f);
  cf_release(w);                 /* unwatches: f must not touch it later */
  cf_future_set_result(f, NULL, 0);
  CHECK(cf_future_done(f));
  cf_release(f);
}

/* ---- pools ------------------------------------------------------------ */

static atomic_int ran, started, stopped;

static void add_task(cf_future *f, void *ctx, void *arg) {
  (void)ctx;
  int v = (int)(intptr_t)arg + 1;
  atomic_fetch_add(&ran, 1);
  cf_future_set_result(f, &v, sizeof v);
}

static void sleep_task(cf_future *f, void *ctx, void *arg) {
  (void)f;
  (void)ctx;
  (void)arg;
  cf_sleep(0.05);
  atomic_fetch_add(&ran, 1);
}

static int start_hook(void *ud, void **ctx, char *msg, size_t sz) {
  (void)msg;
  (void)sz;
  *ctx = ud;
  atomic_fetch_add(&started, 1);
  return 0;
}

static void stop_hook(void *ud, void *ctx) {
  CHECK(ud == ctx);
  atomic_fetch_add(&stopped, 1);
}

static void test_pool_results(void) {
  cf_pool_hooks h = {(void *)0x1234, start_hook, stop_hook, NULL};
  cf_pool *p = cf_pool_new(2, &h);
  cf_future *fs[1000];
  int i, rc, ok = 1;
  atomic_store(&ran, 0);
  atomic_store(&started, 0);
  atomic_store(&stopped, 0);
  for (i = 0; i < 1000; i++) {
    fs[i] = cf_pool_submit(p, add_task, (void *)(intptr_t)i, NULL, &rc);
    CHECK(fs[i] != NULL);
  }
  for (i = 0; i < 1000; i++) {
    const cf_buffer *b;
    int v;
    cf_future_wait(fs[i], -1);
    if (cf_future_outcome(fs[i], &b, NULL) != CF_OUTCOME_RESULT) ok = 0;
    memcpy(&v, b->data, sizeof v);
    if (v != i + 1) ok = 0;
    cf_release(fs[i]);
  }
  CHECK(ok);
  CHECK(cf_pool_thread_count(p) <= 2);
  CHECK(cf_pool_shutdown(p, 1, 0) == 0);
  CHECK(cf_pool_thread_count(p) == 0);
  CHECK(atomic_load(&started) == atomic_load(&stopped));
  CHECK(atomic_load(&started) >= 1 && atomic_load(&started) <= 2);
  CHECK(cf_pool_submit(p, add_task, NULL, NULL, &rc) == NULL && rc == CF_ESHUTDOWN);
  cf_release(p);
}

/* A failed submit takes nothing from its caller (concurrent.h): arg_free
** is not called, the input buffer keeps its bytes and references. */
static int arg_frees;
static void count_free(void *arg) {
  (void)arg;
  arg_frees++;
}

/* Out of memory is an outcome of its own, with an empty payload. */
static void test_future_nomem(void) {
  cf_future *f = cf_future_new();
  cf_buffer b = CF_BUFFER_INIT;
  const cf_buffer *p;
  CHECK(cf_buffer_append(&b, "lost", 4) == 0);
  CHECK(cf_future_finish(f, CF_OUTCOME_NOMEM, &b, NULL) == 0);
  CHECK(b.len == 0);
  CHECK(cf_future_outcome(f, &p, NULL) == CF_OUTCOME_NOMEM && p->len == 0);
  cf_buffer_free(&b);
  cf_release(f);
}

static void test_failed_submit_takes_nothing(void) {
  cf_pool *p = cf_pool_new(1, NULL);
  cf_future *obj = cf_future_new();
  cf_buffer in = CF_BUFFER_INIT, big = CF_BUFFER_INIT;
  int rc, i;
  CHECK(cf_pool_shutdown(p, 1, 0) == 0);
  arg_frees = 0;
  CHECK(cf_pool_submit(p, add_task, &rc, count_free, &rc) == NULL);
  CHECK(rc == CF_ESHUTDOWN && arg_frees == 0);
  CHECK(cf_buffer_append(&in, "abc", 3) == 0);
  CHECK(cf_buffer_add_ref(&in, obj, NULL) == 0);
  CHECK(cf_pool_submit_buffer(p, add_task, &in, &rc) == NULL);
  CHECK(rc == CF_ESHUTDOWN);
  CHECK(in.len == 3 && memcmp(in.data, "abc", 3) == 0);
  CHECK(in.nrefs == 1 && in.refs[0] == obj);
  for (rc = 0, i = 0; i < 4000; i++) rc |= cf_buffer_append(&big, "x", 1);
  CHECK(rc == 0);
  CHECK(cf_pool_submit_buffer(p, add_task, &big, &rc) == NULL);   /* heap */
  CHECK(big.len == 4000 && big.data[3999] == 'x');
  cf_buffer_free(&in);
  cf_buffer_free(&big);
  cf_release(obj);
  cf_release(p);
}

static void test_pool_cancel_on_shutdown(void) {
  cf_pool *p = cf_pool_new(1, NULL);
  cf_future *fs[10];
  int i, rc, cancelled = 0;
  atomic_store(&ran, 0);
  for (i = 0; i < 10; i++) fs[i] = cf_pool_submit(p, sleep_task, NULL, NULL, &rc);
  cf_pool_shutdown(p, 1, 1);
  for (i = 0; i < 10; i++) {
    CHECK(cf_future_done(fs[i]));
    cancelled += cf_future_state(fs[i]) == CF_CANCELLED;
    cf_release(fs[i]);
  }
  /* The first task was running; the rest were still queued. */
  CHECK(cancelled >= 8);
  CHECK(atomic_load(&ran) + cancelled == 10);
  cf_release(p);
}

static int failing_start(void *ud, void **ctx, char *msg, size_t sz) {
  (void)ud;
  (void)ctx;
  snprintf(msg, sz, "no luck");
  return -1;
}

static void test_pool_broken(void) {
  cf_pool_hooks h = {NULL, failing_start, NULL, NULL};
  cf_pool *p = cf_pool_new(2, &h);
  const cf_buffer *b;
  int rc;
  cf_future *f = cf_pool_submit(p, add_task, NULL, NULL, &rc);
  CHECK(cf_future_wait(f, 5) == 0);
  CHECK(cf_future_outcome(f, &b, NULL) == CF_OUTCOME_BROKEN_THREAD);
  CHECK(b->len == 7 && memcmp(b->data, "no luck", 7) == 0);
  cf_release(f);
  CHECK(cf_pool_is_broken(p));
  f = cf_pool_submit(p, add_task, NULL, NULL, &rc);   /* later: failed */
  CHECK(f != NULL && cf_future_outcome(f, NULL, NULL) == CF_OUTCOME_BROKEN_THREAD);
  cf_release(f);
  cf_pool_shutdown(p, 1, 0);
  cf_release(p);
}

/* Dropping the last reference without waiting: workers finish the queue
** and free the pool themselves. */
static void test_pool_release_busy(void) {
  cf_pool *p = cf_pool_new(2, NULL);
  cf_future *f[4];
  int i, rc;
  atomic_store(&ran, 0);
  for (i = 0; i < 4; i++) f[i] = cf_pool_submit(p, sleep_task, NULL, NULL, &rc);
  cf_pool_shutdown(p, 0, 0);
  cf_release(p);
  for (i = 0; i < 4; i++) {
    CHECK(cf_future_wait(f[i], 5) == 0);
    cf_release(f[i]);
  }
  CHECK(atomic_load(&ran) == 4);
}

/* A large block freed waits in the stash for the next buffer that grows
** past 64 KB, and the bytes written before that growth move with it. */
static void test_buffer_spare_blocks(void) {
  cf_buffer a = CF_BUFFER_INIT, b = CF_BUFFER_INIT, c = CF_BUFFER_INIT;
  unsigned char chunk[1000];
  unsigned char *block;
  size_t i, ok = 1, grew = 1;
  for (i = 0; i < sizeof chunk; i++) chunk[i] = (unsigned char)(i * 7);
  for (i = 0; i < 600; i++) grew &= cf_buffer_append(&a, chunk, sizeof chunk) == 0;
  CHECK(grew && a.len == 600000 && a.cap >= 600000);
  block = a.data;
  cf_buffer_free(&a);
  CHECK(a.data == NULL && a.cap == 0);
  /* Grow b by small steps past 64 KB: it takes the kept block. */
  for (i = 0; i < 100; i++) grew &= cf_buffer_append(&b, chunk, sizeof chunk) == 0;
  CHECK(grew && b.data == block && b.cap >= 600000);
  for (i = 0; i < b.len; i++)
    if (b.data[i] != chunk[i % sizeof chunk]) ok = 0;
  CHECK(ok && b.len == 100000);
  /* Nothing kept now: c grows by realloc, its bytes intact. */
  for (i = 0; i < 100; i++) grew &= cf_buffer_append(&c, chunk, sizeof chunk) == 0;
  CHECK(grew && c.data != block && c.len == 100000 && c.data[99999] == chunk[99999 % sizeof chunk]);
  cf_buffer_free(&b);
  cf_buffer_free(&c);
}

/* ---- thread handles ----------------------------------------------------- */

static atomic_int gate_open;

static void gated_body(void *arg) {
  (void)arg;
  while (!atomic_load(&gate_open)) cf_sleep(0.005);
}

typedef struct joiner { cf_thread *t; double timeout; int rc; } joiner;

static void *joiner_main(void *p) {
  joiner *j = p;
  j->rc = cf_thread_join(j->t, j->timeout);
  return NULL;
}

/* Joiners with and without timeouts at once: the ones whose timeout
** passes while the thread runs give the reaping up, the others still get
** it, every one returns once the thread is gone, and joining again (also
** with timeout 0) reports it ended. */
static void test_thread_join(void) {
  cf_thread *t = cf_thread_new();
  joiner j[4] = {{t, 0.05, 0}, {t, -1.0, 0}, {t, 0.02, 0}, {t, 30.0, 0}};
  pthread_t th[4];
  double t0;
  int i;
  atomic_store(&gate_open, 0);
  CHECK(cf_thread_join(t, 0) == CF_ESTATE);         /* not started */
  CHECK(cf_thread_start(t, gated_body, NULL, "gated") == 0);
  t0 = cf_monotonic();
  CHECK(cf_thread_join(t, 0) == CF_ETIMEDOUT);
  CHECK(cf_thread_join(t, 0.05) == CF_ETIMEDOUT);
  CHECK(cf_monotonic() - t0 >= 0.04);
  for (i = 0; i < 4; i++)
    if (pthread_create(&th[i], NULL, joiner_main, &j[i]) != 0) abort();
  pthread_join(th[0], NULL);
  pthread_join(th[2], NULL);
  CHECK(j[0].rc == CF_ETIMEDOUT);
  CHECK(j[2].rc == CF_ETIMEDOUT);
  CHECK(cf_thread_is_alive(t));
  atomic_store(&gate_open, 1);
  pthread_join(th[1], NULL);
  pthread_join(th[3], NULL);
  CHECK(j[1].rc == 0);
  CHECK(j[3].rc == 0);
  CHECK(!cf_thread_is_alive(t));
  CHECK(cf_thread_join(t, 0) == 0);
  CHECK(cf_thread_join(t, -1.0) == 0);
  cf_release(t);
}

/* join(0) once the function has returned succeeds (the thread is past its
** last lock), as Thread:join(0) after is_alive() turned false. */
static void test_thread_join_zero(void) {
  cf_thread *t = cf_thread_new();
  double t0;
  atomic_store(&gate_open, 1);
  CHECK(cf_thread_start(t, gated_body, NULL, NULL) == 0);
  t0 = cf_monotonic();
  while (cf_thread_is_alive(t) && cf_monotonic() - t0 < 10) cf_sleep(0.001);
  CHECK(cf_thread_join(t, 0) == 0);
  cf_release(t);
}

int main(void) {
  test_buffer_spare_blocks();
  test_future_states();
  test_future_wait_timeout();
  test_callbacks();
  test_settled_callbacks();
  test_callbacks_nomem();
  test_waiter_order();
  test_waiter_unwatch();
  test_pool_results();
  test_pool_cancel_on_shutdown();
  test_failed_submit_takes_nothing();
  test_future_nomem();
  test_pool_broken();
  test_pool_release_busy();
  test_thread_join();
  test_thread_join_zero();
  cf_sleep(0.1);   /* let detached workers of the last test exit */
  printf("test_core: %d passed, %d failed\n", atomic_load(&passed),
         atomic_load(&failed));
  return atomic_load(&failed) != 0;
}
