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
#include "runtime/boxes.h"
#include "runtime/record.h"
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

static int l_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0, 1, "seconds must be a non-negative number");
  lcf_wait(L, sleep_slice, NULL, (double)s);   /* in slices: Ctrl-C */
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

/* core.callable(v): the library's one rule for what may be called (a
** function, or a value whose metatable has a __call function), for the
** Lua modules' argument checks. */
static int l_callable(lua_State *L) {
  lua_pushboolean(L, lcf_callable(L, 1));
  return 1;
}

static int l_poll(lua_State *L) {
  lua_pushinteger(L, lcf_callbacks_run(L));
  return 1;
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
  {"interrupted", lcf_l_interrupted},
  {"poll", l_poll},
  {"callable", l_callable},
  {"_transfer_stats", lcf_transfer_stats},
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
