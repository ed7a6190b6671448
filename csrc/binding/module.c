/*
** module.c -- luaopen_concurrent_core: the one C module behind the Lua
** modules concurrent, concurrent.futures, concurrent.thread and
** concurrent.process.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "../concurrent_lua.h"
#include "runtime/inbox.h"
#include "runtime/wait.h"
#include "runtime/stop.h"
#include "runtime/errors.h"
#include "executors/executors.h"
#include "classes/future_class.h"
#include "classes/process_class.h"
#include "classes/spawn.h"
#include "runtime/boxes.h"
#include "runtime/record.h"
#include "runtime/spawned.h"
#include "transfer/transfer.h"
#include "classes/sync_classes.h"
#include "classes/thread_class.h"
#include "classes/trace_binding.h"

/* Worker threads run this module's code; keep it mapped even when every
** state that loaded it has closed (dlclose would unmap it under them). */
static void pin_module(void) {
  Dl_info info;
  lcf_set_module_open(luaopen_concurrent_core);
  if (dladdr((void *)luaopen_concurrent_core, &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE);
}

static pthread_once_t pin_once = PTHREAD_ONCE_INIT;

static int sleep_slice(void *ud, double seconds) {
  (void)ud;
  cf_task_sleep(seconds);   /* cut short if the task is asked to stop */
  return CF_ETIMEDOUT;
}

/* In a spawned coroutine the sleep is a timer: the thread goes on. */
static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  if (lcf_await_sleep_again(L)) return lcf_yieldk(L, sleep_k);
  return 0;
}

static int l_sleep(lua_State *L) {
  lua_Number s;
  LCF_AWAIT_RESUMED(L, sleep_k);
  s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0, 1, "seconds must be a non-negative number");
  /* In a spawned coroutine the sleep is a timer: the thread goes on;
  ** elsewhere it keeps running the state's spawned coroutines, then
  ** sleeps in slices (Ctrl-C). */
  if (lcf_await_sleep(L, (double)s)) return lcf_yieldk(L, sleep_k);
  lcf_wait(L, sleep_slice, NULL, lcf_spawn_block(L, NULL, NULL, (double)s));
  lcf_callbacks_run(L);
  return 0;
}

static int l_monotonic(lua_State *L) {
  lua_pushnumber(L, (lua_Number)cf_monotonic());
  return 1;
}

static int l_cpu_count(lua_State *L) {
  lua_pushinteger(L, cf_cpu_count());
  return 1;
}

/* concurrent.interrupted(): the calling task (or thread.Thread, or
** process pool task) is asked to stop, or the spawned coroutine calling. */
static int l_interrupted(lua_State *L) {
  lua_pushboolean(L, cf_task_stop_requested() || lcf_spawn_stop_requested(L));
  return 1;
}

/* core.callable(v): the library's one rule for what may be called (a
** function, or a value whose metatable has a __call function), for the
** Lua modules' argument checks. */
static int l_callable(lua_State *L) {
  lua_pushboolean(L, lcf_callable(L, 1));
  return 1;
}

/* poll([{max_callbacks = n, max_seconds = s, idle = s}]) -> ran, more.
** idle: sleep that long first: with max_callbacks = 0, the rest of a frame
** loop's frame, which any other sleep of the library would spend running
** all that is queued, whatever the budget. */
static int l_poll(lua_State *L) {
  int max_items = -1, more, n;
  double max_seconds = -1, idle = 0;
  if (!lua_isnoneornil(L, 1)) {
    luaL_argexpected(L, lua_istable(L, 1), 1, "table or nil");
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
      if (strcmp(k, "max_callbacks") == 0) {
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint || v < 0)
          return luaL_argerror(L, 1, lua_pushfstring(L,
            "max_callbacks must be a non-negative integer, got %s",
            luaL_tolstring(L, -1, NULL)));
        max_items = v > INT_MAX ? INT_MAX : (int)v;
      } else if (strcmp(k, "max_seconds") == 0) {
        lua_Number v = lua_tonumber(L, -1);
        if (!lua_isnumber(L, -1) || !(v >= 0))
          return luaL_argerror(L, 1, lua_pushfstring(L,
            "max_seconds must be a non-negative number, got %s",
            luaL_tolstring(L, -1, NULL)));
        max_seconds = (double)v;
      } else if (strcmp(k, "idle") == 0) {
        lua_Number v = lua_tonumber(L, -1);
        if (!lua_isnumber(L, -1) || !(v >= 0))
          return luaL_argerror(L, 1, lua_pushfstring(L,
            "idle must be a non-negative number of seconds, got %s",
            luaL_tolstring(L, -1, NULL)));
        idle = (double)v;
      } else {
        return luaL_argerror(L, 1, lua_pushfstring(L,
          "unknown option '%s' (max_callbacks, max_seconds or idle expected)",
          luaL_tolstring(L, -2, NULL)));
      }
      lua_pop(L, 1);
    }
  }
  /* The idle time of a task asked to stop ends at once, raising. */
  if (idle > 0 && lcf_callbacks_idle(L, idle) == CF_ETIMEDOUT && lcf_stop_check(L))
    return lua_error(L);
  n = lcf_callbacks_run_budget(L, max_items, max_seconds, &more);
  lua_pushinteger(L, n);
  lua_pushboolean(L, more);
  return 2;
}

/* isatty(fd): for progress bars (concurrent.progress draws only on a
** terminal). */
static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)) == 1);
  return 1;
}

static const luaL_Reg functions[] = {
  {"isatty", l_isatty},
  {"sleep", l_sleep},
  {"interrupted", l_interrupted},
  {"poll", l_poll},
  {"callable", l_callable},
  {"_transfer_stats", lcf_transfer_stats},
  {"monotonic", l_monotonic},
  {"cpu_count", l_cpu_count},
  {"slice", lcf_slice_new},
  {NULL, NULL}
};

int luaopen_concurrent_core(lua_State *L) {
  pthread_once(&pin_once, pin_module);
  lcf_state_open(L);
  lcf_note_mainthread(L);
  luaL_newlib(L, functions);
  lcf_await_wrap(L, -1, "sleep");
  lcf_errors_open(L);
  lcf_future_open(L);
  lcf_spawn_open(L);
  lcf_waiter_open(L);
  lcf_executor_open(L);
  lcf_sync_open(L);
  lcf_thread_open(L);
  lcf_process_open(L);
  lcf_procpool_open(L);
  lcf_trace_open(L);
  lua_pushliteral(L, CF_VERSION);
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
