/*
** trace_binding.c -- concurrent.trace's C side: start and stop the
** process-wide recording of task timelines (core/trace.c). Argument
** checks and messages are in lua/concurrent/trace.lua; these raise only
** for what the core reports (file not writable, state, write failure).
*/
#include <errno.h>
#include <string.h>

#include <lauxlib.h>

#include "../../core/trace.h"
#include "../runtime/compat.h"
#include "trace_binding.h"

/* trace_start(path, max_events) */
static int l_trace_start(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer max = luaL_checkinteger(L, 2);
  int rc;
  luaL_argcheck(L, max > 0, 2, "max_events must be positive");
  rc = cf_trace_start_recording(path, (size_t)max);
  if (rc == CF_ESTATE)
    return luaL_error(L, "trace.start: tracing is already on (call trace.stop() first)");
  if (rc != 0)
    return luaL_error(L, "trace.start: cannot open '%s' for writing: %s "
                      "(tracing not started)", path, strerror(-rc));
  return 0;
}

/* trace_stop() -> tasks written, tasks dropped */
static int l_trace_stop(lua_State *L) {
  size_t n = 0, dropped = 0;
  int rc = cf_trace_stop_recording(&n, &dropped);
  if (rc == CF_ESTATE)
    return luaL_error(L, "trace.stop: tracing is not on (call trace.start first)");
  if (rc != 0)
    return luaL_error(L, "trace.stop: writing the trace failed: %s", strerror(-rc));
  lua_pushinteger(L, (lua_Integer)n);
  lua_pushinteger(L, (lua_Integer)dropped);
  return 2;
}

/* trace_items(first, count): the next submit of this thread is the map
** chunk of those items (futures.lua's map, only while tracing). */
static int l_trace_items(lua_State *L) {
  cf_trace_next_items((long)luaL_checkinteger(L, 1),
                      (long)luaL_checkinteger(L, 2));
  return 0;
}

/* tracing() -> boolean, without a lock: the flag the pools test. */
static int l_tracing(lua_State *L) {
  lua_pushboolean(L, CF_TRACING());
  return 1;
}

static int l_trace_active(lua_State *L) {
  lua_pushboolean(L, cf_trace_recording());
  return 1;
}

static const luaL_Reg functions[] = {
  {"trace_start", l_trace_start},
  {"trace_stop", l_trace_stop},
  {"trace_active", l_trace_active},
  {"trace_items", l_trace_items},
  {"tracing", l_tracing},
  {NULL, NULL}
};

/* Add the functions to the module table on the top. */
void lcf_trace_open(lua_State *L) {
  luaL_setfuncs(L, functions, 0);
}
