/*
** concurrent.h -- public C API of the concurrent core.
**
** A pool of native worker threads running C tasks, futures with waiters and
** done-callbacks, and shared synchronisation objects, over pthreads. This
** header has no Lua in it: a host can use the pool from C alone, and the Lua
** module (concurrent.core) is built on the same calls, so C tasks and Lua
** tasks can share one pool.
**
** Conventions
**   - Every name carries the prefix cf_ / CF_.
**   - Functions return 0 on success, a positive CF_E* code for a library
**     condition, or -errno for a system failure (-ENOMEM, -EAGAIN).
**   - Ownership: a call that takes something from its caller (a task's arg
**     and arg_free, an input buffer moved in, a payload) takes it only when
**     it succeeds. When it fails (returns NULL or an error code), nothing
**     was taken: arg is not freed and buffers keep their contents, and the
**     caller still owns them. This holds for every call below
**     (cf_pool_submit, cf_pool_submit_buffer, cf_procpool_submit,
**     cf_thread_start, cf_future_finish, cf_queue_put, cf_dict_set, ...).
**   - Out of memory is reported, never hidden: a future whose input,
**     payload or traceback could not be kept finishes with
**     CF_OUTCOME_NOMEM.
**   - Every object shared between threads is reference counted: a function
**     that returns a new object returns it with one reference owned by the
**     caller; cf_retain adds one, cf_release drops one and frees the object
**     with the last.
**   - Timeouts are seconds as a double; a negative timeout waits forever,
**     0 does not block. All waits use CLOCK_MONOTONIC.
*/
#ifndef CONCURRENT_H
#define CONCURRENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CF_VERSION "0.1.0"

/* Result codes (0 is success). */
#define CF_ETIMEDOUT  1   /* the timeout passed first */
#define CF_ECANCELLED 2   /* the future was cancelled */
#define CF_ESHUTDOWN  3   /* the pool is shut down */
#define CF_ESTATE     4   /* the object is in the wrong state for this */
#define CF_EBROKEN    5   /* the pool is broken */

/* ---------------------------------------------------------------------- */
/* Objects: reference counting shared by every type below.                */

void *cf_retain(void *obj);   /* returns obj; obj may be NULL */
void  cf_release(void *obj);  /* obj may be NULL */
const char *cf_kind_name(const void *obj); /* "future", "pool", "lock", ... */

/* ---------------------------------------------------------------------- */
/* Buffers: a growable byte string with the shared objects it refers to.   */
/* A buffer is owned by one party at a time (a task, a future, a queue     */
/* slot); it is never shared, only moved.                                  */

typedef struct cf_buffer {
  unsigned char *data;
  size_t len, cap;
  void **refs;           /* retained objects carried by the value */
  size_t nrefs, refcap;
} cf_buffer;

#define CF_BUFFER_INIT {NULL, 0, 0, NULL, 0, 0}

void cf_buffer_init(cf_buffer *b);
int  cf_buffer_reserve(cf_buffer *b, size_t extra);
int  cf_buffer_append(cf_buffer *b, const void *p, size_t n);
int  cf_buffer_add_ref(cf_buffer *b, void *obj, size_t *index); /* retains */
void cf_buffer_reset(cf_buffer *b);   /* len = 0, refs released, memory kept */
void cf_buffer_free(cf_buffer *b);    /* frees bytes, releases refs */
void cf_buffer_move(cf_buffer *dst, cf_buffer *src); /* dst freed first; src emptied */
int  cf_buffer_copy(cf_buffer *dst, const cf_buffer *src); /* retains refs */

/* ---------------------------------------------------------------------- */
/* Futures.                                                                */

typedef struct cf_future cf_future;

typedef enum cf_state {
  CF_PENDING = 0, CF_RUNNING, CF_FINISHED, CF_CANCELLED
} cf_state;

