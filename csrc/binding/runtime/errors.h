/*
** errors.h -- the library's error classes (TimeoutError, ...) and raising
** their instances from C.
*/
#ifndef LCF_ERRORS_H
#define LCF_ERRORS_H

#include <lua.h>

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

#endif
