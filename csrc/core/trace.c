/*
** trace.c -- the process-wide recording of task timelines behind
** concurrent.trace, written as Chrome trace-event JSON (Perfetto,
** chrome://tracing).
**
** Shape. One recording per process: a growing array of task records in
** submit order and an open-addressing table from a pending future's
** address to its record. The pools report submit (under their own mutex,
** before the task is visible to a worker, so start never comes first),
** start and end; each report takes the trace mutex for a few dozen
** instructions. The future is never dereferenced here except in
** cf_trace_end, whose caller holds it. A future that ended by a path that
** does not report (a pool freed with tasks queued) leaves a stale key;
** if its address comes back in a later submit, the old record is closed
** as "unfinished" and the key reused.
**
** Bounded. At most max_events records (64 bytes each): past that, tasks
** are counted as dropped, not recorded, and the JSON says how many.
**
** Fork. A child must not write its parent's file nor take a mutex some
** vanished thread held: the atfork child handler turns the flag off,
** re-initialises the mutex and forgets the recording (its memory is the
** child's copy; it is leaked, not freed, as it may be mid-update). The
** child may start a recording of its own. The file is opened O_CLOEXEC.
**
** Lock order: a pool's mutex, then the trace mutex (a leaf).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"

atomic_int cf_trace_flag;

enum { O_UNFINISHED = 0, O_OK, O_ERROR, O_CANCELLED, O_BROKEN };
static const char *const outcome_names[] = {"unfinished", "ok", "error",
                                            "cancelled", "broken"};

typedef struct trec {
  int64_t submit, start, end;   /* ns on CLOCK_MONOTONIC; 0: not yet */
  long first, count;             /* a map chunk's items, else count 0 */
  unsigned exec;                /* the executor's trace id */
  int tid;                      /* OS thread id, or process slot + 1 */
  int pid;                      /* a process worker's pid, else 0 */
  unsigned char kind, outcome;
} trec;

static struct {
  pthread_mutex_t mu;
  int active;
  FILE *out;
  int64_t t0;
  trec *recs;
  size_t n, cap, max, dropped;
  const void **keys;            /* pending futures; NULL: empty slot */
  size_t *vals;                 /* their records */
  size_t hcap, hlive;
} tr = {PTHREAD_MUTEX_INITIALIZER, 0, NULL, 0, NULL, 0, 0, 0, 0,
        NULL, NULL, 0, 0};

static unsigned next_exec_id;   /* under tr.mu; never reset */
static CF_TLS int my_tid;
static CF_TLS long next_first, next_count;   /* cf_trace_next_items */

