/*
** errors.c -- error classes: tables used as metatables of error objects.
**
** An error object is a table {name=, message=} whose metatable is its
** class; a class has __tostring, __index (itself) and `base` (its parent
** class), and calling a class makes an instance. Classes are fields of the
** module, so they cross between states by name and keep their identity.
*/
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <lauxlib.h>

#include "errors.h"

static const char CLASSES_KEY = 'e';

static const struct {
  const char *name, *base;
} classes[] = {
  {"Error", NULL},
  {"TimeoutError", "Error"},
  {"CancelledError", "Error"},
  {"InvalidStateError", "Error"},
  {"BrokenExecutor", "Error"},
  {"BrokenThreadPool", "BrokenExecutor"},
  {"BrokenProcessPool", "BrokenExecutor"},
  {"BrokenBarrierError", "Error"},
  {"Empty", "Error"},
  {"Full", "Error"},
  {NULL, NULL}
};

static int error_tostring(lua_State *L) {
  const char *name, *message;
  lua_getfield(L, 1, "name");
  name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "Error";
  lua_getfield(L, 1, "message");
  message = lua_isnil(L, -1) ? "" : luaL_tolstring(L, -1, NULL);
  lua_pushfstring(L, "%s: %s", name, message);
  return 1;
}

/* Class(message): a new instance. */
static int error_call(lua_State *L) {
  lua_newtable(L);
  lua_getfield(L, 1, "__name");
  lua_setfield(L, -2, "name");
  if (!lua_isnoneornil(L, 2)) {
    luaL_tolstring(L, 2, NULL);
    lua_setfield(L, -2, "message");
  }
  lua_pushvalue(L, 1);
  lua_setmetatable(L, -2);
  return 1;
}

void lcf_errors_open(lua_State *L) {
  int i;
  lua_newtable(L);                                   /* module classes */
  lua_newtable(L);                                   /* module classes callmt */
  lua_pushcfunction(L, error_call);
  lua_setfield(L, -2, "__call");
  for (i = 0; classes[i].name; i++) {
    lua_newtable(L);                                 /* ... callmt class */
    lua_pushstring(L, classes[i].name);
    lua_setfield(L, -2, "__name");
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    if (classes[i].base) {
      lua_getfield(L, -3, classes[i].base);
      lua_setfield(L, -2, "base");
    }
    lua_pushvalue(L, -2);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, classes[i].name);
    lua_setfield(L, -4, classes[i].name);
  }
  lua_pop(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &CLASSES_KEY);
}

int lcf_has_errors(lua_State *L) {
  int t = lua_rawgetp(L, LUA_REGISTRYINDEX, &CLASSES_KEY);
  lua_pop(L, 1);
  return t == LUA_TTABLE;
}

void lcf_pusherror(lua_State *L, const char *name, const char *message) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &CLASSES_KEY);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  lua_newtable(L);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, message);
  lua_setfield(L, -2, "message");
  lua_insert(L, -2);
  lua_setmetatable(L, -2);
}

int lcf_raise(lua_State *L, const char *name, const char *fmt, ...) {
  va_list ap;
  const char *msg;
  va_start(ap, fmt);
  msg = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lcf_pusherror(L, name, msg);
  return lua_error(L);
}

int lcf_raise_errno(lua_State *L, const char *what, int rc) {
  char buf[128];
  if (rc == -ENOMEM) return luaL_error(L, "not enough memory");
  /* The GNU strerror_r (thread-safe; _GNU_SOURCE) returns the message. */
  return luaL_error(L, "%s: %s", what, strerror_r(-rc, buf, sizeof buf));
}

/* The value at 1's __tostring, or nothing: run protected by the below. */
static int call_tostring(lua_State *L) {
  if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
    return 1;
  return 0;
}

/* The error value itself is never changed: a number is converted on a
** copy (lua_tostring would turn the value in its slot into a string),
** and __tostring runs protected, so one that raises, yields or recurses
** gives the generic text instead of replacing the error. */
const char *lcf_error_text(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: return lua_tostring(L, idx);
    case LUA_TNUMBER:
      lua_pushvalue(L, idx);
      return lua_tostring(L, -1);
    default: break;
  }
  if (luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushcfunction(L, call_tostring);
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
      return lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  return lua_pushfstring(L, "(error object is a %s value)",
                         luaL_typename(L, idx));
}

/* ---------------------------------------------------------------------- */
/* Argument errors that name the method (see errors.h).                   */

static const char NAMES_KEY = 'm';

void lcf_name_method(lua_State *L, int idx, const char *name) {
  idx = lua_absindex(L, idx);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &NAMES_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &NAMES_KEY);
  }
  lua_pushvalue(L, idx);
  lua_pushstring(L, name);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* "module.field" for the function on the top, from package.loaded, as
** 5.2+'s luaL_argerror names a function called with no name (5.1 and
** LuaJIT say '?'); NULL if no loaded module holds it. Pushes the name. */
static const char *loaded_name(lua_State *L) {
  int fn = lua_gettop(L);
  if (lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE) != LUA_TTABLE) {
    lua_settop(L, fn);
    return NULL;
  }
  lua_pushnil(L);
  while (lua_next(L, fn + 1)) {                /* fn loaded mod table */
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      lua_pushnil(L);
      while (lua_next(L, -2)) {                /* .. table key value */
        if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, fn)) {
          const char *mod = lua_tostring(L, -4), *field = lua_tostring(L, -2);
          if (strcmp(mod, "_G") == 0) lua_pushstring(L, field);
          else lua_pushfstring(L, "%s.%s", mod, field);
          lua_replace(L, fn + 1);
          lua_settop(L, fn + 1);
          return lua_tostring(L, -1);
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  lua_settop(L, fn);
  return NULL;
}