/* How a finished future ended. */
typedef enum cf_outcome {
  CF_OUTCOME_NONE = 0,      /* not finished (or cancelled) */
  CF_OUTCOME_RESULT,        /* payload holds the results */
  CF_OUTCOME_ERROR,         /* payload holds the error value */
  CF_OUTCOME_BROKEN_THREAD, /* payload holds a message (plain text) */
  CF_OUTCOME_BROKEN_PROCESS, /* payload holds a message (plain text) */
  CF_OUTCOME_NOMEM,         /* out of memory for the input, the payload or
                               the traceback: payload empty */
  CF_OUTCOME_TIMEOUT        /* stopped past its time limit (cf_pool_submit_
                               with): payload holds a message (plain text) */
} cf_outcome;

typedef void (*cf_done_fn)(cf_future *f, void *ud);

cf_future *cf_future_new(void);
cf_state   cf_future_state(cf_future *f);
int        cf_future_done(cf_future *f);       /* finished or cancelled */
/* Cancel a pending future: 1 if it is now cancelled (or already was),
** 0 if it is running or finished. */
int cf_future_cancel(cf_future *f);
/* Claim a pending future for running: 0, CF_ECANCELLED if it was
** cancelled (the caller skips it), CF_ESTATE if it is not pending. */
int cf_future_set_running(cf_future *f);
/* Finish a future. The payload is moved into the future (payload is left
** empty); traceback may be NULL. CF_ESTATE if already finished/cancelled
** (the payload is then left with the caller). With no memory to keep the
** payload or the traceback, f finishes as CF_OUTCOME_NOMEM (the payload
** is freed). */
int cf_future_finish(cf_future *f, cf_outcome how, cf_buffer *payload,
                     const char *traceback);
int cf_future_set_result(cf_future *f, const void *data, size_t len);
int cf_future_set_error(cf_future *f, const void *data, size_t len);
/* Wait until done: 0 or CF_ETIMEDOUT. */
int cf_future_wait(cf_future *f, double timeout);
/* After done: how it ended, its payload and traceback (owned by the future,
** valid while the caller holds a reference; never changed once finished). */
cf_outcome cf_future_outcome(cf_future *f, const cf_buffer **payload,
                             const char **traceback);
/* Run fn(f, ud) once when f is done, in the thread that finishes it (after
** the future's lock is released), or at once in the caller if it is done
** already. If f is freed without ever finishing, fn is called then, with f
** still pending, so ud can be freed. */
int cf_future_add_done_callback(cf_future *f, cf_done_fn fn, void *ud);
/* The task input carried by a future made by cf_pool_submit_buffer. */
cf_buffer *cf_future_input(cf_future *f);

/* Stopping a running task. cf_future_interrupt: a pending future is
** cancelled (as cf_future_cancel); a running one is asked to stop and 1
** is returned at once; a finished one: 0 (an already cancelled one: 1).
** A task asked to stop ends cancelled (or CF_OUTCOME_TIMEOUT when its time
** limit asked) whatever it finishes with: cf_future_finish then returns
** CF_ECANCELLED and leaves the payload with the caller. A Lua task is
** stopped by a hook (concurrent_lua.h); a C task polls
** cf_future_stop_requested(f) (or cf_task_stop_requested()) and returns.
** In a task asked to stop, the blocking calls of this library made by the
** thread that runs it (future and waiter waits, locks, conditions,
** semaphores, events, barriers, queues, thread joins, cf_task_sleep)
** return at once as on a timeout (CF_ETIMEDOUT, or 0 from cf_event_wait),
** and one that sleeps is woken. */
int cf_future_interrupt(cf_future *f);
int cf_future_stop_requested(cf_future *f);
/* In a pool worker or thread that runs a task: is it asked to stop? */
int cf_task_stop_requested(void);
/* cf_sleep that a stop asked of the calling task ends early: 0, or
** CF_ETIMEDOUT when it was cut short by the stop. */
int cf_task_sleep(double seconds);

/* Waiters: collect futures in the order they finish (as_completed, wait). */
typedef struct cf_waiter cf_waiter;

