/*
** queue_class.c -- thread.Queue for Lua: Python's queue.Queue over the
** core's FIFO of buffers (core/queue.c).
**
** put encodes the value in the caller (a value that cannot cross raises
** there and nothing is queued) into a buffer owned by a userdata, so an
** error while encoding frees it with the garbage; the core then moves the
** bytes into the queue. get moves them out into such a buffer and decodes
** them: every value is copied, one put to one get. The library's objects
** inside a value cross by reference, as everywhere.
**
** A put or get that cannot complete (full / empty after the timeout, or at
** once when not blocking) raises an error object of class Full / Empty.
*/
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <lauxlib.h>

#include "../runtime/inbox.h"
#include "../runtime/errors.h"
#include "future_class.h"
#include "../runtime/boxes.h"
#include "sync_classes.h"
#include "../transfer/transfer.h"
#include "../runtime/wait.h"

#define LCF_QUEUE "concurrent.Queue"

static const lcf_encode_opts item_opts =
    {.root = "item", .bare = 1, .allow_objects = 1};

static cf_queue *check_queue(lua_State *L) {
  return lcf_checkobject(L, 1, LCF_QUEUE);
}

/* Queue([maxsize=0]): maxsize <= 0 is unbounded, as in Python. */
static int l_queue_new(lua_State *L) {
  lua_Integer max = luaL_optinteger(L, 1, 0);
  cf_queue *q;
  if (max < 0) max = 0;
  if (max > LONG_MAX) max = LONG_MAX;
  q = cf_queue_new((long)max);
  if (q == NULL) return luaL_error(L, "not enough memory");
  lcf_pushbox(L, LCF_QUEUE, q);
  return 1;
}

/* Arguments block (nil: true) and timeout at block_arg, block_arg + 1.
** As in Python, the timeout only matters when blocking. */
static double wait_args(lua_State *L, int block_arg, int *block) {
  double timeout;
  if (lua_isnoneornil(L, block_arg)) *block = 1;
  else {
    luaL_checktype(L, block_arg, LUA_TBOOLEAN);
    *block = lua_toboolean(L, block_arg);
  }
  timeout = lcf_opttimeout(L, block_arg + 1);
  return *block ? timeout : 0;
}

/* The item's bytes live in a C buffer on this stack frame, filled and
** read under lua_pcall: an error frees them before it is raised again,
** and no userdata (with a finalizer to run later) is made per message.
** A C-stack buffer is also safe if a finalizer run during the encoding or
** decoding uses this same queue. */
static int encode_body(lua_State *L) {
  lcf_encode(L, 1, 1, lua_touserdata(L, 2), &item_opts);
  return 0;
}

static int decode_body(lua_State *L) {
  if (lcf_decode(L, lua_touserdata(L, 1), 0) == 0) lua_pushnil(L);
  return 1;
}

typedef struct queue_op {
  cf_queue *q;
  cf_buffer *b;
} queue_op;

static int put_slice(void *ud, double timeout) {
  queue_op *op = ud;
  return cf_queue_put(op->q, op->b, 1, timeout);
}

static int get_slice(void *ud, double timeout) {
  queue_op *op = ud;
  return cf_queue_get(op->q, op->b, 1, timeout);
}

/* Both wait in slices (Ctrl-C); an interrupted put frees its item before
** it raises. */
static int do_put(lua_State *L, cf_queue *q, int block, double timeout) {
  cf_buffer b = CF_BUFFER_INIT;
  queue_op op;
  int rc, raised;
  lua_pushcfunction(L, encode_body);
  lua_pushvalue(L, 2);
  lua_pushlightuserdata(L, &b);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    cf_buffer_free(&b);
    return lua_error(L);
  }
  op.q = q;
  op.b = &b;
  rc = lcf_wait_p(L, put_slice, &op, block ? timeout : 0, &raised);
  cf_buffer_free(&b);   /* empty unless the put failed */
  if (raised) return lua_error(L);
  if (block) lcf_callbacks_run(L);
  if (rc == CF_ETIMEDOUT) return lcf_raise(L, "Full", "queue is full");
  if (rc != 0) return luaL_error(L, "not enough memory");
  return 0;
}

