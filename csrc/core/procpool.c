/*
** procpool.c -- a pool of forked worker processes (the core of
** ProcessPoolExecutor). Pure C: the task runner and the worker's context
** come from hooks, as for thread pools.
**
** Shape. Submit queues a future (its input buffer: bytes only, no object
** references) and wakes the manager, a detached thread made at the first
** submit. The manager alone forks workers, talks to them and reaps them:
** it starts workers while queued tasks outnumber idle ones (up to
** max_workers), sends each idle worker one task at a time, and poll()s
** the workers' sockets and pidfds. A worker is forked from the manager,
** which holds no lock at that moment; in the child it unblocks signals,
** resets caught signals to their defaults, drops the stdio buffers it
** inherited, closes every inherited descriptor but its socket, makes its
** context with worker_start (a fresh Lua state in the binding) and then
** serves tasks until told to exit or its socket closes.
**
** Wire (procwire.c, with the worker process's side). One AF_UNIX stream socketpair per worker (SOCK_CLOEXEC; sends use
** MSG_NOSIGNAL so a dead peer is EPIPE, not SIGPIPE). A frame is a u64
** body length, a u8 kind and the body, all native byte order (both ends
** are the same program on the same machine). Parent to child: TASK (the
** input bytes), EXIT. Child to parent: HELLO or HELLO_FAIL (a message)
** once, then RESULT or ERROR per task: u64 traceback length, the
** traceback, then the payload bytes.
**
** Death. A worker is lost when its socket reaches EOF, a send or receive
** fails, or its pidfd says it exited (a descriptor copied into some other
** forked child can keep a socket open, so the pidfd is what really tells;
** without pidfds the manager polls waitpid every 100 ms). A lost worker
** breaks the pool, as in Python: every worker is killed and reaped, and
** in-flight, queued and later futures fail with CF_OUTCOME_BROKEN_PROCESS.
**
** Stopping (procstop.c). A task asked to stop is signalled (SIGUSR1) by
** the manager; a worker still on it CF_STOP_GRACE seconds later is killed
** by the manager, reaped and its slot freed for a new one: unlike a worker
** that died on its own (lost()), that does not break the pool, and the
** task ends stopped (cancelled, or timed out).
**
** Ownership. The pool is reference counted; the manager holds a reference
** while it runs; "joining" is waiting on done_cv until the manager has
** reaped every worker and ended. A pool is inert in a forked child of its
** owner (another pid): submit fails the future at once and shutdown
** returns, touching no lock some vanished thread may hold.
**
** Lock order: pool mutex, then a future's mutex (futures are finished or
** cancelled after the pool mutex is released). The manager never holds
** the mutex while it forks, sends, receives, polls or waits.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "future.h"
#include "interrupt.h"
#include "procstop.h"
#include "procwire.h"
#include "squeue.h"
#include "trace.h"

enum { W_FREE = 0, W_STARTING, W_IDLE, W_BUSY };

typedef struct wproc {
  pid_t pid;          /* 0 when the slot is free (set under the pool mutex) */
  int fd;             /* the manager's end of the socketpair */
  int pidfd;          /* -1 without pidfd support */
  int state;
  cf_future *task;    /* in flight, retained */
  long ntasks;        /* tasks it has run (max_tasks_per_child) */
  cf_slotstop stop;   /* asking its task to stop (the manager's) */
} wproc;

struct cf_procpool {
  cf_object hdr;
  pthread_mutex_t mu;
  pthread_cond_t done_cv;      /* the manager ended */
  cf_future *head, *tail;      /* queue, linked through future->next */
  int nqueued;
  int ranked;                  /* a queued task may have priority != 0 (squeue.c) */
  int max_workers;
  int shutdown, broken;
  int manager;                 /* 0 never started, 1 running, 2 ended */
  int nprocs;                  /* live worker processes */
  char *broken_msg;
  int wakefd;                  /* eventfd: submit and shutdown wake the manager */
  pid_t owner;                 /* the process that made the pool */
  cf_task_fn fn;
  cf_pool_hooks hooks;
  wproc *w;                    /* max_workers slots, the manager's */
  unsigned trace_id;           /* trace.c's number for it, 0 until traced */
  long max_tasks;              /* tasks a worker runs before it is replaced */
  cf_counts counts;            /* for cf_procpool_stats (no nesting here) */
};

