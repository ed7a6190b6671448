/*
** transfer.c -- the only code that walks Lua values to copy them between
** states.
**
** Format (native byte order: the bytes never leave this machine):
**   buffer  := varint(count) value*count
**   value   := NIL | FALSE | TRUE | INT32 i32 | INT64 i64 | FLOAT f64
**            | STR varint(len) bytes
**            | TABLE u32(narr) u32(nhash) value*narr (key value)*nhash
**                    u8(hasmeta) [value]
**            | REF varint(n)           the n-th table/function seen (0-based)
**            | LFUNC/LFUNCR u64(id) varint(len) bytecode u8(nup) upval*nup
**            | CFUNC str(module) str(key)
**            | NAMED str(module) str(key)   a module or a field of one
**            | OBJ varint(i)           the i-th reference of the buffer
**   upval   := ENV | value
** Tables and LFUNCR are numbered in the order they start, before their
** contents, so cycles resolve. LFUNC (a function whose only upvalue is
** _ENV) cannot be part of a cycle and is not numbered. The id of a function
** is a hash of its bytecode, which lets a worker keep the loaded function
** and lets the decoder refuse bytecode that does not match it.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "objects.h"
#include "transfer.h"

enum {
  T_NIL, T_FALSE, T_TRUE, T_INT32, T_INT64, T_FLOAT, T_STR, T_TABLE, T_REF,
  T_LFUNC, T_LFUNCR, T_ENV, T_CFUNC, T_NAMED, T_OBJ
};

/* Registry keys (their addresses). */
static const char DUMPS_KEY = 'd';      /* function -> id..bytecode (weak) */
static const char NAMES_KEY = 'n';      /* value -> "module\0key" (weak) */
static const char NAMES_COUNT_KEY = 'c';
static const char TEMPLATES_KEY = 't';  /* id -> loaded function */
static const char CELL_KEY = 'u';       /* makes fresh upvalue cells */

#define TEMPLATES_MAX 512

/* ---------------------------------------------------------------------- */
/* Encoding.                                                              */

enum { SEG_ROOT, SEG_FUNCTION, SEG_INDEX, SEG_KEY, SEG_META, SEG_UPVALUE };

typedef struct segment {
  int kind;
  lua_Integer index;     /* SEG_ROOT, SEG_INDEX */
  int key;               /* SEG_KEY: stack slot of the key */
  const char *name;      /* SEG_UPVALUE */
} segment;

typedef struct enc {
  lua_State *L;
  cf_buffer *b;
  const lcf_encode_opts *o;
  int seen;              /* stack slot of value -> number, or 0 */
  lua_Integer nseen;
  int names;             /* stack slot of the names table, or 0 */
  int depth;
  int npath;
  segment path[LCF_MAX_DEPTH * 2 + 8];
} enc;

static void push_path(enc *e, int kind, lua_Integer index, int key,
                      const char *name) {
  segment *s;
  if (e->npath >= (int)(sizeof e->path / sizeof e->path[0])) {
    e->npath++;   /* deeper than the depth limit lets us get; not shown */
    return;
  }
  s = &e->path[e->npath++];
  s->kind = kind;
  s->index = index;
  s->key = key;
  s->name = name;
}