static int do_get(lua_State *L, cf_queue *q, int block, double timeout) {
  cf_buffer b = CF_BUFFER_INIT;
  queue_op op;
  int rc, status;
  op.q = q;
  op.b = &b;
  rc = lcf_wait(L, get_slice, &op, block ? timeout : 0);   /* b stays empty */
  if (rc != 0) {
    if (block) lcf_callbacks_run(L);
    return lcf_raise(L, "Empty", "queue is empty");
  }
  lua_pushcfunction(L, decode_body);
  lua_pushlightuserdata(L, &b);
  status = lua_pcall(L, 1, 1, 0);
  cf_buffer_free(&b);
  if (status != LUA_OK) return lua_error(L);
  if (block) lcf_callbacks_run(L);
  return 1;
}

/* put(v [, block=true [, timeout]]) */
static int l_put(lua_State *L) {
  cf_queue *q = check_queue(L);
  int block;
  double timeout;
  luaL_checkany(L, 2);
  timeout = wait_args(L, 3, &block);
  lua_settop(L, 2);
  return do_put(L, q, block, timeout);
}

static int l_put_nowait(lua_State *L) {
  cf_queue *q = check_queue(L);
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  return do_put(L, q, 0, 0);
}

/* get([block=true [, timeout]]) -> v */
static int l_get(lua_State *L) {
  cf_queue *q = check_queue(L);
  int block;
  double timeout = wait_args(L, 2, &block);
  lua_settop(L, 1);
  return do_get(L, q, block, timeout);
}

static int l_get_nowait(lua_State *L) {
  cf_queue *q = check_queue(L);
  lua_settop(L, 1);
  return do_get(L, q, 0, 0);
}

static int l_qsize(lua_State *L) {
  lua_pushinteger(L, cf_queue_qsize(check_queue(L)));
  return 1;
}

static int l_empty(lua_State *L) {
  lua_pushboolean(L, cf_queue_empty(check_queue(L)));
  return 1;
}

static int l_full(lua_State *L) {
  lua_pushboolean(L, cf_queue_full(check_queue(L)));
  return 1;
}

static int l_task_done(lua_State *L) {
  if (cf_queue_task_done(check_queue(L)) != 0)
    return luaL_error(L, "task_done() called too many times");
  return 0;
}

static int join_slice(void *q, double timeout) {
  return cf_queue_join(q, timeout);
}

/* join([timeout]) -> true once every item put has been task_done, false
** if the timeout passed first (the timeout is an extension: Python's join
** has none). */
static int l_join(lua_State *L) {
  cf_queue *q = check_queue(L);
  int rc = lcf_wait(L, join_slice, q, lcf_opttimeout(L, 2));
  lcf_callbacks_run(L);
  lua_pushboolean(L, rc == 0);
  return 1;
}

static int l_tostring(lua_State *L) {
  cf_queue *q = check_queue(L);
  lua_pushfstring(L, "Queue: %p (%I items, maxsize=%I)", (void *)q,
                  (LUAI_UACINT)cf_queue_qsize(q),
                  (LUAI_UACINT)cf_queue_maxsize(q));
  return 1;
}

/* __index: the methods (upvalue 1) first, so a method lookup costs one
** raw get more than a table __index; then the field maxsize, the bound
** given at creation (0: unbounded), as Python's attribute. */
static int l_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TNIL &&
      lua_type(L, 2) == LUA_TSTRING &&
      strcmp(lua_tostring(L, 2), "maxsize") == 0)
    lua_pushinteger(L, cf_queue_maxsize(check_queue(L)));
  return 1;
}

static const luaL_Reg methods[] = {
  {"put", l_put},
  {"get", l_get},
  {"put_nowait", l_put_nowait},
  {"get_nowait", l_get_nowait},
  {"qsize", l_qsize},
  {"empty", l_empty},
  {"full", l_full},
  {"task_done", l_task_done},
  {"join", l_join},
  {"__tostring", l_tostring},
  {NULL, NULL}
};

void lcf_queue_open(lua_State *L) {
  lcf_newclass(L, LCF_QUEUE, methods);   /* mt */
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_queue_new);
  lua_setfield(L, -2, "Queue");
}
