/*
** yieldk.c -- continuations of the library's waits where Lua has none
** (5.1 and LuaJIT): the mark, the Lua wrapper that yields and calls the
** wait again, and 5.1's lua_isyieldable. The scheme is in compat.h; on
** 5.3 and 5.4 lcf_await_wrap does nothing and the rest is not built.
*/
#include <string.h>

#include "compat.h"

#if LCF_HAS_YIELDK

void lcf_await_wrap(lua_State *L, int idx, const char *name) {
  (void)L;
  (void)idx;
  (void)name;
}

#else

const char lcf_await_mark = 0;

int lcf_await_marked(lua_State *L) {
  luaL_checkstack(L, 1, "no room to suspend");
  lua_pushlightuserdata(L, (void *)&lcf_await_mark);
  lua_insert(L, 1);
  return lua_gettop(L);
}

/* The wrapper: the C function keeps its own name (an upvalue named as the
** method is, so argument errors name it), the mark and coroutine.yield
** (the original, as the library loaded). Only the first call can meet a
** plain function result equal to the mark, and no caller holds the mark. */
static const char WRAPPER[] =
  "local %s, MARK, yield = ...\n"
  "local function again(...)\n"
  "  if ... == MARK then\n"
  "    yield()\n"
  "    return again(%s(...))\n"
  "  end\n"
  "  return ...\n"
  "end\n"
  "return function(...) return again(%s(...)) end\n";

void lcf_await_wrap(lua_State *L, int idx, const char *name) {
  char chunk[sizeof WRAPPER + 3 * 32];
  int n;
  idx = lua_absindex(L, idx);
  n = snprintf(chunk, sizeof chunk, WRAPPER, name, name, name);
  if (n < 0 || (size_t)n >= sizeof chunk) luaL_error(L, "await wrapper name too long");
  if (luaL_loadbuffer(L, chunk, (size_t)n, LCF_AWAIT_CHUNK) != 0)
    lua_error(L);
  lua_getfield(L, idx, name);
  lua_pushlightuserdata(L, (void *)&lcf_await_mark);
  lua_getfield(L, LUA_GLOBALSINDEX, "coroutine");
  lua_getfield(L, -1, "yield");
  lua_remove(L, -2);
  lua_call(L, 3, 1);
  lua_setfield(L, idx, name);
}

#if !LCF_LUAJIT
/* 5.1 keeps what lua_yield needs (no C call between the coroutine's start
** and here) out of the API. The call stack tells it: every frame above the
** wait must be a Lua function called by name from Lua. A C function (such
** as pcall) means no; so does a frame with no name -- a metamethod, which
** 5.1 calls from C -- and a for iterator ("(for generator)"). The one
** frame with no name that is fine is the coroutine's first, and a frame
** tail-called out of it (nothing but tail calls below it): any other
** tail-called frame replaced one whose caller is unknown. A "no" only
** makes the wait block the thread, as outside spawn. */
int lcf_isyieldable(lua_State *L) {
  lua_Debug ar;
  int level;
  if (lua_pushthread(L)) {
    lua_pop(L, 1);
    return 0;                                   /* the main thread */
  }
  lua_pop(L, 1);
  for (level = 1; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sn", &ar);
    if (strcmp(ar.what, "C") == 0) return 0;
    if (strcmp(ar.what, "tail") == 0) continue;
    if (ar.namewhat[0] != '\0') {
      if (ar.name != NULL && strcmp(ar.name, "(for generator)") == 0) return 0;
      continue;
    }
    /* No name: fine only if only lost tail calls lie below. */
    for (level++; lua_getstack(L, level, &ar); level++) {
      lua_getinfo(L, "S", &ar);
      if (strcmp(ar.what, "tail") != 0) return 0;
    }
    return 1;
  }
  return 1;
}
#endif

#endif
