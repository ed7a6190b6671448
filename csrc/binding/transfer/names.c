/*
** names.c -- the names under which module tables and C functions cross
** (NAMED, CFUNC): the encoder finds a value's "module\0key" here. One
** rule at every depth (a value to send, an upvalue, a table field, a
** result, a queue item): a C function found in package.loaded (a
** module's top-level C function, with or without upvalues) is sent as its
** name; so is a module table, or a table at its top level, of a module
** the receiver can require (a standard library, a C loader of
** package.preload, which workers copy, or a file on package.path or
** cpath). A table of a module the receiver could not require
** (package.loaded.adhoc = {...}) is copied instead. The receiver resolves
** a name to its own value (decode.c).
*/
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "../../core/object.h"
#include "../runtime/boxes.h"
#include "../runtime/record.h"
#include "transfer.h"
#include "internal.h"


/* Modules every worker state opens itself. */
static int standard_module(const char *m) {
  static const char *const std[] = {
    "_G", "package", "coroutine", "table", "io", "os", "string", "math",
    "utf8", "debug", NULL
  };
  int i;
  for (i = 0; std[i]; i++)
    if (strcmp(std[i], m) == 0) return 1;
  return 0;
}

/* package.searchpath's answer where Lua has none (5.1, LuaJIT): whether
** a file named by one of path's templates, '?' replaced by m with its
** dots as slashes, can be opened. */
static int search_templates(const char *path, const char *m) {
  char file[4096];
  const char *t = path, *end;
  while (*t) {
    size_t n = 0;
    FILE *fh;
    end = strchr(t, ';');
    if (end == NULL) end = t + strlen(t);
    for (; t < end && n < sizeof file - 1; t++) {
      if (*t == '?') {
        const char *c;
        for (c = m; *c && n < sizeof file - 1; c++) file[n++] = *c == '.' ? '/' : *c;
      } else {
        file[n++] = *t;
      }
    }
    file[n] = '\0';
    t = *end ? end + 1 : end;
    if (n > 0 && (fh = fopen(file, "r")) != NULL) {
      fclose(fh);
      return 1;
    }
  }
  return 0;
}