static void procpool_destroy(void *obj);

/* The counts fail_broken adds to: set by the callers that fail a pool's
** futures (a thread-local, so fail_broken keeps its signature). */
static CF_TLS cf_counts *counting;
static const cf_kind procpool_kind = {"procpool", procpool_destroy};

static int foreign(const cf_procpool *p) {
  return getpid() != p->owner;
}

cf_procpool *cf_procpool_new(int max_workers, cf_task_fn fn,
                             const cf_pool_hooks *hooks) {
  cf_procpool *p;
  if (max_workers <= 0 || fn == NULL) return NULL;
  p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->w = calloc((size_t)max_workers, sizeof *p->w);
  p->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (p->w == NULL || p->wakefd < 0) {
    if (p->wakefd >= 0) close(p->wakefd);
    free(p->w);
    free(p);
    return NULL;
  }
  cf_object_init(p, &procpool_kind);
  {
    int i;   /* a slot without a cell (no memory) is not interruptible */
    for (i = 0; i < max_workers; i++)
      cf_slotstop_init(&p->w[i].stop, p, p->wakefd);
  }
  cf_mutex_init(&p->mu);
  cf_cond_init(&p->done_cv);
  p->max_workers = max_workers;
  p->owner = getpid();
  p->fn = fn;
  if (hooks) p->hooks = *hooks;
  return p;
}

static cf_future *take_queue(cf_procpool *p) {
  cf_future *q = p->head;
  p->head = p->tail = NULL;
  p->ranked = 0;
  p->nqueued = 0;
  return q;
}

static void fail_broken(cf_future *f, const char *msg) {
  cf_buffer b = CF_BUFFER_INIT;
  if (counting != NULL) atomic_fetch_add(&counting->failed, 1);
  cf_buffer_append(&b, msg, strlen(msg));
  if (cf_future_set_running(f) == 0 || !cf_future_done(f))
    cf_future_finish(f, CF_OUTCOME_BROKEN_PROCESS, &b, NULL);
  if (CF_TRACING()) cf_trace_end(f);
  cf_buffer_free(&b);
}

