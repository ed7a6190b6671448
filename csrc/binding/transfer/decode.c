/*
** decode.c -- the decoder of the transfer layer: pushes the values of a
** buffer written by encode.c (format in transfer.c), checking every byte
** (a malformed buffer raises, never reads or writes out of bounds: see
** csrc/fuzz/fuzz_decode.c).
**
** Trust boundary. The structure of a buffer is checked, its meaning is
** not: function bytecode (LFUNC) is loaded with lua_load, and Lua does
** not verify bytecode, so a crafted function can corrupt the receiving
** state. Buffers are accepted only from the library's own encoder: in
** this process (threads, whose buffers never leave memory) and from the
** library's own worker processes, forked from this one, over a socket
** pair nobody else holds. Never decode bytes from anywhere else (a file,
** the network, another program). Values referred to again (the SHARED bit)
** are kept in a registry table for REF; functions are loaded from
** bytecode, or taken from the context's kept templates (a worker loads
** its task function once).
*/
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "../../core/object.h"
#include "../runtime/boxes.h"
#include "../runtime/errors.h"
#include "../runtime/record.h"
#include "transfer.h"
#include "internal.h"

/* Registry keys (their addresses). */
static const char CELL_KEY = 'u';       /* makes fresh upvalue cells */
static const char PACK_KEY = 'k';       /* function(...) return {...} end */
static const char KEYS_KEY = 's';       /* the key cache below */

/* Short string keys repeat (records: "id", "name", ...): the decoder of
** a large buffer keeps the last key string seen per slot of a small
** cache (kept in the registry, put on the stack for the decode), and
** pushes that string again instead of hashing and interning the bytes
** anew. An entry is used only if its bytes are the key's: a cache, never
** a meaning of the format. The strings are the user values of a userdata
** whose memory has their addresses and lengths, so a lookup compares the
** bytes without an API call and a hit is one lua_getiuservalue (a table
** cost a rawgeti and a tolstring: ~150 instructions a key, now ~60). */
#define KEYS_SLOTS 64
#define KEYS_MAXLEN 24
#define KEYS_MINBUF 256     /* smaller buffers decode without the cache */

typedef struct keycache {
  const char *p[KEYS_SLOTS];   /* user value i+1's bytes, or NULL */
  size_t n[KEYS_SLOTS];
} keycache;

#define TEMPLATES_MAX 512

/* Arrays at least this long are decoded on the stack and made at once;
** shorter ones with rawseti (a Lua call costs more than a few sets). The
** packer's call needs twice the array on the stack (the arguments, then
** the vararg copy {...} reads), checked and grown before: longer arrays,
** or a stack that cannot take them, are made with rawseti. */
#define PACK_MIN 24
#define PACK_MAX 450000

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
  int kidx;              /* stack index of the key cache, or 0 */
  keycache *kc;          /* its memory */
  int once;              /* a state that decodes once: keep no templates */
  int room;              /* the stack has room up to this index */
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

/* Keep the value at idx as number num (a shared value). They are few
** (only values that are referred to again), so they live in
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
  if (check && lcf_hash_bytes((const unsigned char *)code, n) != id) malformed(d);
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

/* UPREF: upvalue i of the function at fidx becomes the same upvalue as
** the one named in the buffer, of a function received earlier in this
** decode (kept, since the encoder marked it shared). */
static void join_upvalue(dec *d, int fidx, int i) {
  lua_State *L = d->L;
  uint64_t num = get_varint(d);
  int up = get_byte(d);
  if (num >= d->nnum || !d->refs || up < 1) malformed(d);
  lua_rawgetp(L, LUA_REGISTRYINDEX, d);
  if (lua_rawgeti(L, -1, (lua_Integer)num + 1) != LUA_TFUNCTION ||
      lua_iscfunction(L, -1) || lua_getupvalue(L, -1, up) == NULL)
    malformed(d);
  lua_pop(L, 1);
  lua_upvaluejoin(L, fidx, i, -1, up);
  lua_pop(L, 2);
}

