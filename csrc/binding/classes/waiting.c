/*
** waiting.c -- the C half of the waiting iterators in
** lua/concurrent/futures.lua.
**
** core.waiter(): the Lua face of a core waiter, which as_completed and wait
** are built on. One waiter watches every future and hands them back in the
** order they finish, without polling; closing it (the iterator's closing
** value) removes it from every future it still watches. A waiter belongs
** to the state that made it: it is not one of the objects that cross.
*/
#include <lauxlib.h>

#include "../runtime/inbox.h"
#include "future_class.h"
#include "../runtime/boxes.h"

#define LCF_WAITER "concurrent.Waiter"

static cf_waiter *check_waiter(lua_State *L) {
  return lcf_checkobject(L, 1, LCF_WAITER);
}

static int l_waiter_new(lua_State *L) {
  cf_waiter *w = cf_waiter_new();
  if (w == NULL) return luaL_error(L, "not enough memory");
  lcf_pushbox(L, LCF_WAITER, w);
  return 1;
}

static int l_watch(lua_State *L) {
  cf_waiter *w = check_waiter(L);
  if (cf_waiter_watch(w, lcf_checkfuture(L, 2)) != 0)
    return luaL_error(L, "not enough memory");
  return 0;
}

/* next([timeout]) -> id of the next finished future, or nil on timeout.
** Like every blocking call of the library, it runs the state's queued
** done-callbacks before it returns, timeout or not. */
static int l_next(lua_State *L) {
  cf_waiter *w = check_waiter(L);
  double timeout = lcf_opttimeout(L, 2);
  int rc;
  cf_future *f = cf_waiter_next(w, timeout, &rc);
  if (f != NULL) {
    cf_future_wait(f, -1);   /* done; let its callbacks be handed over */
    lua_pushlightuserdata(L, f);
    cf_release(f);   /* the waiter's watched list still holds it */
  }
  lcf_callbacks_run(L);
  return f != NULL;
}

static int l_pending(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)cf_waiter_pending(check_waiter(L)));
  return 1;
}

/* Idempotent: the waiter stays usable (empty) after it. */
static int l_close(lua_State *L) {
  lcf_box *b = luaL_checkudata(L, 1, LCF_WAITER);
  if (b->obj) cf_waiter_unwatch_all(b->obj);
  return 0;
}

static const luaL_Reg methods[] = {
  {"watch", l_watch},
  {"next", l_next},
  {"pending", l_pending},
  {"close", l_close},
  {"__close", l_close},
  {NULL, NULL}
};

void lcf_waiter_open(lua_State *L) {
  lcf_newclass(L, LCF_WAITER, methods);
  lua_pushnil(L);                   /* not an object that crosses states */
  lua_setfield(L, -2, "__concurrent");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_waiter_new);
  lua_setfield(L, -2, "waiter");
}
