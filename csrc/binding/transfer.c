/*
** transfer.c -- the only code that walks Lua values to copy them between
** states.
**
** Format (native byte order: the bytes never leave this machine):
**   buffer  := varint(count) value*count
**   value   := NIL | FALSE | TRUE | INT32 i32 | INT64 i64 | FLOAT f64
**            | STR varint(len) bytes
**            | TABLE[S] u32(narr) u32(nhash) value*narr (key value)*nhash
**                       u8(hasmeta) [value]
**            | REF varint(n)           the n-th table/function started
**            | LFUNC/LFUNCR[S] u64(id) varint(len) bytecode u8(nup) upval*nup
**            | PROTO/PROTOR[S] u8(nup) upval*nup    bytecode by reference
**            | CFUNC str(module) str(key)
**            | NAMED str(module) str(key)   a module or a field of one
**            | OBJ                     the next reference of the buffer
**   upval   := ENV | value
** Tables and LFUNCR/PROTOR are numbered in the order they start, before
** their contents, so cycles resolve. LFUNC/PROTO (functions whose only
** upvalue is _ENV) are not numbered. The S bit (SHARED) is set on a
** numbered value once a REF to it is written: the decoder only keeps
** those, and may build the others in any order (a large array is pushed
** on the stack and made in one step by a vararg constructor). PROTO and
** OBJ take the buffer's references in order: a PROTO's reference is a
** shared, immutable copy of the bytecode (made once per function per
** state), so a task carries 8 bytes of function, not its bytecode; the
** bytecode inline (LFUNC) is for buffers that cannot carry references
** (process pools). The id of a function is a hash of its bytecode, which
** lets a worker keep the loaded function.
**
** Speed: Lua API calls are the cost (~7 ns each here). Tables are walked
** with rawgeti over the array part and lua_next for the rest; the seen
** set is a C hash of object addresses (stable while the values are
** reachable from the stack), kept per state with the scratch buffer.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "../core/object.h"
#include "objects.h"
#include "transfer.h"

enum {
  T_NIL, T_FALSE, T_TRUE, T_INT32, T_INT64, T_FLOAT, T_STR, T_TABLE, T_REF,
  T_LFUNC, T_LFUNCR, T_ENV, T_CFUNC, T_NAMED, T_OBJ, T_PROTO, T_PROTOR
};
#define T_SHARED 0x40   /* or'ed into TABLE, LFUNCR, PROTOR */

/* Registry keys (their addresses). */
static const char CELL_KEY = 'u';       /* makes fresh upvalue cells */
static const char CTX_KEY = 'x';        /* the state's transfer context */
static const char PACK_KEY = 'k';       /* function(...) return {...} end */

#define TEMPLATES_MAX 512
#define PROTO_BOX "concurrent.proto"
/* Arrays at least this long are decoded on the stack and made at once;
** shorter ones with rawseti (a Lua call costs more than a few sets). */
#define PACK_MIN 24
#define PACK_MAX 200000

/* ---------------------------------------------------------------------- */
/* Function prototypes shared by reference.                               */

typedef struct lcf_proto {
  cf_object hdr;
  uint64_t id;
  size_t len;
  unsigned char code[];
} lcf_proto;

static void proto_destroy(void *obj) {
  free(obj);
}

static const cf_kind proto_kind = {"proto", proto_destroy};

/* ---------------------------------------------------------------------- */
/* The per-state context: a seen set and a scratch buffer.                */

typedef struct seen_slot {
  const void *key;
  uint32_t gen, num;
  size_t at;             /* offset of the value's tag in the buffer */
} seen_slot;

/* The context is a userdata with user values: 1 the protos table
** (function -> proto box, weak keys), 2 the names table, 3 the function
** of the one-entry proto cache below (held, so its address stays its),
** 4 the templates (id -> loaded function) of the decoder, 5 the last
** template used (a one-entry cache in front of 4). */
enum { UV_PROTOS = 1, UV_NAMES, UV_LASTFN, UV_TEMPLATES, UV_LASTTPL, NUV };

typedef struct tctx {
  seen_slot *slots;
  size_t cap, used;      /* cap is a power of two */
  uint32_t gen;
  int busy;              /* an encode is using the seen set */
  int scratch_busy;
  cf_buffer scratch;
  lua_Integer names_sig; /* package.loaded's signature when names were made */
  const void *last_fn;   /* user value 3's address, and its proto */
  struct lcf_proto *last_proto;
  uint64_t last_tpl;     /* the id of user value 5, if has_tpl */
  int has_tpl;
} tctx;

static int ctx_gc(lua_State *L) {
  tctx *c = lua_touserdata(L, 1);
  free(c->slots);
  c->slots = NULL;
  cf_buffer_free(&c->scratch);
  return 0;
}