static int is_identifier(const char *s, size_t n) {
  size_t i;
  if (n == 0 || !(s[0] == '_' || ((s[0] | 32) >= 'a' && (s[0] | 32) <= 'z')))
    return 0;
  for (i = 1; i < n; i++) {
    char c = s[i];
    if (!(c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z')))
      return 0;
  }
  return 1;
}

/* Push the path of the value being encoded, e.g. args[2].file. */
static void push_path_string(enc *e) {
  lua_State *L = e->L;
  luaL_Buffer lb;
  int i, n = e->npath;
  if (n > (int)(sizeof e->path / sizeof e->path[0]))
    n = (int)(sizeof e->path / sizeof e->path[0]);
  luaL_buffinit(L, &lb);
  for (i = 0; i < n; i++) {
    segment *s = &e->path[i];
    switch (s->kind) {
      case SEG_ROOT:
        if (s->index == 0)
          luaL_addstring(&lb, e->o->root ? e->o->root : "value");
        else {
          lua_pushfstring(L, "%s[%I]", e->o->root ? e->o->root : "value",
                          s->index);
          luaL_addvalue(&lb);
        }
        break;
      case SEG_FUNCTION: luaL_addstring(&lb, "function"); break;
      case SEG_INDEX:
        lua_pushfstring(L, "[%I]", s->index);
        luaL_addvalue(&lb);
        break;
      case SEG_KEY: {
        int t = lua_type(L, s->key);
        if (t == LUA_TSTRING) {
          size_t len;
          const char *k = lua_tolstring(L, s->key, &len);
          if (is_identifier(k, len)) {
            luaL_addchar(&lb, '.');
            luaL_addlstring(&lb, k, len);
          } else {
            lua_pushfstring(L, "[\"%s\"]", k);
            luaL_addvalue(&lb);
          }
        } else if (t == LUA_TNUMBER) {
          lua_pushvalue(L, s->key);
          lua_pushfstring(L, "[%s]", lua_tostring(L, -1));
          lua_remove(L, -2);
          luaL_addvalue(&lb);
        } else {
          lua_pushfstring(L, "[<%s key>]", luaL_typename(L, s->key));
          luaL_addvalue(&lb);
        }
        break;
      }
      case SEG_META: luaL_addstring(&lb, "<metatable>"); break;
      case SEG_UPVALUE:
        lua_pushfstring(L, "<upvalue %s>", s->name ? s->name : "?");
        luaL_addvalue(&lb);
        break;
    }
  }
  if (e->npath > n) luaL_addstring(&lb, "...");
  luaL_pushresult(&lb);
}

static int refuse(enc *e, const char *what, const char *why) {
  push_path_string(e);
  return luaL_error(e->L, "cannot send %s at %s%s%s", what,
                    lua_tostring(e->L, -1), why ? ": " : "", why ? why : "");
}

static unsigned char *room(enc *e, size_t n) {
  if (cf_buffer_reserve(e->b, n) != 0) luaL_error(e->L, "not enough memory");
  return e->b->data + e->b->len;
}

static void put_byte(enc *e, int v) {
  *room(e, 1) = (unsigned char)v;
  e->b->len++;
}

static void put_bytes(enc *e, const void *p, size_t n) {
  memcpy(room(e, n), p, n);
  e->b->len += n;
}

static void put_varint(enc *e, uint64_t v) {
  unsigned char *p = room(e, 10);
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (unsigned char)v;
  e->b->len += n;
}

static void put_string(enc *e, const char *s, size_t n) {
  put_varint(e, n);
  put_bytes(e, s, n);
}

/* Number of the table/function at idx in this transfer, or -1. */
static lua_Integer seen_get(enc *e, int idx) {
  lua_Integer n;
  if (e->seen == 0) return -1;
  lua_pushvalue(e->L, idx);
  if (lua_rawget(e->L, e->seen) == LUA_TNIL) n = -1;
  else n = lua_tointeger(e->L, -1);
  lua_pop(e->L, 1);
  return n;
}

static void seen_add(enc *e, int idx) {
  lua_State *L = e->L;
  if (e->seen == 0) {
    lua_newtable(L);
    e->seen = lua_gettop(L);  /* stays until lcf_encode resets the top */
  }
  lua_pushvalue(L, idx);
  lua_pushinteger(L, e->nseen++);
  lua_rawset(L, e->seen);
}

/* The names of the values found in loaded modules: module tables and
** their top-level tables and C functions. Rebuilt when the number of
** loaded modules changed since it was made. */
static int plain_cfunction(lua_State *L, int idx) {
  if (!lua_iscfunction(L, idx)) return 0;
  if (lua_getupvalue(L, idx, 1) == NULL) return 1;
  lua_pop(L, 1);
  return 0;
}

static lua_Integer loaded_count(lua_State *L);

static int build_names(lua_State *L) {
  lua_newtable(L);                                  /* names */
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* names loaded */
  lua_pushnil(L);
  while (lua_next(L, -2)) {                         /* names loaded mod m */
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      lua_pushvalue(L, -1);
      if (lua_rawget(L, -5) == LUA_TNIL) {          /* first name wins */
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -4);
        lua_rawset(L, -7);
      }
      lua_pop(L, 1);
      lua_pushnil(L);
      while (lua_next(L, -2)) {                     /* ... mod m k v */
        int t = lua_type(L, -1);
        if (lua_type(L, -2) == LUA_TSTRING &&
            (t == LUA_TTABLE || plain_cfunction(L, -1))) {
          lua_pushvalue(L, -1);
          if (lua_rawget(L, -7) == LUA_TNIL) {
            lua_pushvalue(L, -2);                   /* key: the value */
            lua_pushvalue(L, -6);
            lua_pushlstring(L, "\0", 1);
            lua_pushvalue(L, -6);
            lua_concat(L, 3);                       /* "module\0key" */
            lua_rawset(L, -9);
          }
          lua_pop(L, 1);
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);                                    /* names */
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &NAMES_KEY);
  lua_pushinteger(L, loaded_count(L));
  lua_rawsetp(L, LUA_REGISTRYINDEX, &NAMES_COUNT_KEY);
  return lua_gettop(L);
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

/* Push the "module\0key" name of the value at idx, or return 0. */
static int find_name(enc *e, int idx) {
  lua_State *L = e->L;
  int pass;
  for (pass = 0; pass < 2; pass++) {
    if (e->names == 0) {
      if (lua_rawgetp(L, LUA_REGISTRYINDEX, &NAMES_KEY) == LUA_TNIL) {
        lua_pop(L, 1);
        e->names = build_names(L);
        pass = 1;                         /* fresh: no second try */
      } else {
        e->names = lua_gettop(L);
      }
    }
    lua_pushvalue(L, idx);
    if (lua_rawget(L, e->names) == LUA_TSTRING) return 1;
    lua_pop(L, 1);
    if (pass == 0) {                      /* stale? rebuild once */
      lua_Integer was;
      lua_rawgetp(L, LUA_REGISTRYINDEX, &NAMES_COUNT_KEY);
      was = lua_tointeger(L, -1);
      lua_pop(L, 1);
      if (was == loaded_count(L)) return 0;
      e->names = build_names(L);
      pass = 1;
      lua_pushvalue(L, idx);
      if (lua_rawget(L, e->names) == LUA_TSTRING) return 1;
      lua_pop(L, 1);
      return 0;
    }
  }
  return 0;
}

/* Write tag and the module and key of the name on the stack top; pops it. */
static void put_name(enc *e, int tag) {
  size_t n, m;
  const char *s = lua_tolstring(e->L, -1, &n);
  m = strlen(s);
  put_byte(e, tag);
  put_string(e, s, m);
  if (m < n) put_string(e, s + m + 1, n - m - 1);
  else put_string(e, "", 0);
  lua_pop(e->L, 1);
}

static void encode_value(enc *e, int idx, int named);

static void enter(enc *e, const char *what) {
  if (++e->depth > LCF_MAX_DEPTH) {
    char why[64];
    snprintf(why, sizeof why, "nested deeper than %d levels", LCF_MAX_DEPTH);
    refuse(e, what, why);
  }
  luaL_checkstack(e->L, 8, "value nested too deeply");
}

static void encode_table(enc *e, int idx) {
  lua_State *L = e->L;
  lua_Integer ref = seen_get(e, idx), i, narr;
  size_t at;
  uint32_t nhash = 0, n32;
  if (ref >= 0) {
    put_byte(e, T_REF);
    put_varint(e, (uint64_t)ref);
    return;
  }
  enter(e, "table");
  seen_add(e, idx);
  narr = (lua_Integer)lua_rawlen(L, idx);
  if (narr > (lua_Integer)UINT32_MAX) narr = UINT32_MAX;
  put_byte(e, T_TABLE);
  at = e->b->len;
  room(e, 8);
  e->b->len += 8;
  for (i = 1; i <= narr; i++) {
    lua_rawgeti(L, idx, i);
    push_path(e, SEG_INDEX, i, 0, NULL);
    encode_value(e, lua_gettop(L), 0);
    e->npath--;
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_isinteger(L, -2)) {
      lua_Integer k = lua_tointeger(L, -2);
      if (k >= 1 && k <= narr) {
        lua_pop(L, 1);
        continue;
      }
    }
    push_path(e, SEG_KEY, 0, lua_gettop(L) - 1, NULL);
    encode_value(e, lua_gettop(L) - 1, 0);
    encode_value(e, lua_gettop(L), 0);
    e->npath--;
    lua_pop(L, 1);
    nhash++;
  }
  n32 = (uint32_t)narr;
  memcpy(e->b->data + at, &n32, 4);
  memcpy(e->b->data + at + 4, &nhash, 4);
  if (lua_getmetatable(L, idx)) {
    put_byte(e, 1);
    push_path(e, SEG_META, 0, 0, NULL);
    encode_value(e, lua_gettop(L), 1);
    e->npath--;
    lua_pop(L, 1);
  } else {
    put_byte(e, 0);
  }
  e->depth--;
}

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  return cf_buffer_append(ud, p, sz) != 0;
}

/* 64-bit FNV-1a: the function id. */
static uint64_t hash_bytes(const unsigned char *p, size_t n) {
  uint64_t h = 14695981039346656037ULL;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* Push the cached "id..bytecode" string of the Lua function at idx. */
static void push_dump(lua_State *L, int idx) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &DUMPS_KEY) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_newtable(L);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &DUMPS_KEY);
  }
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) != LUA_TSTRING) {          /* dumps nil */
    cf_buffer b = CF_BUFFER_INIT;
    uint64_t id;
    int bad;
    lua_pop(L, 1);
    cf_buffer_append(&b, "12345678", 8);           /* room for the id */
    lua_pushvalue(L, idx);
    bad = lua_dump(L, dump_writer, &b, 0);
    lua_pop(L, 1);
    if (bad || b.len < 8) {
      cf_buffer_free(&b);
      luaL_error(L, "not enough memory");
    }
    id = hash_bytes(b.data + 8, b.len - 8);
    memcpy(b.data, &id, 8);
    lua_pushvalue(L, idx);
    lua_pushlstring(L, (const char *)b.data, b.len);
    cf_buffer_free(&b);
    lua_pushvalue(L, -1);
    lua_insert(L, -3);                             /* dumps s f s */
    lua_rawset(L, -4);
  }
  lua_remove(L, -2);
}

