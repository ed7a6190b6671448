/*
** thread.c -- thread handles: one native thread, started once, that any
** thread may join with a timeout.
**
** The handle is a reference-counted object so that the Lua objects naming
** it (in any state) can be collected while the thread runs: the running
** thread holds a reference of its own and drops it as the last thing it
** does. Joining is waiting for the OS thread itself: the first joiner
** claims the reaping and, unlocked, waits in pthread_clockjoin_np (glibc;
** elsewhere on the handle's condition for DONE, which the thread announces
** after its function has returned, then pthread_join) until the thread is
** gone or its timeout passes (then it gives the claim up); other joiners
** wait on the condition for the reaping to be done or given up. So a join
** that returns means the OS thread is gone, after its Lua state was
** closed and everything it held released (a process
** may exit at once: no thread is still unwinding, which LeakSanitizer's
** exit check trips over). A thread nobody joined is detached when its
** handle is freed, by whichever thread drops the last reference (possibly
** the thread itself).
**
** start() gives the new thread its identity (cf_thread_ident_next) and the
** thread adopts it first thing, so the starter can read the ident at once
** without waiting for the thread to be scheduled (Python's start() waits
** for that; here it would cost a wake-up per start and nothing else).
**
** Lock order: one mutex per handle, never held with any other, and never
** while the thread's function runs.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "object.h"
#include "interrupt.h"

/* STARTED: alive from start() until its function has returned. */
enum { T_NEW, T_STARTED, T_DONE };

struct cf_thread {
  cf_object hdr;
  pthread_mutex_t m;
  pthread_cond_t cv;      /* state changes: started, done */
  int state;
  int has_tid;            /* a thread was made: it must be joined or detached */
  int reaping;            /* a joiner has claimed the pthread_join */
  int reaped;             /* ... and it has returned */
  int masked;             /* created with every signal blocked already */
  pthread_t tid;
  uint64_t ident;         /* 0 until the thread has started */
  cf_thread_fn fn;
  void *arg;
  char name[16];          /* for pthread_setname_np (15 chars + NUL) */
};

static void thread_destroy(void *o) {
  cf_thread *t = o;
  if (t->has_tid && !t->reaping) pthread_detach(t->tid);
  pthread_cond_destroy(&t->cv);
  pthread_mutex_destroy(&t->m);
  free(t);
}

static const cf_kind thread_kind = {"thread", thread_destroy};

cf_thread *cf_thread_new(void) {
  cf_thread *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  cf_object_init(t, &thread_kind);
  cf_mutex_init(&t->m);
  cf_cond_init(&t->cv);
  t->state = T_NEW;
  return t;
}

static void *thread_main(void *p) {
  cf_thread *t = p;
  if (!t->masked) cf_block_signals();
  cf_thread_ident_adopt(t->ident);   /* set before we were created */
  if (t->name[0]) pthread_setname_np(pthread_self(), t->name);
  /* No lock here: the starter may still hold it around pthread_create,
  ** and waiting for that cost a futex sleep and wake per start. */
  t->fn(t->arg);   /* fn and arg are not changed once started */
  cf_mutex_lock(&t->m);
  t->state = T_DONE;
  pthread_cond_broadcast(&t->cv);
  cf_mutex_unlock(&t->m);
  cf_release(t);   /* the thread's own reference */
  return NULL;
}

int cf_thread_start(cf_thread *t, cf_thread_fn fn, void *arg,
                    const char *name) {
  pthread_attr_t a;
  pthread_t id;
  sigset_t all;
  int e;
  cf_mutex_lock(&t->m);
  if (t->state != T_NEW) {
    cf_mutex_unlock(&t->m);
    return CF_ESTATE;
  }
  t->state = T_STARTED;
  t->fn = fn;
  t->arg = arg;
  if (name) {
    strncpy(t->name, name, sizeof t->name - 1);
    t->name[sizeof t->name - 1] = '\0';
  }
  t->ident = cf_thread_ident_next();
  cf_retain(t);    /* for the thread */
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_JOINABLE);
  /* Born with signals blocked: one sigprocmask call fewer per thread than
  ** blocking them in the thread (pthread_create sets the mask anyway). */
  sigfillset(&all);
  t->masked = pthread_attr_setsigmask_np(&a, &all) == 0;
  e = pthread_create(&id, &a, thread_main, t);
  pthread_attr_destroy(&a);
  if (e == 0) {
    t->tid = id;
    t->has_tid = 1;
  } else {
    t->state = T_NEW;
    t->ident = 0;
    t->fn = NULL;
    t->arg = NULL;
    cf_mutex_unlock(&t->m);
    cf_release(t);   /* never the last: the caller holds one */
    return -e;
  }
  cf_mutex_unlock(&t->m);
  return 0;
}

