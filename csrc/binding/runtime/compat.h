/*
** compat.h -- the Lua 5.4 API the binding uses, for Lua 5.3, 5.1 and
** LuaJIT 2.1 too.
**
** Why one header: the binding is written against 5.4 and keeps its
** names (lua_newuserdatauv, lua_getfield returning a type, lua_resume's
** four arguments, ...); for an older Lua each one the code uses is given
** here as a static inline shim, so the other files hold no version #if.
** Every runtime header includes it, so every binding file sees it.
**
** The few real differences, and where they are decided:
**   LCF_HAS_TBC          to-be-closed slots (5.4): without them an encode
**                        runs protected (transfer/encode.c);
**   LCF_HAS_UPVALUEJOIN  upvalue identity (5.2+, LuaJIT): without it
**                        (Lua 5.1) closures do not share upvalues across
**                        a transfer, and a task's function is loaded
**                        afresh instead of reusing a template with fresh
**                        cells (transfer/decode.c);
**   lua_isinteger        always 0 on 5.1 and LuaJIT: they have no integer
**                        subtype, so numbers cross as the doubles they are.
**   LCF_REQUIRE_SENTINEL require keeps a sentinel (a light userdata) in
**                        package.loaded[name] while the module loads, and
**                        leaves it there when an error ends the load (5.1,
**                        LuaJIT): after a task ended by an interruption a
**                        worker removes it (worker/worker.c), or the name
**                        could never be required in that state again.
** A function's globals: 5.2+ functions reach them through an _ENV upvalue
** that the transfer rebinds to the receiver's globals; on 5.1 and LuaJIT
** lua_load gives a loaded function the receiving state's globals as its
** environment, the same outcome (globals are never copied).
**
** Written for this project from the reference manuals of each version.
*/
#ifndef LCF_COMPAT_H
#define LCF_COMPAT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

/* LuaJIT's luaconf.h names its own directories: the one mark of its
** headers (its lua.h says 5.1). */
#if LUA_VERSION_NUM == 501 && defined(LUA_LJDIR)
#define LCF_LUAJIT 1
#else
#define LCF_LUAJIT 0
#endif

#define LCF_HAS_TBC (LUA_VERSION_NUM >= 504)
#define LCF_HAS_UPVALUEJOIN (LUA_VERSION_NUM >= 502 || LCF_LUAJIT)
/* luaL_argerror names a function called with no name (from package.loaded). */
#define LCF_HAS_GLOBALFUNCNAME (LUA_VERSION_NUM >= 502)
/* require's loading sentinel, left behind by a failed load (see above). */
#define LCF_REQUIRE_SENTINEL (LUA_VERSION_NUM == 501)
/* Whether the collector runs (5.2+ and LuaJIT); 5.1 cannot tell: 0. */
#ifdef LUA_GCISRUNNING
#define lcf_gc_running(L) lua_gc((L), LUA_GCISRUNNING, 0)
#else
#define lcf_gc_running(L) ((void)(L), 0)
#endif

/* ---- 5.1 and LuaJIT: what 5.2 and 5.3 added ---------------------------- */
#if LUA_VERSION_NUM == 501

#ifndef LUA_OK
#define LUA_OK 0
#endif
#define LUA_LOADED_TABLE "_LOADED"
#define LUA_MAXINTEGER PTRDIFF_MAX
#define LUA_MININTEGER PTRDIFF_MIN
/* The type a lua_Integer is cast to for %I (pushfstring, below). */
#define LUAI_UACINT ptrdiff_t
typedef size_t lua_Unsigned;

#define lua_numbertointeger(n, p) \
  ((n) >= (lua_Number)LUA_MININTEGER && (n) < -(lua_Number)LUA_MININTEGER && \
   (*(p) = (lua_Integer)(n), 1))

/* No integer subtype: every number is a double. */
#define lua_isinteger(L, idx) ((void)(L), (void)(idx), 0)