static int is_env_upvalue(lua_State *L, const char *name, int idx) {
  int g;
  if (strcmp(name, "_ENV") == 0) return 1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  g = lua_rawequal(L, -1, idx);
  lua_pop(L, 1);
  return g;
}

static void encode_lfunction(enc *e, int idx) {
  lua_State *L = e->L;
  lua_Integer ref = seen_get(e, idx);
  const char *name, *dump;
  size_t len;
  int nup = 0, i, leaf = 1;
  if (ref >= 0) {
    put_byte(e, T_REF);
    put_varint(e, (uint64_t)ref);
    return;
  }
  enter(e, "function");
  while ((name = lua_getupvalue(L, idx, nup + 1)) != NULL) {
    if (!is_env_upvalue(L, name, lua_gettop(L))) leaf = 0;
    lua_pop(L, 1);
    nup++;
  }
  if (nup > 255) refuse(e, "function", "more than 255 upvalues");
  if (!leaf) seen_add(e, idx);
  push_dump(L, idx);
  dump = lua_tolstring(L, -1, &len);
  put_byte(e, leaf ? T_LFUNC : T_LFUNCR);
  put_bytes(e, dump, 8);
  put_string(e, dump + 8, len - 8);
  lua_pop(L, 1);
  put_byte(e, nup);
  for (i = 1; i <= nup; i++) {
    name = lua_getupvalue(L, idx, i);
    if (is_env_upvalue(L, name, lua_gettop(L))) {
      put_byte(e, T_ENV);
    } else {
      push_path(e, SEG_UPVALUE, 0, 0, name);
      encode_value(e, lua_gettop(L), 1);
      e->npath--;
    }
    lua_pop(L, 1);
  }
  e->depth--;
}

