/*
** thread_pool.c -- ThreadPoolExecutor: a box around a core pool whose
** workers are Lua states (worker.c). submit encodes the function and its
** arguments in the caller, so a value that cannot cross raises here and
** nothing is queued.
*/
#include <string.h>

#include <lauxlib.h>

#include "executors.h"
#include "../classes/future_class.h"
#include "../runtime/boxes.h"
#include "../runtime/errors.h"
#include "../runtime/record.h"
#include "../transfer/transfer.h"
#include "../worker/worker.h"
#include "task_opts.h"

static const lcf_encode_opts submit_opts =
    {.root = "args", .fn_first = 1, .allow_objects = 1};
static const lcf_encode_opts init_opts =
    {.root = "initargs", .fn_first = 1, .allow_objects = 1};

/* The state's close registry joins the pool: its finalizer (l_gc) only
** shuts it down without waiting. */
static void pool_close(void *p) {
  cf_pool_shutdown(p, 1, 0);
  cf_release(p);
}

/* All threads gone after a shutdown: nothing to join. */
static int pool_finished(void *p) {
  return cf_pool_is_shutdown(p) && cf_pool_thread_count(p) == 0;
}

static void pool_drop(void *p) {
  cf_release(p);
}

static const lcf_close_kind pool_closer = {
  .order = LCF_CLOSE_THREAD_POOLS,
  .close = pool_close,
  .finished = pool_finished,
  .drop = pool_drop,
};

static cf_pool *check_pool(lua_State *L, int arg) {
  return lcf_checkobject(L, arg, LCF_EXECUTOR);
}

/* core.thread_pool(max_workers [, prefix [, initializer [, initargs
** [, memory_limit [, max_tasks_per_worker]]]]]) */
static int l_thread_pool(lua_State *L) {
  lua_Integer max = luaL_checkinteger(L, 1);
  lua_Integer memory_limit = luaL_optinteger(L, 5, 0);
  lua_Integer max_tasks = luaL_optinteger(L, 6, 0);
  const char *prefix = luaL_optstring(L, 2, NULL);
  cf_buffer *init = NULL;
  lcf_worker_config *cfg;
  cf_pool_hooks hooks;
  lcf_box *box;
  cf_pool *p;
  luaL_argcheck(L, max > 0 && max <= 10000, 1,
                "max_workers must be a positive integer (at most 10000)");
  luaL_argcheck(L, memory_limit >= 0, 5,
                "memory_limit must be a positive number of bytes");
  luaL_argcheck(L, max_tasks >= 0, 6,
                "max_tasks_per_worker must be a positive integer");
  lua_settop(L, 4);
  if (!lua_isnoneornil(L, 3)) {
    int n = 0, i;
    luaL_argexpected(L, lcf_callable(L, 3), 3, "function");
    if (!lua_isnoneornil(L, 4)) {
      luaL_checktype(L, 4, LUA_TTABLE);
      n = (int)luaL_len(L, 4);
    }
    init = lcf_newbuffer(L);                 /* at 5 */
    luaL_checkstack(L, n + 2, "too many initargs");
    lua_pushvalue(L, 3);
    for (i = 1; i <= n; i++) lua_geti(L, 4, i);
    lcf_encode(L, 6, n + 1, init, &init_opts);
    lua_settop(L, 5);
  }
  lcf_close_reserve(L);
  box = lcf_push_owner_box(L, LCF_EXECUTOR);
  cfg = lcf_worker_config_new(L, prefix);
  if (init) cf_buffer_move(&cfg->init, init);
  cfg->memory_limit = (size_t)memory_limit;
  hooks.ud = cfg;
  hooks.worker_start = lcf_worker_start;
  hooks.worker_stop = lcf_worker_stop;
  hooks.destroy = lcf_worker_config_free;
  p = cf_pool_new((int)max, &hooks);
  if (p == NULL) {
    lcf_worker_config_free(cfg);
    return luaL_error(L, "not enough memory");
  }
  box->obj = p;
  cf_pool_set_max_tasks(p, (long)max_tasks);
  lcf_close_add(L, &pool_closer, cf_retain(p));
  return 1;
}

