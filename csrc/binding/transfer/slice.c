/*
** slice.c -- concurrent.slice(t [, i [, j]]): a view of t[i..j] that
** crosses to another state as the array of those values, read with
** rawgeti when it is sent. A part of a big array then goes to a task
** without a table.move into a new table first: the transfer is the copy.
** The view holds t (its user value) and the two bounds; it reads nothing
** until it is sent, so what crosses is t[i..j] at that moment.
*/
#include <limits.h>
#include <stdio.h>

#include <lauxlib.h>

#include "transfer.h"

#define SLICE_TYPE "concurrent.slice"

/* At most as many elements as a table's array section holds (the
** format's 32-bit count, halved as the encoder's own limit). */
#define SLICE_MAX ((lua_Integer)(UINT32_MAX / 2))

typedef struct slice {
  lua_Integer i, j;   /* j < i: empty */
} slice;

static int slice_len(lua_State *L) {
  slice *s = luaL_checkudata(L, 1, SLICE_TYPE);
  lua_pushinteger(L, s->j >= s->i ? s->j - s->i + 1 : 0);
  return 1;
}

static int slice_tostring(lua_State *L) {
  slice *s = luaL_checkudata(L, 1, SLICE_TYPE);
  char b[64];
  snprintf(b, sizeof b, "[%lld..%lld]", (long long)s->i, (long long)s->j);
  lua_pushfstring(L, "concurrent.slice %s: %p", b, lua_topointer(L, 1));
  return 1;
}

int lcf_slice_new(lua_State *L) {
  lua_Integer i, j;
  slice *s;
  luaL_checktype(L, 1, LUA_TTABLE);
  i = luaL_optinteger(L, 2, 1);
  j = lua_isnoneornil(L, 3) ? (lua_Integer)lua_rawlen(L, 1)
                            : luaL_checkinteger(L, 3);
  luaL_argcheck(L, i >= 1, 2, "first index must be at least 1");
  luaL_argcheck(L, j >= i - 1, 3, "last index must be at least the first minus 1");
  luaL_argcheck(L, j - i < SLICE_MAX, 3, "slice too long");
#if LUA_VERSION_NUM < 503
  /* 5.1 and LuaJIT index with an int (lua_rawgeti). */
  luaL_argcheck(L, j <= INT_MAX, 3, "last index too large for this Lua");
#endif
  s = lua_newuserdatauv(L, sizeof *s, 1);
  s->i = i;
  s->j = j;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  if (luaL_newmetatable(L, SLICE_TYPE)) {
    lua_pushcfunction(L, slice_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, slice_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, SLICE_TYPE);
    lua_setfield(L, -2, "__name");
  }
  lua_setmetatable(L, -2);
  return 1;
}

int lcf_slice_get(lua_State *L, int idx, lua_Integer *i, lua_Integer *j) {
  slice *s = luaL_testudata(L, idx, SLICE_TYPE);
  if (s == NULL) return 0;
  *i = s->i;
  *j = s->j;
  lua_getiuservalue(L, idx, 1);
  return 1;
}
