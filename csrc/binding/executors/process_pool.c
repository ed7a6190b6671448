/*
** process_pool.c -- ProcessPoolExecutor: a box around a core process pool
** (core/procpool.c) whose workers are forked processes, each with a fresh
** Lua state made like a thread worker's (worker.c).
**
** submit encodes the function and its arguments in the caller exactly as
** for threads, but with objects refused (a pointer means nothing in
** another address space), so a value that cannot cross raises there and
** nothing is queued. In the worker the task runs as in a thread worker;
** its results and error are encoded with objects refused too, and the
** bytes come back to an ordinary concurrent.Future.
**
** In a worker process os.exit really exits (closing the worker's state if
** asked, flushing stdout and stderr, then _exit): the pool sees the worker
** die and breaks, as Python's does.
**
** Lifetime: collecting the executor shuts it down without waiting; the
** state's close registry (runtime/record.c) joins it when the state
** closes.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "../runtime/inbox.h"
#include "executors.h"
#include "../classes/future_class.h"
#include "../runtime/boxes.h"
#include "../runtime/errors.h"
#include "../runtime/record.h"
#include "../transfer/transfer.h"
#include "../worker/worker.h"
#include "../runtime/errors.h"
#include "../runtime/stop.h"
#include "task_opts.h"

#define LCF_PROCPOOL "concurrent.ProcessPoolExecutor"
#define REFUSE "shared objects cannot be sent to another process"


static const lcf_encode_opts submit_opts =
    {.root = "args", .fn_first = 1, .refuse = REFUSE};
static const lcf_encode_opts init_opts =
    {.root = "initargs", .fn_first = 1, .refuse = REFUSE};

/* ---------------------------------------------------------------------- */
/* In the worker process.                                                 */

typedef struct pworker {
  lua_State *L;
  cf_buffer out;
} pworker;

static int worker_os_exit(lua_State *L) {
  int code;
  if (lua_isboolean(L, 1)) code = lua_toboolean(L, 1) ? EXIT_SUCCESS
                                                      : EXIT_FAILURE;
  else code = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
  if (lua_toboolean(L, 2)) lua_close(L);   /* as Lua's os.exit(code, true) */
  fflush(stdout);
  fflush(stderr);
  _exit(code);
  return 0;
}

static int run_initializer(lua_State *L) {
  const lcf_worker_config *c = lua_touserdata(L, 1);
  int n = lcf_decode(L, &c->init, 0);
  if (n > 0) lua_call(L, n - 1, 0);
  return 0;
}

static int pw_start(void *ud, void **ctx, char *msg, size_t msgsz) {
  lcf_worker_config *c = ud;
  pworker *w;
  lua_State *L = lcf_worker_newstate(c, msg, msgsz);
  if (L == NULL) return -1;
  lua_getglobal(L, "os");
  lua_pushcfunction(L, worker_os_exit);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
  if (c->init.len > 0) {
    lua_pushcfunction(L, run_initializer);
    lua_pushlightuserdata(L, c);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      snprintf(msg, msgsz, "initializer failed: %s", lcf_error_text(L, -1));
      lua_close(L);
      return -1;
    }
  }
  w = calloc(1, sizeof *w);
  if (w == NULL) {
    snprintf(msg, msgsz, "not enough memory for a worker");
    lua_close(L);
    return -1;
  }
  w->L = L;
  lcf_stop_signal_setup(L);   /* SIGUSR1 stops the task (procstop.c) */
  *ctx = w;
  return 0;
}

static void pw_stop(void *ud, void *ctx) {
  pworker *w = ctx;
  (void)ud;
  if (w == NULL) return;
  lcf_stop_signal_setup(NULL);
  lua_close(w->L);
  cf_buffer_free(&w->out);
  free(w);
}