static void encode_value(enc *e, int idx, int named) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: put_byte(e, T_NIL); break;
    case LUA_TBOOLEAN: put_byte(e, lua_toboolean(L, idx) ? T_TRUE : T_FALSE); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v >= INT32_MIN && v <= INT32_MAX) {
          int32_t w = (int32_t)v;
          put_byte(e, T_INT32);
          put_bytes(e, &w, 4);
        } else {
          int64_t w = (int64_t)v;
          put_byte(e, T_INT64);
          put_bytes(e, &w, 8);
        }
      } else {
        double d = (double)lua_tonumber(L, idx);
        put_byte(e, T_FLOAT);
        put_bytes(e, &d, 8);
      }
      break;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      put_byte(e, T_STR);
      put_string(e, s, n);
      break;
    }
    case LUA_TTABLE:
      if (named && find_name(e, idx)) put_name(e, T_NAMED);
      else encode_table(e, idx);
      break;
    case LUA_TFUNCTION:
      if (!lua_iscfunction(L, idx)) {
        encode_lfunction(e, idx);
      } else if (lua_getupvalue(L, idx, 1)) {
        lua_pop(L, 1);
        refuse(e, "C function", "it has upvalues");
      } else if (find_name(e, idx)) {
        put_name(e, T_CFUNC);
      } else {
        refuse(e, "C function", "not found in any loaded module");
      }
      break;
    case LUA_TUSERDATA: {
      void *obj = lcf_toobject(L, idx);
      size_t i;
      if (obj == NULL) refuse(e, "userdata", NULL);
      if (!e->o->allow_objects)
        refuse(e, cf_kind_name(obj), e->o->refuse ? e->o->refuse
                                                  : "objects cannot cross");
      if (cf_buffer_add_ref(e->b, obj, &i) != 0)
        luaL_error(L, "not enough memory");
      put_byte(e, T_OBJ);
      put_varint(e, i);
      break;
    }
    case LUA_TTHREAD: refuse(e, "coroutine", NULL); break;
    case LUA_TLIGHTUSERDATA: refuse(e, "light userdata", NULL); break;
    default: refuse(e, luaL_typename(L, idx), NULL); break;
  }
}

