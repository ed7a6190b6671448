/*
** object.c -- reference counts, pthread helpers, deadlines, time.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "object.h"

void cf_object_init(void *obj, const cf_kind *kind) {
  cf_object *o = obj;
  atomic_init(&o->refs, 1);
  o->kind = kind;
}

void *cf_retain(void *obj) {
  if (obj != NULL)
    atomic_fetch_add_explicit(&((cf_object *)obj)->refs, 1,
                              memory_order_relaxed);
  return obj;
}

/* acq_rel on the decrement: the thread that frees must see every write
** made by the threads that dropped their references before it. */
void cf_release(void *obj) {
  cf_object *o = obj;
  if (o == NULL) return;
  if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
    o->kind->destroy(o);
}

const char *cf_kind_name(const void *obj) {
  return obj ? ((const cf_object *)obj)->kind->name : "none";
}

/* The process id, cached (refreshed in a forked child): getpid() is a
** system call, and submit and every Thread start ask for it. */
static pid_t cached_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void refresh_pid(void) {
  cached_pid = getpid();
}

static void setup_pid(void) {
  refresh_pid();
  pthread_atfork(NULL, NULL, refresh_pid);
}

pid_t cf_self_pid(void) {
  pthread_once(&pid_once, setup_pid);
  return cached_pid;
}

void cf_mutex_init(pthread_mutex_t *m) {
  if (pthread_mutex_init(m, NULL) != 0) abort();
}

void cf_cond_init(pthread_cond_t *c) {
  pthread_condattr_t a;
  if (pthread_condattr_init(&a) != 0) abort();
  if (pthread_condattr_setclock(&a, CLOCK_MONOTONIC) != 0) abort();
  if (pthread_cond_init(c, &a) != 0) abort();
  pthread_condattr_destroy(&a);
}

void cf_mutex_lock(pthread_mutex_t *m) {
  if (pthread_mutex_lock(m) != 0) abort();
}

void cf_mutex_unlock(pthread_mutex_t *m) {
  if (pthread_mutex_unlock(m) != 0) abort();
}

void cf_deadline_set(cf_deadline *d, double timeout) {
  d->forever = !(timeout >= 0);   /* negative or NaN: no deadline */
  if (d->forever) return;
  if (timeout > 1e9) timeout = 1e9;  /* keep tv_sec in range */
  clock_gettime(CLOCK_MONOTONIC, &d->at);
  time_t s = (time_t)timeout;
  long ns = (long)((timeout - (double)s) * 1e9);
  d->at.tv_sec += s;
  d->at.tv_nsec += ns;
  if (d->at.tv_nsec >= 1000000000L) {
    d->at.tv_sec++;
    d->at.tv_nsec -= 1000000000L;
  }
}

int cf_deadline_passed(const cf_deadline *d) {
  struct timespec now;
  if (d->forever) return 0;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec > d->at.tv_sec ||
         (now.tv_sec == d->at.tv_sec && now.tv_nsec >= d->at.tv_nsec);
}

int cf_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m,
                       const cf_deadline *d) {
  int e;
  if (d->forever) {
    if (pthread_cond_wait(c, m) != 0) abort();
    return 0;
  }
  e = pthread_cond_timedwait(c, m, &d->at);
  if (e == ETIMEDOUT) return CF_ETIMEDOUT;
  if (e != 0) abort();
  return 0;
}

/* ThreadSanitizer does not intercept pthread_clockjoin_np: a thread
** joined so would stay alive in its books, and a new thread given the same
** id is reported ("dup thread with used id"). Under it, joins take the
** portable path. */
#if defined(__SANITIZE_THREAD__)
#define CF_NO_TIMED_JOIN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CF_NO_TIMED_JOIN 1
#endif
#endif

#if defined(__GLIBC__) && !defined(CF_NO_TIMED_JOIN) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 31))
int cf_join_until(pthread_t t, const cf_deadline *d) {
  struct timespec now;
  int e;
  if (d->forever) {
    e = pthread_join(t, NULL);
  } else {
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > d->at.tv_sec ||
        (now.tv_sec == d->at.tv_sec && now.tv_nsec >= d->at.tv_nsec))
      e = pthread_tryjoin_np(t, NULL);
    else
      e = pthread_clockjoin_np(t, NULL, CLOCK_MONOTONIC, &d->at);
  }
  if (e == ETIMEDOUT || e == EBUSY) return CF_ETIMEDOUT;
  if (e != 0) abort();
  return 0;
}
#else
int cf_join_until(pthread_t t, const cf_deadline *d) {
  if (!d->forever) return -ENOTSUP;
  if (pthread_join(t, NULL) != 0) abort();
  return 0;
}
#endif

void cf_block_signals(void) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
}

double cf_monotonic(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int cf_sleep(double seconds) {
  struct timespec req, rem;
  if (!(seconds > 0)) return 0;
  if (seconds > 1e9) seconds = 1e9;
  req.tv_sec = (time_t)seconds;
  req.tv_nsec = (long)((seconds - (double)req.tv_sec) * 1e9);
  while (nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
  return 0;
}

int cf_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

int cf_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  return fd >= 0 ? fd : -1;
#else
  (void)pid;
  return -1;
#endif
}
