/*
** boxes.c -- boxes: the Lua face of reference-counted core objects.
*/
#include <string.h>

#include "../../core/object.h"
#include "boxes.h"

/* The kinds of core object that cross between states by reference, and
** the class of the box the receiver makes: the one table both sides use
** (encode.c refuses what is not here, so no object is sent that cannot be
** received). Executors cross by reference (a received box does not own
** its executor: only the box that made it shuts it down when collected);
** waiters and the like are not here. */
static const struct {
  const char *kind, *tname;
} classes[] = {
  {"future", "concurrent.Future"},
  {"lock", "concurrent.Lock"},
  {"rlock", "concurrent.RLock"},
  {"condition", "concurrent.Condition"},
  {"semaphore", "concurrent.Semaphore"},
  {"event", "concurrent.Event"},
  {"barrier", "concurrent.Barrier"},
  {"queue", "concurrent.Queue"},
  {"value", "concurrent.Value"},
  {"dict", "concurrent.Dict"},
  {"thread", "concurrent.ThreadHandle"},
  {"pool", "concurrent.ThreadPoolExecutor"},
  {"procpool", "concurrent.ProcessPoolExecutor"},
  {NULL, NULL}
};

/* Registry keys (their addresses): the set of the library's metatables,
** and the per-state cache of boxes (core object -> box, weak values). */
static const char CLASSES_KEY = 'c';
static const char BOXES_KEY = 'b';

static int box_gc(lua_State *L) {
  lcf_box *b = lua_touserdata(L, 1);
  if (b && b->obj) {
    void *o = b->obj;
    b->obj = NULL;
    cf_release(o);
  }
  return 0;
}

/* __eq of every box class: the same core object (two boxes of one
** object, e.g. the same Lock received twice, are equal). */
static int box_eq(lua_State *L) {
  void *a = lcf_toobject(L, 1);
  lua_pushboolean(L, a != NULL && a == lcf_toobject(L, 2));
  return 1;
}

/* Like luaL_newmetatable, but the table is made at its final size: growing
** it method by method (rehash after rehash) was most of opening the
** module. */
void lcf_newclass(lua_State *L, const char *tname, const luaL_Reg *methods) {
  int n = 0;
  while (methods && methods[n].name) n++;
  if (luaL_getmetatable(L, tname) == LUA_TNIL) {   /* mt */
    lua_pop(L, 1);
    lua_createtable(L, 0, n + 5);
    lua_pushstring(L, tname);
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, tname);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, box_eq);
    lua_setfield(L, -2, "__eq");
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    /* Recognised by identity (lcf_toobject), not by a field a forged
    ** metatable could copy. */
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &CLASSES_KEY) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_rawsetp(L, LUA_REGISTRYINDEX, &CLASSES_KEY);
    }
    lua_pushvalue(L, -2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);                               /* set[mt] = true */
    lua_pop(L, 1);
  }
  if (methods) {
    int i;
    luaL_setfuncs(L, methods, 0);
    for (i = 0; i < n; i++) {   /* for argument errors (errors.h) */
      lua_getfield(L, -1, methods[i].name);
      lcf_name_method(L, -1, methods[i].name);
      lua_pop(L, 1);
    }
  }
}

lcf_box *lcf_pushbox(lua_State *L, const char *tname, void *obj) {
  lcf_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->obj = NULL;
  luaL_setmetatable(L, tname);   /* __gc in place before b owns obj */
  b->obj = obj;
  return b;
}

const char *lcf_object_class(const void *obj) {
  const char *kind = cf_kind_name(obj);
  int i;
  if (lcf_shared_class(obj)) return lcf_shared_class(obj);
  for (i = 0; classes[i].kind; i++)
    if (strcmp(classes[i].kind, kind) == 0) return classes[i].tname;
  return NULL;
}

/* Push the state's box cache, made on first use. */
static void push_boxes(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &BOXES_KEY) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &BOXES_KEY);
}

/* A box leaves the cache when it is collected (weak values are cleared
** before finalizers run), so a cached box always holds its object. */
void lcf_remember_box(lua_State *L, int idx, void *obj) {
  idx = lua_absindex(L, idx);
  push_boxes(L);
  lua_pushlightuserdata(L, obj);
  lua_pushvalue(L, idx);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* The box this state already has for obj, if any: a future that comes
** back from a worker is then the very value the state holds (a table key
** still finds it). */
void lcf_push_object(lua_State *L, void *obj) {
  const char *tname = lcf_object_class(obj);
  lcf_box *b;
  if (tname == NULL)
    luaL_error(L, "cannot receive an object of kind '%s'", cf_kind_name(obj));
  push_boxes(L);                                     /* boxes */
  lua_pushlightuserdata(L, obj);
  if (lua_rawget(L, -2) == LUA_TUSERDATA &&
      ((lcf_box *)lua_touserdata(L, -1))->obj == obj) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  lcf_shared_prepare(L, obj);                        /* a host's type */
  b = lcf_pushbox(L, tname, NULL);                   /* boxes box */
  b->obj = cf_retain(obj);
  lua_pushlightuserdata(L, obj);
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);
  lua_remove(L, -2);
}

void *lcf_toobject(lua_State *L, int idx) {
  lcf_box *b = lua_touserdata(L, idx);
  int ours;
  if (b == NULL || lua_type(L, idx) != LUA_TUSERDATA ||
      lua_rawlen(L, idx) != sizeof *b || !lua_getmetatable(L, idx))
    return NULL;
  ours = lua_rawgetp(L, LUA_REGISTRYINDEX, &CLASSES_KEY) == LUA_TTABLE;
  if (ours) {
    lua_pushvalue(L, -2);
    ours = lua_rawget(L, -2) == LUA_TBOOLEAN;
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return ours ? b->obj : NULL;
}

void *lcf_checkobject(lua_State *L, int arg, const char *tname) {
  lcf_box *b = luaL_checkudata(L, arg, tname);
  if (b->obj == NULL) luaL_argerror(L, arg, "object is closed");
  return b->obj;
}

int lcf_callable(lua_State *L, int idx) {
  int ok;
  if (lua_type(L, idx) == LUA_TFUNCTION) return 1;
  if (!luaL_getmetafield(L, idx, "__call")) return 0;
  ok = lua_type(L, -1) == LUA_TFUNCTION;
  lua_pop(L, 1);
  return ok;
}