/* Push the templates table (a new one if fresh), kept in the context. */
static void push_templates(dec *d, int fresh) {
  lua_State *L = d->L;
  int cidx = d->cidx;
  if (cidx == 0) {
    lcf_transfer_context(L);
    cidx = lua_gettop(L);
  }
  if (fresh || lua_getiuservalue(L, cidx, SLOT_TEMPLATES) != LUA_TTABLE) {
    if (!fresh) lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, cidx, SLOT_TEMPLATES);
  }
  if (d->cidx == 0) lua_remove(L, cidx);
}

/* Push the kept template for id, or load and keep one. */
static void template_for(dec *d, uint64_t id, const char *code, size_t n,
                         int check) {
  lua_State *L = d->L;
  transfer_ctx *c = d->cidx ? lua_touserdata(L, d->cidx) : NULL;
  if (c && c->has_tpl && c->last_tpl == id) {       /* the same as last */
    lua_getiuservalue(L, d->cidx, SLOT_LAST_TEMPLATE);
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
    lua_setiuservalue(L, d->cidx, SLOT_LAST_TEMPLATE);
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
    if (((cf_object *)pr)->kind != &lcf_proto_kind) malformed(d);
    id = pr->id;
    code = (const char *)pr->code;
    n = pr->len;
  }
  nup = get_byte(d);
  if (((d->reuse && LCF_HAS_UPVALUEJOIN) || !numbered) && !d->once) {  /* fresh_cell */
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
    } else if (d->p < d->end && *d->p == T_UPREF) {
      d->p++;
      if (!numbered) malformed(d);
      join_upvalue(d, fidx, i);
      continue;                      /* joined: nothing to set */
    } else {
      if (!numbered) malformed(d);   /* a leaf has only _ENV */
      if (reused) fresh_cell(L, fidx, i);
      decode_value(d);
    }
    lua_setupvalue(L, fidx, i);
  }
}

/* A short string key through the key cache: returns 1 having pushed it,
** or 0 having read nothing (not such a key, or no cache). Pushes at most
** two values, as decode_value may. */
static int decode_key(dec *d) {
  lua_State *L = d->L;
  const unsigned char *p = d->p;
  const char *s;
  size_t n;
  unsigned slot;
  keycache *kc = d->kc;
  if (d->kidx == 0 || d->end - p < 2 || p[0] != T_STR || p[1] == 0 ||
      p[1] > KEYS_MAXLEN || (size_t)(d->end - p) < 2 + (size_t)p[1])
    return 0;
  n = p[1];
  s = (const char *)p + 2;
  slot = ((unsigned)n * 31u + (unsigned char)s[0] * 7u +
          (unsigned char)s[n - 1] + (unsigned char)s[n / 2]) % KEYS_SLOTS;
  d->p += 2 + n;
  d->reuse = 0;
  if (kc->n[slot] == n && kc->p[slot] != NULL) {
    const char *q = kc->p[slot];
    size_t i = 0;
    while (i < n && q[i] == s[i]) i++;   /* short: no memcmp call */
    if (i == n) {
      lua_getiuservalue(L, d->kidx, (int)slot + 1);
      return 1;
    }
  }
  lua_pushlstring(L, s, n);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, d->kidx, (int)slot + 1);
  kc->p[slot] = lua_tostring(L, -1);   /* held by the user value */
  kc->n[slot] = n;
  return 1;
}