/* The core's task function, in the worker: f is the worker's own future
** carrying the input; its outcome is sent back by the core. */
static void pw_task(cf_future *f, void *ctx, void *arg) {
  pworker *w = ctx;
  (void)arg;
  lcf_run_encoded(w->L, f, cf_future_input(f), &w->out, 1);
  lcf_callbacks_run(w->L);
}

/* ---------------------------------------------------------------------- */
/* The state's close registry joins the pool (waits for the manager, which
** reaps every worker); the box's finalizer only shuts it down.           */

static void pool_close(void *p) {
  cf_procpool_shutdown(p, 1, 0);
  cf_release(p);
}

static int pool_finished(void *p) {
  return cf_procpool_is_shutdown(p) && !cf_procpool_is_running(p);
}

static void pool_drop(void *p) {
  cf_release(p);
}

static const lcf_close_kind pool_closer = {
  .order = LCF_CLOSE_PROCESS_POOLS,
  .close = pool_close,
  .finished = pool_finished,
  .drop = pool_drop,
};

/* ---------------------------------------------------------------------- */
/* The executor.                                                          */

static cf_procpool *check_pool(lua_State *L, int arg) {
  return lcf_checkobject(L, arg, LCF_PROCPOOL);
}

/* core.process_pool(max_workers [, initializer [, initargs
** [, max_tasks_per_child]]]) */
static int l_process_pool(lua_State *L) {
  lua_Integer max = luaL_checkinteger(L, 1);
  lua_Integer max_tasks = luaL_optinteger(L, 4, 0);
  cf_buffer *init = NULL;
  lcf_worker_config *cfg;
  cf_pool_hooks hooks;
  lcf_box *box;
  cf_procpool *p;
  luaL_argcheck(L, max > 0 && max <= 1024, 1,
                "max_workers must be a positive integer (at most 1024)");
  luaL_argcheck(L, max_tasks >= 0, 4,
                "max_tasks_per_child must be a positive integer");
  lua_settop(L, 3);
  if (!lua_isnil(L, 2)) {
    int n = 0, i;
    luaL_argexpected(L, lcf_callable(L, 2), 2, "function");
    if (!lua_isnil(L, 3)) {
      luaL_checktype(L, 3, LUA_TTABLE);
      n = (int)luaL_len(L, 3);
    }
    init = lcf_newbuffer(L);                 /* at 4 */
    luaL_checkstack(L, n + 2, "too many initargs");
    lua_pushvalue(L, 2);
    for (i = 1; i <= n; i++) lua_geti(L, 3, i);
    lcf_encode(L, 5, n + 1, init, &init_opts);
    lua_settop(L, 4);
  }
  lcf_close_reserve(L);
  box = lcf_push_owner_box(L, LCF_PROCPOOL);
  cfg = lcf_worker_config_new(L, NULL);
  if (init) cf_buffer_move(&cfg->init, init);
  hooks.ud = cfg;
  hooks.worker_start = pw_start;
  hooks.worker_stop = pw_stop;
  hooks.destroy = lcf_worker_config_free;
  p = cf_procpool_new((int)max, pw_task, &hooks);
  if (p == NULL) {
    lcf_worker_config_free(cfg);
    return luaL_error(L, "cannot make a process pool (out of memory or "
                         "descriptors)");
  }
  box->obj = p;
  cf_procpool_set_max_tasks(p, (long)max_tasks);
  lcf_close_add(L, &pool_closer, cf_retain(p));
  return 1;
}

/* Submit the function at fidx and the arguments after it, with options
** o (may be NULL). */
static int submit_from(lua_State *L, cf_procpool *p, int fidx,
                       const cf_task_opts *o) {
  int n = lua_gettop(L) - fidx + 1, rc;
  cf_buffer *b;
  cf_future *f;
  luaL_argexpected(L, n >= 1 && lcf_callable(L, fidx), fidx, "function");
  if (cf_procpool_is_shutdown(p))
    return luaL_error(L, "cannot schedule new futures after shutdown");
  b = lcf_newbuffer(L);
  lcf_encode(L, fidx, n, b, &submit_opts);
  f = cf_procpool_submit_with(p, b, o, &rc);
  if (f == NULL) {
    if (rc == CF_ESHUTDOWN)
      return luaL_error(L, "cannot schedule new futures after shutdown");
    return lcf_raise_errno(L, "cannot start the process pool's manager "
                              "thread", rc);
  }
  lcf_pushfuture(L, f);
  return 1;
}

