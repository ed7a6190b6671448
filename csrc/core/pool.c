/*
** pool.c -- a pool of worker threads over one FIFO of futures.
**
** Threads are made on submit while none is idle, up to max_workers; an
** idle one is woken before a new one is made. Each worker holds a
** reference to the pool. shutdown(wait) claims the threads not yet
** reaped and joins them with pthread_join, then waits on exit_cv until
** nthreads is 0 (threads a concurrent shutdown claimed; a worker
** announces its end as the last thing it does with the pool's lock), so
** that when it returns the threads are gone. Threads nobody joined are
** detached when the pool is freed. Shutdown lets queued tasks run unless
** cancel_futures.
**
** Speed: a submit is one short critical section, and it signals the work
** condition only when a worker sleeps on it and has not been signalled
** yet. A worker that finds the queue empty spins a little (watching the
** queue length, without the lock) before it sleeps, so a stream of
** submits rarely pays for a futex wake. A worker moves a task's input out
** of the future into its own reusable buffer as it starts it.
**
** Lock order: pool mutex, then a future's stripe (cancelling or failing
** queued futures is done after the pool mutex is released).
**
** Priorities (cf_pool_submit_with): the queue is kept in priority order
** by squeue.c, so the head is always the next task and taking one is
** unchanged. Each worker has an interrupt cell
** (interrupt.c) that holds the task it runs.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "future.h"
#include "help.h"
#include "interrupt.h"
#include "squeue.h"
#include "timeout.h"
#include "trace.h"

/* The fields are grouped by who writes them and how often, each group on
** cache lines of its own (CF_LINE), so that a submit takes one line from
** the workers (the queue's) and reads the rest from its own cache. */
#define CF_LINE _Alignas(64)
struct cf_pool {
  /* Set when the pool is made, or rarely written. */
  cf_object hdr;
  int max_workers;
  pid_t owner;                 /* its process: inert in a forked child */
  int masked;                  /* threads are born with signals blocked */
  unsigned trace_id;           /* trace.c's number for it, 0 until traced */
  unsigned help_tag;           /* help.c's tag on its futures, 0: none */
  atomic_int shutdown;         /* read unlocked by cf_pool_is_shutdown */
  int broken;
  char *broken_msg;
  long max_tasks;              /* tasks a worker state runs, 0: no limit */
  cf_pool_hooks hooks;
  pthread_attr_t attr;         /* how workers are created */
  pthread_t *tids;             /* threads made and not yet reaped */
  int ntids;
  int nthreads;                /* live worker threads */
  pthread_cond_t exit_cv;      /* a worker ended */
  /* The queue: under mu, by the submitter and a worker each task. */
  CF_LINE pthread_mutex_t mu;
  cf_future *head, *tail;      /* queue, linked through future->next */
  atomic_int queued;           /* tasks in the queue (read unlocked) */
  int ranked;                  /* a queued task may have priority != 0 */
  /* Under mu too, written as workers sleep and wake. */
  CF_LINE int idle;            /* workers waiting on work_cv */
  int wakeups;                 /* signals sent and not yet taken */
  cf_helper *helpers;          /* waiting workers asleep (help.c) */
  pthread_cond_t work_cv;      /* a task was queued, or shutdown */
  /* Written by the workers each task. */
  CF_LINE atomic_int finishing; /* workers whose task is done, not yet back */
  atomic_int spinning;         /* idle workers watching the queue, awake */
  CF_LINE cf_counts counts;    /* for cf_pool_stats */
  atomic_long stale;           /* queued entries a waiter already ran */
};

/* The pool the calling thread works for, so that a task shutting its own
** pool down with wait does not wait for itself. */
static CF_TLS cf_pool *current_pool;
/* Tasks the calling worker ran in its current state (nested ones too). */
static CF_TLS long tasks_run;

static void pool_destroy(void *obj);
static const cf_kind pool_kind = {"pool", pool_destroy};

static inline int foreign(const cf_pool *p) {
  return cf_self_pid() != p->owner;
}

