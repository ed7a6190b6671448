/*
** host.c -- the parts of the embedding API (concurrent_lua.h) that a host
** program uses to exchange Lua values with C tasks, and to run a state's
** queued work from its own event loop (cf_lua_poll_fd, cf_lua_poll).
*/
#include <lauxlib.h>

#include "../../concurrent_lua.h"
#include "../runtime/inbox.h"
#include "../runtime/spawned.h"
#include "transfer.h"

int cf_lua_push_payload(lua_State *L, const cf_buffer *payload) {
  return lcf_decode(L, payload, 0);
}

static int encode_body(lua_State *L) {
  cf_buffer *out = lua_touserdata(L, lua_upvalueindex(1));
  lcf_encode(L, 1, lua_gettop(L), out, NULL);
  return 0;
}

int cf_lua_encode(lua_State *L, int first, int n, cf_buffer *out) {
  int i;
  first = lua_absindex(L, first);
  cf_buffer_reset(out);
  lua_pushlightuserdata(L, out);
  lua_pushcclosure(L, encode_body, 1);
  luaL_checkstack(L, n, "too many values");
  for (i = 0; i < n; i++) lua_pushvalue(L, first + i);
  if (lua_pcall(L, n, 0, 0) != LUA_OK) {
    cf_buffer_reset(out);
    return -1;
  }
  return 0;
}

int cf_lua_poll_fd(lua_State *L) {
  return lcf_spawn_fd(L);
}

int cf_lua_poll(lua_State *L, int max_callbacks, double max_seconds,
                int *more) {
  return lcf_callbacks_run_budget(L, max_callbacks, max_seconds, more);
}
