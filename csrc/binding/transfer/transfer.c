/*
** transfer.c -- the transfer layer's format (below), its per-state
** context and scratch buffer, and the entry points that need no walk. The
** transfer layer (this folder) is the only code that walks Lua values to
** copy them between states: encode.c and decode.c.
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
**            | CPTR                    a C function: the next reference
**            | LIGHT ptr               a light userdata (NULL only, to
**                                      another process)
**            | REDUCE[S] u8(n) value value*n    a function and n arguments:
**                                      the value is function(args...)
**   upval   := ENV | value
**            | UPREF varint(n) u8(i)   the i-th upvalue of function n
** Tables, REDUCE and LFUNCR/PROTOR are numbered in the order they start, before
** their contents, so cycles resolve. Closures that share an upvalue
** (one lua_upvalueid) share it on the other side too: the first one
** carries it, the others an UPREF, joined with lua_upvaluejoin. LFUNC/PROTO (functions whose only
** upvalue is _ENV) are not numbered. The S bit (SHARED) is set on a
** numbered value once a REF (or an UPREF) to it is written: the decoder only keeps
** those, and may build the others in any order (a large array is pushed
** on the stack and made in one step by a vararg constructor). PROTO and
** OBJ take the buffer's references in order: a PROTO's reference is a
** shared, immutable copy of the bytecode (made once per function per
** state), so a task carries 8 bytes of function, not its bytecode; the
** bytecode inline (LFUNC) is for buffers that cannot carry references
** (process pools). The id of a function is a hash of its bytecode, which
** lets a worker keep the loaded function.
**
** The code: this file holds the context and the entry points that need
** no walk; encode.c the encoder, names.c its lookup of module names,
** decode.c the decoder; internal.h what they share.
**
** Speed: Lua API calls are the cost. Tables are walked
** with rawgeti over the array part and lua_next for the rest; the seen
** set is a C hash of object addresses (stable while the values are
** reachable from the stack), kept per state with the scratch buffer.
*/
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "../../core/object.h"
#include "../runtime/boxes.h"
#include "transfer.h"
#include "internal.h"

/* Registry key (its address): the state's transfer context. */
static const char CTX_KEY = 'x';

/* ---------------------------------------------------------------------- */
/* Function prototypes shared by reference.                               */

static void proto_destroy(void *obj) {
  free(obj);
}

const cf_kind lcf_proto_kind = {"proto", proto_destroy};
const cf_kind lcf_cfunc_kind = {"C function", proto_destroy};

lcf_cfunc *lcf_cfunc_new(lua_CFunction fn) {
  lcf_cfunc *cf = malloc(sizeof *cf);
  if (cf == NULL) return NULL;
  cf_object_init(cf, &lcf_cfunc_kind);
  cf->fn = fn;
  return cf;
}

/* 64-bit FNV-1a: the function id. */
uint64_t lcf_hash_bytes(const unsigned char *p, size_t n) {
  uint64_t h = 14695981039346656037ULL;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* ---------------------------------------------------------------------- */
/* The per-state context.                                                 */

static int ctx_gc(lua_State *L) {
  transfer_ctx *c = lua_touserdata(L, 1);
  free(c->slots);
  c->slots = NULL;
  free(c->at);
  c->at = NULL;
  free(c->home);
  c->home = NULL;
  cf_buffer_free(&c->scratch);
  return 0;
}

/* An encode's to-be-closed slot (encode.c's hold) is closed: give back
** the context, and the scratch buffer it was filling (on an error). */
static int ctx_close(lua_State *L) {
  lcf_ctx_release(L, 1);
  return 0;
}

void lcf_ctx_release(lua_State *L, int idx) {
  transfer_ctx *c = lua_touserdata(L, idx);
  idx = lua_absindex(L, idx);
  c->busy = 0;
  if (c->kept) {                       /* what __reduce calls made */
    lua_pushnil(L);
    lua_setiuservalue(L, idx, SLOT_KEEP);
    c->kept = 0;
  }
  if (c->scratch_of) {
    cf_buffer_reset(&c->scratch_of->scratch);
    c->scratch_of->scratch_busy = 0;
    c->scratch_of = NULL;
  }
}

/* Pushes a new context. */
transfer_ctx *lcf_ctx_new(lua_State *L) {
  transfer_ctx *c = lua_newuserdatauv(L, sizeof *c, SLOT_COUNT);
  memset(c, 0, sizeof *c);
  if (luaL_newmetatable(L, "concurrent.transfer")) {
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, ctx_close);
    lua_setfield(L, -2, "__close");
  }
  lua_setmetatable(L, -2);
  lua_newtable(L);                                  /* protos */
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setiuservalue(L, -2, SLOT_PROTOS);
  return c;
}

void lcf_transfer_context(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &CTX_KEY) == LUA_TUSERDATA) return;
  lua_pop(L, 1);
  lcf_ctx_new(L);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &CTX_KEY);
}

static transfer_ctx *ctx_at(lua_State *L, int cidx) {
  transfer_ctx *c;
  if (cidx != 0) return lua_touserdata(L, cidx);
  lcf_transfer_context(L);
  c = lua_touserdata(L, -1);
  lua_pop(L, 1);                 /* the registry holds it */
  return c;
}

int lcf_transfer_stats(lua_State *L) {
  transfer_ctx *c = ctx_at(L, 0);
  lua_pushinteger(L, c->dumps);
  lua_pushboolean(L, c->busy);
  lua_pushboolean(L, c->scratch_busy);
  return 3;
}

cf_buffer *lcf_scratch_begin(lua_State *L, int cidx) {
  transfer_ctx *c = ctx_at(L, cidx);
  if (c->scratch_busy) return NULL;
  c->scratch_busy = 1;
  cf_buffer_reset(&c->scratch);
  return &c->scratch;
}

void lcf_scratch_end(lua_State *L, int cidx, cf_buffer *b) {
  transfer_ctx *c = ctx_at(L, cidx);
  if (b == &c->scratch) {
    cf_buffer_reset(b);
    c->scratch_busy = 0;
  }
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
