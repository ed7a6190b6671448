/*
** boxes.c -- boxes: the Lua face of reference-counted core objects.
*/
#include <string.h>

#include "../../core/object.h"
#include "boxes.h"

/* Core kind name -> class name, for boxes made on the receiving side of a
** transfer. */
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
  {NULL, NULL}
};

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
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "__concurrent");
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, box_eq);
    lua_setfield(L, -2, "__eq");
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
  }
  if (methods) luaL_setfuncs(L, methods, 0);
}

lcf_box *lcf_pushbox(lua_State *L, const char *tname, void *obj) {
  lcf_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->obj = NULL;
  luaL_setmetatable(L, tname);   /* __gc in place before b owns obj */
  b->obj = obj;
  return b;
}

void lcf_push_object(lua_State *L, void *obj) {
  const char *kind = cf_kind_name(obj);
  int i;
  for (i = 0; classes[i].kind; i++) {
    if (strcmp(classes[i].kind, kind) == 0) {
      lcf_pushbox(L, classes[i].tname, NULL)->obj = cf_retain(obj);
      return;
    }
  }
  luaL_error(L, "cannot receive an object of kind '%s'", kind);
}

void *lcf_toobject(lua_State *L, int idx) {
  lcf_box *b = lua_touserdata(L, idx);
  int ours;
  if (b == NULL || !lua_getmetatable(L, idx)) return NULL;
  ours = lua_getfield(L, -1, "__concurrent") == LUA_TBOOLEAN;
  lua_pop(L, 2);
  return ours && lua_rawlen(L, idx) == sizeof *b ? b->obj : NULL;
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
