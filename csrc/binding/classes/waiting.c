/*
** waiting.c -- the C halves of the waiting iterators in
** lua/concurrent/futures.lua and of map (lua/concurrent/_map.lua).
**
** core.waiter(): the Lua face of a core waiter, which as_completed and wait
** are built on. One waiter watches every future and hands them back in the
** order they finish, without polling; closing it (the iterator's closing
** value) removes it from every future it still watches. A waiter belongs
** to the state that made it: it is not one of the objects that cross.
**
** core.map_chunk(fn, nargs, count, args...): the body of one map task with
** chunksize > 1, run in a worker. It calls fn on each argument tuple of the
** chunk and hands the results back flat -- one value per item -- when an
** item returned exactly one value, which is the common case and the cheap
** one to send back; other items are packed on the side. Arguments and
** results travel as plain values, not tables: no table to walk when
** sending, none to build when receiving.
*/
#include <lauxlib.h>

#include "../runtime/inbox.h"
#include "future_class.h"
#include "../runtime/boxes.h"
#include "../runtime/spawned.h"
#include "../runtime/wait.h"
#include "../worker/worker.h"
#include "../../core/help.h"
#include "spawn.h"

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

typedef struct next_wait {
  cf_waiter *w;
  cf_future *f;
  int help;                    /* a pool worker that may help meanwhile */
} next_wait;

static int next_slice(void *ud, double timeout) {
  next_wait *n = ud;
  int rc = 0;
  n->f = n->help ? cf_help_next(n->w, timeout, &rc)
                 : cf_waiter_next(n->w, timeout, &rc);
  if (n->f == NULL && cf_waiter_pending(n->w) == 0)
    return CF_ESTATE;   /* nothing left to wait for: no more slices */
  return n->f != NULL ? 0 : rc;
}

/* next([timeout]) -> id of the next finished future, or nil on timeout.
** Like every blocking call of the library, it waits in slices (Ctrl-C)
** and runs the state's queued done-callbacks before it returns, timeout
** or not. Ctrl-C leaves the waiter as it was (its box closes it). In a
** spawned coroutine it suspends the coroutine instead of blocking. */
static int l_next(lua_State *L);

/* In a spawned coroutine: once a future is ready (or the timeout passed),
** the wait goes on as next(0). */
static int next_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  if (lcf_await_waiter_again(L, check_waiter(L)))
    return lcf_yieldk(L, next_k);
  lua_settop(L, 1);
  lua_pushinteger(L, 0);
  return l_next(L);
}

static int l_next(lua_State *L) {
  next_wait n;
  double timeout;
  cf_future *f;
  LCF_AWAIT_RESUMED(L, next_k);
  n.w = check_waiter(L);
  n.f = NULL;
  timeout = lcf_opttimeout(L, 2);
  if (lcf_await_waiter(L, n.w, timeout)) return lcf_yieldk(L, next_k);
  n.help = timeout != 0 && lcf_help_prepare(L);
  lcf_wait(L, next_slice, &n, lcf_spawn_block(L, NULL, n.w, timeout));
  f = n.f;
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

/* ---------------------------------------------------------------------- */
/* map chunks.                                                            */

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

void lcf_waiter_open(lua_State *L) {
  lcf_newclass(L, LCF_WAITER, methods);   /* a kind that does not cross */
  lcf_await_wrap(L, -1, "next");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_waiter_new);
  lua_setfield(L, -2, "waiter");
  lua_pushcfunction(L, l_map_chunk);
  lua_setfield(L, -2, "map_chunk");
}