/* Pushes a new context. */
static tctx *new_ctx(lua_State *L) {
  tctx *c = lua_newuserdatauv(L, sizeof *c, NUV);
  memset(c, 0, sizeof *c);
  if (luaL_newmetatable(L, "concurrent.transfer")) {
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_newtable(L);                                  /* protos */
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setiuservalue(L, -2, UV_PROTOS);
  return c;
}

void lcf_transfer_context(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &CTX_KEY) == LUA_TUSERDATA) return;
  lua_pop(L, 1);
  new_ctx(L);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &CTX_KEY);
}

static tctx *ctx_at(lua_State *L, int cidx) {
  tctx *c;
  if (cidx != 0) return lua_touserdata(L, cidx);
  lcf_transfer_context(L);
  c = lua_touserdata(L, -1);
  lua_pop(L, 1);                 /* the registry holds it */
  return c;
}

cf_buffer *lcf_scratch_begin(lua_State *L, int cidx) {
  tctx *c = ctx_at(L, cidx);
  if (c->scratch_busy) return NULL;
  c->scratch_busy = 1;
  cf_buffer_reset(&c->scratch);
  return &c->scratch;
}

void lcf_scratch_end(lua_State *L, int cidx, cf_buffer *b) {
  tctx *c = ctx_at(L, cidx);
  if (b == &c->scratch) {
    cf_buffer_reset(b);
    c->scratch_busy = 0;
  }
}

static inline size_t seen_hash(const void *p, size_t mask) {
  uint64_t h = (uint64_t)(uintptr_t)p;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 29;
  return (size_t)h & mask;
}

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
  tctx *c;
  int cidx;              /* stack index of c's userdata */
  tctx *home;            /* the state's context (its scratch buffer) */
  uint32_t nnum;         /* numbered values started */
  int names_checked;     /* the names were found fresh in this encode */
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

/* Every error of an encode goes through here: the seen set, and the
** scratch buffer if that is what is being filled, are released first,
** since the error unwinds past lcf_encode and its caller. */
static void release_ctx(enc *e) {
  e->c->busy = 0;
  if (e->b == &e->home->scratch) e->home->scratch_busy = 0;
}

static _Noreturn void enc_fail(enc *e, const char *msg) {
  release_ctx(e);
  luaL_error(e->L, "%s", msg);
  abort();
}

static _Noreturn void refuse(enc *e, const char *what, const char *why) {
  release_ctx(e);
  push_path_string(e);
  luaL_error(e->L, "cannot send %s at %s%s%s", what, lua_tostring(e->L, -1),
             why ? ": " : "", why ? why : "");
  abort();
}

static void grow(enc *e, size_t n) {
  if (cf_buffer_reserve(e->b, n) != 0) enc_fail(e, "not enough memory");
}

static inline unsigned char *room(enc *e, size_t n) {
  if (e->b->cap - e->b->len < n) grow(e, n);
  return e->b->data + e->b->len;
}

static inline void put_byte(enc *e, int v) {
  *room(e, 1) = (unsigned char)v;
  e->b->len++;
}

static inline void put_bytes(enc *e, const void *p, size_t n) {
  memcpy(room(e, n), p, n);
  e->b->len += n;
}

static inline void put_varint(enc *e, uint64_t v) {
  unsigned char *p = room(e, 10);
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (unsigned char)v;
  e->b->len += n;
}

static inline void put_string(enc *e, const char *s, size_t n) {
  put_varint(e, n);
  put_bytes(e, s, n);
}

/* The seen set: address -> number and tag offset. */
static seen_slot *seen_find(enc *e, const void *p) {
  tctx *c = e->c;
  size_t mask = c->cap - 1, i;
  if (c->cap == 0) return NULL;
  for (i = seen_hash(p, mask);; i = (i + 1) & mask) {
    seen_slot *s = &c->slots[i];
    if (s->gen != c->gen) return NULL;
    if (s->key == p) return s;
  }
}

static void seen_add(enc *e, const void *p, uint32_t num, size_t at) {
  tctx *c = e->c;
  size_t mask, i;
  if ((c->used + 1) * 2 > c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 256, j;
    seen_slot *ns = calloc(ncap, sizeof *ns);
    if (ns == NULL) enc_fail(e, "not enough memory");
    for (j = 0; j < c->cap; j++) {
      seen_slot *s = &c->slots[j];
      if (s->gen == c->gen) {
        size_t k = seen_hash(s->key, ncap - 1);
        while (ns[k].gen == 1) k = (k + 1) & (ncap - 1);
        ns[k] = *s;
        ns[k].gen = 1;
      }
    }
    free(c->slots);
    c->slots = ns;
    c->cap = ncap;
    c->gen = 1;
  }
  mask = c->cap - 1;
  for (i = seen_hash(p, mask); c->slots[i].gen == c->gen; i = (i + 1) & mask) {}
  c->slots[i].key = p;
  c->slots[i].gen = c->gen;
  c->slots[i].num = num;
  c->slots[i].at = at;
  c->used++;
}

