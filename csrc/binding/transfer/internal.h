/*
** transfer_int.h -- what the parts of the transfer layer share (not for
** the rest of the binding: use transfer.h).
**
** transfer.c  the format (described there), the per-state context, the
**             scratch buffer, function ids, numbers without a Lua state
** encode.c    the encoder (the walk, the seen set, error paths, protos)
** names.c     names of module tables and C functions (encoder's lookup)
** decode.c    the decoder and its function templates
*/
#ifndef LCF_TRANSFER_INT_H
#define LCF_TRANSFER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "../../concurrent.h"
#include "../../core/object.h"

/* The tags of the format (see transfer.c). */
enum {
  T_NIL, T_FALSE, T_TRUE, T_INT32, T_INT64, T_FLOAT, T_STR, T_TABLE, T_REF,
  T_LFUNC, T_LFUNCR, T_ENV, T_CFUNC, T_NAMED, T_OBJ, T_PROTO, T_PROTOR,
  T_UPREF
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

/* ---------------------------------------------------------------------- */
/* The per-state context: a seen set and a scratch buffer.                */

typedef struct seen_slot {
  const void *key;       /* a table, a function, or an upvalue's id */
  uint32_t gen, num;
  size_t at;             /* offset of the value's tag in the buffer */
  int up;                /* an upvalue: its index in function num */
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
  struct tctx *scratch_of; /* busy filling that context's scratch buffer */
  lua_Integer dumps;     /* functions dumped by this state (for tests) */
  cf_buffer scratch;
  lua_Integer names_sig; /* package.loaded's signature when names were made */
  const void *last_fn;   /* user value 3's address, and its proto */
  struct lcf_proto *last_proto;
  uint64_t last_tpl;     /* the id of user value 5, if has_tpl */
  int has_tpl;
} tctx;

/* Pushes a new context (not the state's: a finalizer encoding while the
** state's one is busy gets one of its own). */
tctx *lcf_ctx_new(lua_State *L);
/* What the context's __close does: free again, and the scratch buffer it
** was filling given back (also called where there is no <close>). */
void lcf_ctx_release(tctx *c);

/* 64-bit FNV-1a of the bytecode: a function's id. */
uint64_t lcf_hash_bytes(const unsigned char *p, size_t n);

/* Push the "module\0key" name of the value at idx and return 1, or return
** 0 (names.c). c/cidx: the context and its stack index; *checked: whether
** this encode already checked package.loaded for changes (start at 0). */
int lcf_find_name(lua_State *L, tctx *c, int cidx, int idx, int *checked);

#endif