/* A record's value read inline when it is a number or a short string
** (no decode_value call): returns 1 having pushed it, 0 having read
** nothing. Pushes one value into the room its table made. */
static inline int decode_field_value(dec *d) {
  lua_State *L = d->L;
  const unsigned char *p = d->p;
  size_t left = (size_t)(d->end - p);
  if (left >= 5 && *p == T_INT32) {
    int32_t v;
    memcpy(&v, p + 1, 4);
    d->p += 5;
    lua_pushinteger(L, v);
  } else if (left >= 2 && *p == T_STR && p[1] < 0x80 &&
             left - 2 >= (size_t)p[1]) {
    lua_pushlstring(L, (const char *)p + 2, p[1]);
    d->p += 2 + (size_t)p[1];
  } else if (left >= 9 && *p == T_INT64) {
    int64_t v;
    memcpy(&v, p + 1, 8);
    d->p += 9;
    lua_pushinteger(L, (lua_Integer)v);
  } else if (left >= 9 && *p == T_FLOAT) {
    double v;
    memcpy(&v, p + 1, 8);
    d->p += 9;
    lua_pushnumber(L, (lua_Number)v);
  } else {
    return 0;
  }
  return 1;
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

/* An array element that is a number, read inline (most large arrays hold
** numbers, and decode_value's dispatch is most of their cost): 1 when it
** pushed one, 0 (nothing read) for any other value. A scalar pushes one
** slot into room its container made, as in decode_value. */
static inline int push_number_inline(dec *d) {
  if (d->end - d->p >= 5 && *d->p == T_INT32) {
    int32_t v;
    memcpy(&v, d->p + 1, 4);
    d->p += 5;
    lua_pushinteger(d->L, v);
  } else if (d->end - d->p >= 9 && *d->p == T_INT64) {
    int64_t v;
    memcpy(&v, d->p + 1, 8);
    d->p += 9;
    lua_pushinteger(d->L, (lua_Integer)v);
  } else if (d->end - d->p >= 9 && *d->p == T_FLOAT) {
    double v;
    memcpy(&v, d->p + 1, 8);
    d->p += 9;
    lua_pushnumber(d->L, (lua_Number)v);
  } else {
    return 0;
  }
  return 1;
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
      lua_checkstack(L, 2 * (int)narr + 32)) {
    /* The elements on the stack, then {...} makes the table in one go. */
    push_packer(L);
    t = lua_gettop(L);
    for (i = 0; i < narr; i++) {
      if (!push_number_inline(d)) decode_value(d);
    }
    lua_call(L, (int)narr, 1);
    if (nhash > 0 && !lua_checkstack(L, 16)) malformed(d);
  } else {
    lua_createtable(L, (int)narr, (int)nhash);
    t = lua_gettop(L);
    if (shared) keep_shared(d, t, num);
    for (i = 1; i <= narr; i++) {
      if (!push_number_inline(d)) {
        decode_value(d);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          continue;
        }
      }
      lua_rawseti(L, t, i);
    }
  }
  for (i = 0; i < nhash; i++) {
    if (decode_key(d)) {
      if (!decode_field_value(d)) decode_value(d);
      lua_rawset(L, t);
      continue;
    }
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

/* REDUCE: the function and its arguments, then the call that rebuilds
** the value (numbered before its parts, as the encoder did). A fuzzing
** build calls only Lua functions: a forged buffer could name any C
** function of a loaded module. */
static void decode_reduce(dec *d, int shared) {
  lua_State *L = d->L;
  uint32_t num = d->nnum++;
  size_t at = (size_t)(d->p - 1 - d->b->data);      /* its tag */
  int n, i, fn = lua_gettop(L) + 1;
  if (++d->depth > LCF_MAX_DEPTH) malformed(d);
  n = get_byte(d);
  if (n > 250 || !lua_checkstack(L, n + 8)) malformed(d);
  for (i = 0; i <= n; i++) decode_value(d);
  (void)fn;
#ifdef LCF_FUZZING
  if (lua_type(L, fn) != LUA_TFUNCTION || lua_iscfunction(L, fn))
    malformed(d);
#endif
  if (lua_pcall(L, n, 1, 0) != LUA_OK) {
    const char *msg = lcf_error_text(L, -1);
    lcf_push_where(L, d->b, at);
    luaL_error(L, "cannot rebuild the value at %s (sent by its __reduce): %s",
               lua_tostring(L, -1), msg);
  }
  if (shared) keep_shared(d, -1, num);
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
  if ((tag & ~T_SHARED) >= T_TABLE) {
    /* Room that lua_checkstack made stays while this C call runs (the
    ** call's stack top is raised, and Lua does not shrink the stack below
    ** it), so most tables ask for none; LuaJIT's collector shrinks below
    ** it: there every level asks. */
    int top = lua_gettop(L);
    if (top + 8 > d->room || LCF_LUAJIT) {
      if (lua_checkstack(L, 24)) d->room = top + 24;
      else if (lua_checkstack(L, 8)) d->room = top + 8;  /* at the limit */
      else malformed(d);
    }
  }
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
    case T_CPTR: {
      lcf_cfunc *cf = next_ref(d);
      if (((cf_object *)cf)->kind != &lcf_cfunc_kind) malformed(d);
      lua_pushcfunction(L, cf->fn);
      break;
    }
    case T_LIGHT: {
      void *p;
      memcpy(&p, take(d, sizeof p), sizeof p);
      lua_pushlightuserdata(L, p);
      break;
    }
    case T_REDUCE: decode_reduce(d, (tag & T_SHARED) != 0); break;
    case T_NAMED: resolve_name(d, LUA_TTABLE); break;
    case T_OBJ:
      if (!d->classes) {
        /* Worker states open concurrent.core on first use: its classes
        ** must exist before a box is made. */
        lua_CFunction open = lcf_module_open();
        if (open) {
          luaL_requiref(L, "concurrent.core", open, 0);
          lua_pop(L, 1);
        }
        d->classes = 1;
      }
      lcf_push_object(L, next_ref(d));
      break;
    default: malformed(d);
  }
  if ((tag & T_SHARED) && tag != (T_TABLE | T_SHARED) &&
      tag != (T_REDUCE | T_SHARED) &&
      tag != (T_LFUNCR | T_SHARED) && tag != (T_PROTOR | T_SHARED))
    malformed(d);
  d->reuse = 0;
}