cf_waiter *cf_waiter_new(void);
/* Watch f: it is queued on the waiter when done (at once if done now). */
int  cf_waiter_watch(cf_waiter *w, cf_future *f);
/* Stop watching every future (also done by the last cf_release). */
void cf_waiter_unwatch_all(cf_waiter *w);
/* Next finished future, in completion order, with a reference for the
** caller; NULL with *rc = CF_ETIMEDOUT on timeout. */
cf_future *cf_waiter_next(cf_waiter *w, double timeout, int *rc);
size_t cf_waiter_pending(cf_waiter *w); /* watched and not yet returned */
size_t cf_waiter_ready(cf_waiter *w);   /* finished and not yet returned */
/* Call fn(obj) each time a watched future is queued on w (from the
** finishing thread, under the future's and the waiter's locks: fn must
** only take leaf locks and never block). obj is a core object, retained
** until replaced (fn NULL or obj NULL: none) or w is freed. */
void cf_waiter_set_notify(cf_waiter *w, void (*fn)(void *obj), void *obj);

/* ---------------------------------------------------------------------- */
/* Pools of worker threads.                                                */

typedef struct cf_pool cf_pool;

/* A task runs in a worker thread with that worker's context (made by the
** worker_start hook). It finishes f; if it returns with f unfinished the
** pool finishes it with an empty result. */
typedef void (*cf_task_fn)(cf_future *f, void *worker_ctx, void *arg);

typedef struct cf_pool_hooks {
  void *ud;
  /* In each new worker thread, before its first task. A non-zero return
  ** breaks the pool: queued and later futures fail with
  ** CF_OUTCOME_BROKEN_THREAD and `message` (if set) as payload. */
  int  (*worker_start)(void *ud, void **worker_ctx, char *message, size_t msgsz);
  /* In the worker thread, as it ends. */
  void (*worker_stop)(void *ud, void *worker_ctx);
  /* When the pool is freed (last reference). */
  void (*destroy)(void *ud);
} cf_pool_hooks;

/* max_workers > 0; hooks may be NULL. */
cf_pool *cf_pool_new(int max_workers, const cf_pool_hooks *hooks);
/* Queue a task. Returns a new future (a reference for the caller), or NULL
** with *rc = CF_ESHUTDOWN, -ENOMEM, or -EAGAIN (no worker thread could be
** made and none runs); then arg stays the caller's. On a broken pool the
** future is returned already failed. Once queued, arg_free (may be NULL)
** frees arg after the task has run, or if it never runs (cancelled). */
cf_future *cf_pool_submit(cf_pool *p, cf_task_fn fn, void *arg,
                          void (*arg_free)(void *), int *rc);
/* The same with the input moved into the future (see cf_future_input);
** on failure the input is left in *input. */
cf_future *cf_pool_submit_buffer(cf_pool *p, cf_task_fn fn, cf_buffer *input,
                                 int *rc);
/* How cf_pool_submit_with schedules a task (zeroes: as cf_pool_submit).
** priority: among queued tasks, higher runs first, first-in first-out
** within one priority. timeout > 0: seconds of running time, after which
** the task is asked to stop and ends with CF_OUTCOME_TIMEOUT (0 or
** negative: no limit). key (klen bytes, may be NULL): queued tasks of this
** pool submitted with the same key are cancelled (the latest wins). */
typedef struct cf_task_opts {
  int priority;
  double timeout;
  const char *key;
  size_t klen;
} cf_task_opts;

/* cf_pool_submit_buffer with options (opts may be NULL). */
cf_future *cf_pool_submit_with(cf_pool *p, cf_task_fn fn, cf_buffer *input,
                               const cf_task_opts *opts, int *rc);
