/*
** future_class.c -- Future methods for Lua. Waiting happens in C without
** touching the Lua state; the results are decoded into the caller's
** state each time they are asked for.
*/
#include <math.h>
#include <string.h>

#include <lauxlib.h>

#include "../../core/future.h"
#include "../runtime/inbox.h"
#include "../runtime/errors.h"
#include "future_class.h"
#include "spawn.h"
#include "../runtime/boxes.h"
#include "../runtime/record.h"
#include "../runtime/spawned.h"
#include "../transfer/transfer.h"
#include "../worker/worker.h"

cf_future *lcf_checkfuture(lua_State *L, int arg) {
  return lcf_checkobject(L, arg, LCF_FUTURE);
}

void lcf_pushfuture(lua_State *L, cf_future *f) {
  lcf_pushbox(L, LCF_FUTURE, f);
}

double lcf_opttimeout(lua_State *L, int arg) {
  lua_Number t;
  if (lua_isnoneornil(L, arg)) return -1;
  t = luaL_checknumber(L, arg);
  if (!(t >= 0))
    luaL_argerror(L, arg, "timeout must be a non-negative number or nil");
  return (double)t;
}

/* Wait for f (in slices: Ctrl-C); raise TimeoutError if the timeout
** passes first. Runs the state's queued done-callbacks afterwards, as
** every blocking call does. */
static void wait_done(lua_State *L, cf_future *f, double timeout) {
  int rc = lcf_wait_future(L, f, lcf_spawn_block(L, f, NULL, timeout));
  lcf_callbacks_run(L);
  if (rc == CF_ETIMEDOUT) lcf_raise(L, "TimeoutError", "future not done after %f s", timeout);
}

/* The payload is read in place (a view into the future). */
static int push_outcome(lua_State *L, cf_future *f, int as_exception) {
  cf_buffer view;
  const cf_buffer *payload = &view;
  cf_outcome o = cf_future_peek(f, &view, NULL);
  switch (o) {
    case CF_OUTCOME_RESULT:
      if (as_exception) return 0;
      return lcf_decode(L, payload, 0);
    case CF_OUTCOME_ERROR:
      if (lcf_decode(L, payload, 0) < 1) lua_pushnil(L);
      if (as_exception) return 1;
      return lua_error(L);
    case CF_OUTCOME_BROKEN_THREAD:
    case CF_OUTCOME_BROKEN_PROCESS:
      lua_pushlstring(L, (const char *)payload->data, payload->len);
      lcf_pusherror(L, o == CF_OUTCOME_BROKEN_THREAD ? "BrokenThreadPool"
                                                     : "BrokenProcessPool",
                    lua_tostring(L, -1));
      lua_remove(L, -2);
      if (as_exception) return 1;
      return lua_error(L);
    case CF_OUTCOME_NOMEM:              /* as Lua reports it */
      lua_pushliteral(L, "not enough memory");
      if (as_exception) return 1;
      return lua_error(L);
    case CF_OUTCOME_TIMEOUT:            /* submit_with{timeout=} */
      lua_pushlstring(L, (const char *)payload->data, payload->len);
      lcf_pusherror(L, "TimeoutError", lua_tostring(L, -1));
      lua_remove(L, -2);
      if (as_exception) return 1;
      return lua_error(L);
    default:
      if (cf_future_stop_requested(f))
        return lcf_raise(L, "CancelledError",
                         "the future was cancelled: its task was interrupted");
      return lcf_raise(L, "CancelledError", "the future was cancelled");
  }
}

static int l_result(lua_State *L);
static int l_exception(lua_State *L);

/* Continuations of result() and exception() in a spawned coroutine: once
** the future is done, they run as calls that need not wait. */
static int result_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  if (lcf_await_future_again(L, lcf_checkfuture(L, 1)))
    return lcf_yieldk(L, result_k);
  lua_settop(L, 1);
  return l_result(L);
}

