/*
** host_types.c -- a host's own C types whose objects cross by reference
** (concurrent_lua.h: cf_lua_type). Such an object is a core object (one
** reference count, the kind below) holding the host's data; its boxes
** are lcf_box userdata like the library's own, with a metatable made
** once per state: lcf_newclass (so the transfer layer recognises it by
** identity), then the type's own metatable function adds its methods.
*/
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "../../concurrent_lua.h"
#include "../../core/object.h"
#include "boxes.h"

typedef struct shared_obj {
  cf_object hdr;
  const cf_lua_type *type;
  union {                      /* the host's data, aligned for anything */
    max_align_t align;
    unsigned char bytes[1];
  } data[];
} shared_obj;

static void shared_destroy(void *obj) {
  shared_obj *s = obj;
  if (s->type->destroy) s->type->destroy(s->data);
  free(s);
}

static const cf_kind shared_kind = {"shared", shared_destroy};

/* Whether a core object is one of these: asked of the header before any
** cast (other objects are not aligned as this struct is). */
static int is_shared(const void *obj) {
  return obj != NULL && ((const cf_object *)obj)->kind == &shared_kind;
}

static shared_obj *from_data(void *data) {
  return (shared_obj *)((char *)data - offsetof(shared_obj, data));
}

void *cf_lua_shared_new(const cf_lua_type *t, size_t size) {
  shared_obj *s = calloc(1, sizeof *s + size + 1);
  if (s == NULL) return NULL;
  cf_object_init(s, &shared_kind);
  s->type = t;
  return s->data;
}

void *cf_lua_shared_retain(void *data) {
  if (data) cf_retain(from_data(data));
  return data;
}

void cf_lua_shared_release(void *data) {
  if (data) cf_release(from_data(data));
}

const char *lcf_shared_class(const void *obj) {
  return is_shared(obj) ? ((const shared_obj *)obj)->type->name : NULL;
}

/* The box class of a shared object exists in this state (made now, the
** first time one of its boxes is made here). */
void lcf_shared_prepare(lua_State *L, const void *obj) {
  const shared_obj *s;
  int top = lua_gettop(L);
  if (!is_shared(obj)) return;
  s = obj;
  if (luaL_getmetatable(L, s->type->name) != LUA_TNIL) {
    lua_settop(L, top);
    return;
  }
  lua_settop(L, top);
  lcf_newclass(L, s->type->name, NULL);           /* mt */
  if (s->type->metatable) s->type->metatable(L);
  lua_settop(L, top);
}

void cf_lua_push_shared(lua_State *L, void *data) {
  lcf_push_object(L, from_data(data));
}

void *cf_lua_toshared(lua_State *L, int idx, const cf_lua_type *t) {
  void *obj = lcf_toobject(L, idx);
  shared_obj *s;
  if (!is_shared(obj)) return NULL;
  s = obj;
  return s->type == t ? s->data : NULL;
}
