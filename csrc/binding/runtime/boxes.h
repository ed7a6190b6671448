/*
** boxes.h -- Lua userdata boxes around the core's shared objects.
**
** A box holds one reference to a core object; its __gc drops it. Every
** box metatable has the field __concurrent, which is how the transfer layer
** recognises the library's objects and sends them by reference.
*/
#ifndef LCF_BOXES_H
#define LCF_BOXES_H

#include <lua.h>
#include <lauxlib.h>

typedef struct lcf_box {
  void *obj;
} lcf_box;

/* Make (or fetch) the metatable tname for boxes, with methods and __gc,
** __index pointing at itself; leaves it on the stack. */
void lcf_newclass(lua_State *L, const char *tname, const luaL_Reg *methods);
/* A new box of class tname holding obj (the box takes the caller's
** reference). Pushes it. */
lcf_box *lcf_pushbox(lua_State *L, const char *tname, void *obj);
/* Push a box for a core object of any kind, with a new reference. */
void lcf_push_object(lua_State *L, void *obj);
/* The core object in a library box at idx, or NULL. */
void *lcf_toobject(lua_State *L, int idx);
/* The object in a box of class tname at argument arg (raises otherwise,
** also once the box has been closed). */
void *lcf_checkobject(lua_State *L, int arg, const char *tname);
/* Whether the value at idx can be called: a function, or a value whose
** metatable's __call is one (tasks, initializers, callbacks). */
int lcf_callable(lua_State *L, int idx);

#endif
