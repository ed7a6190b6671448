/*
** object.h -- the header every shared core object starts with, and the
** small helpers the core files share (deadlines on CLOCK_MONOTONIC,
** pthread wrappers that abort on "impossible" failures).
** Internal to the core and the binding; hosts use concurrent.h.
*/
#ifndef CF_OBJECT_H
#define CF_OBJECT_H

#include <pthread.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <time.h>

#include "../concurrent.h"

typedef struct cf_kind {
  const char *name;
  void (*destroy)(void *obj);   /* frees the object; called at refs == 0 */
} cf_kind;

/* First member of every shared object. */
typedef struct cf_object {
  atomic_long refs;
  const cf_kind *kind;
} cf_object;

void cf_object_init(void *obj, const cf_kind *kind);  /* refs = 1 */

/* Mutex and condition helpers: a failure here is a bug, so abort. */
void cf_mutex_init(pthread_mutex_t *m);
void cf_cond_init(pthread_cond_t *c);      /* on CLOCK_MONOTONIC */
/* getpid(), without the system call after the first (fork-safe). */
pid_t cf_self_pid(void);

void cf_mutex_lock(pthread_mutex_t *m);
void cf_mutex_unlock(pthread_mutex_t *m);

/* A deadline computed once from a timeout (negative: none). */
typedef struct cf_deadline {
  int forever;
  struct timespec at;
} cf_deadline;

void cf_deadline_set(cf_deadline *d, double timeout);
int  cf_deadline_passed(const cf_deadline *d);
/* Wait on c until signalled or the deadline: 0 or CF_ETIMEDOUT. Callers
** loop on their predicate. */
int cf_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m,
                       const cf_deadline *d);

/* A fresh thread identity, and making it the calling thread's (before it
** has asked for one): thread.c names a thread before it runs (sync.c). */
uint64_t cf_thread_ident_next(void);
void cf_thread_ident_adopt(uint64_t id);

/* A pause inside a spin loop (future.c's waits, pool.c's idle workers). */
static inline void cf_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Join thread t (joinable, claimed by the caller) if it ends before d:
** 0, CF_ETIMEDOUT (t still runs, still joinable), or -ENOTSUP where the
** C library can only join without a deadline (then the caller waits for
** the thread's own announcement first). A deadline that has passed only
** looks. One sleep, woken by the kernel as the thread exits: waiting on a
** condition for the thread's last words and then joining costs two or
** three wake-ups. */
int cf_join_until(pthread_t t, const cf_deadline *d);

/* Block every signal in the calling thread (worker threads). */
void cf_block_signals(void);

/* A pidfd for child pid (pollable until it exits), or -1 where the
** kernel has none: callers then poll waitpid (process.c, procpool.c). */
int cf_pidfd_open(pid_t pid);

#endif