static int exception_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  if (lcf_await_future_again(L, lcf_checkfuture(L, 1)))
    return lcf_yieldk(L, exception_k);
  lua_settop(L, 1);
  return l_exception(L);
}

/* Upvalue 1 is the Future class, 2 the state's record: a finished
** future's result takes no registry lookup and no lock (and looks for
** queued callbacks only if this state ever added one). */
static int l_result(lua_State *L) {
  lcf_box *box = lua_touserdata(L, 1);
  cf_future *f = NULL;
  int top;
  LCF_AWAIT_RESUMED(L, result_k);
  top = lua_gettop(L);
  /* The class is compared by address (cheaper than lua_rawequal with an
  ** upvalue index). */
  if (box != NULL && box->obj != NULL && lua_getmetatable(L, 1)) {
    if (lua_topointer(L, -1) == lua_topointer(L, lua_upvalueindex(1)))
      f = box->obj;
    lua_pop(L, 1);
  }
  if (f == NULL) f = lcf_checkfuture(L, 1);
  if (!cf_future_settled(f) || !lua_isnoneornil(L, 2)) {
    if (lcf_await_future(L, f, lcf_opttimeout(L, 2)))
      return lcf_yieldk(L, result_k);
    wait_done(L, f, lcf_opttimeout(L, 2));
  }
  else if (((lcf_state *)lua_touserdata(L, lua_upvalueindex(2)))->inbox)
    lcf_callbacks_run(L);
  if (top != 1) lua_settop(L, 1);
  return push_outcome(L, f, 0);
}

static int l_exception(lua_State *L) {
  cf_future *f;
  LCF_AWAIT_RESUMED(L, exception_k);
  f = lcf_checkfuture(L, 1);
  if (lcf_await_future(L, f, lcf_opttimeout(L, 2)))
    return lcf_yieldk(L, exception_k);
  wait_done(L, f, lcf_opttimeout(L, 2));
  lua_settop(L, 1);
  return push_outcome(L, f, 1);
}

static int l_traceback(lua_State *L) {
  const char *tb = NULL;
  cf_future_outcome(lcf_checkfuture(L, 1), NULL, &tb);
  if (tb) lua_pushstring(L, tb);
  else lua_pushnil(L);
  return 1;
}

static int l_done(lua_State *L) {
  lua_pushboolean(L, cf_future_done(lcf_checkfuture(L, 1)));
  return 1;
}

static int l_running(lua_State *L) {
  lua_pushboolean(L, cf_future_state(lcf_checkfuture(L, 1)) == CF_RUNNING);
  return 1;
}

static int l_cancelled(lua_State *L) {
  lua_pushboolean(L, cf_future_state(lcf_checkfuture(L, 1)) == CF_CANCELLED);
  return 1;
}

/* f:interrupt(): cancel if pending, ask to stop if running (true at
** once); false once finished. */
static int l_interrupt(lua_State *L) {
  cf_future *f = lcf_checkfuture(L, 1);
  int c = cf_future_interrupt(f);
  if (c) lcf_spawn_interrupt(L, f);   /* a coroutine of this state: wake it */
  lcf_callbacks_run(L);
  lua_pushboolean(L, c);
  return 1;
}

static int l_cancel(lua_State *L) {
  cf_future *f = lcf_checkfuture(L, 1);
  int c = cf_future_cancel(f);
  lcf_callbacks_run(L);
  lua_pushboolean(L, c);
  return 1;
}

static const lcf_encode_opts set_opts =
    {.root = "results", .allow_objects = 1};
static const lcf_encode_opts exc_opts =
    {.root = "error", .bare = 1, .allow_objects = 1};

/* The buffer lives in a userdata while values are encoded into it, so an
** error raised by the encoder frees it with the garbage. */
static int buffer_gc(lua_State *L) {
  cf_buffer_free(lua_touserdata(L, 1));
  return 0;
}