/* Only when no manager runs (it holds a reference). */
static void procpool_destroy(void *obj) {
  cf_procpool *p = obj;
  cf_future *f = take_queue(p), *next;
  for (; f != NULL; f = next) {
    next = f->next;
    if (cf_future_cancel(f)) atomic_fetch_add(&p->counts.cancelled, 1);
    cf_future_drop_input(f);
    cf_release(f);
  }
  if (p->hooks.destroy) p->hooks.destroy(p->hooks.ud);
  free(p->broken_msg);
  {
    int i;
    for (i = 0; i < p->max_workers; i++) cf_slotstop_free(&p->w[i].stop);
  }
  close(p->wakefd);
  free(p->w);
  pthread_cond_destroy(&p->done_cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

static void wake(cf_procpool *p) {
  uint64_t one = 1;
  ssize_t r = write(p->wakefd, &one, sizeof one);
  (void)r;   /* EAGAIN: the counter is already non-zero */
}

/* ---------------------------------------------------------------------- */
/* The manager thread.                                                    */

static int spawn(cf_procpool *p, wproc *w) {
  int sv[2], e;
  pid_t pid;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return -errno;
  pid = fork();
  if (pid < 0) {
    e = -errno;
    close(sv[0]);
    close(sv[1]);
    return e;
  }
  if (pid == 0) {
    close(sv[0]);
    cf_proc_child_main(sv[1], p->owner, p->fn, &p->hooks);   /* no return */
  }
  close(sv[1]);
  w->fd = sv[0];
  w->pidfd = cf_pidfd_open(pid);
  w->state = W_STARTING;
  w->task = NULL;
  w->ntasks = 0;
  cf_slotstop_reset(&w->stop);
  cf_mutex_lock(&p->mu);
  w->pid = pid;
  p->nprocs++;
  cf_mutex_unlock(&p->mu);
  return 0;
}

/* Mark the pool broken and fail what is queued (after unlocking). The
** futures in flight are failed by the manager as it tears down. */
static void break_pool(cf_procpool *p, const char *msg) {
  cf_future *q, *next;
  const char *m;
  cf_mutex_lock(&p->mu);
  if (!p->broken) {
    p->broken = 1;
    p->broken_msg = strdup(msg);
  }
  q = take_queue(p);
  m = p->broken_msg ? p->broken_msg : "the process pool is broken";
  cf_mutex_unlock(&p->mu);
  counting = &p->counts;
  for (; q != NULL; q = next) {
    next = q->next;
    fail_broken(q, m);
    cf_release(q);
  }
  counting = NULL;
}

/* Reap w and free its slot. grace < 0 waits as long as it takes (a worker
** told to exit); otherwise a worker still alive after grace seconds (it
** closed its socket but lives on) is killed. Returns the waitpid status,
** or -1 if it was not ours to reap (SIGCHLD ignored by the host). */
static int reap(cf_procpool *p, wproc *w, double grace) {
  int st = -1;
  pid_t r;
  double until = cf_monotonic() + grace;
  for (;;) {
    r = waitpid(w->pid, &st, grace < 0 ? 0 : WNOHANG);
    if (r > 0 || (r < 0 && errno != EINTR)) break;
    if (r < 0) continue;
    if (cf_monotonic() >= until) {
      kill(w->pid, SIGKILL);
      grace = -1;
    } else if (w->pidfd >= 0) {
      struct pollfd pf = {w->pidfd, POLLIN, 0};
      poll(&pf, 1, 5);
    } else {
      cf_sleep(0.005);
    }
  }
  if (r != w->pid) st = -1;
  close(w->fd);
  if (w->pidfd >= 0) close(w->pidfd);
  w->fd = w->pidfd = -1;
  w->state = W_FREE;
  cf_mutex_lock(&p->mu);
  w->pid = 0;
  p->nprocs--;
  cf_mutex_unlock(&p->mu);
  return st;
}

/* A worker ended without being asked to: reap it, break the pool and
** fail its task with the reason. */
static void lost(cf_procpool *p, wproc *w) {
  char msg[256], how[96];
  pid_t pid = w->pid;
  int st = reap(p, w, 1.0);
  if (st == -1)
    snprintf(how, sizeof how, "its status is unknown");
  else if (WIFSIGNALED(st))
    snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(st));
  else
    snprintf(how, sizeof how, "exit code %d", WEXITSTATUS(st));
  snprintf(msg, sizeof msg,
           "a process in the process pool was terminated abruptly (pid %d, "
           "%s) while the future was running or pending", (int)pid, how);
  break_pool(p, msg);
  if (w->task) {
    atomic_fetch_sub(&p->counts.running, 1);
    counting = &p->counts;
    cf_slotstop_end(&w->stop, w->task);
    fail_broken(w->task, msg);
    counting = NULL;
    cf_release(w->task);
    w->task = NULL;
  }
}

/* Without pidfds: workers that have exited (left unreaped by waitid's
** WNOWAIT, so lost() reaps them and reads their status). */
static void check_exited(cf_procpool *p) {
  int i;
  for (i = 0; i < p->max_workers; i++) {
    wproc *w = &p->w[i];
    siginfo_t si;
    if (w->state == W_FREE || w->pidfd >= 0) continue;
    si.si_pid = 0;
    if (waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        si.si_pid != 0)
      lost(p, w);
  }
}

static cf_future *pop(cf_procpool *p) {
  cf_future *f;
  cf_mutex_lock(&p->mu);
  f = p->head;
  if (f != NULL) {
    p->head = f->next;
    if (p->head == NULL) p->tail = NULL, p->ranked = 0;
    p->nqueued--;
  }
  cf_mutex_unlock(&p->mu);
  return f;
}

/* Give each idle worker a task. */
static void dispatch(cf_procpool *p) {
  int i;
  for (i = 0; i < p->max_workers; i++) {
    wproc *w = &p->w[i];
    cf_future *f;
    cf_buffer *in;
    int rc;
    if (w->state != W_IDLE) continue;
    while ((f = pop(p)) != NULL && cf_future_set_running(f) != 0) {
      atomic_fetch_add(&p->counts.cancelled, 1);
      if (CF_TRACING()) cf_trace_end(f);
      cf_future_drop_input(f);     /* cancelled while queued */
      cf_release(f);
    }
    if (f == NULL) return;
    w->task = f;
    w->state = W_BUSY;
    atomic_fetch_add(&p->counts.running, 1);
    cf_slotstop_begin(&w->stop, f);
    if (CF_TRACING()) cf_trace_start(f, (int)(w - p->w), (int)w->pid);
    in = cf_future_input(f);     /* freed when the future finishes */
    rc = cf_proc_send_frame(w->fd, M_TASK, 0, in ? in->data : NULL, in ? in->len : 0,
                    NULL, 0);
    if (rc != 0) {
      lost(p, w);
      return;
    }
  }
}

/* max_tasks_per_child: w has run its tasks. It is told to exit and
** reaped (killed if it does not go within a few seconds); grow() forks a
** new one when work needs it. */
static void retire(cf_procpool *p, wproc *w) {
  cf_proc_send_frame(w->fd, M_EXIT, 0, NULL, 0, NULL, 0);
  reap(p, w, 5.0);
}

/* A frame from worker w. */
static void receive(cf_procpool *p, wproc *w, cf_buffer *body) {
  int kind, rc = cf_proc_recv_frame(w->fd, &kind, body);
  if (rc == -ENOMEM) {
    break_pool(p, "not enough memory for a result from a worker process");
    return;
  }
  if (rc != 0) {
    lost(p, w);
    return;
  }
  if (kind == M_HELLO && w->state == W_STARTING) {
    w->state = W_IDLE;
  } else if (kind == M_HELLO_FAIL) {
    char *m = strndup((const char *)body->data, body->len);
    break_pool(p, m ? m : "a worker process failed to start");
    free(m);
  } else if ((kind == M_RESULT || kind == M_ERROR || kind == M_NOMEM) &&
             w->state == W_BUSY && body->len >= 8) {
    uint64_t tblen;
    char *tb = NULL;
    cf_outcome how = kind == M_RESULT ? CF_OUTCOME_RESULT
                   : kind == M_ERROR ? CF_OUTCOME_ERROR : CF_OUTCOME_NOMEM;
    memcpy(&tblen, body->data, 8);
    if (tblen > body->len - 8) {
      lost(p, w);
      return;
    }
    if (tblen && (tb = strndup((const char *)body->data + 8, (size_t)tblen)) == NULL)
      how = CF_OUTCOME_NOMEM;   /* reported, not dropped */
    memmove(body->data, body->data + 8 + tblen, body->len - 8 - tblen);
    body->len -= 8 + (size_t)tblen;
    /* Counted before the outcome can be seen. */
    atomic_fetch_add(how == CF_OUTCOME_RESULT ? &p->counts.completed
                                              : &p->counts.failed, 1);
    atomic_fetch_sub(&p->counts.running, 1);
    cf_slotstop_end(&w->stop, w->task);
    cf_future_finish(w->task, how, body, tb);
    if (CF_TRACING()) cf_trace_end(w->task);
    free(tb);
    cf_release(w->task);
    w->task = NULL;
    w->state = W_IDLE;
    if (p->max_tasks > 0 && ++w->ntasks >= p->max_tasks) retire(p, w);
  } else {
    lost(p, w);   /* out of protocol */
  }
}

/* Start workers for the queued tasks that no idle or starting worker
** will take. A fork failure with no worker alive breaks the pool. */
static void grow(cf_procpool *p, int nqueued) {
  int i, alive = 0, ready = 0, e;
  char msg[128];
  for (i = 0; i < p->max_workers; i++) {
    if (p->w[i].state != W_FREE) alive++;
    if (p->w[i].state == W_IDLE || p->w[i].state == W_STARTING) ready++;
  }
  for (i = 0; i < p->max_workers && nqueued > ready; i++) {
    if (p->w[i].state != W_FREE) continue;
    e = spawn(p, &p->w[i]);
    if (e != 0) {
      if (alive > 0) return;   /* the others will get through the queue */
      snprintf(msg, sizeof msg, "cannot start a worker process: %s",
               strerror(-e));
      break_pool(p, msg);
      return;
    }
    alive++;
    ready++;
  }
}

/* Kill (broken) or dismiss (shut down) every worker, reap them all and
** fail what is still in flight. */
static void teardown(cf_procpool *p, int broken) {
  const char *m;
  int i;
  for (i = 0; i < p->max_workers; i++) {
    wproc *w = &p->w[i];
    if (w->state == W_FREE) continue;
    if (broken) kill(w->pid, SIGKILL);
    else cf_proc_send_frame(w->fd, M_EXIT, 0, NULL, 0, NULL, 0);
  }
  for (i = 0; i < p->max_workers; i++)
    if (p->w[i].state != W_FREE) {
      shutdown(p->w[i].fd, SHUT_RDWR);
    }
  cf_mutex_lock(&p->mu);
  m = p->broken_msg ? p->broken_msg : "the process pool is broken";
  cf_mutex_unlock(&p->mu);
  for (i = 0; i < p->max_workers; i++) {
    wproc *w = &p->w[i];
    if (w->state == W_FREE) continue;
    if (w->task) {
      atomic_fetch_sub(&p->counts.running, 1);
      counting = &p->counts;
      cf_slotstop_end(&w->stop, w->task);
      fail_broken(w->task, m);
      counting = NULL;
      cf_release(w->task);
      w->task = NULL;
    }
    reap(p, w, broken ? 1.0 : -1);
  }
}

/* A worker that did not stop CF_STOP_GRACE seconds after it was asked:
** killed and reaped by the manager, which asked for it, so the pool is
** not broken; its slot is free for a new worker (grow), and its task
** ends stopped (cf_future_finish refuses a result for it). */
static void replace_stuck(cf_procpool *p, wproc *w) {
  cf_future *f = w->task;
  kill(w->pid, SIGKILL);
  w->task = NULL;
  cf_slotstop_end(&w->stop, f);
  reap(p, w, -1);
  cf_future_finish(f, CF_OUTCOME_RESULT, NULL, NULL);
  if (CF_TRACING()) cf_trace_end(f);
  cf_release(f);
}

/* Signal the stops asked, replace the workers past their grace, and
** lower *wait (seconds) to the next grace's end. */
static void check_stops(cf_procpool *p, double *wait) {
  int i;
  for (i = 0; i < p->max_workers; i++) {
    wproc *w = &p->w[i];
    if (w->state == W_BUSY && cf_slotstop_check(&w->stop, w->pid, wait))
      replace_stuck(p, w);
  }
}

static void *manager_main(void *arg) {
  cf_procpool *p = arg;
  struct pollfd *pf = calloc(1 + 2 * (size_t)p->max_workers, sizeof *pf);
  int *who = calloc(1 + 2 * (size_t)p->max_workers, sizeof *who);
  cf_buffer body = CF_BUFFER_INIT;
  int broken = 0;
  cf_block_signals();
  if (pf == NULL || who == NULL) {
    break_pool(p, "not enough memory for the process pool");
    broken = 1;
  }
  while (!broken) {
    int shutdown, nqueued, busy = 0, npf = 1, nopidfd = 0, i, n, ms;
    double wait = 1e9;
    cf_mutex_lock(&p->mu);
    broken = p->broken;
    shutdown = p->shutdown;
    nqueued = p->nqueued;
    cf_mutex_unlock(&p->mu);
    if (broken) break;
    grow(p, nqueued);
    dispatch(p);
    cf_mutex_lock(&p->mu);
    broken = p->broken;
    nqueued = p->nqueued;
    cf_mutex_unlock(&p->mu);
    if (broken) break;
    check_stops(p, &wait);
    pf[0].fd = p->wakefd;
    pf[0].events = POLLIN;
    for (i = 0; i < p->max_workers; i++) {
      wproc *w = &p->w[i];
      if (w->state == W_FREE) continue;
      if (w->state == W_BUSY) busy++;
      pf[npf].fd = w->fd;
      pf[npf].events = POLLIN;
      who[npf++] = i;
      if (w->pidfd >= 0) {
        pf[npf].fd = w->pidfd;
        pf[npf].events = POLLIN;
        who[npf++] = i;
      } else {
        nopidfd = 1;
      }
    }
    if (shutdown && nqueued == 0 && busy == 0) break;
    ms = nopidfd ? 100 : -1;
    if (wait < 1e9 && (ms < 0 || wait * 1000 + 1 < ms)) ms = (int)(wait * 1000) + 1;
    n = poll(pf, (nfds_t)npf, ms);
    if (n < 0 && errno != EINTR) break_pool(p, "poll failed in the process pool");
    if (n > 0 && pf[0].revents) {
      uint64_t v;
      ssize_t r = read(p->wakefd, &v, sizeof v);
      (void)r;
    }
    for (i = 1; n > 0 && i < npf; i++) {
      wproc *w = &p->w[who[i]];
      if (!pf[i].revents || w->state == W_FREE) continue;
      if (pf[i].fd == w->fd) receive(p, w, &body);
      else lost(p, w);   /* the pidfd: it exited */
      cf_mutex_lock(&p->mu);
      broken = p->broken;
      cf_mutex_unlock(&p->mu);
      if (broken) break;
    }
    if (nopidfd && !broken) check_exited(p);
    cf_mutex_lock(&p->mu);
    broken = p->broken;
    cf_mutex_unlock(&p->mu);
  }
  teardown(p, broken);
  cf_buffer_free(&body);
  free(pf);
  free(who);
  cf_mutex_lock(&p->mu);
  p->manager = 2;
  pthread_cond_broadcast(&p->done_cv);
  cf_mutex_unlock(&p->mu);
  cf_release(p);
  return NULL;
}

/* Called with p->mu held. */
static int start_manager(cf_procpool *p) {
  pthread_t t;
  pthread_attr_t a;
  int e;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  cf_retain(p);
  e = pthread_create(&t, &a, manager_main, p);
  pthread_attr_destroy(&a);
  if (e != 0) {
    cf_release(p);   /* never the last: the caller holds one */
    return -e;
  }
  p->manager = 1;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The API.                                                               */

cf_future *cf_procpool_submit(cf_procpool *p, cf_buffer *input, int *rc) {
  return cf_procpool_submit_with(p, input, NULL, rc);
}

cf_future *cf_procpool_submit_with(cf_procpool *p, cf_buffer *input,
                                   const cf_task_opts *o, int *rc) {
  cf_future *f, *stale = NULL, *next;
  int e;
  *rc = 0;
  if (input->nrefs > 0) {
    *rc = -EINVAL;
    return NULL;
  }
  f = cf_future_new();
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
  if (foreign(p)) {
    char m[160];
    snprintf(m, sizeof m, "this process pool belongs to process %d; it "
             "cannot run tasks in a forked child", (int)p->owner);
    fail_broken(f, m);
    return f;
  }
  cf_mutex_lock(&p->mu);
  if (p->shutdown) {
    cf_mutex_unlock(&p->mu);
    cf_future_take_input(f, input);   /* a failed submit takes nothing */
    cf_release(f);
    *rc = CF_ESHUTDOWN;
    return NULL;
  }
  if (p->broken) {
    char *m = strdup(p->broken_msg ? p->broken_msg : "the process pool is broken");
    cf_mutex_unlock(&p->mu);
    atomic_fetch_add(&p->counts.failed, 1);
    fail_broken(f, m ? m : "the process pool is broken");
    free(m);
    return f;
  }
  if (p->manager == 0 && (e = start_manager(p)) != 0) {
    cf_mutex_unlock(&p->mu);
    cf_future_take_input(f, input);
    cf_release(f);
    *rc = e;
    return NULL;
  }
  cf_retain(f);                       /* the queue's reference */
  if (CF_TRACING()) cf_trace_submit(&p->trace_id, CF_TRACE_PROCESSES, f);
  {
    cf_squeue q = {&p->head, &p->tail, &p->ranked};
    int n = 0;
    if (o && o->key) stale = cf_squeue_take_key(q, o->key, o->klen, &n);
    p->nqueued -= n;
    cf_squeue_push(q, f, o ? o->priority : 0);
  }
  p->nqueued++;
  cf_mutex_unlock(&p->mu);
  for (; stale != NULL; stale = next) {   /* the latest of a key wins */
    next = stale->next;
    if (cf_future_cancel(stale)) atomic_fetch_add(&p->counts.cancelled, 1);
    if (CF_TRACING()) cf_trace_end(stale);
    cf_future_drop_input(stale);
    cf_release(stale);
  }
  wake(p);
  return f;
}

int cf_procpool_interrupt(cf_procpool *p) {
  return cf_icell_interrupt_owner(p, 0);
}

int cf_procpool_shutdown(cf_procpool *p, int wait, int cancel_futures) {
  cf_future *q = NULL, *next;
  if (foreign(p)) return 0;
  cf_mutex_lock(&p->mu);
  p->shutdown = 1;
  if (cancel_futures) q = take_queue(p);
  cf_mutex_unlock(&p->mu);
  for (; q != NULL; q = next) {
    next = q->next;
    if (cf_future_cancel(q)) atomic_fetch_add(&p->counts.cancelled, 1);
    if (CF_TRACING()) cf_trace_end(q);
    cf_future_drop_input(q);
    cf_release(q);
  }
  wake(p);
  if (wait) {
    cf_mutex_lock(&p->mu);
    while (p->manager == 1) pthread_cond_wait(&p->done_cv, &p->mu);
    cf_mutex_unlock(&p->mu);
  }
  return 0;
}

/* A shutdown's wait, in pieces: until the manager has ended (0) or the
** timeout passes (CF_ETIMEDOUT). */
int cf_procpool_wait_done(cf_procpool *p, double timeout) {
  cf_deadline dl;
  int rc = 0;
  if (foreign(p)) return 0;
  cf_deadline_set(&dl, timeout);
  cf_mutex_lock(&p->mu);
  while (p->manager == 1 && rc == 0)
    rc = cf_cond_wait_obj(p, &p->done_cv, &p->mu, &dl);
  rc = p->manager == 1 ? CF_ETIMEDOUT : 0;
  cf_mutex_unlock(&p->mu);
  return rc;
}

int cf_procpool_pids(cf_procpool *p, int *pids, int n) {
  int i, k = 0;
  if (foreign(p)) return 0;
  cf_mutex_lock(&p->mu);
  for (i = 0; i < p->max_workers && k < n; i++)
    if (p->w[i].pid > 0) pids[k++] = (int)p->w[i].pid;
  cf_mutex_unlock(&p->mu);
  return k;
}

/* In a forked child no other thread uses the copy: read it unlocked. */
#define PROCPOOL_GETTER(name, expr)      \
  int name(cf_procpool *p) {             \
    int v;                               \
    if (foreign(p)) return (expr);       \
    cf_mutex_lock(&p->mu);                     \
    v = (expr);                          \
    cf_mutex_unlock(&p->mu);                   \
    return v;                            \
  }

PROCPOOL_GETTER(cf_procpool_max_workers, p->max_workers)
PROCPOOL_GETTER(cf_procpool_process_count, foreign(p) ? 0 : p->nprocs)
PROCPOOL_GETTER(cf_procpool_is_broken, p->broken)
PROCPOOL_GETTER(cf_procpool_is_shutdown, p->shutdown)
PROCPOOL_GETTER(cf_procpool_is_running, p->manager == 1)

int cf_procpool_set_max_tasks(cf_procpool *p, long n) {
  int rc = 0;
  if (n < 0) return CF_ESTATE;
  cf_mutex_lock(&p->mu);
  if (p->manager != 0) rc = CF_ESTATE;   /* after the first submit */
  else p->max_tasks = n;
  cf_mutex_unlock(&p->mu);
  return rc;
}

/* The busy workers are the running tasks (one each). */
void cf_procpool_stats(cf_procpool *p, cf_stats *s) {
  memset(s, 0, sizeof *s);
  if (foreign(p)) return;
  cf_mutex_lock(&p->mu);
  s->workers = p->nprocs;
  s->pending = p->nqueued;
  cf_mutex_unlock(&p->mu);
  s->running = atomic_load(&p->counts.running);
  s->idle = s->workers > s->running ? s->workers - s->running : 0;
  s->completed = atomic_load(&p->counts.completed);
  s->failed = atomic_load(&p->counts.failed);
  s->cancelled = atomic_load(&p->counts.cancelled);
}
