/*
** names.c -- the names under which module tables and C functions cross
** (NAMED, CFUNC): the encoder finds a value's "module\0key" here. A value
** found in package.loaded (a module, a table or a C function without
** upvalues at its top level) is sent as its name and resolved by the
** receiver (decode.c), never copied.
*/
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "../../core/object.h"
#include "../runtime/boxes.h"
#include "transfer.h"
#include "internal.h"


/* The names of the values found in loaded modules: module tables and
** their top-level tables and C functions (with upvalues too: the
** receiver uses its own; LuaJIT's print has one). Rebuilt when
** package.loaded changed since it was made. */
static lua_Integer loaded_count(lua_State *L);

/* Pushes the new names table and keeps it in the context at cidx. */
static void build_names(lua_State *L, tctx *c, int cidx) {
  int globals;
  lua_newtable(L);                                  /* names */
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* names loaded */
  lua_pushnil(L);
  while (lua_next(L, -2)) {                         /* names loaded mod m */
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      lua_pushvalue(L, -1);
      if (lua_rawget(L, -5) == LUA_TNIL) {          /* first name wins */
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -4);
        lua_rawset(L, -7);
      }
      lua_pop(L, 1);
      /* The globals table is a module too (_G), but its tables are the
      ** program's data, not the library's: only its C functions (print,
      ** ...) are named; its modules are named by their own entries. */
      lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
      globals = lua_rawequal(L, -1, -2);
      lua_pop(L, 1);
      lua_pushnil(L);
      while (lua_next(L, -2)) {                     /* ... mod m k v */
        int t = lua_type(L, -1);
        if (lua_type(L, -2) == LUA_TSTRING &&
            ((t == LUA_TTABLE && !globals) || lua_iscfunction(L, -1))) {
          lua_pushvalue(L, -1);
          if (lua_rawget(L, -7) == LUA_TNIL) {
            lua_pushvalue(L, -2);                   /* key: the value */
            lua_pushvalue(L, -6);
            lua_pushlstring(L, "\0", 1);
            lua_pushvalue(L, -6);
            lua_concat(L, 3);                       /* "module\0key" */
            lua_rawset(L, -9);
          }
          lua_pop(L, 1);
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);                                    /* names */
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, cidx, UV_NAMES);
  c->names_sig = loaded_count(L);
}

/* A signature of package.loaded: the number of modules plus the sum of
** their addresses, so a module unloaded and loaded again (a test runner
** restoring package.loaded) makes the names stale even if the count is
** the same. */
static lua_Integer loaded_count(lua_State *L) {
  lua_Unsigned n = 0;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    n += 1 + (lua_Unsigned)(uintptr_t)lua_topointer(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

/* Push the "module\0key" name of the value at idx, or return 0. A miss
** checks once per encode whether package.loaded changed since the names
** were made. */
/* With the names table on the stack top: push the name of the value at
** idx and return 1, or return 0; the table is popped either way. */
static int name_in(lua_State *L, int idx) {
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TSTRING) {
    lua_remove(L, -2);
    return 1;
  }
  lua_pop(L, 2);
  return 0;
}

int lcf_find_name(lua_State *L, tctx *c, int cidx, int idx, int *checked) {
  if (lua_getiuservalue(L, cidx, UV_NAMES) != LUA_TTABLE) {
    lua_pop(L, 1);
    build_names(L, c, cidx);
    *checked = 1;
  }
  if (name_in(L, idx)) return 1;
  if (!*checked) {
    *checked = 1;
    if (c->names_sig == loaded_count(L)) return 0;
    build_names(L, c, cidx);
    return name_in(L, idx);
  }
  return 0;
}

