/*
** map_chunk.c -- core.map_chunk(fn, nargs, count, args...): the body of
** one map task with chunksize > 1 (lua/concurrent/_map.lua), run in a
** worker. It calls fn on each argument tuple of the chunk and hands the
** results back flat -- one value per item -- when an item returned exactly
** one value, which is the common case and the cheap one to send back;
** other items are packed on the side. Arguments and results travel as
** plain values, not tables: no table to walk when sending, none to build
** when receiving.
*/
#include <lauxlib.h>

#include "executors.h"

/* Pack the n values on top into a table {..., n = n}. */
static void pack_top(lua_State *L, int n) {
  int i, t;
  lua_createtable(L, n, 1);
  lua_insert(L, -n - 1);
  t = lua_gettop(L) - n;
  for (i = n; i >= 1; i--) lua_rawseti(L, t, i);
  lua_pushinteger(L, n);
  lua_setfield(L, t, "n");
}

/* map_chunk(fn, nargs, count, args...) -> done, err, packed, results...
** The count tuples of nargs arguments follow count, one after the other.
** results holds one value per item that ran; an item that returned other
** than one value has nil there and its values in packed[j] (packed is nil
** when there is none). When done < count, item done+1 raised err and the
** items after it did not run.
**
** Everything stays on this function's stack: the results are returned as
** plain values, which cost the least to send back. Each item runs under
** its own lua_pcall so that the results before a failing item survive. */
static int l_map_chunk(lua_State *L) {
  lua_Integer nargs = luaL_checkinteger(L, 2);
  lua_Integer count = luaL_checkinteger(L, 3);
  int nvals = lua_gettop(L) - 3, hdr, top, n;
  lua_Integer j, k, at, done = 0;
  luaL_checkany(L, 1);
  luaL_argcheck(L, nargs >= 1 && nargs <= 250, 2, "1 to 250 arguments");
  luaL_argcheck(L, count >= 0 && count <= nvals / nargs, 3,
                "more items than arguments");
  luaL_checkstack(L, (int)count + (int)nargs + 20, "chunk too large");
  lua_pushnil(L);                                   /* hdr: done */
  hdr = lua_gettop(L);
  lua_pushnil(L);                                   /* hdr+1: err */
  lua_pushnil(L);                                   /* hdr+2: packed */
  for (j = 1; j <= count; j++) {
    top = lua_gettop(L);
    lua_pushvalue(L, 1);
    at = 4 + (j - 1) * nargs;
    for (k = 0; k < nargs; k++) lua_pushvalue(L, (int)(at + k));
    if (lua_pcall(L, (int)nargs, LUA_MULTRET, 0) != LUA_OK) {
      lua_replace(L, hdr + 1);
      break;
    }
    n = lua_gettop(L) - top;
    if (n != 1) {                                   /* results.. */
      luaL_checkstack(L, 3, "too many results");
      pack_top(L, n);                               /* t */
      if (lua_isnil(L, hdr + 2)) {
        lua_newtable(L);
        lua_replace(L, hdr + 2);
      }
      lua_rawseti(L, hdr + 2, j);
      lua_pushnil(L);                               /* its slot */
    }
    done = j;
  }
  lua_pushinteger(L, done);
  lua_replace(L, hdr);
  return lua_gettop(L) - hdr + 1;
}

void lcf_map_chunk_open(lua_State *L) {
  lua_pushcfunction(L, l_map_chunk);
  lua_setfield(L, -2, "map_chunk");
}