void lcf_encode(lua_State *L, int first, int n, cf_buffer *b,
                const lcf_encode_opts *opts) {
  static const lcf_encode_opts defaults = {"value", 1, 0, 1, NULL};
  enc e;
  int i, top = lua_gettop(L);
  first = lua_absindex(L, first);
  e.L = L;
  e.b = b;
  e.o = opts ? opts : &defaults;
  e.seen = e.names = 0;
  e.nseen = 0;
  e.depth = e.npath = 0;
  luaL_checkstack(L, 16, "too many values");
  put_varint(&e, (uint64_t)n);
  for (i = 0; i < n; i++) {
    if (i == 0 && e.o->fn_first)
      push_path(&e, SEG_FUNCTION, 0, 0, NULL);
    else
      push_path(&e, SEG_ROOT, n == 1 && e.o->bare ? 0 : i + !e.o->fn_first,
                0, NULL);
    encode_value(&e, first + i, 1);
    e.npath--;
  }
  lua_settop(L, top);
}

/* ---------------------------------------------------------------------- */
/* Decoding.                                                              */

typedef struct dec {
  lua_State *L;
  const cf_buffer *b;
  const unsigned char *p, *end;
  int refs;              /* stack slot of number -> value, or 0 */
  lua_Integer nrefs;
  int depth;
  int reuse;             /* the next function may be a kept template */
} dec;