/* 5.3's rule (LuaJIT's own lua_tointegerx truncates): an integer only if
** the number has an exact integer value. */
static inline lua_Integer lcf_tointegerx(lua_State *L, int idx, int *isnum) {
  lua_Number n = lua_tonumber(L, idx);
  lua_Integer i = 0;
  int ok = lua_isnumber(L, idx) && lua_numbertointeger(n, &i) &&
           (lua_Number)i == n;
  if (isnum) *isnum = ok;
  return ok ? i : 0;
}
#define lua_tointegerx lcf_tointegerx

#if !LCF_LUAJIT
/* In LuaJIT already. */
static inline lua_Number lcf_tonumberx(lua_State *L, int idx, int *isnum) {
  int ok = lua_isnumber(L, idx);
  if (isnum) *isnum = ok;
  return ok ? lua_tonumber(L, idx) : 0;
}
#define lua_tonumberx lcf_tonumberx
#endif

static inline int lcf_absindex(lua_State *L, int idx) {
  return idx > 0 || idx <= LUA_REGISTRYINDEX ? idx : lua_gettop(L) + idx + 1;
}
#define lua_absindex lcf_absindex

#define lua_rawlen(L, idx) lua_objlen((L), (idx))
#define lua_pushglobaltable(L) lua_pushvalue((L), LUA_GLOBALSINDEX)

/* The globals: 5.2+ keep them at registry[LUA_RIDX_GLOBALS]; here that
** index is a key no luaL_ref hands out, answered by lcf_rawgeti below. */
#define LUA_RIDX_GLOBALS (-0x6c6366)

/* The getters return the type of the value pushed, as since 5.3. */
static inline int lcf_getfield(lua_State *L, int idx, const char *k) {
  lua_getfield(L, idx, k);
  return lua_type(L, -1);
}
static inline int lcf_gettable(lua_State *L, int idx) {
  lua_gettable(L, idx);
  return lua_type(L, -1);
}
static inline int lcf_rawget(lua_State *L, int idx) {
  lua_rawget(L, idx);
  return lua_type(L, -1);
}
static inline int lcf_rawgeti(lua_State *L, int idx, lua_Integer n) {
  if (idx == LUA_REGISTRYINDEX && n == LUA_RIDX_GLOBALS) {
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    return LUA_TTABLE;
  }
  lua_rawgeti(L, idx, (int)n);
  return lua_type(L, -1);
}
static inline int lcf_getmetafield(lua_State *L, int idx, const char *e) {
  return luaL_getmetafield(L, idx, e) ? lua_type(L, -1) : LUA_TNIL;
}
#define lua_getfield lcf_getfield
#define lua_gettable lcf_gettable
#define lua_rawget lcf_rawget
#define lua_rawgeti lcf_rawgeti
#define luaL_getmetafield lcf_getmetafield

static inline int lcf_geti(lua_State *L, int idx, lua_Integer i) {
  idx = lcf_absindex(L, idx);
  lua_pushinteger(L, i);
  return lcf_gettable(L, idx);
}
#define lua_geti lcf_geti

static inline int lcf_rawgetp(lua_State *L, int idx, const void *p) {
  idx = lcf_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)p);
  return lcf_rawget(L, idx);
}
static inline void lcf_rawsetp(lua_State *L, int idx, const void *p) {
  idx = lcf_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)p);
  lua_insert(L, -2);
  lua_rawset(L, idx);
}
#define lua_rawgetp lcf_rawgetp
#define lua_rawsetp lcf_rawsetp

/* lua_rotate is only ever asked to move the top down one step here and
** there; the general rotation in single steps. */
static inline void lcf_rotate(lua_State *L, int idx, int n) {
  idx = lcf_absindex(L, idx);
  for (; n > 0; n--) lua_insert(L, idx);
  for (; n < 0; n++) {
    lua_pushvalue(L, idx);
    lua_remove(L, idx);
  }
}
#define lua_rotate lcf_rotate

