/*
** procstop.h -- stopping a process pool's task (core/procstop.c): one
** record per worker slot, used by the pool's manager thread. Internal.
*/
#ifndef CF_PROCSTOP_H
#define CF_PROCSTOP_H

#include <stdatomic.h>
#include <sys/types.h>

#include "interrupt.h"

/* How long a worker process may go on after it was asked to stop before
** it is killed and replaced. */
#define CF_STOP_GRACE 2.0

typedef struct cf_slotstop {
  cf_icell *cell;          /* holds the task in flight (owner: the pool) */
  atomic_int asked;        /* a stop was asked for it (any thread) */
  int seq;                 /* tasks sent to the slot's process */
  double signalled_at;     /* when SIGUSR1 was sent; 0: not yet */
  double limit;            /* the task's time limit, or <= 0 */
  int wakefd;              /* the manager's eventfd */
} cf_slotstop;

/* -ENOMEM or 0. */
int  cf_slotstop_init(cf_slotstop *s, const void *owner, int wakefd);
void cf_slotstop_free(cf_slotstop *s);
/* A fresh process in the slot: it counts tasks from 0. */
void cf_slotstop_reset(cf_slotstop *s);
/* The manager sends f to the slot's process / is done with it. */
void cf_slotstop_begin(cf_slotstop *s, cf_future *f);
void cf_slotstop_end(cf_slotstop *s, cf_future *f);
/* The manager, each turn, for a busy slot: signal a stop asked (SIGUSR1
** with the task's number); 1 if the process is still running it
** CF_STOP_GRACE seconds later (kill it), else 0, with *wait lowered to
** the seconds until that could happen. */
int  cf_slotstop_check(cf_slotstop *s, pid_t pid, double *wait);

/* In a worker process: the number of the task it runs (a signal naming
** another task is stale). */
extern volatile int cf_child_task_seq;

#endif
