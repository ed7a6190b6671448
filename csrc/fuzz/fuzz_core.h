/*
** fuzz_core.h -- a stand-in for concurrent.core in the fuzz targets, which
** link only the core and the binding's runtime and transfer layers (the
** layer rule: transfer works without the classes above it).
**
** luaopen_fuzz_core makes the class of Future boxes (a box's metatable,
** as the Future class would, so the encoder sends them by reference) and
** returns {Future = fn, future_id = fn, null = a NULL light userdata}
** (cjson.null's kind); the targets preload it as
** "concurrent.core". Included by each target (one static copy each).
*/
#ifndef FUZZ_CORE_H
#define FUZZ_CORE_H

#include <lauxlib.h>
#include <lua.h>

#include "../concurrent.h"
#include "../binding/runtime/boxes.h"

#define FUZZ_FUTURE "concurrent.Future"

static int fuzz_future_new(lua_State *L) {
  lcf_box *b = lcf_pushbox(L, FUZZ_FUTURE, NULL);
  if ((b->obj = cf_future_new()) == NULL)
    return luaL_error(L, "not enough memory");
  return 1;
}

static int fuzz_future_id(lua_State *L) {
  lua_pushlightuserdata(L, lcf_checkobject(L, 1, FUZZ_FUTURE));
  return 1;
}

static int luaopen_fuzz_core(lua_State *L) {
  static const luaL_Reg functions[] = {
    {"Future", fuzz_future_new},
    {"future_id", fuzz_future_id},
    {NULL, NULL}
  };
  lcf_newclass(L, FUZZ_FUTURE, NULL);
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  return 1;
}

#endif