cf_pool *cf_pool_new(int max_workers, const cf_pool_hooks *hooks) {
  cf_pool *p;
  if (max_workers <= 0) return NULL;
  p = aligned_alloc(_Alignof(cf_pool), sizeof *p);   /* its lines */
  if (p == NULL) return NULL;
  memset(p, 0, sizeof *p);
  cf_object_init(p, &pool_kind);
  {
    /* Adaptive: the submitter and the workers hold it for a few dozen
    ** instructions, so a short spin beats sleeping on the futex. */
    pthread_mutexattr_t ma;
    if (pthread_mutexattr_init(&ma) != 0) abort();
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    if (pthread_mutex_init(&p->mu, &ma) != 0) abort();
    pthread_mutexattr_destroy(&ma);
  }
  cf_cond_init(&p->work_cv);
  cf_cond_init(&p->exit_cv);
  p->max_workers = max_workers;
  p->tids = malloc((size_t)max_workers * sizeof *p->tids);
  if (p->tids == NULL) {
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->exit_cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return NULL;
  }
  {
    /* Workers are born with every signal blocked: one sigprocmask call
    ** fewer per worker than blocking them in the thread. */
    sigset_t all;
    if (pthread_attr_init(&p->attr) != 0) abort();
    sigfillset(&all);
    p->masked = pthread_attr_setsigmask_np(&p->attr, &all) == 0;
  }
  p->owner = cf_self_pid();
  if (hooks) p->hooks = *hooks;
  p->help_tag = cf_help_tag_new();
  return p;
}

static cf_future *take_queue(cf_pool *p) {
  cf_future *q = p->head;
  p->head = p->tail = NULL;
  p->ranked = 0;
  atomic_store_explicit(&p->queued, 0, memory_order_relaxed);
  return q;
}

/* A queued task that will not run: cancel it (unless someone finished
** it), then free its input and argument. */
static void cancel_task(cf_pool *p, cf_future *f) {
  if (!cf_future_cancel(f)) {
    /* Started in place by a waiting worker (help.c), or finished by
    ** someone: theirs, argument included; only its entry goes. */
    if (atomic_fetch_or(&f->word, WORD_DROPPED) & WORD_NESTED)
      atomic_fetch_sub(&p->stale, 1);
    return;
  }
  atomic_fetch_add(&p->counts.cancelled, 1);
  if (CF_TRACING()) cf_trace_end(f);
  cf_future_drop_input(f);
  cf_future_free_arg(f);
}

static void fail_broken(cf_future *f, const char *msg) {
  cf_buffer b = CF_BUFFER_INIT;
  cf_buffer_append(&b, msg, strlen(msg));
  /* finish takes the input itself; a cancelled one keeps it till here. */
  if (cf_future_finish(f, CF_OUTCOME_BROKEN_THREAD, &b, NULL) != 0)
    cf_future_drop_input(f);
  if (CF_TRACING()) cf_trace_end(f);
  cf_future_free_arg(f);
  cf_buffer_free(&b);
}

