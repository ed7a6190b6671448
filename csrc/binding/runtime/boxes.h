/*
** objects.h -- Lua userdata boxes around the core's shared objects.
**
** A box holds one reference to a core object; its __gc drops it. Every
** box metatable is made by lcf_newclass, which records it: the transfer
** layer recognises the library's objects by that metatable's identity.
*/
#ifndef LCF_OBJECTS_H
#define LCF_OBJECTS_H

#include <lua.h>
#include <lauxlib.h>

#include "compat.h"

typedef struct lcf_box {
  void *obj;
} lcf_box;

/* Make (or fetch) the metatable tname for boxes, with methods and __gc,
** __index pointing at itself; leaves it on the stack. */
void lcf_newclass(lua_State *L, const char *tname, const luaL_Reg *methods);
/* A new box of class tname holding obj (the box takes the caller's
** reference). Pushes it. */
lcf_box *lcf_pushbox(lua_State *L, const char *tname, void *obj);
/* Push the state's box for a core object of a kind that crosses: the one
** it already has (see lcf_remember_box), or a new one with a new
** reference. Raises for a kind that does not cross. */
void lcf_push_object(lua_State *L, void *obj);
/* Remember the box at idx as this state's box for obj (it is being sent:
** when obj comes back, lcf_push_object gives this box again). */
void lcf_remember_box(lua_State *L, int idx, void *obj);
/* The box class of a core object that crosses between states by
** reference ("concurrent.Future"), or NULL for a kind that does not. */
const char *lcf_object_class(const void *obj);
/* The core object in a library box at idx (its metatable one of the
** library's classes), or NULL. */
void *lcf_toobject(lua_State *L, int idx);
/* The object in a box of class tname at argument arg (raises otherwise,
** also once the box has been closed). */
void *lcf_checkobject(lua_State *L, int arg, const char *tname);
/* Whether the value at idx can be called: a function, or a value whose
** metatable's __call is one (tasks, initializers, callbacks). */
int lcf_callable(lua_State *L, int idx);

#endif
