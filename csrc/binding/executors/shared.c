/*
** shared.c -- what both executors share: shutdown's arguments.
*/
#include <lauxlib.h>

#include "executors.h"

/* The arguments of every executor's shutdown, from stack index 2:
** ([wait=true [, cancel_futures=false]]) or {wait=, cancel_futures=}. */
void lcf_shutdown_args(lua_State *L, int *wait, int *cancel) {
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "wait");
    lua_getfield(L, 2, "cancel_futures");
    *wait = lua_isnil(L, -2) ? 1 : lua_toboolean(L, -2);
    *cancel = lua_toboolean(L, -1);
    lua_pop(L, 2);
  } else {
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TBOOLEAN);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TBOOLEAN);
    *wait = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    *cancel = lua_toboolean(L, 3);
  }
}