/* A repeat: mark the first copy shared and refer to it. */
static int put_seen_ref(enc *e, const void *p) {
  seen_slot *s = seen_find(e, p);
  if (s == NULL) return 0;
  e->b->data[s->at] |= T_SHARED;
  put_byte(e, T_REF);
  put_varint(e, s->num);
  return 1;
}

/* The names of the values found in loaded modules: module tables and
** their top-level tables and C functions. Rebuilt when package.loaded
** changed since it was made. */
static int plain_cfunction(lua_State *L, int idx) {
  if (!lua_iscfunction(L, idx)) return 0;
  if (lua_getupvalue(L, idx, 1) == NULL) return 1;
  lua_pop(L, 1);
  return 0;
}

static lua_Integer loaded_count(lua_State *L);

/* Pushes the new names table and keeps it in the context at cidx. */
static void build_names(lua_State *L, tctx *c, int cidx) {
  int globals;
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
      /* The globals table is a module too (_G), but its tables are the
      ** program's data, not the library's: only its C functions (print,
      ** ...) are named; its modules are named by their own entries. */
      lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
      globals = lua_rawequal(L, -1, -2);
      lua_pop(L, 1);
      lua_pushnil(L);
      while (lua_next(L, -2)) {                     /* ... mod m k v */
        int t = lua_type(L, -1);
        if (lua_type(L, -2) == LUA_TSTRING &&
            ((t == LUA_TTABLE && !globals) || plain_cfunction(L, -1))) {
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
  lua_setiuservalue(L, cidx, UV_NAMES);
  c->names_sig = loaded_count(L);
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
static int find_name(enc *e, int idx) {
  lua_State *L = e->L;
  if (lua_getiuservalue(L, e->cidx, UV_NAMES) != LUA_TTABLE) {
    lua_pop(L, 1);
    build_names(L, e->c, e->cidx);
    e->names_checked = 1;
  }
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TSTRING) {
    lua_remove(L, -2);
    return 1;
  }
  lua_pop(L, 2);
  if (!e->names_checked) {
    e->names_checked = 1;
    if (e->c->names_sig == loaded_count(L)) return 0;
    build_names(L, e->c, e->cidx);
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) == LUA_TSTRING) {
      lua_remove(L, -2);
      return 1;
    }
    lua_pop(L, 2);
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

static void encode_value(enc *e, int idx, int type, int named);

/* A number, inline in the loops that meet many. */
static inline void put_number(enc *e, lua_State *L, int idx) {
  unsigned char *q = room(e, 9);
  if (lua_isinteger(L, idx)) {
    lua_Integer v = lua_tointeger(L, idx);
    if (v >= INT32_MIN && v <= INT32_MAX) {
      int32_t w = (int32_t)v;
      q[0] = T_INT32;
      memcpy(q + 1, &w, 4);
      e->b->len += 5;
    } else {
      int64_t w = (int64_t)v;
      q[0] = T_INT64;
      memcpy(q + 1, &w, 8);
      e->b->len += 9;
    }
  } else {
    double dv = (double)lua_tonumber(L, idx);
    q[0] = T_FLOAT;
    memcpy(q + 1, &dv, 8);
    e->b->len += 9;
  }
}

static void enter(enc *e, const char *what) {
  if (++e->depth > LCF_MAX_DEPTH) {
    char why[64];
    snprintf(why, sizeof why, "nested deeper than %d levels", LCF_MAX_DEPTH);
    refuse(e, what, why);
  }
  if (!lua_checkstack(e->L, 80)) enc_fail(e, "value nested too deeply");
}

/* One walk with lua_next: the array part comes first, in index order, so
** the leading run of keys 1, 2, 3, ... is written as the array section and
** every other entry (a key after a hole too) as a key/value pair. (A walk
** with rawgeti over 1..#t then lua_next for the rest visits the array
** part twice: lua_next from key #t would skip it, but only if #t is in
** the array part, which the API cannot tell.) */
static void encode_table(enc *e, int idx) {
  lua_State *L = e->L;
  lua_Integer k = 1;
  size_t at;
  uint32_t nhash = 0, n32;
  int in_array = 1;
  const void *p = lua_topointer(L, idx);
  if (put_seen_ref(e, p)) return;
  enter(e, "table");
  at = e->b->len;
  seen_add(e, p, e->nnum++, at);
  put_byte(e, T_TABLE);
  room(e, 8);
  e->b->len += 8;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int vt = lua_type(L, -1);
    if (in_array) {
      if (lua_isinteger(L, -2) && lua_tointeger(L, -2) == k &&
          k < (lua_Integer)UINT32_MAX / 2) {
        if (vt == LUA_TNUMBER) {                   /* inline: the most */
          put_number(e, L, -1);
        } else if (vt == LUA_TBOOLEAN) {
          encode_value(e, -1, vt, 0);              /* no path needed */
        } else {
          push_path(e, SEG_INDEX, k, 0, NULL);
          encode_value(e, lua_gettop(L), vt, 0);
          e->npath--;
        }
        k++;
        lua_pop(L, 1);
        continue;
      }
      in_array = 0;
    }
    push_path(e, SEG_KEY, 0, lua_gettop(L) - 1, NULL);
    encode_value(e, lua_gettop(L) - 1, lua_type(L, -2), 0);
    encode_value(e, lua_gettop(L), vt, 0);
    e->npath--;
    lua_pop(L, 1);
    nhash++;
  }
  n32 = (uint32_t)(k - 1);
  memcpy(e->b->data + at + 1, &n32, 4);
  memcpy(e->b->data + at + 5, &nhash, 4);
  if (lua_getmetatable(L, idx)) {
    put_byte(e, 1);
    push_path(e, SEG_META, 0, 0, NULL);
    encode_value(e, lua_gettop(L), LUA_TTABLE, 1);
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

static int proto_box_gc(lua_State *L) {
  lcf_proto **bx = lua_touserdata(L, 1);
  if (*bx) cf_release(*bx);
  *bx = NULL;
  return 0;
}

/* The proto of the Lua function at idx (borrowed: the protos table keeps
** its box while the function lives), made on first use. The last one
** asked for is cached: the context holds that function, so no other
** function can have its address meanwhile. */
static lcf_proto *get_proto(enc *e, int idx) {
  lua_State *L = e->L;
  lcf_proto *pr, **bx;
  cf_buffer b = CF_BUFFER_INIT;
  const void *fp = lua_topointer(L, idx);
  if (fp == e->c->last_fn && e->c->last_proto) return e->c->last_proto;
  lua_getiuservalue(L, e->cidx, UV_PROTOS);         /* protos */
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TUSERDATA) {
    pr = *(lcf_proto **)lua_touserdata(L, -1);
    lua_pop(L, 2);
    goto cache;
  }
  lua_pop(L, 1);
  bx = lua_newuserdatauv(L, sizeof *bx, 0);         /* box */
  *bx = NULL;
  if (luaL_newmetatable(L, PROTO_BOX)) {
    lua_pushcfunction(L, proto_box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_pushvalue(L, idx);
  if (lua_dump(L, dump_writer, &b, 0) != 0 ||
      (pr = malloc(sizeof *pr + b.len)) == NULL) {
    cf_buffer_free(&b);
    enc_fail(e, "not enough memory");
  }
  lua_pop(L, 1);
  cf_object_init(pr, &proto_kind);
  pr->id = hash_bytes(b.data, b.len);
  pr->len = b.len;
  memcpy(pr->code, b.data, b.len);
  cf_buffer_free(&b);
  *bx = pr;                                         /* protos box */
  lua_pushvalue(L, idx);
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);                                /* protos[f] = box */
  lua_pop(L, 2);
cache:
  lua_pushvalue(L, idx);
  lua_setiuservalue(L, e->cidx, UV_LASTFN);
  e->c->last_fn = fp;
  e->c->last_proto = pr;
  return pr;
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
  const char *name;
  int nup = 0, i, leaf = 1;
  const void *p = lua_topointer(L, idx);
  lcf_proto *pr;
  if (put_seen_ref(e, p)) return;
  enter(e, "function");
  while ((name = lua_getupvalue(L, idx, nup + 1)) != NULL) {
    if (!is_env_upvalue(L, name, lua_gettop(L))) leaf = 0;
    lua_pop(L, 1);
    nup++;
  }
  if (nup > 255) refuse(e, "function", "more than 255 upvalues");
  if (!leaf) seen_add(e, p, e->nnum++, e->b->len);
  pr = get_proto(e, idx);
  if (e->o->allow_objects) {
    if (cf_buffer_add_ref(e->b, pr, NULL) != 0) enc_fail(e, "not enough memory");
    put_byte(e, leaf ? T_PROTO : T_PROTOR);
  } else {
    put_byte(e, leaf ? T_LFUNC : T_LFUNCR);
    put_bytes(e, &pr->id, 8);
    put_string(e, (const char *)pr->code, pr->len);
  }
  put_byte(e, nup);
  for (i = 1; i <= nup; i++) {
    name = lua_getupvalue(L, idx, i);
    if (is_env_upvalue(L, name, lua_gettop(L))) {
      put_byte(e, T_ENV);
    } else {
      push_path(e, SEG_UPVALUE, 0, 0, name);
      encode_value(e, lua_gettop(L), lua_type(L, -1), 1);
      e->npath--;
    }
    lua_pop(L, 1);
  }
  e->depth--;
}

static void encode_value(enc *e, int idx, int type, int named) {
  lua_State *L = e->L;
  switch (type) {
    case LUA_TNIL: put_byte(e, T_NIL); break;
    case LUA_TBOOLEAN: put_byte(e, lua_toboolean(L, idx) ? T_TRUE : T_FALSE); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        unsigned char *q = room(e, 9);
        if (v >= INT32_MIN && v <= INT32_MAX) {
          int32_t w = (int32_t)v;
          q[0] = T_INT32;
          memcpy(q + 1, &w, 4);
          e->b->len += 5;
        } else {
          int64_t w = (int64_t)v;
          q[0] = T_INT64;
          memcpy(q + 1, &w, 8);
          e->b->len += 9;
        }
      } else {
        double d = (double)lua_tonumber(L, idx);
        unsigned char *q = room(e, 9);
        q[0] = T_FLOAT;
        memcpy(q + 1, &d, 8);
        e->b->len += 9;
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
      idx = lua_absindex(L, idx);
      if (named && find_name(e, idx)) put_name(e, T_NAMED);
      else encode_table(e, idx);
      break;
    case LUA_TFUNCTION:
      idx = lua_absindex(L, idx);
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
      if (obj == NULL) refuse(e, "userdata", NULL);
      if (!e->o->allow_objects)
        refuse(e, cf_kind_name(obj), e->o->refuse ? e->o->refuse
                                                  : "objects cannot cross");
      if (cf_buffer_add_ref(e->b, obj, NULL) != 0)
        enc_fail(e, "not enough memory");
      put_byte(e, T_OBJ);
      break;
    }
    case LUA_TTHREAD: refuse(e, "coroutine", NULL); break;
    case LUA_TLIGHTUSERDATA: refuse(e, "light userdata", NULL); break;
    default: refuse(e, luaL_typename(L, idx), NULL); break;
  }
}

/* The common task: a Lua function whose only upvalue, if any, is _ENV,
** with numbers, booleans or nils as arguments, written without the
** walk's bookkeeping (paths, seen set, depth checks). Returns 0, having
** written nothing, if the call is not like that. */
static int encode_simple_task(lua_State *L, int cidx, int first, int n,
                              cf_buffer *b, const lcf_encode_opts *o) {
  enc e;
  tctx *c = lua_touserdata(L, cidx);
  const char *name;
  lcf_proto *pr;
  int i, nup = 0;
  if (c->busy || !o->allow_objects || n > 100 || b->len != 0 ||
      lua_type(L, first) != LUA_TFUNCTION || lua_iscfunction(L, first))
    return 0;
  for (i = 1; i < n; i++) {
    int t = lua_type(L, first + i);
    if (t != LUA_TNUMBER && t != LUA_TBOOLEAN && t != LUA_TNIL) return 0;
  }
  if ((name = lua_getupvalue(L, first, 1)) != NULL) {
    int env = strcmp(name, "_ENV") == 0;
    lua_pop(L, 1);
    if (!env || lua_getupvalue(L, first, 2) != NULL) {
      if (env) lua_pop(L, 1);
      return 0;
    }
    nup = 1;
  }
  e.L = L;
  e.b = b;
  e.o = o;
  e.c = e.home = c;
  e.cidx = cidx;
  pr = get_proto(&e, first);
  if (cf_buffer_add_ref(b, pr, NULL) != 0) enc_fail(&e, "not enough memory");
  put_varint(&e, (uint64_t)n);
  put_byte(&e, T_PROTO);
  put_byte(&e, nup);
  if (nup) put_byte(&e, T_ENV);
  for (i = 1; i < n; i++) {
    switch (lua_type(L, first + i)) {
      case LUA_TNUMBER: put_number(&e, L, first + i); break;
      case LUA_TBOOLEAN:
        put_byte(&e, lua_toboolean(L, first + i) ? T_TRUE : T_FALSE);
        break;
      default: put_byte(&e, T_NIL); break;
    }
  }
  return 1;
}

/* Only numbers, booleans and nils (most task results): no context, no
** walk. Returns 0, having written nothing, otherwise. */
static int encode_scalars(lua_State *L, int first, int n, cf_buffer *b) {
  enc e;
  int i;
  if (n > 16) return 0;
  for (i = 0; i < n; i++) {
    int t = lua_type(L, first + i);
    if (t != LUA_TNUMBER && t != LUA_TBOOLEAN && t != LUA_TNIL) return 0;
  }
  e.L = L;
  e.b = b;
  e.c = e.home = NULL;
  if (cf_buffer_reserve(b, 1 + 9 * (size_t)n) != 0) return 0;
  put_varint(&e, (uint64_t)n);
  for (i = 0; i < n; i++) {
    switch (lua_type(L, first + i)) {
      case LUA_TNUMBER: put_number(&e, L, first + i); break;
      case LUA_TBOOLEAN:
        put_byte(&e, lua_toboolean(L, first + i) ? T_TRUE : T_FALSE);
        break;
      default: put_byte(&e, T_NIL); break;
    }
  }
  return 1;
}

void lcf_encode_with(lua_State *L, int cidx, int first, int n,
                     cf_buffer *b, const lcf_encode_opts *opts) {
  static const lcf_encode_opts defaults = {"value", 1, 0, 1, NULL};
  enc e;
  int i, top = lua_gettop(L);
  if (opts && opts->fn_first) {
    if (cidx != 0 &&
        encode_simple_task(L, cidx, lua_absindex(L, first), n, b, opts))
      return;
  } else if (encode_scalars(L, lua_absindex(L, first), n, b)) {
    return;
  }
  first = lua_absindex(L, first);
  luaL_checkstack(L, 16, "too many values");
  e.L = L;
  e.b = b;
  e.o = opts ? opts : &defaults;
  if (cidx == 0) {
    lcf_transfer_context(L);
    cidx = lua_gettop(L);
  }
  e.cidx = cidx;
  e.c = e.home = lua_touserdata(L, cidx);
  if (e.c->busy) {                   /* a finalizer encoding mid-encode */
    e.c = new_ctx(L);
    e.cidx = lua_gettop(L);
  }
  e.c->busy = 1;
  if (++e.c->gen == 0) {             /* wrapped: clear the stamps */
    if (e.c->slots) memset(e.c->slots, 0, e.c->cap * sizeof *e.c->slots);
    e.c->gen = 1;
  }
  e.c->used = 0;
  e.nnum = 0;
  e.names_checked = 0;
  e.depth = e.npath = 0;
  put_varint(&e, (uint64_t)n);
  for (i = 0; i < n; i++) {
    int t = lua_type(L, first + i);
    if (t == LUA_TNUMBER) {            /* map chunks send many of these */
      put_number(&e, L, first + i);
      continue;
    }
    if (i == 0 && e.o->fn_first)
      push_path(&e, SEG_FUNCTION, 0, 0, NULL);
    else
      push_path(&e, SEG_ROOT, n == 1 && e.o->bare ? 0 : i + !e.o->fn_first,
                0, NULL);
    encode_value(&e, first + i, t, 1);
    e.npath--;
  }
  e.c->busy = 0;
  lua_settop(L, top);
}

void lcf_encode(lua_State *L, int first, int n, cf_buffer *b,
                const lcf_encode_opts *opts) {
  lcf_encode_with(L, 0, first, n, b, opts);
}

/* ---------------------------------------------------------------------- */
/* Decoding.                                                              */

typedef struct dec {
  lua_State *L;
  const cf_buffer *b;
  const unsigned char *p, *end;
  int refs;              /* the shared values are in registry[d] */
  uint32_t nnum;         /* numbered values started */
  size_t nextref;        /* the next of b's references (PROTO, OBJ) */
  int depth;
  int reuse;             /* the next function may be a kept template */
  int cidx;              /* the transfer context, or 0 (look it up) */
  int classes;           /* the library's classes are known to exist */
} dec;

static _Noreturn void malformed(dec *d) {
  luaL_error(d->L, "malformed value buffer (at byte %d)",
             (int)(d->p - d->b->data));
  abort();   /* luaL_error does not return */
}

static inline const unsigned char *take(dec *d, size_t n) {
  const unsigned char *p = d->p;
  if ((size_t)(d->end - d->p) < n) malformed(d);
  d->p += n;
  return p;
}

static inline int get_byte(dec *d) {
  if (d->p >= d->end) malformed(d);
  return *d->p++;
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

static void *next_ref(dec *d) {
  if (d->nextref >= d->b->nrefs) malformed(d);
  return d->b->refs[d->nextref++];
}

/* Keep the value at idx as number num (a shared value). */
/* They are few (only values that are referred to again), so they live in
** a table made on need and kept in the registry under this decode's
** address (the stack holds the values being built). */
static void keep_shared(dec *d, int idx, uint32_t num) {
  lua_State *L = d->L;
  idx = lua_absindex(L, idx);
  if (!d->refs) {
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, d);
    d->refs = 1;
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, d);
  lua_pushvalue(L, idx);
  lua_rawseti(L, -2, (lua_Integer)num + 1);
  lua_pop(L, 1);
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

/* Push a closure loaded from bytecode (that must hash to id, unless it
** came from a proto of this process). */
static void load_function(dec *d, uint64_t id, const char *code, size_t n,
                          int check) {
  reader_state r;
  r.p = code;
  r.n = n;
  if (check && hash_bytes((const unsigned char *)code, n) != id) malformed(d);
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

/* Push the kept template for id, or load and keep one. */
/* Push the templates table (a new one if fresh), kept in the context. */
static void push_templates(dec *d, int fresh) {
  lua_State *L = d->L;
  int cidx = d->cidx;
  if (cidx == 0) {
    lcf_transfer_context(L);
    cidx = lua_gettop(L);
  }
  if (fresh || lua_getiuservalue(L, cidx, UV_TEMPLATES) != LUA_TTABLE) {
    if (!fresh) lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, cidx, UV_TEMPLATES);
  }
  if (d->cidx == 0) lua_remove(L, cidx);
}

static void template_for(dec *d, uint64_t id, const char *code, size_t n,
                         int check) {
  lua_State *L = d->L;
  tctx *c = d->cidx ? lua_touserdata(L, d->cidx) : NULL;
  if (c && c->has_tpl && c->last_tpl == id) {       /* the same as last */
    lua_getiuservalue(L, d->cidx, UV_LASTTPL);
    return;
  }
  push_templates(d, 0);
  if (lua_rawgeti(L, -1, (lua_Integer)id) != LUA_TFUNCTION) {
    lua_pop(L, 1);                                  /* templates */
    lua_getfield(L, -1, "n");
    if (lua_tointeger(L, -1) >= TEMPLATES_MAX) {    /* keep it bounded */
      push_templates(d, 1);
      lua_replace(L, -3);
    }
    lua_pushinteger(L, lua_tointeger(L, -1) % TEMPLATES_MAX + 1);
    lua_setfield(L, -3, "n");
    lua_pop(L, 1);
    load_function(d, id, code, n, check);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, (lua_Integer)id);
  }
  lua_remove(L, -2);
  if (c) {
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, d->cidx, UV_LASTTPL);
    c->last_tpl = id;
    c->has_tpl = 1;
  }
}

/* tag: LFUNC/LFUNCR/PROTO/PROTOR, shared bit removed. A leaf function
** (no upvalue but _ENV) is the kept template itself; the first value of
** a task may be one even with upvalues (they get fresh cells); other
** functions are loaded afresh. */
static void decode_function(dec *d, int tag, int shared) {
  lua_State *L = d->L;
  uint64_t id;
  size_t n;
  const char *code;
  int nup, i, fidx, reused = 0, numbered = tag == T_LFUNCR || tag == T_PROTOR;
  int check = tag == T_LFUNC || tag == T_LFUNCR;
  uint32_t num = numbered ? d->nnum++ : 0;
  if (check) {
    memcpy(&id, take(d, 8), 8);
    code = get_string(d, &n);
  } else {
    lcf_proto *pr = next_ref(d);
    if (((cf_object *)pr)->kind != &proto_kind) malformed(d);
    id = pr->id;
    code = (const char *)pr->code;
    n = pr->len;
  }
  nup = get_byte(d);
  if (d->reuse || !numbered) {
    template_for(d, id, code, n, check);
    reused = 1;
  } else {
    load_function(d, id, code, n, check);
  }
  d->reuse = 0;
  fidx = lua_gettop(L);
  if (shared) keep_shared(d, fidx, num);
  if (lua_getupvalue(L, fidx, nup + 1) != NULL ||
      (nup > 0 && lua_getupvalue(L, fidx, nup) == NULL))
    malformed(d);
  if (nup > 0) lua_pop(L, 1);
  for (i = 1; i <= nup; i++) {
    if (d->p < d->end && *d->p == T_ENV) {
      d->p++;
      lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    } else {
      if (!numbered) malformed(d);   /* a leaf has only _ENV */
      if (reused) fresh_cell(L, fidx, i);
      decode_value(d);
    }
    lua_setupvalue(L, fidx, i);
  }
}

static void push_packer(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &PACK_KEY) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    if (luaL_loadstring(L, "return function(...) return {...} end") != LUA_OK)
      lua_error(L);
    lua_call(L, 0, 1);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &PACK_KEY);
  }
}

