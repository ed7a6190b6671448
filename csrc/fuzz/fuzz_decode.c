/*
** fuzz_decode.c -- libFuzzer target for the transfer decoder.
**
** The input is the byte part of a value buffer, as a worker, a queue or
** a process pipe would hand it to lcf_decode. Every input must end in
** either pushed values or a Lua error ("malformed value buffer"), never a
** crash or a read out of bounds (AddressSanitizer watches; the bytes are
** copied into an allocation of exactly their size).
**
** The buffer also carries references, as thread transfers do: a
** function's shared bytecode (proto), a Future and a second proto, made
** once at start by encoding real values, so OBJ and PROTO tags find
** objects of the right kinds, and of the wrong kinds, in any order.
**
** Each input is decoded twice: plainly and as a worker's task function
** (reuse_first, which keeps loaded functions in the state's templates),
** in one long-lived state, so the caches see many inputs. A full
** collection every few thousand inputs frees what they made.
**
** CF_FUZZ_SEEDS=DIR writes the seed corpus (encoded sample values) into
** DIR and exits: see fuzz.mk.
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

static lua_State *L;
static cf_buffer templ = CF_BUFFER_INIT;   /* refs handed to every input */

static const lcf_encode_opts thread_opts =
    {.root = "value", .allow_objects = 1};
static const lcf_encode_opts process_opts =
    {.root = "value", .refuse = "processes"};

/* The values whose encodings seed the corpus (and whose references feed
** every input). */
static const char *const samples =
  "local futures = require 'concurrent.core'\n"
  "local up = {1, 2, 3}\n"
  "local function f(a) return a + up[1] end\n"
  "local t = {x = 1, 'a', 'b', nested = {deep = {true, false}}}\n"
  "t.self = t\n"
  "local m = setmetatable({}, {__index = t})\n"
  "local P = {}\n"
  "P.__index = P\n"
  "function P.new(x, y) return setmetatable({x = x, y = y}, P) end\n"
  "function P.__reduce(p) return P.new, p.x, p.y end\n"
  "local pt = P.new(1, {2})\n"
  "return {\n"
  "  refs = {function() return 1 end, futures.Future(), f},\n"
  "  plain = table.pack(nil, true, false, 0, -1, 2^31, 2^53, math.mininteger,\n"
  "           1.5, 0/0, 1/0, '', 'hello\\0world', string.rep('x', 300)),\n"
  "  tables = {t, m, {1, 2, 3, n = 3}, {[1.5] = 'f', [true] = 't'}},\n"
  "  functions = {f, print, string.format, math, function(...) return ... end},\n"
  "  crossing = {pt, {pt, pt}, futures.null},\n"
  "}\n";

static int setup(lua_State *L) {
  luaL_openlibs(L);
  /* No module files are read while fuzzing: a NAMED tag may ask to
  ** require any name. concurrent.core is fuzz_core.h's stand-in. */
  lua_getglobal(L, "package");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_pushliteral(L, "lua/?.lua;lua/?/init.lua");
  lua_setfield(L, -2, "path");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_fuzz_core);
  lua_setfield(L, -2, "concurrent.core");
  lua_pop(L, 2);
  if (luaL_dostring(L, samples) != LUA_OK) lua_error(L);
  lua_setglobal(L, "SAMPLES");
  lua_getglobal(L, "SAMPLES");
  lua_getfield(L, -1, "refs");
  lua_rawgeti(L, -1, 1);
  lua_rawgeti(L, -2, 2);
  lua_rawgeti(L, -3, 3);
  lcf_encode(L, -3, 3, &templ, &thread_opts);
  lua_settop(L, 0);
  return 0;
}

static void write_file(const char *dir, const char *name, int i,
                       const cf_buffer *b) {
  char path[4096];
  FILE *fh;
  snprintf(path, sizeof path, "%s/%s-%02d", dir, name, i);
  fh = fopen(path, "wb");
  if (fh == NULL) {
    perror(path);
    exit(1);
  }
  if (b->len) fwrite(b->data, 1, b->len, fh);
  fclose(fh);
}

/* Seeds: each sample alone and each group together, for threads (with
** references) and for processes (inline bytecode). */
static int write_seeds(lua_State *L) {
  const char *dir = lua_tostring(L, 1);
  static const char *const groups[] = {"refs", "plain", "tables", "functions",
                                       "crossing"};
  int g, i, n = 0;
  lua_getglobal(L, "SAMPLES");
  for (g = 0; g < 5; g++) {
    int len;
    lua_getfield(L, 2, groups[g]);
    len = lua_getfield(L, -1, "n") == LUA_TNUMBER ? (int)lua_tointeger(L, -1)
                                                  : (int)luaL_len(L, -2);
    lua_pop(L, 1);
    for (i = 0; i <= len; i++) {
      int top = lua_gettop(L), k, cnt = i ? 1 : len, p;
      if (i) lua_rawgeti(L, top, i);
      else for (k = 1; k <= len; k++) lua_rawgeti(L, top, k);
      for (p = 0; p < 2; p++) {
        cf_buffer b = CF_BUFFER_INIT;
        if (p == 1 && g == 0) continue;   /* objects cannot go to processes */
        lcf_encode(L, top + 1, cnt, &b, p ? &process_opts : &thread_opts);
        write_file(dir, groups[g], n++, &b);
        cf_buffer_free(&b);
      }
      lua_settop(L, top);
    }
    lua_pop(L, 1);
  }
  printf("wrote %d seeds to %s\n", n, dir);
  return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *seeds = getenv("CF_FUZZ_SEEDS");
  (void)argc;
  (void)argv;
  L = luaL_newstate();
  if (L == NULL) abort();
  lua_pushcfunction(L, setup);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    fprintf(stderr, "fuzz setup: %s\n", lua_tostring(L, -1));
    abort();
  }
  if (seeds) {
    lua_pushcfunction(L, write_seeds);
    lua_pushstring(L, seeds);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      fprintf(stderr, "seeds: %s\n", lua_tostring(L, -1));
      exit(1);
    }
    exit(0);
  }
  return 0;
}

static int decode_both(lua_State *L) {
  const cf_buffer *b = lua_touserdata(L, 1);
  lua_settop(L, 0);
  lcf_decode(L, b, 0);
  lua_settop(L, 0);
  lcf_decode(L, b, 1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static unsigned long count;
  cf_buffer b = CF_BUFFER_INIT;
  size_t i;
  if (size > 0) {
    b.data = malloc(size);   /* exactly size bytes: overreads are caught */
    if (b.data == NULL) return 0;
    memcpy(b.data, data, size);
    b.len = b.cap = size;
  }
  for (i = 0; i < templ.nrefs; i++)
    if (cf_buffer_add_ref(&b, templ.refs[i], NULL) != 0) abort();
  lua_pushcfunction(L, decode_both);
  lua_pushlightuserdata(L, &b);
  (void)lua_pcall(L, 1, 0, 0);       /* an error is a fine answer */
  lua_settop(L, 0);
  cf_buffer_free(&b);
  if (++count % 4096 == 0) lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