static inline lua_Integer lcf_len(lua_State *L, int idx) {
  return (lua_Integer)lua_objlen(L, idx);
}
#define luaL_len lcf_len

/* Metatables carry __name, which error messages read, as since 5.3. */
static inline int lcf_newmetatable(lua_State *L, const char *tname) {
  if (!luaL_newmetatable(L, tname)) return 0;
  lua_pushstring(L, tname);
  lua_setfield(L, -2, "__name");
  return 1;
}
#define luaL_newmetatable lcf_newmetatable

static inline int lcf_getsubtable(lua_State *L, int idx, const char *name) {
  idx = lcf_absindex(L, idx);
  if (lcf_getfield(L, idx, name) == LUA_TTABLE) return 1;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, idx, name);
  return 0;
}
#define luaL_getsubtable lcf_getsubtable

static inline void lcf_requiref(lua_State *L, const char *name,
                                lua_CFunction openf, int global) {
  lcf_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lcf_getfield(L, -1, name) == LUA_TNIL ||
      (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
    lua_pop(L, 1);
    lua_pushcfunction(L, openf);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
  }
  lua_remove(L, -2);
  if (global) {
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_GLOBALSINDEX, name);
  }
}
#define luaL_requiref lcf_requiref

/* luaL_tolstring: __tostring, else the value's text, else "name: addr". */
static inline const char *lcf_tolstring(lua_State *L, int idx, size_t *len) {
  idx = lcf_absindex(L, idx);
  if (luaL_callmeta(L, idx, "__tostring")) {
    if (!lua_isstring(L, -1)) luaL_error(L, "'__tostring' must return a string");
  } else {
    switch (lua_type(L, idx)) {
      case LUA_TNUMBER:
      case LUA_TSTRING:
        lua_pushvalue(L, idx);
        break;
      case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
        break;
      case LUA_TNIL:
        lua_pushliteral(L, "nil");
        break;
      default: {
        const char *name = luaL_typename(L, idx);
        int named = lcf_getmetafield(L, idx, "__name") == LUA_TSTRING;
        if (named) name = lua_tostring(L, -1);
        lua_pushfstring(L, "%s: %p", name, lua_topointer(L, idx));
        if (named) lua_remove(L, -2);
        break;
      }
    }
  }
  return lua_tolstring(L, -1, len);
}
#define luaL_tolstring lcf_tolstring

/* lua_load with a mode: LuaJIT has lua_loadx; 5.1 takes any chunk (the
** binding loads only bytecode it dumped itself). lua_dump: 5.1 and
** LuaJIT keep debug info, as the binding asks (strip 0). */
#if LCF_LUAJIT
#define lua_load(L, reader, data, name, mode) \
  lua_loadx((L), (reader), (data), (name), (mode))
#else
#define lua_load(L, reader, data, name, mode) \
  ((void)(mode), (lua_load)((L), (reader), (data), (name)))
#endif
#define lua_dump(L, writer, data, strip) \
  ((void)(strip), (lua_dump)((L), (writer), (data)))

/* lua_pushfstring knows %I (a lua_Integer) only since 5.3: a format with
** it goes through the C library (the other options it uses, %s %d %p %c
** %%, mean the same there; %f becomes %g), any other to Lua's own. */
static inline const char *lcf_pushfstring(lua_State *L, const char *fmt, ...) {
  char cfmt[256];
  size_t i = 0, n;
  const char *f;
  char *out;
  va_list ap;
  if (strstr(fmt, "%I") == NULL || strlen(fmt) * 2 >= sizeof cfmt) {
    const char *s;
    va_start(ap, fmt);
    s = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return s;
  }
  for (f = fmt; *f; f++) {
    cfmt[i++] = *f;
    if (f[0] == '%' && (f[1] == 'I' || f[1] == 'f')) {
      if (*++f == 'I') cfmt[i++] = 't';     /* lua_Integer is ptrdiff_t */
      cfmt[i++] = *f == 'I' ? 'd' : 'g';
    }
  }
  cfmt[i] = '\0';
  va_start(ap, fmt);
  n = (size_t)vsnprintf(NULL, 0, cfmt, ap) + 1;
  va_end(ap);
  out = lua_newuserdata(L, n);          /* may raise: no va_list open */
  va_start(ap, fmt);
  vsnprintf(out, n, cfmt, ap);
  va_end(ap);
  lua_pushstring(L, out);
  lua_remove(L, -2);
  return lua_tostring(L, -1);
}
#define lua_pushfstring lcf_pushfstring