int lcf_decode(lua_State *L, const cf_buffer *b, int reuse_first) {
  return lcf_decode_with(L, 0, b, reuse_first);
}

static int decode_in(lua_State *L, int cidx, const cf_buffer *b,
                     int reuse_first, int once);

int lcf_decode_with(lua_State *L, int cidx, const cf_buffer *b,
                    int reuse_first) {
  return decode_in(L, cidx, b, reuse_first, 0);
}

/* A Thread's new state decodes its target once: keeping the function as
** a template made the state's transfer context and templates table, a
** tenth of what a Thread start does besides opening the libraries. */
int lcf_decode_once(lua_State *L, const cf_buffer *b) {
  return decode_in(L, 0, b, 0, 1);
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

static int decode_in(lua_State *L, int cidx, const cf_buffer *b,
                     int reuse_first, int once) {
  dec d;
  uint64_t n, i;
  if (b->len == 0) return 0;   /* before b->data + 0: data may be NULL */
  if (b->len >= 2 && b->len <= 10 && b->data[0] == 1 && b->nrefs == 0 &&
      decode_scalar(L, b))
    return 1;
  d.L = L;
  d.cidx = cidx;
  d.once = once;
  d.classes = 0;
  d.kidx = 0;
  d.kc = NULL;
  d.b = b;
  d.p = b->data;
  d.end = b->data + b->len;
  d.nnum = 0;
  d.nextref = 0;
  d.depth = 0;
  d.reuse = reuse_first;
  d.room = 0;
  n = get_varint(&d);
  if (n > b->len || n > INT32_MAX / 2) malformed(&d);
  luaL_checkstack(L, (int)n + 9, "too many values");
  d.refs = 0;
  if (b->len >= KEYS_MINBUF) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &KEYS_KEY) != LUA_TUSERDATA) {
      lua_pop(L, 1);
      memset(lua_newuserdatauv(L, sizeof(keycache), KEYS_SLOTS), 0,
             sizeof(keycache));
      lua_pushvalue(L, -1);
      lua_rawsetp(L, LUA_REGISTRYINDEX, &KEYS_KEY);
    }
    d.kidx = lua_gettop(L);
    d.kc = lua_touserdata(L, -1);
  }
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
  if (d.kidx) lua_remove(L, d.kidx);
  return (int)n;
}

/* ---------------------------------------------------------------------- */
