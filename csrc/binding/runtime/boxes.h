/*
** boxes.h -- Lua userdata boxes around the core's shared objects.
**
** A box holds one reference to a core object; its __gc drops it. Every
** box metatable is made by lcf_newclass, which records it: the transfer
** layer recognises the library's objects by that metatable's identity.
*/
#ifndef LCF_BOXES_H
#define LCF_BOXES_H

#include <lua.h>
#include <lauxlib.h>

#include "compat.h"
#include "errors.h"

/* The binding's argument checks name methods called through pcall
** (errors.h). */
#define luaL_argerror lcf_argerror
#define luaL_typeerror lcf_typeerror
#define luaL_checktype lcf_checktype
#define luaL_checkany lcf_checkany
#define luaL_checkudata lcf_checkudata
#define luaL_checkinteger lcf_checkinteger
#define luaL_optinteger lcf_optinteger
#define luaL_checknumber lcf_checknumber
#define luaL_checklstring lcf_checklstring
#define luaL_optlstring lcf_optlstring

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
/* A host's type whose objects cross by reference (host_types.c, the C API's
** cf_lua_type): the class name of obj if it is such an object, else
** NULL; and making its box class in L if L has none yet. */
const char *lcf_shared_class(const void *obj);
void lcf_shared_prepare(lua_State *L, const void *obj);
/* Whether the value at idx can be called: a function, or a value whose
** metatable's __call is one (tasks, initializers, callbacks). */
int lcf_callable(lua_State *L, int idx);

#endif