static int l_submit(lua_State *L) {
  return submit_from(L, check_pool(L, 1), 2, NULL);
}

/* ex:submit_with(opts, fn, ...): task_opts.c checks opts first. */
static int l_submit_with(lua_State *L) {
  cf_procpool *p = check_pool(L, 1);
  cf_task_opts o;
  lcf_check_task_opts(L, 2, &o);
  return submit_from(L, p, 3, &o);
}

/* The core pool, for the methods both executors share (shared.c). */
static int ops_shutdown(void *p, int wait, int cancel) {
  return cf_procpool_shutdown(p, wait, cancel);
}

static int ops_wait_slice(void *p, double timeout) {
  return cf_procpool_wait_done(p, timeout);
}

static int ops_interrupt(void *p) {
  return cf_procpool_interrupt(p);
}

static const lcf_pool_ops pool_ops = {
  .tname = LCF_PROCPOOL,
  .shutdown = ops_shutdown,
  .wait_slice = ops_wait_slice,
  .interrupt = ops_interrupt,
};

static int l_shutdown(lua_State *L) {
  return lcf_executor_shutdown(L, &pool_ops);
}

static int l_close(lua_State *L) {
  return lcf_executor_close(L, &pool_ops);
}

static int l_gc(lua_State *L) {
  return lcf_executor_gc(L, &pool_ops);
}

static int l_stats(lua_State *L) {
  cf_stats s;
  cf_procpool_stats(check_pool(L, 1), &s);
  lcf_push_stats(L, &s);
  return 1;
}

static int l_process_count(lua_State *L) {
  lua_pushinteger(L, cf_procpool_process_count(check_pool(L, 1)));
  return 1;
}

static int l_max_workers(lua_State *L) {
  lua_pushinteger(L, cf_procpool_max_workers(check_pool(L, 1)));
  return 1;
}

/* ex:_pids() -> a sequence of the live workers' pids (for tests). */
static int l_pids(lua_State *L) {
  cf_procpool *p = check_pool(L, 1);
  int n = cf_procpool_max_workers(p), k, i;
  int *pids = lua_newuserdatauv(L, (size_t)n * sizeof *pids, 0);
  k = cf_procpool_pids(p, pids, n);
  lua_createtable(L, k, 0);
  for (i = 0; i < k; i++) {
    lua_pushinteger(L, pids[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int l_tostring(lua_State *L) {
  cf_procpool *p = check_pool(L, 1);
  lua_pushfstring(L, "ProcessPoolExecutor: %p (max_workers=%d%s%s)",
                  (void *)p, cf_procpool_max_workers(p),
                  cf_procpool_is_broken(p) ? ", broken" : "",
                  cf_procpool_is_shutdown(p) ? ", shut down" : "");
  return 1;
}

static const luaL_Reg methods[] = {
  {"submit", l_submit},
  {"shutdown", l_shutdown},
  {"stats", l_stats},
  {"map", lcf_lazy_map},
  {"submit_with", l_submit_with},
  {"_process_count", l_process_count},
  {"_max_workers", l_max_workers},
  {"_pids", l_pids},
  {"__close", l_close},
  {"__gc", l_gc},
  {"__tostring", l_tostring},
  {NULL, NULL}
};

void lcf_procpool_open(lua_State *L) {
  lcf_newclass(L, LCF_PROCPOOL, methods);
  lua_setfield(L, -2, "ProcessPoolExecutor_class");
  lua_pushcfunction(L, l_process_pool);
  lua_setfield(L, -2, "process_pool");
}
