/*
** errors.h -- the library's error classes (TimeoutError, ...) and raising
** their instances from C.
*/
#ifndef LCF_ERRORS_H
#define LCF_ERRORS_H

#include <lua.h>

#include "compat.h"

/* Make the classes and set them as fields of the table on the top. */
void lcf_errors_open(lua_State *L);
/* Are the classes made in L (concurrent.core opened there)? */
int lcf_has_errors(lua_State *L);
/* Push a new error object of class name ("TimeoutError") with message. */
void lcf_pusherror(lua_State *L, const char *name, const char *message);
/* Raise one. */
int lcf_raise(lua_State *L, const char *name, const char *fmt, ...);
/* Raise the failure of a core call that returned -errno: "not enough
** memory" for -ENOMEM (as Lua says it), else "<what>: <strerror>". */
int lcf_raise_errno(lua_State *L, const char *what, int rc);
/* The text of the error value at idx for a traceback: the string, the
** number's text, its __tostring (called protected), or "(error object is
** a T value)"; the value at idx is left as it is. May push values. */
const char *lcf_error_text(lua_State *L, int idx);

/* Argument errors that name the method. Lua names a C function after the
** code that called it, so a method called through pcall(f.result, f, x)
** or from C had no name ("bad argument #2 to '?'"). Methods are recorded
** (function -> name) by lcf_newclass and lcf_name_method; these checks
** behave as the luaL_ ones, but for such a call they name the method,
** count arguments after self and give the nearest Lua caller's file:line.
** objects.h makes the luaL_ names of the binding's files mean these. */
void lcf_name_method(lua_State *L, int idx, const char *name);
int lcf_argerror(lua_State *L, int arg, const char *extramsg);
int lcf_typeerror(lua_State *L, int arg, const char *tname);
void lcf_checktype(lua_State *L, int arg, int t);
void lcf_checkany(lua_State *L, int arg);
void *lcf_checkudata(lua_State *L, int arg, const char *tname);
lua_Integer lcf_checkinteger(lua_State *L, int arg);
lua_Integer lcf_optinteger(lua_State *L, int arg, lua_Integer def);
lua_Number lcf_checknumber(lua_State *L, int arg);
const char *lcf_checklstring(lua_State *L, int arg, size_t *len);
const char *lcf_optlstring(lua_State *L, int arg, const char *def,
                           size_t *len);

#endif