/* The hot path of the library. Upvalues: the executor class, the
** Future class and the state's transfer context, so checking the
** executor, encoding and boxing the future need no registry lookups. The function and arguments are encoded into the
** state's scratch buffer and copied into the future's own allocation. */
static int l_submit(lua_State *L) {
  lcf_box *box = lua_touserdata(L, 1);
  cf_pool *p;
  int n = lua_gettop(L) - 1, rc;
  cf_buffer *b;
  cf_future *f;
  /* The class is compared by address: lua_rawequal with an upvalue
  ** index cost as much as the rest of the check. */
  if (box == NULL || !lua_getmetatable(L, 1) ||
      lua_topointer(L, -1) != lua_topointer(L, lua_upvalueindex(1))) {
    p = check_pool(L, 1);                   /* raises the usual error */
  } else {
    lua_pop(L, 1);
    p = box->obj;
    if (p == NULL) luaL_argerror(L, 1, "object is closed");
  }
  luaL_argexpected(L, n >= 1 && lcf_callable(L, 2), 2, "function");
  if (cf_pool_is_shutdown(p))
    return luaL_error(L, "cannot schedule new futures after shutdown");
  b = lcf_scratch_begin(L, lua_upvalueindex(3));
  if (b == NULL) b = lcf_newbuffer(L);      /* above the arguments */
  lcf_encode_with(L, lua_upvalueindex(3), 2, n, b, &submit_opts);
  f = cf_pool_submit_buffer(p, lcf_lua_task, b, &rc);
  lcf_scratch_end(L, lua_upvalueindex(3), b);
  if (f == NULL) {
    if (rc == CF_ESHUTDOWN)
      return luaL_error(L, "cannot schedule new futures after shutdown");
    return lcf_raise_errno(L, "cannot start a worker thread", rc);
  }
  box = lua_newuserdatauv(L, sizeof *box, 0);
  box->obj = NULL;
  lua_pushvalue(L, lua_upvalueindex(2));    /* __gc in place first */
  lua_setmetatable(L, -2);
  box->obj = f;
  return 1;
}

/* ex:submit_with(opts, fn, ...): submit with a priority, a time limit,
** a key (task_opts.c checks them first: a bad one queues nothing). */
static int l_submit_with(lua_State *L) {
  cf_pool *p = check_pool(L, 1);
  cf_task_opts o;
  int n, rc;
  cf_buffer *b;
  cf_future *f;
  lcf_check_task_opts(L, 2, &o);
  n = lua_gettop(L) - 2;
  luaL_argexpected(L, n >= 1 && lcf_callable(L, 3), 3, "function");
  if (cf_pool_is_shutdown(p))
    return luaL_error(L, "cannot schedule new futures after shutdown");
  b = lcf_newbuffer(L);
  lcf_encode(L, 3, n, b, &submit_opts);
  f = cf_pool_submit_with(p, lcf_lua_task, b, &o, &rc);
  if (f == NULL) {
    if (rc == CF_ESHUTDOWN)
      return luaL_error(L, "cannot schedule new futures after shutdown");
    return lcf_raise_errno(L, "cannot start a worker thread", rc);
  }
  lcf_pushfuture(L, f);
  return 1;
}

/* The core pool, for the methods both executors share (shared.c). */
static int ops_shutdown(void *p, int wait, int cancel) {
  return cf_pool_shutdown(p, wait, cancel);
}

static int ops_wait_slice(void *p, double timeout) {
  return cf_pool_wait_exit(p, timeout);
}

static int ops_interrupt(void *p) {
  return cf_pool_interrupt(p);
}

static const lcf_pool_ops pool_ops = {
  .tname = LCF_EXECUTOR,
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
  cf_pool_stats(check_pool(L, 1), &s);
  lcf_push_stats(L, &s);
  return 1;
}

static int l_thread_count(lua_State *L) {
  lua_pushinteger(L, cf_pool_thread_count(check_pool(L, 1)));
  return 1;
}

static int l_max_workers(lua_State *L) {
  lua_pushinteger(L, cf_pool_max_workers(check_pool(L, 1)));
  return 1;
}

static int l_tostring(lua_State *L) {
  cf_pool *p = check_pool(L, 1);
  lua_pushfstring(L, "ThreadPoolExecutor: %p (max_workers=%d%s)", (void *)p,
                  cf_pool_max_workers(p),
                  cf_pool_is_shutdown(p) ? ", shut down" : "");
  return 1;
}

static const luaL_Reg methods[] = {
  {"shutdown", l_shutdown},
  {"stats", l_stats},
  {"map", lcf_lazy_map},
  {"submit_with", l_submit_with},
  {"_thread_count", l_thread_count},
  {"_max_workers", l_max_workers},
  {"__close", l_close},
  {"__gc", l_gc},
  {"__tostring", l_tostring},
  {NULL, NULL}
};

cf_pool *cf_lua_executor_pool(lua_State *L, int idx) {
  lcf_box *b = luaL_testudata(L, idx, LCF_EXECUTOR);
  return b && b->obj ? cf_retain(b->obj) : NULL;
}

void lcf_executor_open(lua_State *L) {
  lcf_newclass(L, LCF_EXECUTOR, methods);
  lua_pushvalue(L, -1);                           /* mt mt */
  lcf_newclass(L, LCF_FUTURE, NULL);              /* mt mt fmt */
  lcf_transfer_context(L);                        /* mt mt fmt ctx */
  lua_pushcclosure(L, l_submit, 3);
  lcf_name_method(L, -1, "submit");
  lua_setfield(L, -2, "submit");
  lua_setfield(L, -2, "ThreadPoolExecutor_class");
  lua_pushcfunction(L, l_thread_pool);
  lua_setfield(L, -2, "thread_pool");
}