void cf_trace_next_items(long first, long count) {
  next_first = first;
  next_count = count;
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void forget(void) {
  tr.active = 0;
  tr.out = NULL;
  tr.recs = NULL;
  tr.keys = NULL;
  tr.vals = NULL;
  tr.n = tr.cap = tr.dropped = tr.hcap = tr.hlive = 0;
}

static void after_fork_child(void) {
  atomic_store_explicit(&cf_trace_flag, 0, memory_order_relaxed);
  pthread_mutex_init(&tr.mu, NULL);
  forget();
  my_tid = 0;
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void setup_fork(void) {
  pthread_atfork(NULL, NULL, after_fork_child);
}

/* ---------------------------------------------------------------------- */
/* The pending table: linear probing, deletion by backward shift.         */

static size_t slot_of(const void *key, size_t cap) {
  uint64_t h = (uint64_t)(uintptr_t)key >> 4;
  return (size_t)(h * 0x9E3779B97F4A7C15ull >> 17) & (cap - 1);
}

static int grow_table(void) {
  size_t ncap = tr.hcap ? tr.hcap * 2 : 1024, i;
  const void **nk = calloc(ncap, sizeof *nk);
  size_t *nv = malloc(ncap * sizeof *nv);
  if (nk == NULL || nv == NULL) {
    free(nk);
    free(nv);
    return -1;
  }
  for (i = 0; i < tr.hcap; i++) {
    size_t j;
    if (tr.keys[i] == NULL) continue;
    for (j = slot_of(tr.keys[i], ncap); nk[j]; j = (j + 1) & (ncap - 1)) {}
    nk[j] = tr.keys[i];
    nv[j] = tr.vals[i];
  }
  free(tr.keys);
  free(tr.vals);
  tr.keys = nk;
  tr.vals = nv;
  tr.hcap = ncap;
  return 0;
}

/* The slot of key, or (size_t)-1. */
static size_t find(const void *key) {
  size_t i;
  if (tr.hcap == 0) return (size_t)-1;
  for (i = slot_of(key, tr.hcap); tr.keys[i]; i = (i + 1) & (tr.hcap - 1))
    if (tr.keys[i] == key) return i;
  return (size_t)-1;
}

static void remove_slot(size_t i) {
  size_t mask = tr.hcap - 1, j = i;
  tr.keys[i] = NULL;
  tr.hlive--;
  for (;;) {
    size_t home;
    j = (j + 1) & mask;
    if (tr.keys[j] == NULL) return;
    home = slot_of(tr.keys[j], tr.hcap);
    /* Move j back into the hole unless its home lies in (i, j]. */
    if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
      tr.keys[i] = tr.keys[j];
      tr.vals[i] = tr.vals[j];
      tr.keys[j] = NULL;
      i = j;
    }
  }
}

/* ---------------------------------------------------------------------- */
/* Reports from the pools.                                                */

void cf_trace_submit(unsigned *exec_id, int kind, const cf_future *f) {
  int64_t t = now_ns();
  size_t i;
  trec *r;
  cf_mutex_lock(&tr.mu);
  if (!tr.active) goto out;
  if (tr.n >= tr.max) {
    tr.dropped++;
    goto out;
  }
  if (tr.n == tr.cap) {
    size_t ncap = tr.cap ? tr.cap * 2 : 4096;
    trec *nr;
    if (ncap > tr.max) ncap = tr.max;
    nr = realloc(tr.recs, ncap * sizeof *nr);
    if (nr == NULL) {
      tr.dropped++;
      goto out;
    }
    tr.recs = nr;
    tr.cap = ncap;
  }
  if ((tr.hlive + 1) * 2 > tr.hcap && grow_table() != 0) {
    tr.dropped++;
    goto out;
  }
  if (*exec_id == 0) *exec_id = ++next_exec_id;
  i = find(f);
  if (i != (size_t)-1) remove_slot(i);   /* a stale key: see the top */
  for (i = slot_of(f, tr.hcap); tr.keys[i]; i = (i + 1) & (tr.hcap - 1)) {}
  tr.keys[i] = f;
  tr.vals[i] = tr.n;
  tr.hlive++;
  r = &tr.recs[tr.n++];
  memset(r, 0, sizeof *r);
  r->submit = t;
  r->exec = *exec_id;
  r->kind = (unsigned char)kind;
  r->first = next_first;
  r->count = next_count;
out:
  next_count = 0;
  cf_mutex_unlock(&tr.mu);
}

void cf_trace_start(const cf_future *f, int slot, int pid) {
  int64_t t = now_ns();
  size_t i;
  if (slot < 0 && my_tid == 0) my_tid = (int)gettid();
  cf_mutex_lock(&tr.mu);
  if (tr.active && (i = find(f)) != (size_t)-1) {
    trec *r = &tr.recs[tr.vals[i]];
    r->start = t;
    r->tid = slot < 0 ? my_tid : slot + 1;
    r->pid = pid;
  }
  cf_mutex_unlock(&tr.mu);
}

void cf_trace_end(cf_future *f) {
  int64_t t = now_ns();
  int o = O_UNFINISHED;
  size_t i;
  cf_state st = cf_future_state(f);
  if (st == CF_CANCELLED) {
    o = O_CANCELLED;
  } else if (st == CF_FINISHED) {
    switch (cf_future_peek(f, NULL, NULL)) {
    case CF_OUTCOME_RESULT: o = O_OK; break;
    case CF_OUTCOME_ERROR: o = O_ERROR; break;
    default: o = O_BROKEN; break;
    }
  }
  cf_mutex_lock(&tr.mu);
  if (tr.active && (i = find(f)) != (size_t)-1) {
    trec *r = &tr.recs[tr.vals[i]];
    r->end = t;
    r->outcome = (unsigned char)o;
    remove_slot(i);
  }
  cf_mutex_unlock(&tr.mu);
}

/* ---------------------------------------------------------------------- */
/* Starting, stopping, writing.                                           */

int cf_trace_recording(void) {
  int on;
  cf_mutex_lock(&tr.mu);
  on = tr.active;
  cf_mutex_unlock(&tr.mu);
  return on;
}

int cf_trace_start_recording(const char *path, size_t max_events) {
  FILE *out;
  pthread_once(&fork_once, setup_fork);
  cf_mutex_lock(&tr.mu);
  if (tr.active) {
    cf_mutex_unlock(&tr.mu);
    return CF_ESTATE;
  }
  out = fopen(path, "we");
  if (out == NULL) {
    int e = -errno;
    cf_mutex_unlock(&tr.mu);
    return e;
  }
  forget();
  tr.out = out;
  tr.max = max_events ? max_events : 1;
  tr.t0 = now_ns();
  tr.active = 1;
  atomic_store_explicit(&cf_trace_flag, 1, memory_order_relaxed);
  cf_mutex_unlock(&tr.mu);
  return 0;
}

/* Microseconds since the recording started. */
static double us(int64_t t, int64_t t0) {
  return (double)(t - t0) / 1e3;
}

/* Names for the rows: each executor (a "process" of the trace) and each
** of its workers (a "thread"), numbered in the order the rows first
** appear. Returns 0 or -1 (no memory). */
static int write_rows(FILE *o, const trec *recs, size_t n) {
  typedef struct row { unsigned exec; int tid; unsigned char kind; } row;
  row *rows = NULL;
  size_t nrows = 0, cap = 0, i, k;
  unsigned *count = NULL, maxexec = 0;
  for (i = 0; i < n; i++) {
    const trec *r = &recs[i];
    for (k = 0; k < nrows; k++)
      if (rows[k].exec == r->exec && rows[k].tid == r->tid) break;
    if (r->exec > maxexec) maxexec = r->exec;
    if (k < nrows) continue;
    if (nrows == cap) {
      row *nr = realloc(rows, (cap = cap ? cap * 2 : 16) * sizeof *nr);
      if (nr == NULL) goto fail;
      rows = nr;
    }
    rows[nrows].exec = r->exec;
    rows[nrows].tid = r->tid;
    rows[nrows++].kind = r->kind;
  }
  /* count[e]: 0 while executor e is unnamed, then 1 + its workers. */
  count = calloc((size_t)maxexec + 1, sizeof *count);
  if (count == NULL) goto fail;
  for (k = 0; k < nrows; k++) {
    const row *w = &rows[k];
    int procs = w->kind == CF_TRACE_PROCESSES;
    if (count[w->exec] == 0) {
      fprintf(o, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%u,"
              "\"tid\":0,\"args\":{\"name\":\"%s %u\"}},\n", w->exec,
              procs ? "ProcessPoolExecutor" : "ThreadPoolExecutor", w->exec);
      fprintf(o, "{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%u,"
              "\"tid\":0,\"args\":{\"sort_index\":%u}},\n", w->exec, w->exec);
      count[w->exec] = 1;
    }
    if (w->tid == 0) {
      fprintf(o, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%u,"
              "\"tid\":0,\"args\":{\"name\":\"queue (never ran)\"}},\n",
              w->exec);
      continue;
    }
    fprintf(o, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%u,"
            "\"tid\":%d,\"args\":{\"name\":\"worker %u (%s %d)\"}},\n",
            w->exec, w->tid, count[w->exec], procs ? "slot" : "tid",
            procs ? w->tid - 1 : w->tid);
    fprintf(o, "{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%u,"
            "\"tid\":%d,\"args\":{\"sort_index\":%u}},\n", w->exec, w->tid,
            count[w->exec]);
    count[w->exec]++;
  }
  free(rows);
  free(count);
  return 0;
fail:
  free(rows);
  free(count);
  return -1;
}

/* One event a line: examples/trace/timeline.lua reads them back. */
static int write_json(FILE *o, const trec *recs, size_t n, size_t dropped,
                      int64_t t0, int64_t stop) {
  size_t i;
  fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", o);
  if (write_rows(o, recs, n) != 0) return -ENOMEM;
  for (i = 0; i < n; i++) {
    const trec *r = &recs[i];
    int started = r->start != 0;
    int64_t end = r->end ? r->end : stop;
    int64_t begin = started ? r->start : r->submit;
    int64_t wait = (started ? r->start : end) - r->submit;
    char name[64];
    if (r->count > 0)
      snprintf(name, sizeof name, "map items %ld-%ld", r->first,
               r->first + r->count - 1);
    else
      snprintf(name, sizeof name, "task %zu", i + 1);
    fprintf(o, "{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\","
            "\"ts\":%.3f,\"dur\":%.3f,\"pid\":%u,\"tid\":%d,\"args\":{"
            "\"task\":%zu,\"outcome\":\"%s\",\"submit_us\":%.3f,"
            "\"queue_wait_us\":%.3f,\"ran\":%s",
            name, r->kind == CF_TRACE_PROCESSES ? "process" : "thread",
            us(begin, t0), (double)(end - begin) / 1e3, r->exec, r->tid, i + 1,
            outcome_names[r->outcome], us(r->submit, t0), (double)wait / 1e3,
            started ? "true" : "false");
    if (r->pid) fprintf(o, ",\"worker_pid\":%d", r->pid);
    if (r->count > 0)
      fprintf(o, ",\"map_first_item\":%ld,\"map_items\":%ld", r->first,
              r->count);
    fputs("}},\n", o);
  }
  /* A last metadata event closes the list without a trailing comma. */
  fprintf(o, "{\"name\":\"trace_info\",\"ph\":\"M\",\"pid\":0,\"tid\":0,"
          "\"args\":{\"tasks\":%zu,\"dropped\":%zu,\"process\":%d,"
          "\"duration_us\":%.3f}}\n]}\n", n, dropped, (int)getpid(),
          us(stop, t0));
  return 0;
}

int cf_trace_stop_recording(size_t *events, size_t *dropped) {
  FILE *out;
  trec *recs;
  size_t n, nd;
  int64_t stop = now_ns(), t0;
  int rc;
  cf_mutex_lock(&tr.mu);
  if (!tr.active) {
    cf_mutex_unlock(&tr.mu);
    return CF_ESTATE;
  }
  atomic_store_explicit(&cf_trace_flag, 0, memory_order_relaxed);
  out = tr.out;
  recs = tr.recs;
  n = tr.n;
  nd = tr.dropped;
  t0 = tr.t0;
  free(tr.keys);
  free(tr.vals);
  forget();
  cf_mutex_unlock(&tr.mu);
  /* Reports that passed the flag test now find tr.active off. */
  rc = write_json(out, recs, n, nd, t0, stop);
  if (ferror(out) && rc == 0) rc = -(errno ? errno : EIO);
  if (fclose(out) != 0 && rc == 0) rc = -(errno ? errno : EIO);
  free(recs);
  if (events) *events = n;
  if (dropped) *dropped = nd;
  return rc;
}
