/*
** test_trace.c -- the trace recording of the C core (core/trace.c)
** without Lua: its pending table under many tasks ended in a shuffled
** order, the bound on events, the state errors, a real pool's tasks.
** Run by `make test`.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/trace.h"

#include "check.h"

/* Occurrences of needle in the file at path. */
static long count_in(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  char line[4096];
  long n = 0;
  if (f == NULL) return -1;
  while (fgets(line, sizeof line, f)) {
    const char *p = line;
    while ((p = strstr(p, needle)) != NULL) {
      n++;
      p += strlen(needle);
    }
  }
  fclose(f);
  return n;
}

static char path[64];

/* 20,000 pending futures (the table grows several times), started and
** ended in a shuffled order (deletions move entries back along their
** probe runs): every record must be found at its end. */
static void test_shuffled(void) {
  enum { N = 20000 };
  cf_future **fs = malloc(N * sizeof *fs);
  unsigned exec = 0;
  size_t n = 0, dropped = 9, i;
  CHECK(cf_trace_start_recording(path, N) == 0);
  CHECK(CF_TRACING());
  for (i = 0; i < N; i++) {
    fs[i] = cf_future_new();
    cf_trace_submit(&exec, CF_TRACE_THREADS, fs[i]);
  }
  CHECK(exec != 0);
  srand(7);
  for (i = N - 1; i > 0; i--) {
    size_t j = (size_t)rand() % (i + 1);
    cf_future *t = fs[i];
    fs[i] = fs[j];
    fs[j] = t;
  }
  for (i = 0; i < N; i++) {
    if (i % 2 == 0) {
      cf_future_set_running(fs[i]);
      cf_trace_start(fs[i], -1, 0);
      cf_future_set_result(fs[i], "x", 1);
    } else {
      cf_future_cancel(fs[i]);
    }
    cf_trace_end(fs[i]);
  }
  cf_trace_end(fs[0]);   /* ended twice: ignored */
  CHECK(cf_trace_stop_recording(&n, &dropped) == 0);
  CHECK(!CF_TRACING());
  CHECK(n == N);
  CHECK(dropped == 0);
  CHECK(count_in(path, "\"ph\":\"X\"") == N);
  CHECK(count_in(path, "\"outcome\":\"ok\"") == N / 2);
  CHECK(count_in(path, "\"outcome\":\"cancelled\"") == N / 2);
  CHECK(count_in(path, "\"outcome\":\"unfinished\"") == 0);
  for (i = 0; i < N; i++) cf_release(fs[i]);
  free(fs);
}

/* Past max_events, tasks are dropped and counted; reports after stop
** and for unknown futures are ignored. */
static void test_bound_and_state(void) {
  cf_future *f[5];
  unsigned exec = 0;
  size_t n = 0, dropped = 0;
  int i;
  CHECK(cf_trace_stop_recording(&n, &dropped) == CF_ESTATE);
  CHECK(cf_trace_start_recording("/nonexistent-dir/t.json", 10) < 0);
  CHECK(!cf_trace_recording());
  CHECK(cf_trace_start_recording(path, 3) == 0);
  CHECK(cf_trace_start_recording(path, 3) == CF_ESTATE);
  for (i = 0; i < 5; i++) {
    f[i] = cf_future_new();
    cf_trace_submit(&exec, CF_TRACE_PROCESSES, f[i]);
  }
  cf_trace_start(f[0], 1, 4242);
  CHECK(cf_trace_stop_recording(&n, &dropped) == 0);
  CHECK(n == 3 && dropped == 2);
  CHECK(count_in(path, "\"worker_pid\":4242") == 1);
  CHECK(count_in(path, "\"outcome\":\"unfinished\"") == 3);
  CHECK(count_in(path, "ProcessPoolExecutor") == 1);
  cf_trace_end(f[0]);   /* after stop: nothing to do */
  for (i = 0; i < 5; i++) cf_release(f[i]);
}

static void noop_task(cf_future *f, void *ctx, void *arg) {
  (void)ctx;
  (void)arg;
  cf_future_set_result(f, "", 0);
}

/* A real pool reports submit, start and end of each task. */
static void test_pool(void) {
  cf_pool *p = cf_pool_new(2, NULL);
  size_t n = 0, dropped = 0;
  int i, rc;
  CHECK(cf_trace_start_recording(path, 100) == 0);
  for (i = 0; i < 50; i++) {
    cf_future *f = cf_pool_submit(p, noop_task, NULL, NULL, &rc);
    CHECK(f != NULL);
    cf_release(f);
  }
  cf_pool_shutdown(p, 1, 0);
  CHECK(cf_trace_stop_recording(&n, &dropped) == 0);
  CHECK(n == 50);
  CHECK(count_in(path, "\"outcome\":\"ok\"") == 50);
  CHECK(count_in(path, "\"ran\":true") == 50);
  cf_release(p);
}

int main(void) {
  snprintf(path, sizeof path, "/tmp/test_trace.%d.json", (int)getpid());
  test_shuffled();
  test_bound_and_state();
  test_pool();
  unlink(path);
  printf("test_trace: %d passed, %d failed\n", atomic_load(&passed),
         atomic_load(&failed));
  return atomic_load(&failed) != 0;
}
