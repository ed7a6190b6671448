/*
** state.c -- the per-state record, kept as a userdata in the registry.
**
** Its finalizer is made when the module is first opened in a state, before
** any executor, so at lua_close it runs after the executors' own
** finalizers: those shut their pools down without waiting, and this one
** then joins them all, so no worker thread outlives the state that made
** its pool (and the module's code, which is also pinned in memory).
*/
#include <stdlib.h>

#include <lauxlib.h>

#include "state.h"

static const char STATE_KEY = 's';

static int state_gc(lua_State *L) {
  lcf_state *s = lua_touserdata(L, 1);
  size_t i;
  lcf_callbacks_close(s);
  lcf_spawn_close(s);
  lcf_threads_close(s);
  for (i = 0; i < s->npools; i++) {
    cf_pool_shutdown(s->pools[i], 1, 0);
    cf_release(s->pools[i]);
  }
  free(s->pools);
  s->pools = NULL;
  s->npools = s->cap = 0;
  return 0;
}

void lcf_state_open(lua_State *L) {
  lcf_state *s;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &STATE_KEY) != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  s = lua_newuserdatauv(L, sizeof *s, 0);
  s->pools = NULL;
  s->npools = s->cap = 0;
  s->setup = NULL;
  s->setup_ud = NULL;
  s->inbox = NULL;
  s->threads = NULL;
  s->spawn = NULL;
  lua_newtable(L);
  lua_pushcfunction(L, state_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &STATE_KEY);
}

lcf_state *lcf_getstate(lua_State *L) {
  lcf_state *s;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &STATE_KEY) == LUA_TNIL) {
    lua_pop(L, 1);
    lcf_state_open(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &STATE_KEY);
  }
  s = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return s;
}

/* Pools whose threads are all gone after a shutdown need no joining:
** drop them, so a program that makes many executors stays small. */
static void prune(lcf_state *s) {
  size_t i, j = 0;
  for (i = 0; i < s->npools; i++) {
    cf_pool *p = s->pools[i];
    if (cf_pool_is_shutdown(p) && cf_pool_thread_count(p) == 0)
      cf_release(p);
    else
      s->pools[j++] = p;
  }
  s->npools = j;
}

void lcf_state_add_pool(lua_State *L, cf_pool *p) {
  lcf_state *s = lcf_getstate(L);
  if (s->npools == s->cap) {
    prune(s);
    if (s->npools == s->cap) {
      size_t cap = s->cap ? s->cap * 2 : 8;
      cf_pool **np = realloc(s->pools, cap * sizeof *np);
      if (np == NULL) luaL_error(L, "not enough memory");
      s->pools = np;
      s->cap = cap;
    }
  }
  s->pools[s->npools++] = cf_retain(p);
}

void cf_lua_set_worker_setup(lua_State *L, cf_lua_setup_fn fn, void *ud) {
  lcf_state *s = lcf_getstate(L);
  s->setup = fn;
  s->setup_ud = ud;
}