static _Noreturn void malformed(dec *d) {
  luaL_error(d->L, "malformed value buffer (at byte %d)",
             (int)(d->p - d->b->data));
  abort();   /* luaL_error does not return */
}

static const unsigned char *take(dec *d, size_t n) {
  const unsigned char *p = d->p;
  if ((size_t)(d->end - d->p) < n) malformed(d);
  d->p += n;
  return p;
}

static int get_byte(dec *d) {
  return *take(d, 1);
}

static uint64_t get_varint(dec *d) {
  uint64_t v = 0;
  int shift = 0;
  for (;;) {
    int c = get_byte(d);
    if (shift > 63) malformed(d);
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
    shift += 7;
  }
}

static const char *get_string(dec *d, size_t *n) {
  uint64_t len = get_varint(d);
  if (len > (uint64_t)(d->end - d->p)) malformed(d);
  *n = (size_t)len;
  return (const char *)take(d, (size_t)len);
}

static void ref_add(dec *d, int idx) {
  lua_State *L = d->L;
  idx = lua_absindex(L, idx);
  if (d->refs == 0) {
    lua_newtable(L);
    d->refs = lua_gettop(L);
    lua_insert(L, idx);    /* keep it below the values being decoded */
    idx++;
    d->refs = idx - 1;
  }
  lua_pushvalue(L, idx);
  lua_rawseti(L, d->refs, ++d->nrefs);
}

static void decode_value(dec *d);

/* Push package.loaded[module][key] (key empty: the module), requiring the
** module if this state has not loaded it yet. */
static void resolve_name(dec *d, int want) {
  lua_State *L = d->L;
  size_t mn, kn;
  const char *m = get_string(d, &mn), *k = get_string(d, &kn);
  int top = lua_gettop(L);
  lua_pushlstring(L, m, mn);                        /* top+1: module name */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, top + 1);
  if (lua_rawget(L, top + 2) == LUA_TNIL) {         /* top+3: module */
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushvalue(L, top + 1);
    lua_call(L, 1, 1);
  }
  if (kn > 0) {
    lua_pushlstring(L, k, kn);
    lua_gettable(L, top + 3);                       /* top+4: field */
  }
  if (lua_type(L, -1) != want ||
      (want == LUA_TFUNCTION && !lua_iscfunction(L, -1))) {
    lua_pushlstring(L, k, kn);
    luaL_error(L, "cannot receive %s '%s%s%s': not found in this state",
               want == LUA_TFUNCTION ? "C function" : "table",
               lua_tostring(L, top + 1), kn > 0 ? "." : "",
               lua_tostring(L, -1));
  }
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
}

typedef struct reader_state {
  const char *p;
  size_t n;
} reader_state;

static const char *chunk_reader(lua_State *L, void *ud, size_t *sz) {
  reader_state *r = ud;
  (void)L;
  *sz = r->n;
  r->n = 0;
  return *sz ? r->p : NULL;
}

/* Push a closure loaded from bytecode that must hash to id. */
static void load_function(dec *d, uint64_t id, const char *code, size_t n) {
  reader_state r;
  r.p = code;
  r.n = n;
  if (hash_bytes((const unsigned char *)code, n) != id) malformed(d);
  if (lua_load(d->L, chunk_reader, &r, "=(transfer)", "b") != LUA_OK)
    lua_error(d->L);
}

/* Give upvalue i of the function at fidx a cell of its own, so that a
** kept template does not share cells with closures made by earlier tasks. */
static void fresh_cell(lua_State *L, int fidx, int i) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &CELL_KEY) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    if (luaL_loadstring(L, "local v return function() return v end") != LUA_OK)
      lua_error(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &CELL_KEY);
  }
  lua_call(L, 0, 1);
  lua_upvaluejoin(L, fidx, i, -1, 1);
  lua_pop(L, 1);
}

