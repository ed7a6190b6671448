/*
** sync.h -- the shared synchronisation objects of the core, with no Lua
** in them: Lock, RLock, Condition, Semaphore, Event, Barrier (sync.c),
** Queue (queue.c), Value and Dict (store.c).
**
** Every object is reference counted like the rest of the core: a *_new
** function returns one reference for the caller (NULL on ENOMEM, or on a
** bad argument where one is documented), cf_retain/cf_release manage it.
** cf_kind_name() answers "lock", "rlock", "condition", "semaphore",
** "event", "barrier", "queue", "value" or "dict".
**
** Return codes follow concurrent.h: 0, CF_ETIMEDOUT (the timeout passed, or
** a non-blocking call could not complete), CF_ESTATE (misuse: releasing a
** lock one does not hold, ...), CF_EBROKEN (barrier), -errno (-ENOMEM).
** A timeout is seconds; negative or NaN waits forever, 0 does not block.
**
** Owners. Re-entrant locks, conditions over them and the dict update lock
** are owned by a thread identity: a non-zero uint64_t chosen by the caller
** (the binding passes its own thread id; cf_thread_ident() gives one).
*/
#ifndef CF_SYNC_H
#define CF_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "../concurrent.h"

/* A unique non-zero identity for the calling thread, from a process-wide
** counter: stable for the thread's life, never reused by another thread. */
uint64_t cf_thread_ident(void);

/* ---------------------------------------------------------------------- */
/* Lock: a non-reentrant lock that any thread may release (Python's Lock). */
/* (The type is cf_lockobj because cf_lock is the mutex helper of          */
/* object.h.)                                                              */

typedef struct cf_lockobj cf_lockobj;

cf_lockobj *cf_lock_new(void);
/* 0 when acquired; CF_ETIMEDOUT on timeout or when !blocking and held. */
int cf_lock_acquire(cf_lockobj *l, int blocking, double timeout);
/* 0, or CF_ESTATE if it is not locked. */
int cf_lock_release(cf_lockobj *l);
int cf_lock_locked(cf_lockobj *l);

/* ---------------------------------------------------------------------- */
/* RLock: re-entrant, owned by a thread identity.                          */

typedef struct cf_rlock cf_rlock;

cf_rlock *cf_rlock_new(void);
/* 0 or CF_ETIMEDOUT; CF_ESTATE if owner is 0. */
int cf_rlock_acquire(cf_rlock *r, uint64_t owner, int blocking,
                     double timeout);
/* CF_ESTATE unless owner holds it. */
int cf_rlock_release(cf_rlock *r, uint64_t owner);
int cf_rlock_locked(cf_rlock *r);
int cf_rlock_is_owned(cf_rlock *r, uint64_t owner);
/* For Condition.wait: release every level at once, saving the depth in
** *count (CF_ESTATE unless owner holds it), then take it back (blocking)
** with that depth (CF_ESTATE if owner is 0 or count < 1). */
int cf_rlock_release_all(cf_rlock *r, uint64_t owner, long *count);
int cf_rlock_acquire_restore(cf_rlock *r, uint64_t owner, long count);

/* ---------------------------------------------------------------------- */
/* Condition over a Lock or an RLock.                                      */
/* With an RLock, "owned" means held by that owner; with a Lock (which has */
/* no owner, as in Python) it means locked, and owner is ignored.          */

typedef struct cf_condition cf_condition;

/* lock: a cf_lockobj or a cf_rlock (retained), or NULL for a new RLock.
** NULL if lock is another kind of object, or on ENOMEM. */
cf_condition *cf_condition_new(void *lock);
void *cf_condition_lock(cf_condition *c);  /* borrowed */
int cf_condition_is_rlock(cf_condition *c);
int cf_condition_acquire(cf_condition *c, uint64_t owner, int blocking,
                         double timeout);
int cf_condition_release(cf_condition *c, uint64_t owner);
int cf_condition_is_owned(cf_condition *c, uint64_t owner);
/* Release the lock fully, wait for a notify, take the lock back (also on
** timeout). 0 if notified, CF_ETIMEDOUT, CF_ESTATE if not owned. */
int cf_condition_wait(cf_condition *c, uint64_t owner, double timeout);
/* Wake at most n of the threads waiting at the time of the call, oldest
** first (n < 1 wakes none). CF_ESTATE if not owned. */
int cf_condition_notify(cf_condition *c, uint64_t owner, long n);
int cf_condition_notify_all(cf_condition *c, uint64_t owner);

/* ---------------------------------------------------------------------- */
/* Semaphore and BoundedSemaphore.                                         */

typedef struct cf_semaphore cf_semaphore;

/* NULL if value < 0 (or ENOMEM). */
cf_semaphore *cf_semaphore_new(long value, int bounded);
int  cf_semaphore_acquire(cf_semaphore *s, int blocking, double timeout);
/* CF_ESTATE if n < 1, or if bounded and the value would pass the initial
** value (nothing is released then). */
int  cf_semaphore_release(cf_semaphore *s, long n);
long cf_semaphore_value(cf_semaphore *s);

/* ---------------------------------------------------------------------- */
/* Event.                                                                  */

typedef struct cf_event cf_event;

