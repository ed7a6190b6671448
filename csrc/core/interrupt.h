/*
** interrupt.h -- stopping a running task (core/interrupt.c): the
** per-thread interrupt cell, interruptible condition waits and sleeps.
** Internal to the core and the binding; hosts use concurrent.h
** (cf_future_interrupt, cf_future_stop_requested, cf_task_stop_requested).
**
** A cell belongs to one thread that runs tasks (a pool worker, a
** thread.Thread, a process pool's slot in the parent). It holds the task
** the thread runs, what the thread waits on while it waits, and a way to
** make its Lua state stop (the binding's hook). cf_future_interrupt finds
** the cell running a future in a registry of cells and pokes it.
*/
#ifndef CF_INTERRUPT_H
#define CF_INTERRUPT_H

#include "future.h"

typedef struct cf_icell cf_icell;

/* The first members of a cell: what a worker touches per task, inline
** (a store and a load each way: the cost of this feature when unused). */
typedef struct cf_icell_head {
  cf_object hdr;                /* first, as in every shared object */
  _Atomic(cf_future *) task;    /* written by the owner thread only */
  atomic_int armed;             /* the hook may be set */
} cf_icell_head;

/* How the binding's arm callback is asked to act on its state: */
#define CF_ARM_NOW   1   /* a stop is asked: hook at the next instruction */
#define CF_ARM_AGAIN 2   /* it raised once: raise again now and then */
#define CF_ARM_OFF   0   /* no stop asked (any more): remove the hook */
typedef void (*cf_arm_fn)(void *ud, int how);

/* A new cell (registered) owned by `owner` (a pool, a thread handle, a
** process pool: cf_icell_interrupt_owner finds them by it). */
cf_icell *cf_icell_new(const void *owner);
/* Make c the calling thread's cell (the thread takes the reference). */
void cf_icell_adopt(cf_icell *c);
/* Take c out of the registry (idempotent). */
void cf_icell_remove(cf_icell *c);
/* Unregister the calling thread's cell and drop it. */
void cf_icell_leave(void);
cf_icell *cf_icell_current(void);

/* The thread starts / ends running f (f may be asked to stop meanwhile).
** begin arms the hook at once if f was asked before it got here: its
** seq_cst store and the asker's seq_cst flag (cf_future_flag_stop) then
** its load of the task make sure one of them sees the other. A hook armed
** too late for the task that just ended is removed by end, or by the hook
** itself in the next task (cf_icell_hook_check). */
void cf_icell_arm_late(cf_icell *c);
void cf_icell_disarm(cf_icell *c);
static inline void cf_icell_begin(cf_icell *c, cf_future *f) {
  cf_icell_head *h = (cf_icell_head *)c;
  atomic_store_explicit(&h->task, f, memory_order_seq_cst);
  if (atomic_load_explicit(&f->word, memory_order_seq_cst) & WORD_STOP)
    cf_icell_arm_late(c);
}
static inline void cf_icell_end(cf_icell *c) {
  cf_icell_head *h = (cf_icell_head *)c;
  atomic_store_explicit(&h->task, NULL, memory_order_seq_cst);
  if (atomic_load_explicit(&h->armed, memory_order_relaxed))
    cf_icell_disarm(c);
}
cf_future *cf_icell_task(cf_icell *c);

/* The binding's way to stop a state, set by the cell's own thread while
** its state lives (NULL, NULL before it closes the state). Called under
** the cell's lock, from any thread: it may only call lua_sethook. */
void cf_icell_set_arm(cf_arm_fn arm, void *ud);
/* The same for a cell that no thread adopted (a process pool's slot). */
void cf_icell_arm_with(cf_icell *c, cf_arm_fn arm, void *ud);
/* From the hook, in the cell's thread: 1 if its task is asked to stop
** (the hook stays, re-armed with CF_ARM_AGAIN), else 0 (hook removed). */
int cf_icell_hook_check(void);

/* Interrupt the tasks that the cells of `owner` run: how many. */
int cf_icell_interrupt_owner(const void *owner, int timeout_reason);
/* Poke the cell running f, if any (f's stop flag is already set). */
void cf_icell_poke_task(cf_future *f);

/* Waits of the core objects: cf_cond_wait_until, but in a thread whose
** task is asked to stop it returns CF_ETIMEDOUT at once, and an
** interrupter wakes it. obj owns m and c and the caller holds a reference
** to it (NULL only for mutexes that live for ever: future stripes). */
int cf_cond_wait_obj(void *obj, pthread_cond_t *c, pthread_mutex_t *m,
                     const cf_deadline *d);

/* A wait on something other than a condition (the binding's poll on a
** state's fd, runtime/block.c), in the calling thread: publish how an
** interrupter wakes it, wake(obj), obj a shared object the caller holds
** a reference to while it is published (the poker retains it); NULL,
** NULL withdraws. Check cf_task_stop_requested after publishing and
** before each sleep of the wait. Does nothing outside a cell's thread. */
typedef void (*cf_wake_fn)(void *obj);
void cf_icell_wake_with(cf_wake_fn wake, void *obj);

/* Around a wait that must not be cut short (Condition.wait taking its
** lock back): +1 before, -1 after. */
void cf_wait_shield(int delta);

/* A process pool worker process: a stop asked by a signal (set by its
** handler, read by cf_task_stop_requested). */
extern volatile int cf_stop_signalled;

#endif