#if !LCF_LUAJIT
/* In LuaJIT already. */
#define luaL_newlibtable(L, l) \
  lua_createtable((L), 0, sizeof(l) / sizeof((l)[0]) - 1)
#define luaL_newlib(L, l) (luaL_newlibtable((L), (l)), luaL_setfuncs((L), (l), 0))

static inline void lcf_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  luaL_checkstack(L, nup, "too many upvalues");
  for (; l->name != NULL; l++) {
    int i;
    if (l->func == NULL) {
      lua_pushboolean(L, 0);
    } else {
      for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
      lua_pushcclosure(L, l->func, nup);
    }
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
#define luaL_setfuncs lcf_setfuncs

static inline void lcf_setmetatable(lua_State *L, const char *tname) {
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
}
#define luaL_setmetatable lcf_setmetatable

static inline void *lcf_testudata(lua_State *L, int idx, const char *tname) {
  void *p = lua_touserdata(L, idx);
  int same;
  if (p == NULL || !lua_getmetatable(L, idx)) return NULL;
  luaL_getmetatable(L, tname);
  same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same ? p : NULL;
}
#define luaL_testudata lcf_testudata

static inline void lcf_copy(lua_State *L, int from, int to) {
  lua_pushvalue(L, from);
  lua_replace(L, to);
}
#define lua_copy lcf_copy

/* The traceback as 5.2's luaL_traceback writes it, shorter: one line a
** level, "source:line: in function 'name'". */
static inline void lcf_traceback(lua_State *L, lua_State *L1, const char *msg,
                                 int level) {
  lua_Debug ar;
  int top = lua_gettop(L);
  if (msg) lua_pushfstring(L, "%s\n", msg);
  lua_pushliteral(L, "stack traceback:");
  while (lua_getstack(L1, level++, &ar)) {
    lua_getinfo(L1, "Sln", &ar);
    lua_pushfstring(L, "\n\t%s:", ar.short_src);
    if (ar.currentline > 0) lua_pushfstring(L, "%d:", ar.currentline);
    if (*ar.namewhat != '\0')
      lua_pushfstring(L, " in function '%s'", ar.name);
    else if (*ar.what == 'm')
      lua_pushliteral(L, " in main chunk");
    else if (*ar.what == 'C')
      lua_pushliteral(L, " in ?");
    else
      lua_pushfstring(L, " in function <%s:%d>", ar.short_src, ar.linedefined);
    lua_concat(L, lua_gettop(L) - top);
  }
  lua_concat(L, lua_gettop(L) - top);
}
#define luaL_traceback lcf_traceback

/* 5.1 has no upvalue identity (LCF_HAS_UPVALUEJOIN is 0): no upvalue is
** ever the same as another, and joining is never asked for. */
static inline void *lcf_upvalueid(lua_State *L, int f, int n) {
  (void)L; (void)f; (void)n;
  return NULL;
}
static inline void lcf_upvaluejoin(lua_State *L, int f1, int n1, int f2,
                                   int n2) {
  (void)f1; (void)n1; (void)f2; (void)n2;
  luaL_error(L, "joining upvalues needs Lua 5.2 or later");
}
#define lua_upvalueid lcf_upvalueid
#define lua_upvaluejoin lcf_upvaluejoin
#endif /* !LuaJIT */

#endif /* 5.1 */

/* ---- 5.3 and older: what 5.4 added ------------------------------------ */
#if LUA_VERSION_NUM < 504

typedef void (*lua_WarnFunction)(void *ud, const char *msg, int tocont);

/* Warnings are 5.4's: before it there are none to route. */
static inline void lcf_setwarnf(lua_State *L, lua_WarnFunction f, void *ud) {
  (void)L; (void)f; (void)ud;
}
#define lua_setwarnf lcf_setwarnf

/* lua_gc(L, what) or lua_gc(L, what, data): the older lua_gc takes data
** always. A negative step only lowers the collector's debt in 5.3 and
** 5.4; 5.1 and LuaJIT would run a whole cycle for it: skipped there. */
static inline int lcf_gc(lua_State *L, int what, int data) {
  if (LUA_VERSION_NUM == 501 && what == LUA_GCSTEP && data < 0) return 0;
  return lua_gc(L, what, data);
}
#define LCF_GC3(L, what, data, ...) lcf_gc((L), (what), (data))
#define lua_gc(...) LCF_GC3(__VA_ARGS__, 0, 0)

/* A userdata with nuv user values: they live in a table (5.3's one user
** value, 5.1's environment), made only when nuv > 0. */
static inline void *lcf_newuserdatauv(lua_State *L, size_t sz, int nuv) {
  void *p = lua_newuserdata(L, sz);
  if (nuv > 0) {
    lua_createtable(L, nuv, 0);
#if LUA_VERSION_NUM >= 502
    lua_setuservalue(L, -2);
#else
    lua_setfenv(L, -2);
#endif
  }
  return p;
}
#define lua_newuserdatauv lcf_newuserdatauv

static inline int lcf_uservalues(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 502
  lua_getuservalue(L, idx);
#else
  lua_getfenv(L, idx);
#endif
  return lua_type(L, -1) == LUA_TTABLE;
}

static inline int lcf_getiuservalue(lua_State *L, int idx, int n) {
  if (!lcf_uservalues(L, idx)) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return LUA_TNONE;
  }
  lua_rawgeti(L, -1, n);
  lua_remove(L, -2);
  return lua_type(L, -1);
}
#define lua_getiuservalue lcf_getiuservalue