/* Whether package.searchpath finds module m on package[field]; the
** package table is at pkg. */
static int on_path(lua_State *L, int pkg, const char *m, const char *field) {
  int found;
  if (lua_getfield(L, pkg, "searchpath") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    found = lua_getfield(L, pkg, field) == LUA_TSTRING &&
            search_templates(lua_tostring(L, -1), m);
    lua_pop(L, 1);
    return found;
  }
  if (lua_getfield(L, pkg, field) != LUA_TSTRING) {
    lua_pop(L, 2);
    return 0;
  }
  lua_pushstring(L, m);
  lua_insert(L, -2);
  found = lua_pcall(L, 2, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING;
  lua_pop(L, 1);
  return found;
}

/* Whether a receiving state can require module m (the sender's view:
** workers take its paths and the C loaders of its package.preload, and
** preload concurrent.core). A dotted name is also tried by its first
** part on cpath (the all-in-one loader). */
static int requirable(lua_State *L, const char *m) {
  int pkg, ok = 0;
  const char *dot;
  if (standard_module(m)) return 1;
  if (lcf_module_open() && strcmp(m, "concurrent.core") == 0) return 1;
  lua_getglobal(L, "package");
  pkg = lua_gettop(L);
  if (lua_type(L, pkg) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  if (lua_getfield(L, pkg, "preload") == LUA_TTABLE &&
      lua_getfield(L, -1, m) == LUA_TFUNCTION)
    ok = lua_iscfunction(L, -1) && lua_getupvalue(L, -1, 1) == NULL;
  lua_settop(L, pkg);
  if (!ok) ok = on_path(L, pkg, m, "path") || on_path(L, pkg, m, "cpath");
  if (!ok && (dot = strchr(m, '.')) != NULL) {
    lua_pushlstring(L, m, (size_t)(dot - m));
    ok = on_path(L, pkg, lua_tostring(L, -1), "cpath");
  }
  lua_settop(L, pkg - 1);
  return ok;
}

static void mark_named(transfer_ctx *c, const void *p) {
  uint64_t h = ((uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL) >> 52;
  c->named_bits[h >> 6] |= (uint64_t)1 << (h & 63);
}

/* With names on the stack top and a value above it: names[value] =
** "module\0key" (mod at stack index m, key at k; k 0: the module) unless
** the value has a name already (the first one wins). Pops the value. */
static void add_name(lua_State *L, transfer_ctx *c, int m, int k) {
  lua_pushvalue(L, -1);
  if (lua_rawget(L, -3) != LUA_TNIL) {
    lua_pop(L, 2);
    return;
  }
  lua_pop(L, 1);
  mark_named(c, lua_topointer(L, -1));
  lua_pushvalue(L, m);
  lua_pushlstring(L, "\0", 1);
  if (k) lua_pushvalue(L, k);
  else lua_pushliteral(L, "");
  lua_concat(L, 3);                               /* names v "m\0k" */
  lua_rawset(L, -3);
}

static lua_Integer loaded_count(lua_State *L);

/* Pushes the new names table and keeps it in the context at cidx. */
static void build_names(lua_State *L, transfer_ctx *c, int cidx) {
  int names, loaded;
  memset(c->named_bits, 0, sizeof c->named_bits);
  lua_newtable(L);                                  /* names */
  names = lua_gettop(L);
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* names loaded */
  loaded = lua_gettop(L);
  luaL_checkstack(L, 12, "too many values");
  lua_pushnil(L);
  while (lua_next(L, loaded)) {                     /* names loaded mod m */
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      int mod = loaded + 1, tables, globals;
      /* The globals table is a module too (_G), but its tables are the
      ** program's data, not the library's: only its C functions (print,
      ** ...) are named; its modules are named by their own entries. */
      lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
      globals = lua_rawequal(L, -1, -2);
      lua_pop(L, 1);
      tables = requirable(L, lua_tostring(L, mod));
      lua_pushvalue(L, names);
      if (tables) {
        lua_pushvalue(L, mod + 1);
        add_name(L, c, mod, 0);
      }
      lua_pushnil(L);
      while (lua_next(L, mod + 1)) {                /* ... names k v */
        int t = lua_type(L, -1);
        if (lua_type(L, -2) == LUA_TSTRING &&
            ((t == LUA_TTABLE && tables && !globals) || lua_iscfunction(L, -1))) {
          lua_pushvalue(L, names);
          lua_pushvalue(L, -2);                     /* ... k v names v */
          add_name(L, c, mod, lua_gettop(L) - 3);
          lua_pop(L, 1);
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);                                /* names */
    }
    lua_pop(L, 1);
  }
  lua_settop(L, names);                             /* names */
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, cidx, SLOT_NAMES);
  c->names_sig = loaded_count(L);
  c->has_names = 1;
}


/* A signature of package.loaded: the number of modules plus the sum of
** their addresses, so a module unloaded and loaded again (a test runner
** restoring package.loaded) makes the names stale even if the count is
** the same. */
static lua_Integer loaded_count(lua_State *L) {
  lua_Unsigned n = 0;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    n += 1 + (lua_Unsigned)(uintptr_t)lua_topointer(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

/* Push the "module\0key" name of the value at idx, or return 0. A miss
** checks once per encode whether package.loaded changed since the names
** were made. */
/* With the names table on the stack top: push the name of the value at
** idx and return 1, or return 0; the table is popped either way. */
static int name_in(lua_State *L, int idx) {
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TSTRING) {
    lua_remove(L, -2);
    return 1;
  }
  lua_pop(L, 2);
  return 0;
}

int lcf_find_name(lua_State *L, transfer_ctx *c, int cidx, int idx, int *checked) {
  if (!lcf_maybe_named(c, lua_topointer(L, idx), *checked)) return 0;
  if (lua_getiuservalue(L, cidx, SLOT_NAMES) != LUA_TTABLE) {
    lua_pop(L, 1);
    build_names(L, c, cidx);
    *checked = 1;
  }
  if (name_in(L, idx)) return 1;
  if (!*checked) {
    *checked = 1;
    if (c->names_sig == loaded_count(L)) return 0;
    build_names(L, c, cidx);
    return name_in(L, idx);
  }
  return 0;
}

