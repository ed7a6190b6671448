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
  CF_OUTCOME_BROKEN_PROCESS /* payload holds a message (plain text) */
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
** (the payload is then left with the caller). */
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
** with *rc = CF_ESHUTDOWN or -ENOMEM. On a broken pool the future is
** returned already failed. arg_free (may be NULL) frees arg once the task
** has run, or if it never runs. */
cf_future *cf_pool_submit(cf_pool *p, cf_task_fn fn, void *arg,
                          void (*arg_free)(void *), int *rc);
/* The same with the input moved into the future (see cf_future_input). */
cf_future *cf_pool_submit_buffer(cf_pool *p, cf_task_fn fn, cf_buffer *input,
                                 int *rc);
/* Stop taking tasks. cancel_futures cancels those still queued; wait joins
** every worker (queued tasks not cancelled are run first). Idempotent. */
int cf_pool_shutdown(cf_pool *p, int wait, int cancel_futures);
int cf_pool_max_workers(cf_pool *p);
int cf_pool_thread_count(cf_pool *p);  /* live worker threads */
int cf_pool_is_broken(cf_pool *p);
int cf_pool_is_shutdown(cf_pool *p);

/* ---------------------------------------------------------------------- */
/* Time and system.                                                        */

double cf_monotonic(void);         /* seconds */
int    cf_sleep(double seconds);   /* 0; resumes after EINTR */
int    cf_cpu_count(void);

/* ---------------------------------------------------------------------- */
/* The Lua side (declared here without Lua headers; defined by the module  */
/* concurrent.core, for hosts that link or load it).                       */

struct lua_State;

/* Called in each new worker lua_State (thread pool workers and threads)
** after the standard libraries and package paths are set up and before
** the first task, so a host can register its own functions and modules. */
typedef void (*cf_lua_setup_fn)(struct lua_State *worker, void *ud);

/* Open the module (what require "concurrent.core" calls). */
int luaopen_concurrent_core(struct lua_State *L);
/* Set the setup hook for workers of executors and threads made from L
** from now on (per state: NULL removes it). */
void cf_lua_set_worker_setup(struct lua_State *L, cf_lua_setup_fn fn, void *ud);
/* The pool behind the ThreadPoolExecutor at stack index idx, with a new
** reference for the caller (C tasks can then share it); NULL if idx is
** not an open executor. */
cf_pool *cf_lua_executor_pool(struct lua_State *L, int idx);
/* Push a Future object for f (adds a reference), e.g. for a C task's
** future, so scripts can wait on it. */
void cf_lua_push_future(struct lua_State *L, cf_future *f);
/* Push the values encoded in a future's payload (as a Lua task leaves
** them); returns how many. */
int cf_lua_push_payload(struct lua_State *L, const cf_buffer *payload);
/* Encode the n values at stack index first into out (cleared first), so
** a C task can finish a future with values Lua scripts can read. Returns
** 0, or -1 with an error message pushed if a value cannot cross. */
int cf_lua_encode(struct lua_State *L, int first, int n, cf_buffer *out);

#ifdef __cplusplus
}
#endif
#endif
