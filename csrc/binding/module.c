/*
** module.c -- luaopen_concurrent_core: the one C module behind the Lua
** modules concurrent, concurrent.futures, concurrent.thread and
** concurrent.process.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>

#include <lauxlib.h>

#include "../concurrent.h"
#include "callbacks.h"
#include "errors.h"
#include "executor.h"
#include "future.h"
#include "process.h"
#include "spawn.h"
#include "state.h"
#include "sync.h"
#include "thread.h"

/* Worker threads run this module's code; keep it mapped even when every
** state that loaded it has closed (dlclose would unmap it under them). */
static void pin_module(void) {
  Dl_info info;
  if (dladdr((void *)luaopen_concurrent_core, &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE);
}

static pthread_once_t pin_once = PTHREAD_ONCE_INIT;

/* In a spawned coroutine the sleep is a timer: the thread goes on. */
static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  if (lcf_await_sleep_again(L)) return lua_yieldk(L, 0, 0, sleep_k);
  return 0;
}

static int l_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0, 1, "seconds must be a non-negative number");
  if (lcf_await_sleep(L, (double)s)) return lua_yieldk(L, 0, 0, sleep_k);
  cf_sleep(lcf_spawn_block(L, NULL, NULL, (double)s));
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

static const luaL_Reg functions[] = {
  {"sleep", l_sleep},
  {"monotonic", l_monotonic},
  {"cpu_count", l_cpu_count},
  {NULL, NULL}
};

int luaopen_concurrent_core(lua_State *L) {
  pthread_once(&pin_once, pin_module);
  lcf_state_open(L);
  luaL_newlib(L, functions);
  lcf_errors_open(L);
  lcf_future_open(L);
  lcf_callbacks_open(L);
  lcf_spawn_open(L);
  lcf_waiter_open(L);
  lcf_executor_open(L);
  lcf_sync_open(L);
  lcf_thread_open(L);
  lcf_process_open(L);
  lua_pushliteral(L, CF_VERSION);
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