static void decode_function(dec *d, int registered) {
  lua_State *L = d->L;
  uint64_t id;
  size_t n;
  const char *code;
  int nup, i, fidx, reused = 0;
  memcpy(&id, take(d, 8), 8);
  code = get_string(d, &n);
  nup = get_byte(d);
  if (d->reuse) {
    d->reuse = 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &TEMPLATES_KEY);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_rawsetp(L, LUA_REGISTRYINDEX, &TEMPLATES_KEY);
    }
    if (lua_rawgeti(L, -1, (lua_Integer)id) == LUA_TFUNCTION) {
      reused = 1;
    } else {                                      /* templates nil */
      lua_pop(L, 1);
      lua_getfield(L, -1, "n");
      if (lua_tointeger(L, -1) >= TEMPLATES_MAX) {  /* keep it bounded */
        lua_newtable(L);
        lua_replace(L, -3);
        lua_pushvalue(L, -2);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &TEMPLATES_KEY);
      }
      lua_pushinteger(L, lua_tointeger(L, -1) % TEMPLATES_MAX + 1);
      lua_setfield(L, -3, "n");
      lua_pop(L, 1);
      load_function(d, id, code, n);
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, (lua_Integer)id);
    }
    lua_remove(L, -2);
  } else {
    load_function(d, id, code, n);
  }
  fidx = lua_gettop(L);
  if (registered) ref_add(d, fidx);
  fidx = lua_gettop(L);
  if (lua_getupvalue(L, fidx, nup + 1) != NULL ||
      (nup > 0 && lua_getupvalue(L, fidx, nup) == NULL))
    malformed(d);
  if (nup > 0) lua_pop(L, 1);
  for (i = 1; i <= nup; i++) {
    if (d->p < d->end && *d->p == T_ENV) {
      d->p++;
      lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    } else {
      if (reused) fresh_cell(L, fidx, i);
      decode_value(d);
    }
    lua_setupvalue(L, fidx, i);
  }
}

static void decode_table(dec *d) {
  lua_State *L = d->L;
  uint32_t narr, nhash, i;
  int t;
  size_t left = (size_t)(d->end - d->p);
  memcpy(&narr, take(d, 4), 4);
  memcpy(&nhash, take(d, 4), 4);
  if (narr > left || nhash > left / 2) malformed(d);
  if (++d->depth > LCF_MAX_DEPTH) malformed(d);
  lua_createtable(L, (int)narr, (int)nhash);
  t = lua_gettop(L);
  ref_add(d, t);
  t = lua_gettop(L);
  for (i = 1; i <= narr; i++) {
    decode_value(d);
    if (lua_isnil(L, -1)) lua_pop(L, 1);
    else lua_rawseti(L, t, i);
  }
  for (i = 0; i < nhash; i++) {
    decode_value(d);
    if (lua_isnil(L, -1) ||
        (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) != lua_tonumber(L, -1)))
      malformed(d);
    decode_value(d);
    lua_rawset(L, t);
  }
  if (get_byte(d)) {
    decode_value(d);
    if (!lua_istable(L, -1)) malformed(d);
    lua_setmetatable(L, t);
  }
  d->depth--;
}