static void decode_table(dec *d, int shared) {
  lua_State *L = d->L;
  uint32_t narr, nhash, i, num = d->nnum++;
  int t;
  size_t left = (size_t)(d->end - d->p);
  memcpy(&narr, take(d, 4), 4);
  memcpy(&nhash, take(d, 4), 4);
  if (narr > left || nhash > left / 2) malformed(d);
  if (++d->depth > LCF_MAX_DEPTH) malformed(d);
  if (!shared && narr >= PACK_MIN && narr <= PACK_MAX &&
      lua_checkstack(L, (int)narr + 16)) {
    /* The elements on the stack, then {...} makes the table in one go. */
    push_packer(L);
    t = lua_gettop(L);
    for (i = 0; i < narr; i++) {
      /* numbers inline: most large arrays hold them */
      if (d->end - d->p >= 5 && *d->p == T_INT32) {
        int32_t v;
        memcpy(&v, d->p + 1, 4);
        d->p += 5;
        lua_pushinteger(L, v);
      } else if (d->end - d->p >= 9 && *d->p == T_FLOAT) {
        double v;
        memcpy(&v, d->p + 1, 8);
        d->p += 9;
        lua_pushnumber(L, (lua_Number)v);
      } else {
        decode_value(d);
      }
    }
    lua_call(L, (int)narr, 1);
    if (nhash > 0 && !lua_checkstack(L, 16)) malformed(d);
  } else {
    lua_createtable(L, (int)narr, (int)nhash);
    t = lua_gettop(L);
    if (shared) keep_shared(d, t, num);
    for (i = 1; i <= narr; i++) {
      decode_value(d);
      if (lua_isnil(L, -1)) lua_pop(L, 1);
      else lua_rawseti(L, t, i);
    }
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
  tag = get_byte(d);
  /* Every value that is more than a scalar (a table, a function, a name,
  ** an object) makes room for what it pushes while it is built: its
  ** container keeps at most a key and itself below it, so 8 free slots at
  ** each level are enough. Checking only below some depth let a buffer of
  ** shallow tables with keys, metatables and references write past the
  ** end of the Lua stack (found by csrc/fuzz/fuzz_decode). Scalars push
  ** one slot into room their container made. */
  if ((tag & ~T_SHARED) >= T_TABLE && !lua_checkstack(L, 8)) malformed(d);
  switch (tag & ~T_SHARED) {
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
    case T_TABLE: decode_table(d, (tag & T_SHARED) != 0); break;
    case T_REF: {
      uint64_t i = get_varint(d);
      if (i >= d->nnum || !d->refs) malformed(d);
      lua_rawgetp(L, LUA_REGISTRYINDEX, d);
      if (lua_rawgeti(L, -1, (lua_Integer)i + 1) == LUA_TNIL) malformed(d);
      lua_remove(L, -2);
      break;
    }
    case T_LFUNC:
    case T_LFUNCR:
    case T_PROTO:
    case T_PROTOR:
      if (++d->depth > LCF_MAX_DEPTH) malformed(d);
      decode_function(d, tag & ~T_SHARED, (tag & T_SHARED) != 0);
      d->depth--;
      break;
    case T_CFUNC: resolve_name(d, LUA_TFUNCTION); break;
    case T_NAMED: resolve_name(d, LUA_TTABLE); break;
    case T_OBJ:
      if (!d->classes) {
        /* Worker states open concurrent.core on first use: its classes
        ** must exist before a box is made. */
        luaL_requiref(L, "concurrent.core", luaopen_concurrent_core, 0);
        lua_pop(L, 1);
        d->classes = 1;
      }
      lcf_push_object(L, next_ref(d));
      break;
    default: malformed(d);
  }
  if ((tag & T_SHARED) && tag != (T_TABLE | T_SHARED) &&
      tag != (T_LFUNCR | T_SHARED) && tag != (T_PROTOR | T_SHARED))
    malformed(d);
  d->reuse = 0;
}

int lcf_decode(lua_State *L, const cf_buffer *b, int reuse_first) {
  return lcf_decode_with(L, 0, b, reuse_first);
}

/* One number or boolean alone (most task results): push it directly. */
static int decode_scalar(lua_State *L, const cf_buffer *b) {
  const unsigned char *p = b->data;
  switch (b->len) {
    case 2:
      if (p[1] == T_NIL) lua_pushnil(L);
      else if (p[1] == T_TRUE || p[1] == T_FALSE) lua_pushboolean(L, p[1] == T_TRUE);
      else return 0;
      return 1;
    case 6:
      if (p[1] == T_INT32) {
        int32_t v;
        memcpy(&v, p + 2, 4);
        lua_pushinteger(L, v);
        return 1;
      }
      return 0;
    case 10:
      if (p[1] == T_INT64) {
        int64_t v;
        memcpy(&v, p + 2, 8);
        lua_pushinteger(L, (lua_Integer)v);
        return 1;
      }
      if (p[1] == T_FLOAT) {
        double v;
        memcpy(&v, p + 2, 8);
        lua_pushnumber(L, (lua_Number)v);
        return 1;
      }
      return 0;
    default: return 0;
  }
}

int lcf_decode_with(lua_State *L, int cidx, const cf_buffer *b,
                    int reuse_first) {
  dec d;
  uint64_t n, i;
  if (b->len == 0) return 0;   /* before b->data + 0: data may be NULL */
  if (b->len >= 2 && b->len <= 10 && b->data[0] == 1 && b->nrefs == 0 &&
      decode_scalar(L, b))
    return 1;
  d.L = L;
  d.cidx = cidx;
  d.classes = 0;
  d.b = b;
  d.p = b->data;
  d.end = b->data + b->len;
  d.nnum = 0;
  d.nextref = 0;
  d.depth = 0;
  d.reuse = reuse_first;
  n = get_varint(&d);
  if (n > b->len || n > INT32_MAX / 2) malformed(&d);
  luaL_checkstack(L, (int)n + 8, "too many values");
  d.refs = 0;
  for (i = 0; i < n; i++) {
    if (i > 0) {
      d.reuse = 0;
      if (d.end - d.p >= 5 && *d.p == T_INT32) {   /* map chunks: many */
        int32_t v;
        memcpy(&v, d.p + 1, 4);
        d.p += 5;
        lua_pushinteger(L, v);
        continue;
      }
    }
    if (d.reuse && (d.p >= d.end || ((*d.p & ~T_SHARED) != T_LFUNC &&
                                     (*d.p & ~T_SHARED) != T_LFUNCR &&
                                     (*d.p & ~T_SHARED) != T_PROTO &&
                                     (*d.p & ~T_SHARED) != T_PROTOR)))
      d.reuse = 0;
    decode_value(&d);
  }
  if (d.p != d.end) malformed(&d);
  if (d.refs) {
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &d);
  }
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