/* Ask every task running on p to stop (cf_future_interrupt): how many. */
int cf_pool_interrupt(cf_pool *p);
/* Stop taking tasks. cancel_futures cancels those still queued; wait joins
** every worker (queued tasks not cancelled are run first). Idempotent. */
int cf_pool_shutdown(cf_pool *p, int wait, int cancel_futures);
/* After a shutdown: wait up to timeout for every worker (but the caller)
** to end: 0, or CF_ETIMEDOUT. Lets a caller wait in slices. The workers
** it sees end are joined here (their OS threads gone), so the
** cf_pool_shutdown(p, 1, 0) after it has none left to reap. */
int cf_pool_wait_exit(cf_pool *p, double timeout);
int cf_pool_max_workers(cf_pool *p);
int cf_pool_thread_count(cf_pool *p);  /* live worker threads */
int cf_pool_is_broken(cf_pool *p);
int cf_pool_is_shutdown(cf_pool *p);

/* What an executor is doing (ex:stats()): its workers (threads or
** processes) and how many wait for work, tasks queued and running, and
** since the pool was made how many finished with a result, failed (an
** error, out of memory, a broken pool) or were cancelled (counted as the
** pool drops them: by a worker that reaches them in the queue, or by
** shutdown's cancel_futures). Read without holding a lock for long and
** exact when nothing moves. */
typedef struct cf_stats {
  long workers, idle, pending, running, completed, failed, cancelled;
} cf_stats;

void cf_pool_stats(cf_pool *p, cf_stats *s);
/* After n tasks (nested ones included) a worker's context is replaced by
** a fresh one at its next task boundary: worker_stop then worker_start
** (whose failure breaks the pool). n = 0: never. Set it before the first
** submit: CF_ESTATE once a worker exists, or if n < 0. */
int cf_pool_set_max_tasks(cf_pool *p, long n);

/* ---------------------------------------------------------------------- */
/* Shared synchronisation objects (core/sync.c, queue.c, store.c).         */
/*
** The shared synchronisation objects of the core, with no Lua
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
/* A unique non-zero identity for the calling thread, from a process-wide
** counter: stable for the thread's life, never reused by another thread. */
uint64_t cf_thread_ident(void);

/* ---------------------------------------------------------------------- */
/* Lock: a non-reentrant lock that any thread may release (Python's Lock). */

typedef struct cf_lock cf_lock;

cf_lock *cf_lock_new(void);
/* 0 when acquired; CF_ETIMEDOUT on timeout or when !blocking and held. */
int cf_lock_acquire(cf_lock *l, int blocking, double timeout);
/* 0, or CF_ESTATE if it is not locked. */
int cf_lock_release(cf_lock *l);
int cf_lock_locked(cf_lock *l);

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

/* lock: a cf_lock or a cf_rlock (retained), or NULL for a new RLock.
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
/* The same, waking every `slice` seconds to call poll(ud) (with no lock
** held); if it returns nonzero, the barrier breaks as on a timeout and
** CF_EBROKEN is returned. */
int  cf_barrier_wait_poll(cf_barrier *b, double timeout, long *index,
                          double slice, int (*poll)(void *), void *ud);
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

/* ---------------------------------------------------------------------- */
/* Thread handles (core/thread.c): one native thread, started once,        */
/* joinable from any thread with a timeout. Reference counted: the        */
/* running thread holds a reference until it ends. cf_kind_name: "thread". */

typedef struct cf_thread cf_thread;
typedef void (*cf_thread_fn)(void *arg);

cf_thread *cf_thread_new(void);
/* Run fn(arg) on a new detached thread (signals blocked, named name if
** not NULL, truncated to 15 bytes); returns once the thread has taken its
** identity. 0, CF_ESTATE if already started, or -errno (-EAGAIN) if no
** thread could be made. */
int cf_thread_start(cf_thread *t, cf_thread_fn fn, void *arg,
                    const char *name);