uint64_t cf_thread_get_ident(cf_thread *t) {
  uint64_t v;
  cf_mutex_lock(&t->m);
  v = t->ident;
  cf_mutex_unlock(&t->m);
  return v;
}

int cf_thread_started(cf_thread *t) {
  int v;
  cf_mutex_lock(&t->m);
  v = t->state != T_NEW;
  cf_mutex_unlock(&t->m);
  return v;
}

int cf_thread_is_alive(cf_thread *t) {
  int v;
  cf_mutex_lock(&t->m);
  v = t->state == T_STARTED;
  cf_mutex_unlock(&t->m);
  return v;
}

/* Wait for the OS thread to be gone, until dl: 0 (joined) or CF_ETIMEDOUT.
** Called unlocked by the joiner that claimed the reaping: one sleep on
** the thread's exit (cf_join_until), where waiting for DONE on the
** handle's condition and then in pthread_join cost three sleeps and
** wake-ups a Thread:join() (the condition, the mutex the thread still
** held while broadcasting, the exit), each a wake-up across CPUs. A thread
** already DONE is past its last lock: it is joined without a deadline
** (join(0) after is_alive() turned false succeeds). Without a timed join
** in the C library, DONE is waited for on the condition first. */
static int join_os(cf_thread *t, const cf_deadline *dl) {
  static const cf_deadline forever = {1, {0, 0}};
  int done, rc;
  cf_mutex_lock(&t->m);
  done = t->state == T_DONE;
  cf_mutex_unlock(&t->m);
  rc = cf_join_until(t->tid, done ? &forever : dl);
  if (rc != -ENOTSUP) return rc;
  cf_mutex_lock(&t->m);
  while (t->state != T_DONE && cf_cond_wait_until(&t->cv, &t->m, dl) == 0) {}
  done = t->state == T_DONE;
  cf_mutex_unlock(&t->m);
  return done ? cf_join_until(t->tid, &forever) : CF_ETIMEDOUT;
}

/* One joiner at a time claims the reaping and joins the OS thread
** unlocked; others wait on the condition until it is reaped, or until
** the claim is given up (its joiner timed out), and then claim it. */
int cf_thread_join(cf_thread *t, double timeout) {
  cf_deadline dl;
  int rc = 0;
  cf_mutex_lock(&t->m);
  if (t->state == T_NEW || t->ident == cf_thread_ident()) {
    cf_mutex_unlock(&t->m);
    return CF_ESTATE;
  }
  cf_deadline_set(&dl, timeout);
  if (cf_icell_current() != NULL) {
    /* A thread that runs tasks: a stop asked of its task must be able to
    ** end the wait, which a join of the OS thread cannot. Wait for DONE on
    ** the condition (cf_cond_wait_obj ends on a stop); the thread is then
    ** past its last lock and is joined below at once. */
    while (t->state != T_DONE && rc == 0)
      rc = cf_cond_wait_obj(t, &t->cv, &t->m, &dl);
    if (t->state != T_DONE) {
      cf_mutex_unlock(&t->m);
      return CF_ETIMEDOUT;
    }
  }
  while (!t->reaped) {
    if (!t->reaping) {
      t->reaping = 1;
      cf_mutex_unlock(&t->m);
      rc = join_os(t, &dl);
      cf_mutex_lock(&t->m);
      if (rc == 0) t->reaped = 1;
      else t->reaping = 0;
      pthread_cond_broadcast(&t->cv);
      break;
    }
    if (cf_cond_wait_until(&t->cv, &t->m, &dl) != 0) {
      if (!t->reaped) rc = CF_ETIMEDOUT;
      break;
    }
  }
  cf_mutex_unlock(&t->m);
  return rc;
}
