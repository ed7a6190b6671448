/*
** executor_boxes.c -- what both executors need to cross into tasks by
** reference and to report on themselves: owner boxes, ex:stats()'s table
** and map in a task's state.
*/
#include <lauxlib.h>

#include "executors.h"

/* An owner box has one user value (true); a box made by the transfer
** layer for an executor received by reference has none. */
lcf_box *lcf_push_owner_box(lua_State *L, const char *tname) {
  lcf_box *b = lua_newuserdatauv(L, sizeof *b, 1);
  b->obj = NULL;
  luaL_setmetatable(L, tname);
  lua_pushboolean(L, 1);
  lua_setiuservalue(L, -2, 1);
  return b;
}

int lcf_is_owner_box(lua_State *L, int idx) {
  int owner = lua_getiuservalue(L, idx, 1) == LUA_TBOOLEAN;
  lua_pop(L, 1);
  return owner;
}

void lcf_push_stats(lua_State *L, const cf_stats *s) {
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, s->workers);
  lua_setfield(L, -2, "workers");
  lua_pushinteger(L, s->idle);
  lua_setfield(L, -2, "idle");
  lua_pushinteger(L, s->pending);
  lua_setfield(L, -2, "pending");
  lua_pushinteger(L, s->running);
  lua_setfield(L, -2, "running");
  lua_pushinteger(L, s->completed);
  lua_setfield(L, -2, "completed");
  lua_pushinteger(L, s->failed);
  lua_setfield(L, -2, "failed");
  lua_pushinteger(L, s->cancelled);
  lua_setfield(L, -2, "cancelled");
}

/* require("concurrent.futures")._map(...): loading concurrent.futures
** sets every executor class's map to the Lua one. */
int lcf_lazy_map(lua_State *L) {
  int n = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "concurrent.futures");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "_map");
  lua_remove(L, -2);
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}