/* Pops the value; 0 if the userdata has no user values. */
static inline int lcf_setiuservalue(lua_State *L, int idx, int n) {
  if (!lcf_uservalues(L, idx)) {
    lua_pop(L, 2);
    return 0;
  }
  lua_insert(L, -2);                                /* t v */
  lua_rawseti(L, -2, n);
  lua_pop(L, 1);
  return 1;
}
#define lua_setiuservalue lcf_setiuservalue

/* No to-be-closed slots: marking one does nothing (callers that need the
** close on an error run protected: LCF_HAS_TBC), and closing one calls
** its __close(value, nil) and empties the slot, as 5.4 does. */
static inline void lcf_toclose(lua_State *L, int idx) {
  (void)L; (void)idx;
}
#define lua_toclose lcf_toclose

static inline void lcf_closeslot(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (luaL_getmetafield(L, idx, "__close")) {
    lua_pushvalue(L, idx);
    lua_pushnil(L);
    lua_call(L, 2, 0);
  }
  lua_pushnil(L);
  lua_replace(L, idx);
}
#define lua_closeslot lcf_closeslot

/* 5.4's luaL_typeerror: errors.c's, which every version builds (it uses
** the metatable's __name, which lcf_newmetatable sets on 5.1). */
int lcf_typeerror(lua_State *L, int arg, const char *tname);
#define luaL_typeerror lcf_typeerror
#define luaL_argexpected(L, cond, arg, tname) \
  ((void)((cond) || lcf_typeerror((L), (arg), (tname))))

