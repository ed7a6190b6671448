/*
** fuzz_roundtrip.c -- libFuzzer target for the encoder and the decoder
** together.
**
** The input is a little program (csrc/fuzz/roundtrip.lua reads it) that
** builds Lua values: scalars, strings, tables with shared parts and
** cycles, metatables, closures over any of these, C functions, module
** tables and a Future. The values go from state A to state B and back
** (encode in A, decode in B, encode in B, decode in A), with the thread
** options (objects by reference, bytecode shared) or the process options
** (no objects, bytecode inline), chosen by the first byte. Then, in A:
**   - encoding may refuse (a value that cannot cross): that is an answer;
**   - once encoded, both decodes and the second encode must succeed;
**   - what comes back must equal what left (roundtrip.lua's same():
**     subtypes, NaN, sharing and cycles, metatables, function bytecode and
**     upvalues, _ENV bound to the receiver's globals).
** A difference aborts, which libFuzzer reports as a crash.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../binding/transfer/transfer.h"
#include "fuzz_core.h"

static lua_State *A, *B;

static const lcf_encode_opts thread_opts =
    {.root = "value", .allow_objects = 1};
static const lcf_encode_opts process_opts =
    {.root = "value", .refuse = "processes"};

#ifndef ROUNDTRIP_LUA
#define ROUNDTRIP_LUA "csrc/fuzz/roundtrip.lua"
#endif

static int setup(lua_State *L) {
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_pushliteral(L, "lua/?.lua;lua/?/init.lua");
  lua_setfield(L, -2, "path");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_fuzz_core);
  lua_setfield(L, -2, "concurrent.core");
  lua_pop(L, 2);
  if (luaL_dofile(L, ROUNDTRIP_LUA) != LUA_OK) lua_error(L);
  lua_setglobal(L, "RT");
  return 0;
}

static lua_State *new_state(void) {
  lua_State *L = luaL_newstate();
  if (L == NULL) abort();
  lua_pushcfunction(L, setup);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    fprintf(stderr, "fuzz setup: %s\n", lua_tostring(L, -1));
    abort();
  }
  return L;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  A = new_state();
  B = new_state();
  return 0;
}

typedef struct job {
  const uint8_t *data;
  size_t size;
  const lcf_encode_opts *opts;
  cf_buffer *b;
  int n;
} job;

/* In A: build the values (RT.build) and encode them. */
static int build_encode(lua_State *L) {
  job *j = lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_getglobal(L, "RT");
  lua_getfield(L, 1, "build");
  lua_pushlstring(L, (const char *)j->data, j->size);
  lua_pushboolean(L, j->opts == &process_opts);
  lua_call(L, 2, LUA_MULTRET);              /* 2..: the values */
  j->n = lua_gettop(L) - 1;
  lcf_encode(L, 2, j->n, j->b, j->opts);
  lua_remove(L, 1);
  return j->n;                              /* kept for the comparison */
}

static int decode_encode(lua_State *L) {
  job *j = lua_touserdata(L, 1);
  cf_buffer *out = lua_touserdata(L, 2);
  int n;
  lua_settop(L, 0);
  n = lcf_decode(L, j->b, 0);
  if (n != j->n) {
    fprintf(stderr, "decoded %d values, %d were sent\n", n, j->n);
    abort();
  }
  lcf_encode(L, 1, n, out, j->opts);
  return 0;
}

static int decode_values(lua_State *L) {
  const cf_buffer *b = lua_touserdata(L, 1);
  lua_settop(L, 0);
  return lcf_decode(L, b, 0);
}

static void die(lua_State *L, const char *what) {
  fprintf(stderr, "%s: %s\n", what, lua_tostring(L, -1));
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static unsigned long count;
  cf_buffer there = CF_BUFFER_INIT, back = CF_BUFFER_INIT;
  job j;
  int n, i;
  if (size < 1) return 0;
  j.opts = (data[0] & 1) ? &process_opts : &thread_opts;
  j.data = data + 1;
  j.size = size - 1;
  j.b = &there;
  j.n = 0;
  lua_settop(A, 0);
  lua_pushcfunction(A, build_encode);
  lua_pushlightuserdata(A, &j);
  if (lua_pcall(A, 1, LUA_MULTRET, 0) != LUA_OK) {  /* refused: fine */
    lua_settop(A, 0);
    cf_buffer_free(&there);
    return 0;
  }
  n = lua_gettop(A);                      /* the originals, 1..n */
  lua_pushcfunction(B, decode_encode);
  lua_pushlightuserdata(B, &j);
  lua_pushlightuserdata(B, &back);
  if (lua_pcall(B, 2, 0, 0) != LUA_OK) die(B, "decode/encode in B failed");
  lua_settop(B, 0);
  j.b = &back;
  lua_getglobal(A, "RT");
  lua_getfield(A, -1, "same");
  lua_remove(A, -2);                      /* n+1: same */
  lua_pushcfunction(A, decode_values);
  lua_pushlightuserdata(A, &back);
  if (lua_pcall(A, 1, LUA_MULTRET, 0) != LUA_OK) die(A, "decode in A failed");
  if (lua_gettop(A) != 2 * n + 1) {       /* the copies, n+2 .. 2n+1 */
    fprintf(stderr, "%d values came back, %d were sent\n",
            lua_gettop(A) - n - 1, n);
    abort();
  }
  if (!lua_checkstack(A, n + 4)) abort();  /* 3n values: make the room */
  for (i = 1; i <= n; i++) lua_pushvalue(A, i);
  /* same(copies..., originals...): both lists after the function. */
  if (lua_pcall(A, 2 * n, 1, 0) != LUA_OK) die(A, "same() raised");
  if (!lua_toboolean(A, -1)) {
    fprintf(stderr, "round trip changed a value\n");
    abort();
  }
  lua_settop(A, 0);
  cf_buffer_free(&there);
  cf_buffer_free(&back);
  if (++count % 2048 == 0) {
    lua_gc(A, LUA_GCCOLLECT);
    lua_gc(B, LUA_GCCOLLECT);
  }
  return 0;
}