int lcf_argerror(lua_State *L, int arg, const char *extramsg) {
  lua_Debug ar, up;
  const char *name = NULL;
  int level, line = 0, fn, wrapped = 0, method = 1;
  if (!lua_getstack(L, 0, &ar)) return luaL_argerror(L, arg, extramsg);
  lua_getinfo(L, "nf", &ar);                        /* fn */
  fn = lua_gettop(L);
  if (ar.name != NULL && lua_getstack(L, 1, &up)) { /* called by its wrapper */
    lua_getinfo(L, "Sn", &up);                      /* (compat.h, yieldk.c) */
    wrapped = strcmp(up.source, LCF_AWAIT_CHUNK) == 0;
  }
  if ((ar.name == NULL || wrapped) &&
      lua_rawgetp(L, LUA_REGISTRYINDEX, &NAMES_KEY) == LUA_TTABLE) {
    lua_pushvalue(L, fn);
    if (lua_rawget(L, -2) == LUA_TSTRING) name = lua_tostring(L, -1);
  }
  if (wrapped && name == NULL) {
    name = ar.name;             /* a wrapped plain function: no self */
    method = 0;
  } else if (wrapped) {
    /* A method's wrapper called as a plain function (f.result(x)): its
    ** arguments count from self, as luaL_argerror counts them then. The
    ** wrapper's own name is its caller's (lua_getstack 1 is the wrapper
    ** as long as it has not tail-called its loop: its first call). */
    lua_getstack(L, 1, &up);
    lua_getinfo(L, "n", &up);
    if (up.namewhat[0] != '\0' && strcmp(up.namewhat, "method") != 0) method = 0;
  }
  if (name == NULL && ar.name == NULL && !LCF_HAS_GLOBALFUNCNAME) {
    lua_pushvalue(L, fn);
    if ((name = loaded_name(L)) != NULL)
      method = 0;               /* a plain function: self is not skipped */
  }
  if (name == NULL) return luaL_argerror(L, arg, extramsg);
  for (level = 1; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if (strcmp(ar.source, LCF_AWAIT_CHUNK) == 0) continue;
    if ((line = ar.currentline) > 0) break;
  }
  if (line > 0) lua_pushfstring(L, "%s:%d: ", ar.short_src, line);
  else lua_pushliteral(L, "");
  if (method && --arg == 0)   /* self is not counted */
    lua_pushfstring(L, "calling '%s' on bad self (%s)", name, extramsg);
  else
    lua_pushfstring(L, "bad argument #%d to '%s' (%s)", arg, name, extramsg);
  lua_concat(L, 2);
  return lua_error(L);
}

int lcf_typeerror(lua_State *L, int arg, const char *tname) {
  const char *got;
  if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING)
    got = lua_tostring(L, -1);
  else if (lua_type(L, arg) == LUA_TLIGHTUSERDATA)
    got = "light userdata";
  else
    got = luaL_typename(L, arg);
  return lcf_argerror(L, arg, lua_pushfstring(L, "%s expected, got %s",
                                              tname, got));
}

void lcf_checktype(lua_State *L, int arg, int t) {
  if (lua_type(L, arg) != t) lcf_typeerror(L, arg, lua_typename(L, t));
}

void lcf_checkany(lua_State *L, int arg) {
  if (lua_type(L, arg) == LUA_TNONE) lcf_argerror(L, arg, "value expected");
}

void *lcf_checkudata(lua_State *L, int arg, const char *tname) {
  void *p = luaL_testudata(L, arg, tname);
  if (p == NULL) lcf_typeerror(L, arg, tname);
  return p;
}

lua_Integer lcf_checkinteger(lua_State *L, int arg) {
  int isnum;
  lua_Integer n = lua_tointegerx(L, arg, &isnum);
  if (!isnum) {
    if (lua_isnumber(L, arg))
      lcf_argerror(L, arg, "number has no integer representation");
    else
      lcf_typeerror(L, arg, "number");
  }
  return n;
}

lua_Integer lcf_optinteger(lua_State *L, int arg, lua_Integer def) {
  return lua_isnoneornil(L, arg) ? def : lcf_checkinteger(L, arg);
}

lua_Number lcf_checknumber(lua_State *L, int arg) {
  int isnum;
  lua_Number n = lua_tonumberx(L, arg, &isnum);
  if (!isnum) lcf_typeerror(L, arg, "number");
  return n;
}

const char *lcf_checklstring(lua_State *L, int arg, size_t *len) {
  const char *s = lua_tolstring(L, arg, len);
  if (s == NULL) lcf_typeerror(L, arg, "string");
  return s;
}

const char *lcf_optlstring(lua_State *L, int arg, const char *def,
                           size_t *len) {
  if (!lua_isnoneornil(L, arg)) return lcf_checklstring(L, arg, len);
  if (len) *len = def ? strlen(def) : 0;
  return def;
}
