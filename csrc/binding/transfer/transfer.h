/*
** transfer.h -- copying Lua values between lua_States through cf_buffers.
**
** The encoding is compact and position independent, so the same bytes go
** between threads (with object references) and over pipes to worker
** processes (without). See transfer.c for the format.
*/
#ifndef LCF_TRANSFER_H
#define LCF_TRANSFER_H

#include <lua.h>

#include "../runtime/compat.h"

#include "../../concurrent.h"

/* Deepest nesting of tables (and functions' upvalues) that crosses. */
#define LCF_MAX_DEPTH 200

typedef struct lcf_encode_opts {
  const char *root;   /* name of the values in errors: "args" -> args[2] */
  int bare;           /* a single value is named root alone ("value") */
  int fn_first;       /* the first value is named "function" */
  int allow_objects;  /* library objects may cross (not to processes) */
  const char *refuse; /* why objects cannot cross, when !allow_objects */
  int fresh_root;     /* the first value is a table the caller just made,
                      ** with no metatable: no module can be it, so its
                      ** name is not looked up (a Thread's start) */
} lcf_encode_opts;

/* Append the n values at stack index first.. to b (which the caller owns:
** keep it reachable for cleanup, since this raises a Lua error naming the
** value and its path when a value cannot cross). Returns the number of
** values written (the buffer starts with it). */
void lcf_encode(lua_State *L, int first, int n, cf_buffer *b,
                const lcf_encode_opts *opts);

/* Push the values encoded in b; returns how many. Raises on a malformed
** buffer or a name that cannot be resolved here. reuse_first lets the
** first value, if a function, be a cached closure (a worker's task
** function: loaded once per worker, its upvalues refreshed each time). */
int lcf_decode(lua_State *L, const cf_buffer *b, int reuse_first);
/* The same with the transfer context at cidx (its kept templates). */
int lcf_decode_with(lua_State *L, int cidx, const cf_buffer *b,
                    int reuse_first);
/* The same for a state that decodes once (a Thread's start): functions
** are loaded, none kept as a template. */
int lcf_decode_once(lua_State *L, const cf_buffer *b);

/* The state's scratch buffer, for one encode whose bytes are moved on at
** once (submit): NULL when it is in use (a finalizer submitting during an
** encode): then use a buffer of your own. Give it back with
** lcf_scratch_end before raising any error of your own; an error raised
** by lcf_encode gives it back itself. */
cf_buffer *lcf_scratch_begin(lua_State *L, int cidx);
void lcf_scratch_end(lua_State *L, int cidx, cf_buffer *b);

/* The state's transfer context (seen set, scratch buffer, caches): push
** it, e.g. to keep it as an upvalue of a hot function. The calls above
** and lcf_encode_with take its index (0: look it up in the registry). */
void lcf_transfer_context(lua_State *L);
void lcf_encode_with(lua_State *L, int cidx, int first, int n, cf_buffer *b,
                     const lcf_encode_opts *opts);
/* core._transfer_stats() -> the functions this state has dumped, and
** whether its context and its scratch buffer are in use (for tests). */
int lcf_transfer_stats(lua_State *L);

/* concurrent.slice(t [, i [, j]]) -> a view of t[i..j] (default 1 and
** #t, raw) that crosses as the array of those values, read when sent.
** lcf_slice_get: 1 and t pushed, with the bounds in *i and *j, if the
** value at idx is a slice; else 0, nothing pushed. */
int lcf_slice_new(lua_State *L);
int lcf_slice_get(lua_State *L, int idx, lua_Integer *i, lua_Integer *j);

/* A buffer holding one number, as lcf_encode writes it, without a Lua
** state (for C code under a mutex). lcf_buffer_number: 0 if b holds
** anything else, 1 for an integer (*i), 2 for a float (*f).
** lcf_buffer_set_number: b reset to that number; 0 or -ENOMEM. */
int lcf_buffer_number(const cf_buffer *b, int64_t *i, double *f);
int lcf_buffer_set_number(cf_buffer *b, int isfloat, int64_t i, double f);

#endif