static void pool_destroy(void *obj) {
  cf_pool *p = obj;
  cf_future *f = take_queue(p), *next;
  int i;
  for (i = 0; i < p->ntids; i++) pthread_detach(p->tids[i]);
  free(p->tids);
  for (; f != NULL; f = next) {   /* only if no thread could be made */
    next = f->next;
    cancel_task(p, f);
    cf_release(f);
  }
  if (p->hooks.destroy) p->hooks.destroy(p->hooks.ud);
  cf_help_tag_free(p->help_tag);
  free(p->broken_msg);
  pthread_attr_destroy(&p->attr);
  pthread_cond_destroy(&p->work_cv);
  pthread_cond_destroy(&p->exit_cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

/* Mark the pool broken and fail everything queued (after unlocking). */
static void pool_break(cf_pool *p, const char *msg) {
  cf_future *q, *next;
  const char *m;
  cf_mutex_lock(&p->mu);
  if (!p->broken) {
    p->broken = 1;
    p->broken_msg = strdup(msg && *msg ? msg : "a worker failed to start");
  }
  q = take_queue(p);
  m = p->broken_msg ? p->broken_msg : "pool is broken";
  pthread_cond_broadcast(&p->work_cv);
  cf_mutex_unlock(&p->mu);
  for (; q != NULL; q = next) {
    next = q->next;
    atomic_fetch_add(&p->counts.started, 1);   /* ended at once, failed */
    atomic_fetch_add(&p->counts.failed, 1);
    fail_broken(q, m);
    cf_release(q);
  }
}

/* Queue f in priority order (squeue.c); called with p->mu held. The
** common case (priority 0, no other queued) appends here. */
static inline void queue_push(cf_pool *p, cf_future *f, int prio) {
  if (prio == 0 && !p->ranked) {
    f->next = NULL;
    if (p->tail) p->tail->next = f; else p->head = f;
    p->tail = f;
  } else {
    cf_squeue q = {&p->head, &p->tail, &p->ranked};
    cf_squeue_push(q, f, prio);
  }
}

/* The next task (the head: the queue is in priority order), with p->mu
** held; NULL if none. */
static cf_future *queue_pop(cf_pool *p) {
  cf_future *f = p->head;
  if (f != NULL) {
    p->head = f->next;
    if (p->head == NULL) p->tail = NULL, p->ranked = 0;
    atomic_fetch_sub_explicit(&p->queued, 1, memory_order_relaxed);
  }
  return f;
}

/* Take the queued tasks submitted with key out of the queue (p->mu held):
** the caller cancels them once it has unlocked. */
static cf_future *queue_take_key(cf_pool *p, const char *key, size_t klen) {
  cf_squeue q = {&p->head, &p->tail, &p->ranked};
  int n;
  cf_future *taken = cf_squeue_take_key(q, key, klen, &n);
  atomic_fetch_sub_explicit(&p->queued, n, memory_order_relaxed);
  return taken;
}

/* Run one dequeued task. Returns 1 if it ran and this worker was counted
** in p->finishing as its result was published. Nested (help.c): the
** worker is not coming back for work when it ends (nothing is counted in
** p->finishing), and the thread's task records are the waiting task's
** again afterwards, its interrupt cell's task included; nested 2: f is
** claimed in place, still queued, and if it is cancelled the worker that
** dequeues it counts it. A task started by someone else (claimed in
** place) is theirs, argument included. */
static int run_body(cf_pool *p, cf_future *f, void *ctx, cf_buffer *in,
                    cf_icell *cell, int nested, int *ran) {
  int rc = cf_future_start(f, in), was_counted = 0;
  cf_future *outer = NULL;
  double limit = -1;
  *ran = rc == 0;
  if (rc == -ENOMEM) {                       /* reported, never masked */
    atomic_fetch_add(&p->counts.started, 1);
    atomic_fetch_add(&p->counts.failed, 1);
    cf_future_finish(f, CF_OUTCOME_NOMEM, NULL, NULL);
  } else if (rc == 0) {
    if (CF_TRACING()) cf_trace_start(f, -1, 0);
    /* One atomic add a task here and one as it ends (future.c): running
    ** is started - completed - failed. */
    atomic_fetch_add_explicit(&p->counts.started, 1, memory_order_relaxed);
    if (nested) atomic_fetch_add(&p->counts.nested, 1);
    tasks_run++;
    cf_current_task = f;
    cf_current_input = in;
    cf_current_finishing = nested ? NULL : &p->finishing;
    cf_current_counted = 0;
    cf_current_counts = &p->counts;
    cf_current_nested = nested;
    if (cell) {
      if (nested) outer = cf_icell_task(cell);
      cf_icell_begin(cell, f);
    }
    if (atomic_load_explicit(&f->x, memory_order_relaxed) != NULL &&
        (limit = cf_future_time_limit(f)) > 0 && cf_timeout_add(f, limit) != 0)
      limit = -1;                     /* no memory: it runs without one */
    f->fn(f, ctx, cf_future_arg(f));
    if (!cf_future_done(f)) cf_future_finish(f, CF_OUTCOME_RESULT, NULL, NULL);
    if (limit > 0) cf_timeout_remove(f);
    if (cell) {
      cf_icell_end(cell);
      /* The waiting task is the cell's again: a stop asked of it while
      ** f ran (it was not found then) takes effect now. */
      if (outer) cf_icell_begin(cell, outer);
    }
    if (cf_current_counts != NULL) {         /* finished by someone else */
      const char *tb;
      atomic_fetch_add(cf_future_outcome(f, NULL, &tb) == CF_OUTCOME_RESULT
                           ? &p->counts.completed : &p->counts.failed, 1);
      if (nested) atomic_fetch_sub(&p->counts.nested, 1);
      cf_current_counts = NULL;
    }
    if (CF_TRACING()) cf_trace_end(f);
    was_counted = cf_current_counted;
    cf_current_task = NULL;
    cf_current_input = NULL;
    cf_buffer_reset(in);                     /* keeps its memory */
  } else if (rc == CF_ECANCELLED && nested != 2) {
    atomic_fetch_add(&p->counts.cancelled, 1);
    if (CF_TRACING()) cf_trace_end(f);
    cf_future_drop_input(f);
  }
  if (rc == 0 || rc == -ENOMEM || (rc == CF_ECANCELLED && nested != 2))
    cf_future_free_arg(f);
  if (nested == 2 && (rc == 0 || rc == -ENOMEM)) {
    if (!(atomic_fetch_or(&f->word, WORD_NESTED) & WORD_DROPPED))
      atomic_fetch_add(&p->stale, 1);       /* still queued */
  } else if (nested != 2 && rc == CF_ESTATE) {
    if (atomic_fetch_or(&f->word, WORD_DROPPED) & WORD_NESTED)
      atomic_fetch_sub(&p->stale, 1);       /* a stale entry leaves */
  }
  return was_counted;
}

static int run_task(cf_pool *p, cf_future *f, void *ctx, cf_buffer *in,
                    cf_icell *cell) {
  int ran, was_counted = run_body(p, f, ctx, in, cell, 0, &ran);
  cf_release(f);
  return was_counted;
}

/* How long an idle worker watches the queue before it sleeps. */
#ifndef IDLE_PAUSES
#define IDLE_PAUSES 100
#endif
#ifndef IDLE_YIELDS
#define IDLE_YIELDS 0
#endif

static int queue_shows_work(cf_pool *p) {
  int i;
  for (i = 0; i < IDLE_PAUSES + IDLE_YIELDS; i++) {
    if (atomic_load_explicit(&p->queued, memory_order_relaxed) > 0 ||
        atomic_load_explicit(&p->shutdown, memory_order_relaxed))
      return 1;
    if (i < IDLE_PAUSES) cf_cpu_relax();
    else sched_yield();
  }
  return 0;
}

/* max_tasks_per_worker: the worker's context (its Lua state) has run its
** tasks; a fresh one replaces it, made as the first was (initializer
** included). 0 if it could not be made: the pool breaks, as when a worker
** fails to start. */
static int renew_worker(cf_pool *p, void **ctx) {
  char msg[1024] = "";
  tasks_run = 0;
  if (p->hooks.worker_stop) p->hooks.worker_stop(p->hooks.ud, *ctx);
  *ctx = NULL;
  if (p->hooks.worker_start &&
      p->hooks.worker_start(p->hooks.ud, ctx, msg, sizeof msg) != 0) {
    pool_break(p, msg);
    return 0;
  }
  cf_help_enter(p, p->help_tag, *ctx);
  return 1;
}

static void *worker_main(void *arg) {
  cf_pool *p = arg;
  cf_icell *cell;
  void *ctx = NULL;
  int started = 1, was_counted = 0;
  cf_buffer in = CF_BUFFER_INIT;
  if (!p->masked) cf_block_signals();
#ifdef SCHED_BATCH
  {
    /* A batch thread does not preempt the thread that woke it: a submit
    ** that wakes a worker keeps its CPU (the worker starts on an idle
    ** one), where a normal thread, having slept, would take it. */
    struct sched_param sp;
    memset(&sp, 0, sizeof sp);
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
  }
#endif
  current_pool = p;
  cell = cf_icell_new(p);          /* none (no memory): not stoppable */
  if (cell) cf_icell_adopt(cell);
  if (p->hooks.worker_start) {
    char msg[1024] = "";
    if (p->hooks.worker_start(p->hooks.ud, &ctx, msg, sizeof msg) != 0) {
      started = 0;
      pool_break(p, msg);
    }
  }
  if (started) cf_help_enter(p, p->help_tag, ctx);
  while (started) {
    cf_future *f;
    cf_mutex_lock(&p->mu);
    if (was_counted) atomic_fetch_sub(&p->finishing, 1);
    was_counted = 0;
    if (p->head == NULL && !p->shutdown && !p->broken) {
      atomic_fetch_add(&p->spinning, 1);
      cf_mutex_unlock(&p->mu);
      queue_shows_work(p);
      cf_mutex_lock(&p->mu);
      atomic_fetch_sub(&p->spinning, 1);
    }
    while (p->head == NULL && !p->shutdown && !p->broken) {
      p->idle++;
      pthread_cond_wait(&p->work_cv, &p->mu);
      p->idle--;
      if (p->wakeups > 0) p->wakeups--;
    }
    f = queue_pop(p);
    cf_mutex_unlock(&p->mu);
    if (f == NULL) break;
    was_counted = run_task(p, f, ctx, &in, cell);
    if (p->max_tasks > 0 && tasks_run >= p->max_tasks &&
        !renew_worker(p, &ctx)) {
      started = 0;
      break;
    }
  }
  if (started && p->hooks.worker_stop) p->hooks.worker_stop(p->hooks.ud, ctx);
  cf_help_leave();
  cf_buffer_free(&in);
  cf_icell_leave();
  current_pool = NULL;
  cf_mutex_lock(&p->mu);
  p->nthreads--;
  pthread_cond_broadcast(&p->exit_cv);
  cf_mutex_unlock(&p->mu);
  cf_release(p);
  return NULL;
}

/* Called with p->mu held. */
static int spawn_worker(cf_pool *p) {
  pthread_t t;
  int e;
  if (p->ntids >= p->max_workers) return -EAGAIN;   /* not reaped yet */
  cf_retain(p);
  p->nthreads++;
  e = pthread_create(&t, &p->attr, worker_main, p);
  if (e != 0) {
    p->nthreads--;
    cf_release(p);   /* never the last: the caller holds one */
    return -e;
  }
  p->tids[p->ntids++] = t;
  return 0;
}

/* Queue f: f, or NULL with *rc set and f untouched (its input and arg
** still in it, for the caller to take back: a failed submit takes
** nothing from its caller). */
static inline __attribute__((always_inline)) cf_future *submit(
    cf_pool *p, cf_future *f, const cf_task_opts *o, int *rc) {
  int e = 0, queued, wake = 0;
  cf_future *stale = NULL, *next;
  *rc = 0;
  if (foreign(p)) {   /* forked child: no workers, maybe a stale lock */
    fail_broken(f, "this pool belongs to the process that made it, not to a forked child");
    return f;
  }
  cf_mutex_lock(&p->mu);
  if (p->shutdown) {
    cf_mutex_unlock(&p->mu);
    *rc = CF_ESHUTDOWN;
    return NULL;
  }
  if (p->broken) {
    char *m = strdup(p->broken_msg ? p->broken_msg : "pool is broken");
    cf_mutex_unlock(&p->mu);
    atomic_fetch_add(&p->counts.started, 1);   /* ended at once, failed */
    atomic_fetch_add(&p->counts.failed, 1);
    fail_broken(f, m ? m : "pool is broken");
    free(m);
    return f;
  }
  cf_retain(f);                       /* the queue's reference */
  /* f is not shared yet: a plain store, no read-modify-write. */
  atomic_store_explicit(&f->word, atomic_load_explicit(&f->word,
                        memory_order_relaxed) | p->help_tag << WORD_TAG_SHIFT,
                        memory_order_relaxed);
  if (CF_TRACING()) cf_trace_submit(&p->trace_id, CF_TRACE_THREADS, f);
  if (o && o->key) stale = queue_take_key(p, o->key, o->klen);
  queue_push(p, f, o ? o->priority : 0);
  queued = atomic_fetch_add_explicit(&p->queued, 1, memory_order_relaxed) + 1;
  /* Wake an idle worker; else count workers about to come back for more
  ** (done with a task, or awake and watching the queue) before making a
  ** new one. */
  if (p->idle > p->wakeups) {
    p->wakeups++;
    wake = 1;                         /* signalled after the unlock */
  } else if (p->nthreads < p->max_workers &&   /* full: no counter read */
             queued > atomic_load(&p->finishing) + atomic_load(&p->spinning)) {
    e = spawn_worker(p);
  } else if (p->helpers != NULL) {    /* a waiting worker will run it */
    cf_help_poke(&p->helpers);
  }
  if (e != 0 && p->nthreads == 0) {
    /* No thread to run it: take it back out. */
    take_queue(p);
    cf_mutex_unlock(&p->mu);
    cf_release(f);                    /* the queue's reference */
    f = NULL;
    *rc = e;
  } else {
    cf_mutex_unlock(&p->mu);
  }
  /* Signalled under the mutex, the worker would wake only to wait for it
  ** (the caller holds a reference to p: it is still there). */
  if (wake) pthread_cond_signal(&p->work_cv);
  for (; stale != NULL; stale = next) {   /* the latest of a key wins */
    next = stale->next;
    cancel_task(p, stale);
    cf_release(stale);
  }
  return f;
}

cf_future *cf_pool_submit(cf_pool *p, cf_task_fn fn, void *arg,
                          void (*arg_free)(void *), int *rc) {
  cf_future *f = cf_future_new(), *queued;
  if (f == NULL || cf_future_set_arg(f, arg, arg_free) != 0) {
    cf_release(f);
    *rc = -ENOMEM;
    return NULL;
  }
  f->fn = fn;
  if ((queued = submit(p, f, NULL, rc)) == NULL) {
    cf_future_set_arg(f, NULL, NULL);   /* arg stays the caller's */
    cf_future_cancel(f);
    cf_release(f);
  }
  return queued;
}

/* The input is stored inline in the future when it is small (one
** allocation for the future and its task). */
static inline __attribute__((always_inline)) cf_future *submit_input(
    cf_pool *p, cf_task_fn fn, cf_buffer *input, const cf_task_opts *o,
    int *rc);

cf_future *cf_pool_submit_buffer(cf_pool *p, cf_task_fn fn, cf_buffer *input,
                                 int *rc) {
  return submit_input(p, fn, input, NULL, rc);
}

cf_future *cf_pool_submit_with(cf_pool *p, cf_task_fn fn, cf_buffer *input,
                               const cf_task_opts *o, int *rc) {
  return submit_input(p, fn, input, o, rc);
}

/* Inline in both: without options (o NULL) the compiler drops their
** branches from cf_pool_submit_buffer, the hot path. */
static inline __attribute__((always_inline)) cf_future *submit_input(
    cf_pool *p, cf_task_fn fn, cf_buffer *input, const cf_task_opts *o,
    int *rc) {
  size_t room = cf_future_room_for(input);
  cf_future *f = cf_future_new_sized(room <= 2040 ? room : 0), *queued;
  if (o && (o->priority != 0 || o->timeout > 0 || o->key) && f != NULL &&
      cf_future_set_sched(f, o->priority, o->timeout > 0 ? o->timeout : -1,
                          o->key, o->klen) != 0) {
    cf_release(f);
    f = NULL;
  }
  if (f == NULL || cf_future_put_input(f, input) != 0) {
    cf_release(f);
    *rc = -ENOMEM;
    return NULL;
  }
  f->fn = fn;
  if ((queued = submit(p, f, o, rc)) == NULL) {
    cf_future_take_input(f, input);     /* the input stays the caller's */
    cf_future_cancel(f);
    cf_release(f);
  }
  return queued;
}

int cf_pool_shutdown(cf_pool *p, int wait, int cancel_futures) {
  cf_future *q = NULL, *next;
  if (foreign(p)) return 0;   /* forked child: nothing to stop */
  cf_mutex_lock(&p->mu);
  atomic_store(&p->shutdown, 1);
  if (cancel_futures) q = take_queue(p);
  cf_mutex_unlock(&p->mu);
  /* After the unlock: woken under it, each idle worker would first sleep
  ** again on the mutex this thread holds (a wake-up more per worker). A
  ** worker that checked before the store is asleep on the condition by
  ** now, or sees the flag when it takes the mutex. */
  pthread_cond_broadcast(&p->work_cv);
  for (; q != NULL; q = next) {
    next = q->next;
    cancel_task(p, q);
    cf_release(q);
  }
  if (wait) {
    int self = current_pool == p, i, n = 0;
    pthread_t me = pthread_self(), *reap;
    /* Claim the threads to reap (all but this one, if it is a worker) and
    ** join them straight away: a join returns once its thread is gone,
    ** so waiting for exit_cv first would only add a wake-up per thread. */
    cf_mutex_lock(&p->mu);
    reap = malloc((size_t)(p->ntids ? p->ntids : 1) * sizeof *reap);
    if (reap != NULL) {
      for (i = 0; i < p->ntids; i++) {
        if (self && pthread_equal(p->tids[i], me)) p->tids[n++] = me;
        else reap[i - n] = p->tids[i];
      }
      i = p->ntids - n;
      p->ntids = n;
      n = i;
    }
    cf_mutex_unlock(&p->mu);
    for (i = 0; i < n; i++) pthread_join(reap[i], NULL);
    free(reap);
    /* Threads another shutdown claimed (or none could be claimed). */
    cf_mutex_lock(&p->mu);
    while (p->nthreads > self) pthread_cond_wait(&p->exit_cv, &p->mu);
    cf_mutex_unlock(&p->mu);
  }
  return 0;
}

/* A shutdown's wait, in pieces: until every worker but the caller has
** ended (0) or the timeout passes (CF_ETIMEDOUT). The binding waits so,
** in slices, before cf_pool_shutdown(p, 1, ...) reaps the threads. Once
** the pool is shut down (no thread is made any more) the threads
** themselves are claimed and joined here, one at a time, each with the
** deadline (cf_join_until): a worker's exit wakes this thread once, where
** waiting on exit_cv cost that wake-up, then one on the mutex the worker
** still held as it broadcast, then pthread_join's. One whose deadline
** passes goes back to the list, unjoined. What is left (threads another
** shutdown claimed, or no timed join here) is waited for on exit_cv, and
** so is all of it in a thread that runs tasks: a stop asked of its task
** ends a wait on exit_cv (cf_cond_wait_obj), not a join. */
int cf_pool_wait_exit(cf_pool *p, double timeout) {
  cf_deadline dl;
  int self = current_pool == p, rc = 0;
  pthread_t me = pthread_self();
  if (foreign(p)) return 0;
  cf_deadline_set(&dl, timeout);
  while (atomic_load(&p->shutdown) && cf_icell_current() == NULL) {
    pthread_t t;
    int i, found = 0;
    cf_mutex_lock(&p->mu);
    for (i = p->ntids - 1; i >= 0 && !found; i--) {
      if (self && pthread_equal(p->tids[i], me)) continue;
      t = p->tids[i];
      p->tids[i] = p->tids[--p->ntids];
      found = 1;
    }
    cf_mutex_unlock(&p->mu);
    if (!found) break;
    rc = cf_join_until(t, &dl);
    if (rc != 0) {                       /* not joined: back to the list */
      cf_mutex_lock(&p->mu);
      p->tids[p->ntids++] = t;
      cf_mutex_unlock(&p->mu);
      if (rc == CF_ETIMEDOUT) return rc;
      break;                             /* no timed join: exit_cv */
    }
  }
  rc = 0;
  cf_mutex_lock(&p->mu);
  while (p->nthreads > self && rc == 0)
    rc = cf_cond_wait_obj(p, &p->exit_cv, &p->mu, &dl);
  rc = p->nthreads > self ? CF_ETIMEDOUT : 0;
  cf_mutex_unlock(&p->mu);
  return rc;
}

#define POOL_GETTER(name, expr)          \
  int name(cf_pool *p) {                 \
    int v;                               \
    if (foreign(p)) return (expr); /* forked child: a private copy */ \
    cf_mutex_lock(&p->mu);                     \
    v = (expr);                          \
    cf_mutex_unlock(&p->mu);                   \
    return v;                            \
  }

POOL_GETTER(cf_pool_max_workers, p->max_workers)
POOL_GETTER(cf_pool_thread_count, p->nthreads)
POOL_GETTER(cf_pool_is_broken, p->broken)

int cf_pool_is_shutdown(cf_pool *p) {
  return atomic_load_explicit(&p->shutdown, memory_order_acquire);
}

/* ---------------------------------------------------------------------- */
/* Worker recycling, stats, and what help.c needs of the queue.           */

int cf_pool_set_max_tasks(cf_pool *p, long n) {
  int rc = 0;
  if (n < 0) return CF_ESTATE;
  cf_mutex_lock(&p->mu);
  if (p->nthreads > 0 || p->ntids > 0) rc = CF_ESTATE;   /* before any worker */
  else p->max_tasks = n;
  cf_mutex_unlock(&p->mu);
  return rc;
}

/* Counters read one by one (no lock but for the thread count): exact
** when nothing moves, never torn. A worker runs one top-level task at a
** time, so the workers that are not idle are the running tasks that are
** not nested. */
void cf_pool_stats(cf_pool *p, cf_stats *s) {
  long top;
  if (foreign(p)) {
    memset(s, 0, sizeof *s);
    return;
  }
  cf_mutex_lock(&p->mu);
  s->workers = p->nthreads;
  cf_mutex_unlock(&p->mu);
  s->pending = atomic_load(&p->queued) - atomic_load(&p->stale);
  if (s->pending < 0) s->pending = 0;
  /* Ended before started: a task is counted started before it ends. */
  s->completed = atomic_load(&p->counts.completed);
  s->failed = atomic_load(&p->counts.failed);
  s->running = atomic_load(&p->counts.started) - s->completed - s->failed;
  top = s->running - atomic_load(&p->counts.nested);
  s->idle = s->workers - (top > 0 ? top : 0);
  if (s->idle < 0) s->idle = 0;
  s->cancelled = atomic_load(&p->counts.cancelled);
}

cf_future *cf_pool_help_take(cf_pool *p) {
  cf_future *f;
  cf_mutex_lock(&p->mu);
  f = queue_pop(p);                   /* the workers' order: priority */
  cf_mutex_unlock(&p->mu);
  return f;
}

int cf_pool_help_run(cf_pool *p, cf_future *f, void *ctx, int in_queue) {
  cf_future *task = cf_current_task;
  cf_buffer *input = cf_current_input, in = CF_BUFFER_INIT;
  atomic_int *finishing = cf_current_finishing;
  int counted = cf_current_counted, nested = cf_current_nested, ran;
  cf_counts *counts = cf_current_counts;
  /* Claimed in place (in_queue), f stays queued: the worker that
  ** dequeues it later finds it started and only drops the queue's
  ** reference. */
  run_body(p, f, ctx, &in, cf_icell_current(), in_queue ? 2 : 1, &ran);
  if (!in_queue) cf_release(f);
  cf_buffer_free(&in);
  cf_current_task = task;
  cf_current_input = input;
  cf_current_finishing = finishing;
  cf_current_counted = counted;
  cf_current_counts = counts;
  cf_current_nested = nested;
  return ran || !in_queue;
}

int cf_pool_help_park(cf_pool *p, cf_helper *h) {
  int work;
  cf_mutex_lock(&p->mu);
  work = p->head != NULL;
  if (!work) {
    h->next = p->helpers;
    h->linked = 1;
    p->helpers = h;
  }
  cf_mutex_unlock(&p->mu);
  return work;
}

void cf_pool_help_unpark(cf_pool *p, cf_helper *h) {
  cf_mutex_lock(&p->mu);
  if (h->linked) {
    cf_helper **pp = &p->helpers;
    while (*pp != NULL && *pp != h) pp = &(*pp)->next;
    if (*pp == h) *pp = h->next;
    h->linked = 0;
  }
  cf_mutex_unlock(&p->mu);
  cf_waiter_poke(h->w, 0);
}

int cf_pool_interrupt(cf_pool *p) {
  return cf_icell_interrupt_owner(p, 0);
}