cf_buffer *lcf_newbuffer(lua_State *L) {
  cf_buffer *b = lua_newuserdatauv(L, sizeof *b, 0);
  cf_buffer_init(b);
  if (luaL_newmetatable(L, "concurrent.buffer")) {
    lua_pushcfunction(L, buffer_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

static int finish_with(lua_State *L, cf_outcome how, int first, int n,
                       const lcf_encode_opts *o) {
  cf_future *f = lcf_checkfuture(L, 1);
  cf_buffer *b = lcf_newbuffer(L);
  int rc;
  lcf_encode(L, first, n, b, o);
  rc = cf_future_finish(f, how, b, NULL);
  if (rc == CF_ESTATE)
    lcf_raise(L, "InvalidStateError", "future is already %s",
              cf_future_state(f) == CF_CANCELLED ? "cancelled" : "finished");
  lcf_callbacks_run(L);
  return 0;
}

static int l_set_result(lua_State *L) {
  lcf_checkfuture(L, 1);
  return finish_with(L, CF_OUTCOME_RESULT, 2, lua_gettop(L) - 1, &set_opts);
}

static int l_set_exception(lua_State *L) {
  lcf_checkfuture(L, 1);
  if (lua_isnoneornil(L, 2))   /* nil would read as "no error" */
    return luaL_argerror(L, 2, lua_pushfstring(L, "error value expected, got %s",
                                               luaL_typename(L, 2)));
  lua_settop(L, 2);
  return finish_with(L, CF_OUTCOME_ERROR, 2, 1, &exc_opts);
}

static const char *const state_names[] = {"pending", "running", "finished",
                                          "cancelled"};

static int l_tostring(lua_State *L) {
  cf_future *f = lcf_checkfuture(L, 1);
  lua_pushfstring(L, "Future: %p (%s)", (void *)f,
                  state_names[cf_future_state(f)]);
  return 1;
}

/* futures.Future(): a future with no task. */
static int l_future_new(lua_State *L) {
  cf_future *f = cf_future_new();
  if (f == NULL) return luaL_error(L, "not enough memory");
  lcf_pushfuture(L, f);
  return 1;
}

/* A light userdata identifying the core future, so Lua code can map the
** futures a waiter returns back to the objects it was given. */
static int l_future_id(lua_State *L) {
  lua_pushlightuserdata(L, lcf_checkfuture(L, 1));
  return 1;
}

/* f:add_done_callback(fn): fn(f) at once if f is done, else queued on this
** state's inbox when f finishes (in whatever thread) and run here. */
static int l_add_done_callback(lua_State *L) {
  cf_future *f = lcf_checkfuture(L, 1);
  luaL_argexpected(L, lcf_callable(L, 2), 2, "function");
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 1);
  if (cf_future_done(f)) {          /* at once, in the caller */
    lcf_inbox_call(L);
    return 0;
  }
  lcf_inbox_watch(L, f);
  lcf_callbacks_run(L);   /* it may have finished meanwhile */
  return 0;
}

static const luaL_Reg methods[] = {
  {"add_done_callback", l_add_done_callback},
  {"exception", l_exception},
  {"traceback", l_traceback},
  {"done", l_done},
  {"running", l_running},
  {"cancelled", l_cancelled},
  {"cancel", l_cancel},
  {"interrupt", l_interrupt},
  {"set_result", l_set_result},
  {"set_exception", l_set_exception},
  {"__tostring", l_tostring},
  {NULL, NULL}
};

static const luaL_Reg functions[] = {
  {"Future", l_future_new},
  {"future_id", l_future_id},
  {NULL, NULL}
};

void lcf_future_open(lua_State *L) {
  lcf_newclass(L, LCF_FUTURE, methods);
  lua_pushvalue(L, -1);
  lua_pushlightuserdata(L, lcf_getstate(L));
  lua_pushcclosure(L, l_result, 2);
  lcf_name_method(L, -1, "result");
  lua_setfield(L, -2, "result");
  lcf_await_wrap(L, -1, "result");
  lcf_await_wrap(L, -1, "exception");
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 0);
}

void cf_lua_push_future(lua_State *L, cf_future *f) {
  lcf_pushfuture(L, cf_retain(f));
}
