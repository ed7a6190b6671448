/*
** nested.c -- the binding's side of waits that help (core/help.c).
**
** A worker waiting in a task may run other tasks of its pool nested, in
** the same worker state. Each nesting depth runs on a Lua thread of that
** state made for it once (and kept, anchored in the registry, until the
** state closes): the waiting task's own thread is suspended in a C call,
** so its stack cannot be used, and a fresh thread starts Lua's count of
** nested C calls afresh, leaving the C stack to help.c's bounds. The
** thread is made before the wait (protected, in the waiting state), so
** running a nested task allocates nothing that could raise in the core.
*/
#include <lauxlib.h>

#include "../../core/help.h"
#include "../runtime/wait.h"
#include "worker.h"

/* The calling worker's threads, by depth (1 ..); cleared as its state
** closes (lcf_worker_stop). */
static CF_TLS lua_State *threads[CF_HELP_MAX_DEPTH + 1];

static const char THREADS_KEY = 't';

lua_State *lcf_nest_thread(int d) {
  return d > 0 && d <= CF_HELP_MAX_DEPTH ? threads[d] : NULL;
}

void lcf_nest_forget(void) {
  int i;
  for (i = 0; i <= CF_HELP_MAX_DEPTH; i++) threads[i] = NULL;
}

/* (depth) -> the new thread, kept in the registry's list at depth. */
static int make_thread(lua_State *L) {
  lua_Integer d = lua_tointeger(L, 1);
  lua_settop(L, 1);
  lcf_worker_thread(L);                                   /* d co */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &THREADS_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &THREADS_KEY);
  }                                                       /* d co list */
  lua_pushvalue(L, 2);
  lua_rawseti(L, 3, d);
  lua_pop(L, 1);                                          /* d co */
  return 1;
}

int lcf_help_prepare(lua_State *L) {
  int d = cf_help_depth();
  if (d < 0 || d >= CF_HELP_MAX_DEPTH || !cf_help_possible()) return 0;
  if (threads[d + 1] == NULL) {
    if (!lua_checkstack(L, 4)) return 0;
    lua_pushcfunction(L, make_thread);
    lua_pushinteger(L, d + 1);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {   /* no memory: do not help */
      lua_pop(L, 1);
      return 0;
    }
    threads[d + 1] = lua_tothread(L, -1);
    lua_pop(L, 1);
  }
  return 1;
}

static int plain_slice(void *f, double timeout) {
  return cf_future_wait(f, timeout);
}

static int help_slice(void *f, double timeout) {
  return cf_help_wait(f, timeout);
}

int lcf_wait_future(lua_State *L, cf_future *f, double timeout) {
  if (!cf_future_settled(f) && timeout != 0 && lcf_help_prepare(L))
    return lcf_wait(L, help_slice, f, timeout);
  return lcf_wait(L, plain_slice, f, timeout);
}
