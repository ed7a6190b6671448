/*
** shared.c -- what both executors share: shutdown's arguments, and the
** methods that only differ by the core pool they call (lcf_pool_ops).
*/
#include <string.h>

#include <lauxlib.h>

#include "../runtime/boxes.h"
#include "../runtime/inbox.h"
#include "../runtime/wait.h"
#include "executors.h"
#include "task_opts.h"

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

/* Shut down; with wait, wait for the pool's end in slices (Ctrl-C), then
** reap its workers. */
static void shutdown_pool(lua_State *L, const lcf_pool_ops *ops, void *p,
                          int wait, int cancel) {
  ops->shutdown(p, 0, cancel);
  if (wait) {
    lcf_wait(L, ops->wait_slice, p, -1);
    ops->shutdown(p, 1, 0);
  }
}

int lcf_executor_shutdown(lua_State *L, const lcf_pool_ops *ops) {
  void *p = lcf_checkobject(L, 1, ops->tname);
  int wait, cancel;
  lcf_shutdown_args(L, &wait, &cancel);
  if (lcf_shutdown_interrupt(L)) {          /* running tasks stop too */
    ops->shutdown(p, 0, cancel);
    ops->interrupt(p);
  }
  shutdown_pool(L, ops, p, wait, cancel);
  lcf_callbacks_run(L);
  return 0;
}

int lcf_executor_close(lua_State *L, const lcf_pool_ops *ops) {
  lcf_box *b = luaL_checkudata(L, 1, ops->tname);
  if (b->obj) shutdown_pool(L, ops, b->obj, 1, 0);
  lcf_callbacks_run(L);
  return 0;
}

/* Collected: stop taking work but let queued tasks finish; the state's
** close registry joins the pool when the state closes. A box received in
** a task only drops its reference. */
int lcf_executor_gc(lua_State *L, const lcf_pool_ops *ops) {
  lcf_box *b = lua_touserdata(L, 1);
  if (b->obj) {
    void *p = b->obj;
    b->obj = NULL;
    if (lcf_is_owner_box(L, 1)) ops->shutdown(p, 0, 0);
    cf_release(p);
  }
  return 0;
}

