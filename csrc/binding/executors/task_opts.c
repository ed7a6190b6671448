/*
** task_opts.c -- checking submit_with's options: each one named in its
** error, and nothing queued when one is wrong (the check runs before the
** task is encoded).
*/
#include <math.h>
#include <string.h>

#include <lauxlib.h>

#include "task_opts.h"

void lcf_check_task_opts(lua_State *L, int idx, cf_task_opts *o) {
  memset(o, 0, sizeof *o);
  luaL_argexpected(L, lua_istable(L, idx), idx, "table of options");
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (k != NULL && strcmp(k, "timeout") == 0) {
      lua_Number t = lua_tonumber(L, -1);
      if (lua_type(L, -1) != LUA_TNUMBER || !(t >= 0) || isinf(t))
        luaL_argerror(L, idx, lua_pushfstring(L,
            "timeout must be a non-negative number of seconds, got %s",
            luaL_tolstring(L, -1, NULL)));
      o->timeout = (double)t;
      if (o->timeout == 0) o->timeout = 1e-9;   /* 0: stop at once */
    } else if (k != NULL && strcmp(k, "priority") == 0) {
      int isint;
      lua_Integer pr = lua_tointegerx(L, -1, &isint);
      if (lua_type(L, -1) != LUA_TNUMBER || !isint || pr < -1000000000 ||
          pr > 1000000000)
        luaL_argerror(L, idx, lua_pushfstring(L,
            "priority must be an integer (within +-1e9), got %s",
            luaL_tolstring(L, -1, NULL)));
      o->priority = (int)pr;
    } else if (k != NULL && strcmp(k, "key") == 0) {
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_argerror(L, idx, lua_pushfstring(L, "key must be a string, got %s",
                                              luaL_typename(L, -1)));
      o->key = lua_tolstring(L, -1, &o->klen);  /* the table keeps it */
    } else {
      luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'",
                                            luaL_tolstring(L, -2, NULL)));
    }
    lua_pop(L, 1);
  }
}

int lcf_shutdown_interrupt(lua_State *L) {
  int on;
  if (!lua_istable(L, 2)) return 0;
  lua_getfield(L, 2, "interrupt");
  on = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return on;
}