static void decode_value(dec *d) {
  lua_State *L = d->L;
  int tag;
  luaL_checkstack(L, 8, "value nested too deeply");
  tag = get_byte(d);
  switch (tag) {
    case T_NIL: lua_pushnil(L); break;
    case T_FALSE: lua_pushboolean(L, 0); break;
    case T_TRUE: lua_pushboolean(L, 1); break;
    case T_INT32: {
      int32_t v;
      memcpy(&v, take(d, 4), 4);
      lua_pushinteger(L, v);
      break;
    }
    case T_INT64: {
      int64_t v;
      memcpy(&v, take(d, 8), 8);
      lua_pushinteger(L, (lua_Integer)v);
      break;
    }
    case T_FLOAT: {
      double v;
      memcpy(&v, take(d, 8), 8);
      lua_pushnumber(L, (lua_Number)v);
      break;
    }
    case T_STR: {
      size_t n;
      const char *s = get_string(d, &n);
      lua_pushlstring(L, s, n);
      break;
    }
    case T_TABLE: decode_table(d); break;
    case T_REF: {
      uint64_t i = get_varint(d);
      if (d->refs == 0 || i >= (uint64_t)d->nrefs) malformed(d);
      lua_rawgeti(L, d->refs, (lua_Integer)i + 1);
      break;
    }
    case T_LFUNC:
    case T_LFUNCR:
      if (++d->depth > LCF_MAX_DEPTH) malformed(d);
      decode_function(d, tag == T_LFUNCR);
      d->depth--;
      break;
    case T_CFUNC: resolve_name(d, LUA_TFUNCTION); break;
    case T_NAMED: resolve_name(d, LUA_TTABLE); break;
    case T_OBJ: {
      uint64_t i = get_varint(d);
      if (i >= d->b->nrefs) malformed(d);
      lcf_push_object(L, d->b->refs[i]);
      break;
    }
    default: malformed(d);
  }
  d->reuse = 0;
}

int lcf_decode(lua_State *L, const cf_buffer *b, int reuse_first) {
  dec d;
  uint64_t n, i;
  d.L = L;
  d.b = b;
  d.p = b->data;
  d.end = b->data + b->len;
  d.refs = 0;
  d.nrefs = 0;
  d.depth = 0;
  d.reuse = reuse_first;
  if (b->len == 0) return 0;
  n = get_varint(&d);
  if (n > b->len || n > INT32_MAX / 2) malformed(&d);
  luaL_checkstack(L, (int)n + 8, "too many values");
  for (i = 0; i < n; i++) {
    if (i > 0) d.reuse = 0;
    if (d.reuse && (d.p >= d.end || (*d.p != T_LFUNC && *d.p != T_LFUNCR)))
      d.reuse = 0;
    decode_value(&d);
  }
  if (d.p != d.end) malformed(&d);
  if (d.refs) lua_remove(L, d.refs);
  return (int)n;
}

/* ---------------------------------------------------------------------- */
/* One number alone in a buffer, read and written without a Lua state, so */
/* Value.add and compare_and_set can work under the value's mutex.         */

int lcf_buffer_number(const cf_buffer *b, int64_t *i, double *f) {
  if (b->nrefs != 0 || b->len < 2 || b->data[0] != 1) return 0;
  switch (b->data[1]) {
    case T_INT32: {
      int32_t v;
      if (b->len != 6) return 0;
      memcpy(&v, b->data + 2, 4);
      *i = v;
      return 1;
    }
    case T_INT64:
      if (b->len != 10) return 0;
      memcpy(i, b->data + 2, 8);
      return 1;
    case T_FLOAT:
      if (b->len != 10) return 0;
      memcpy(f, b->data + 2, 8);
      return 2;
    default: return 0;
  }
}

int lcf_buffer_set_number(cf_buffer *b, int isfloat, int64_t i, double f) {
  unsigned char tmp[10];
  size_t n;
  tmp[0] = 1;
  if (isfloat) {
    tmp[1] = T_FLOAT;
    memcpy(tmp + 2, &f, 8);
    n = 10;
  } else if (i >= INT32_MIN && i <= INT32_MAX) {
    int32_t w = (int32_t)i;
    tmp[1] = T_INT32;
    memcpy(tmp + 2, &w, 4);
    n = 6;
  } else {
    tmp[1] = T_INT64;
    memcpy(tmp + 2, &i, 8);
    n = 10;
  }
  cf_buffer_reset(b);
  return cf_buffer_append(b, tmp, n);
}