cf_event *cf_event_new(void);
void cf_event_set(cf_event *e);
void cf_event_clear(cf_event *e);
int  cf_event_is_set(cf_event *e);
/* 1 if set (or set and cleared again while waiting, as in Python), 0 on
** timeout. */
int  cf_event_wait(cf_event *e, double timeout);

/* ---------------------------------------------------------------------- */
/* Barrier.                                                                */

typedef struct cf_barrier cf_barrier;

/* NULL if parties < 1 (or ENOMEM). */
cf_barrier *cf_barrier_new(long parties);
/* 0 with *index in 0..parties-1 (arrival order in the round), or
** CF_EBROKEN if the barrier is or becomes broken (aborted, reset, or a
** waiter timed out: that waiter breaks it and gets CF_EBROKEN too). */
int  cf_barrier_wait(cf_barrier *b, double timeout, long *index);
void cf_barrier_reset(cf_barrier *b);  /* waiters get CF_EBROKEN; usable */
void cf_barrier_abort(cf_barrier *b);  /* broken until reset */
long cf_barrier_parties(cf_barrier *b);
long cf_barrier_n_waiting(cf_barrier *b);
int  cf_barrier_broken(cf_barrier *b);

/* ---------------------------------------------------------------------- */
/* Queue: a FIFO of buffers, moved in and out.                             */

typedef struct cf_queue cf_queue;

cf_queue *cf_queue_new(long maxsize);   /* maxsize <= 0: unbounded */
/* Moves *item into the queue (item is left empty): 0, CF_ETIMEDOUT when
** full ("Full"; item is left with the caller), -ENOMEM. */
int  cf_queue_put(cf_queue *q, cf_buffer *item, int block, double timeout);
/* Moves the oldest item into *out (its old contents are freed): 0, or
** CF_ETIMEDOUT when empty ("Empty"; out is untouched). */
int  cf_queue_get(cf_queue *q, cf_buffer *out, int block, double timeout);
long cf_queue_qsize(cf_queue *q);
long cf_queue_maxsize(cf_queue *q);
int  cf_queue_empty(cf_queue *q);
int  cf_queue_full(cf_queue *q);
/* CF_ESTATE if called more times than items were put. */
int  cf_queue_task_done(cf_queue *q);
/* Until every item put has been task_done: 0 or CF_ETIMEDOUT. */
int  cf_queue_join(cf_queue *q, double timeout);

/* ---------------------------------------------------------------------- */
/* Value: one shared encoded value.                                        */

typedef struct cf_value cf_value;

/* Runs under the value's mutex: C code that never raises, never blocks
** and never touches this value through the API. It may change *cur; if
** it replaces contents that carry references, it should move the old
** buffer out (to ud) and let the caller free it after cf_value_apply
** returns, so no object is destroyed under the mutex. */
typedef int (*cf_value_fn)(cf_buffer *cur, void *ud);

cf_value *cf_value_new(void);          /* holds an empty buffer */
/* Copies the value into *out (reset first, memory reused): 0 or -ENOMEM. */
int  cf_value_get(cf_value *v, cf_buffer *out);
/* Moves *in into the value (in is left empty). */
void cf_value_set(cf_value *v, cf_buffer *in);
/* Returns what fn returns. */
int  cf_value_apply(cf_value *v, cf_value_fn fn, void *ud);

/* ---------------------------------------------------------------------- */
/* Dict: key bytes -> buffers. Keys are plain bytes (no references);      */
/* keys() lists them in insertion order.                                   */
/*                                                                         */
/* The update lock makes a read-modify-write atomic: between               */
/* cf_dict_update_begin(d, owner) and the matching _end (re-entrant for    */
/* the same owner), set/delete by any other owner wait; the holder writes  */
/* with the *_owned calls. Reads never wait. cf_dict_set/cf_dict_delete    */
/* are the _owned calls with no owner (owner 0).                           */

typedef struct cf_dict cf_dict;

cf_dict *cf_dict_new(void);
/* 1 and a copy of the value in *out if key is there, 0 if it is not,
** -ENOMEM. out is reset first in every case (its memory is reused); it
** may be NULL (a membership test). */
int cf_dict_get(cf_dict *d, const void *key, size_t klen, cf_buffer *out);
/* Moves *val in (val is left empty); 0, or -ENOMEM (val left with the
** caller, the dict unchanged). An empty val is a value, not a delete. */
int cf_dict_set(cf_dict *d, const void *key, size_t klen, cf_buffer *val);
int cf_dict_set_owned(cf_dict *d, uint64_t owner, const void *key,
                      size_t klen, cf_buffer *val);
/* 1 if the key was removed, 0 if it was not there. */
int cf_dict_delete(cf_dict *d, const void *key, size_t klen);
int cf_dict_delete_owned(cf_dict *d, uint64_t owner, const void *key,
                         size_t klen);
size_t cf_dict_len(cf_dict *d);
/* A new array of *n key buffers (free it with cf_dict_keys_free):
** 0 or -ENOMEM (then *keys = NULL, *n = 0). */
int  cf_dict_keys(cf_dict *d, cf_buffer **keys, size_t *n);
void cf_dict_keys_free(cf_buffer *keys, size_t n);
/* Blocks while another owner holds the update lock. CF_ESTATE if owner
** is 0. */
int cf_dict_update_begin(cf_dict *d, uint64_t owner);
/* CF_ESTATE unless owner holds the update lock. */
int cf_dict_update_end(cf_dict *d, uint64_t owner);

#endif
