/*
** test_stop.c -- stopping C tasks through the C API: a host asks with
** cf_future_interrupt (or a time limit), a C task polls
** cf_future_stop_requested, blocking calls and cf_task_sleep are cut
** short; priorities and keys of cf_pool_submit_with. Run by `make test`.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../core/object.h"

#include "check.h"

static atomic_int started;

/* Spins until asked to stop, then says so. */
static void polling_task(cf_future *f, void *ctx, void *arg) {
  (void)ctx;
  (void)arg;
  atomic_store(&started, 1);
  while (!cf_future_stop_requested(f)) cf_cpu_relax();
  CHECK(cf_task_stop_requested());
  cf_future_set_result(f, "stopped", 7);    /* refused: it was asked */
}

static void sleeping_task(cf_future *f, void *ctx, void *arg) {
  (void)ctx;
  (void)arg;
  atomic_store(&started, 1);
  CHECK(cf_task_sleep(60) == CF_ETIMEDOUT);
  (void)f;
}

static void queue_task(cf_future *f, void *ctx, void *arg) {
  cf_buffer out = CF_BUFFER_INIT;
  (void)ctx;
  atomic_store(&started, 1);
  CHECK(cf_queue_get(arg, &out, 1, -1) == CF_ETIMEDOUT);
  cf_buffer_free(&out);
  (void)f;
}

static void wait_started(void) {
  while (!atomic_load(&started)) cf_sleep(0.001);
  atomic_store(&started, 0);
}

static void test_interrupt_c_tasks(void) {
  cf_pool *p = cf_pool_new(1, NULL);
  cf_queue *q = cf_queue_new(0);
  cf_task_fn fns[3] = {polling_task, sleeping_task, queue_task};
  int rc, i;
  for (i = 0; i < 3; i++) {
    double t0;
    cf_future *f = cf_pool_submit(p, fns[i], q, NULL, &rc);
    CHECK(f != NULL);
    wait_started();
    cf_sleep(0.01);
    t0 = cf_monotonic();
    CHECK(cf_future_interrupt(f) == 1);
    CHECK(cf_future_wait(f, 5) == 0);
    CHECK(cf_monotonic() - t0 < 1.0);
    CHECK(cf_future_state(f) == CF_CANCELLED);
    CHECK(cf_future_stop_requested(f));
    CHECK(cf_future_interrupt(f) == 1);      /* cancelled already */
    cf_release(f);
  }
  CHECK(cf_pool_thread_count(p) == 1);
  cf_pool_shutdown(p, 1, 0);
  cf_release(p);
  cf_release(q);
}

static void test_time_limit(void) {
  cf_pool *p = cf_pool_new(1, NULL);
  cf_task_opts o = {0, 0.05, NULL, 0};
  cf_buffer in = CF_BUFFER_INIT;
  const cf_buffer *payload;
  int rc;
  cf_future *f = cf_pool_submit_with(p, polling_task, &in, &o, &rc);
  CHECK(f != NULL);
  CHECK(cf_future_wait(f, 5) == 0);
  CHECK(cf_future_outcome(f, &payload, NULL) == CF_OUTCOME_TIMEOUT);
  CHECK(payload->len > 0 && strstr((const char *)payload->data, "0.05") != NULL);
  cf_release(f);
  CHECK(cf_pool_interrupt(p) == 0);          /* nothing runs */
  cf_pool_shutdown(p, 1, 0);
  cf_release(p);
}

static atomic_int order[8], norder;

static void record_task(cf_future *f, void *ctx, void *arg) {
  (void)ctx;
  (void)arg;
  order[atomic_fetch_add(&norder, 1)] = (int)cf_future_input(f)->data[0];
}

static void block_task(cf_future *f, void *ctx, void *arg) {
  (void)f;
  (void)ctx;
  atomic_store(&started, 1);
  cf_event_wait(arg, -1);
}

static void test_priorities_and_keys(void) {
  cf_pool *p = cf_pool_new(1, NULL);
  cf_event *go = cf_event_new();
  int prios[5] = {0, 3, -2, 3, 7}, i, rc;
  int want[6] = {4, 1, 3, 0, 9, 2};   /* b (priority 0) before -2 */
  cf_future *fs[5], *blocker, *a, *b;
  cf_task_opts o = {0, 0, "k", 1};
  blocker = cf_pool_submit(p, block_task, go, NULL, &rc);
  wait_started();
  for (i = 0; i < 5; i++) {
    cf_task_opts po = {prios[i], 0, NULL, 0};
    cf_buffer in = CF_BUFFER_INIT;
    unsigned char tag = (unsigned char)i;
    cf_buffer_append(&in, &tag, 1);
    fs[i] = cf_pool_submit_with(p, record_task, &in, &po, &rc);
    CHECK(fs[i] != NULL);
    cf_buffer_free(&in);
  }
  {
    cf_buffer in = CF_BUFFER_INIT;
    unsigned char tag = 9;
    cf_buffer_append(&in, &tag, 1);
    a = cf_pool_submit_with(p, record_task, &in, &o, &rc);
    cf_buffer_append(&in, &tag, 1);
    b = cf_pool_submit_with(p, record_task, &in, &o, &rc);
    cf_buffer_free(&in);
  }
  CHECK(cf_future_state(a) == CF_CANCELLED);
  CHECK(cf_future_state(b) == CF_PENDING);
  cf_event_set(go);
  for (i = 0; i < 5; i++) CHECK(cf_future_wait(fs[i], 5) == 0);
  CHECK(cf_future_wait(b, 5) == 0);
  for (i = 0; i < 6; i++) CHECK(order[i] == want[i]);
  CHECK(atomic_load(&norder) == 6);
  for (i = 0; i < 5; i++) cf_release(fs[i]);
  cf_release(a);
  cf_release(b);
  cf_release(blocker);
  cf_pool_shutdown(p, 1, 0);
  cf_release(p);
  cf_release(go);
}

int main(void) {
  test_interrupt_c_tasks();
  test_time_limit();
  test_priorities_and_keys();
  printf("test_stop: %d passed, %d failed\n", atomic_load(&passed),
         atomic_load(&failed));
  return atomic_load(&failed) != 0;
}
