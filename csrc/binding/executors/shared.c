/*
** shared.c -- what both executors share: shutdown's arguments.
*/
#include <string.h>

#include <lauxlib.h>

#include "../runtime/boxes.h"
#include "executors.h"

/* The arguments of every executor's shutdown, from stack index 2:
** ([wait=true [, cancel_futures=false]]) or {wait=, cancel_futures=,
** interrupt=} (interrupt is read by the caller). */
void lcf_shutdown_args(lua_State *L, int *wait, int *cancel) {
  if (lua_istable(L, 2)) {   /* as strict as the positional form */
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
      if (k == NULL || (strcmp(k, "wait") != 0 && strcmp(k, "cancel_futures") != 0 &&
                        strcmp(k, "interrupt") != 0))
        luaL_argerror(L, 2, lua_pushfstring(L, "unknown option '%s'",
                                            luaL_tolstring(L, -2, NULL)));
      if (!lua_isboolean(L, -1))
        luaL_argerror(L, 2, lua_pushfstring(L, "%s must be a boolean, got %s",
                                            k, luaL_typename(L, -1)));
      lua_pop(L, 1);
    }
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
