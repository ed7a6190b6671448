/*
** procstop.c -- stopping a task that runs in a process pool's worker.
**
** The parent's future is held by the slot's interrupt cell while the
** worker runs it, so cf_future_interrupt (or a time limit) finds it like
** a thread pool's. The cell's arm callback only notes the request and
** wakes the manager (it runs under the cell's lock, in any thread); the
** manager sends SIGUSR1 to the worker with sigqueue, carrying the task's
** number, so a signal that arrives after that task ended is ignored. The
** worker's handler (the binding's runtime/stop.c) arms its Lua hook. A
** worker still on the task CF_STOP_GRACE seconds after the signal (a long
** C call: os.execute, a blocking read) is killed and replaced by the
** manager (procpool.c), and the pool is not broken: it asked for that.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "future.h"
#include "procstop.h"
#include "timeout.h"

volatile int cf_child_task_seq;

static void arm(void *ud, int how) {
  cf_slotstop *s = ud;
  uint64_t one = 1;
  ssize_t r;
  if (how != CF_ARM_NOW) return;
  atomic_store(&s->asked, 1);
  r = write(s->wakefd, &one, sizeof one);
  (void)r;
}

int cf_slotstop_init(cf_slotstop *s, const void *owner, int wakefd) {
  s->cell = cf_icell_new(owner);
  if (s->cell == NULL) return -ENOMEM;
  atomic_init(&s->asked, 0);
  s->wakefd = wakefd;
  s->seq = 0;
  s->signalled_at = 0;
  s->limit = -1;
  cf_icell_arm_with(s->cell, arm, s);
  return 0;
}

void cf_slotstop_free(cf_slotstop *s) {
  if (s->cell == NULL) return;
  cf_icell_arm_with(s->cell, NULL, NULL);
  cf_icell_remove(s->cell);
  cf_release(s->cell);
  s->cell = NULL;
}

void cf_slotstop_reset(cf_slotstop *s) {
  s->seq = 0;
}

void cf_slotstop_begin(cf_slotstop *s, cf_future *f) {
  s->seq++;
  s->signalled_at = 0;
  atomic_store(&s->asked, 0);
  if (s->cell) cf_icell_begin(s->cell, f);
  s->limit = cf_future_time_limit(f);
  if (s->limit > 0 && cf_timeout_add(f, s->limit) != 0) s->limit = -1;
}

void cf_slotstop_end(cf_slotstop *s, cf_future *f) {
  if (s->limit > 0) cf_timeout_remove(f);
  s->limit = -1;
  if (s->cell) cf_icell_end(s->cell);
}

int cf_slotstop_check(cf_slotstop *s, pid_t pid, double *wait) {
  double now, left;
  if (!atomic_load(&s->asked)) return 0;
  now = cf_monotonic();
  if (s->signalled_at == 0) {
    union sigval v;
    v.sival_int = s->seq;
    sigqueue(pid, SIGUSR1, v);
    s->signalled_at = now;
  }
  left = s->signalled_at + CF_STOP_GRACE - now;
  if (left <= 0) return 1;
  if (left < *wait) *wait = left;
  return 0;
}