/* The thread's cf_thread_ident(), 0 before start. */
uint64_t cf_thread_get_ident(cf_thread *t);
int cf_thread_started(cf_thread *t);
int cf_thread_is_alive(cf_thread *t);   /* started and fn not returned */
/* Until fn has returned and the OS thread is gone: 0 or CF_ETIMEDOUT;
** CF_ESTATE if not started or if called by the thread itself. Any number
** of threads may join at once, with or without timeouts. */
int cf_thread_join(cf_thread *t, double timeout);

/* ---------------------------------------------------------------------- */
/* Process pools (core/procpool.c; section owned by the process area).     */
/* Tasks run in forked worker processes. A task's input is bytes (a buffer */
/* with no object references) sent over a socket; in the worker, fn(f,     */
/* ctx, NULL) runs it on a future of the worker's own, with ctx made by    */
/* hooks->worker_start in the worker process, and that future's outcome    */
/* (payload and traceback) comes back to the caller's future. worker_stop  */
/* runs in the worker as it exits, destroy in the caller's process when    */
/* the pool is freed. Workers are forked on demand (up to max_workers) by  */
/* a manager thread made at the first submit. A worker that dies breaks    */
/* the pool: its future, every queued and every later one fail with       */
/* CF_OUTCOME_BROKEN_PROCESS. In a forked child of the process that made   */
/* it, a pool is inert: submit fails the future, shutdown returns.         */
/* cf_kind_name: "procpool".                                               */

typedef struct cf_procpool cf_procpool;

/* max_workers > 0, fn not NULL; hooks may be NULL. */
cf_procpool *cf_procpool_new(int max_workers, cf_task_fn fn,
                             const cf_pool_hooks *hooks);
/* Queue a task, its input moved from *input. A new future (a reference
** for the caller), or NULL with *rc = CF_ESHUTDOWN, -EINVAL (the input
** carries object references), -ENOMEM or -errno (no manager thread: -EAGAIN
** most often); then the input is left in *input. On a broken pool the
** future is returned already failed. */
cf_future *cf_procpool_submit(cf_procpool *p, cf_buffer *input, int *rc);
/* cf_procpool_submit with options (cf_pool_submit_with; opts may be NULL).
** A task asked to stop (cf_future_interrupt, its timeout) is signalled in
** its worker process (SIGUSR1, which the Lua binding handles); a worker
** still running it 2 s later is killed and replaced, without breaking the
** pool, and the task ends stopped. */
cf_future *cf_procpool_submit_with(cf_procpool *p, cf_buffer *input,
                                   const cf_task_opts *opts, int *rc);
/* Ask every task running on p to stop: how many. */
int cf_procpool_interrupt(cf_procpool *p);
/* As cf_pool_shutdown; wait also reaps every worker process. */
int cf_procpool_shutdown(cf_procpool *p, int wait, int cancel_futures);
/* After a shutdown: wait up to timeout for the manager (which reaps every
** worker) to end: 0, or CF_ETIMEDOUT. */
int cf_procpool_wait_done(cf_procpool *p, double timeout);
int cf_procpool_max_workers(cf_procpool *p);
int cf_procpool_process_count(cf_procpool *p);  /* live worker processes */
/* Up to n pids of live workers into pids; returns how many. */
int cf_procpool_pids(cf_procpool *p, int *pids, int n);
int cf_procpool_is_broken(cf_procpool *p);
int cf_procpool_is_shutdown(cf_procpool *p);
int cf_procpool_is_running(cf_procpool *p);     /* its manager runs */
void cf_procpool_stats(cf_procpool *p, cf_stats *s);
/* A worker process that has run n tasks is told to exit and reaped, and a
** new one is forked when work needs it (Python's max_tasks_per_child).
** n = 0: never. CF_ESTATE after the first submit, or if n < 0. */
int cf_procpool_set_max_tasks(cf_procpool *p, long n);

/* ---------------------------------------------------------------------- */
/* Time and system.                                                        */

double cf_monotonic(void);         /* seconds */
int    cf_sleep(double seconds);   /* 0; resumes after EINTR */
int    cf_cpu_count(void);

#ifdef __cplusplus
}
#endif
#endif