/* lua_resume with 5.4's arguments: the number of results is the stack of
** the coroutine on return (it holds only them). */
static inline int lcf_resume(lua_State *co, lua_State *from, int narg,
                             int *nres) {
#if LUA_VERSION_NUM >= 502
  int status = lua_resume(co, from, narg);
#else
  int status = lua_resume(co, narg);
  (void)from;
#endif
  *nres = lua_gettop(co);
  return status;
}
#define lua_resume lcf_resume

/* A finished coroutine holds no to-be-closed slot before 5.4: resetting
** it is left to the collector. */
static inline int lcf_resetthread(lua_State *L) {
  (void)L;
  return LUA_OK;
}
#define lua_resetthread lcf_resetthread

#endif /* < 5.4 */

/* ---- Waits that suspend a spawned coroutine (classes/spawn.h) ----------
** 5.3 and 5.4: a C wait returns lcf_yieldk(L, k) = lua_yieldk(L, 0, 0, k)
** and Lua calls k once the coroutine is resumed, with the stack as it was.
** 5.1 and LuaJIT have no continuations. There, lcf_yieldk returns the mark
** (a light userdata) followed by the function's whole stack, and the C
** function is reached only through a small Lua wrapper (lcf_await_wrap,
** runtime/yieldk.c) that yields while the first value is the mark and then
** calls the function again with those values; the function begins with
** LCF_AWAIT_RESUMED(L, k), which sees the mark in slot 1, drops it and
** runs k on the stack the wait left: the same continuation as in 5.3.
** lua_isyieldable: LuaJIT has it; on 5.1 it is lcf_isyieldable (yieldk.c),
** which reads the call stack, as 5.1 cannot tell it any other way. */
#if LUA_VERSION_NUM >= 503
#define LCF_HAS_YIELDK 1
#define lcf_yieldk(L, k) lua_yieldk((L), 0, 0, (k))
#define LCF_AWAIT_RESUMED(L, k) ((void)0)
#else
#define LCF_HAS_YIELDK 0
typedef ptrdiff_t lua_KContext;
typedef int (*lua_KFunction)(lua_State *L, int status, lua_KContext ctx);
extern const char lcf_await_mark;
int lcf_await_marked(lua_State *L);
#define lcf_yieldk(L, k) ((void)(k), lcf_await_marked(L))
#define LCF_AWAIT_RESUMED(L, k) \
  do { \
    if (lua_touserdata((L), 1) == (void *)&lcf_await_mark) { \
      lua_remove((L), 1); \
      return (k)((L), LUA_YIELD, 0); \
    } \
  } while (0)
#if !LCF_LUAJIT
int lcf_isyieldable(lua_State *L);
#define lua_isyieldable lcf_isyieldable
#endif
#endif
/* The wrappers' chunk name: argument errors look past their frames. */
#define LCF_AWAIT_CHUNK "=[concurrent wait]"
/* Replaces the C function t[name] (t at idx) by its wrapper where there
** are no continuations (5.1, LuaJIT); nothing on 5.3 and 5.4. */
void lcf_await_wrap(lua_State *L, int idx, const char *name);

/* Pushes the state's main thread (lcf_wait watches its hook: lua.c sets
** its Ctrl-C hook there). 5.1 and LuaJIT keep none in the registry: the
** module notes it when opened from it (lcf_note_mainthread); nil if it
** never was. */
#if LUA_VERSION_NUM >= 502
#define lcf_pushmainthread(L) \
  ((void)lua_rawgeti((L), LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD))
#define lcf_note_mainthread(L) ((void)(L))
#else
#define LCF_MAINTHREAD_KEY "concurrent.mainthread"
static inline void lcf_pushmainthread(lua_State *L) {
  if (lua_pushthread(L)) return;                     /* L is the main one */
  lua_pop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LCF_MAINTHREAD_KEY);
}
static inline void lcf_note_mainthread(lua_State *L) {
  if (lua_pushthread(L)) lua_setfield(L, LUA_REGISTRYINDEX, LCF_MAINTHREAD_KEY);
  else lua_pop(L, 1);
}
#endif

#endif
