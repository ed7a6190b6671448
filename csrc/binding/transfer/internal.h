/*
** internal.h -- what the parts of the transfer layer share (not for
** the rest of the binding: use transfer.h).
**
** transfer.c  the format (described there), the per-state context, the
**             scratch buffer, function ids, numbers without a Lua state
** encode.c    the encoder (the walk, the seen set, error paths, protos)
** names.c     names of module tables and C functions (encoder's lookup)
** decode.c    the decoder and its function templates
** where.c     paths inside a buffer, for the decoder's errors
** payload.c   a writer of the format for C code with no Lua state
*/
#ifndef LCF_TRANSFER_INTERNAL_H
#define LCF_TRANSFER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "../../concurrent.h"
#include "../../core/object.h"

/* The tags of the format (see transfer.c). */
enum {
  T_NIL, T_FALSE, T_TRUE, T_INT32, T_INT64, T_FLOAT, T_STR, T_TABLE, T_REF,
  T_LFUNC, T_LFUNCR, T_ENV, T_CFUNC, T_NAMED, T_OBJ, T_PROTO, T_PROTOR,
  T_UPREF, T_CPTR, T_LIGHT, T_REDUCE
};
#define T_SHARED 0x40   /* or'ed into TABLE, LFUNCR, PROTOR */

/* A function's bytecode, shared by reference between states. */
typedef struct lcf_proto {
  cf_object hdr;
  uint64_t id;
  size_t len;
  unsigned char code[];
} lcf_proto;

extern const cf_kind lcf_proto_kind;

/* An unnamed C function without upvalues, crossing between threads of
** one process (CPTR): a reference, so a buffer that cannot carry
** references (a process pipe) cannot carry one, and a forged buffer
** cannot name an address. */
typedef struct lcf_cfunc {
  cf_object hdr;
  lua_CFunction fn;
} lcf_cfunc;

extern const cf_kind lcf_cfunc_kind;
lcf_cfunc *lcf_cfunc_new(lua_CFunction fn);   /* NULL without memory */

/* ---------------------------------------------------------------------- */
/* The per-state context: a seen set and a scratch buffer.                */

/* The tag offsets (needed only on a repeat) are kept apart, by number
** (transfer_ctx.at), so a large set stays small in the cache. */
typedef struct seen_slot {
  const void *key;       /* a table, a function, or an upvalue's id */
  uint32_t gen, num;
  int up;                /* an upvalue: its index in function num */
} seen_slot;

/* The context is a userdata with user values: 1 the protos table
** (function -> proto box, weak keys), 2 the names table, 3 the function
** of the one-entry proto cache below (held, so its address stays its),
** 4 the templates (id -> loaded function) of the decoder, 5 the last
** template used (a one-entry cache in front of 4), 6 what an encode's
** __reduce calls made (kept alive until it ends). */
enum {
  SLOT_PROTOS = 1, SLOT_NAMES, SLOT_LAST_FUNCTION, SLOT_TEMPLATES,
  SLOT_LAST_TEMPLATE, SLOT_KEEP, SLOT_COUNT
};

typedef struct transfer_ctx {
  seen_slot *slots;
  size_t cap, used;      /* cap is a power of two */
  unsigned char *home;   /* home[h]: (gen & 0xff) if a key of hash h is in */
  size_t *at;            /* at[num]: offset of value num's tag in the buffer */
  size_t atcap;
  uint32_t gen;
  int scramble;          /* addresses clustered: hash them (encode.c) */
  int busy;              /* an encode is using the seen set */
  int scratch_busy;
  struct transfer_ctx *scratch_of; /* busy filling that context's scratch buffer */
  lua_Integer dumps;     /* functions dumped by this state (for tests) */
  cf_buffer scratch;
  lua_Integer names_sig; /* package.loaded's signature when names were made */
  const void *last_fn;   /* user value 3's address, and its proto */
  struct lcf_proto *last_proto;
  uint64_t last_tpl;     /* the id of user value 5, if has_tpl */
  int has_tpl;
  int has_names;         /* user value 2 was built (named_bits is its) */
  int kept;              /* user value 6 holds __reduce's values */
  uint64_t named_bits[64]; /* a filter of the named values' addresses */
} transfer_ctx;

/* Pushes a new context (not the state's: a finalizer encoding while the
** state's one is busy gets one of its own). */
transfer_ctx *lcf_ctx_new(lua_State *L);
/* What the context's __close does to the context at idx: free again, what
** __reduce calls made let go, and the scratch buffer it was filling given
** back (also called where there is no <close>; it does not allocate). */
void lcf_ctx_release(lua_State *L, int idx);

/* 64-bit FNV-1a of the bytecode: a function's id. */
uint64_t lcf_hash_bytes(const unsigned char *p, size_t n);

/* Push the "module\0key" name of the value at idx and return 1, or return
** 0 (names.c). c/cidx: the context and its stack index; *checked: whether
** this encode already checked package.loaded for changes (start at 0). */
int lcf_find_name(lua_State *L, transfer_ctx *c, int cidx, int idx, int *checked);

/* Push the path of the value whose tag is at byte at of b ("value 2[3].p",
** or "?"), found by walking b again (where.c): for decode errors. */
void lcf_push_where(lua_State *L, const cf_buffer *b, size_t at);

/* Whether the value at address p may have a name: 0 means it has none
** (no Lua call; a filter that may answer 1 wrongly, never 0). */
static inline int lcf_maybe_named(const transfer_ctx *c, const void *p, int checked) {
  uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL;
  if (!c->has_names || !checked) return 1;
  h >>= 52;                                   /* 12 bits: 4096 */
  return (int)((c->named_bits[h >> 6] >> (h & 63)) & 1);
}

#endif
