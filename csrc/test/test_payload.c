/*
** test_payload.c -- the payload writer (cf_payload_*, concurrent_lua.h):
** what it writes is read back by the decoder Lua tasks' results go
** through (a Lua state here only reads), and every misuse is an error
** that leaves the output empty.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../concurrent_lua.h"
#include "../binding/transfer/transfer.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
  fprintf(stderr, "test_payload: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
  failures++; } } while (0)

/* Decode b in L and return what the Lua check (a chunk that gets the
** values as ...) returns as a boolean. */
static int decodes_as(lua_State *L, const cf_buffer *b, const char *check) {
  int n, ok;
  if (luaL_loadstring(L, check) != LUA_OK) {
    fprintf(stderr, "test_payload: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    return 0;
  }
  n = lcf_decode(L, b, 0);
  if (lua_pcall(L, n, 1, 0) != LUA_OK) {
    fprintf(stderr, "test_payload: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    return 0;
  }
  ok = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return ok;
}

static void test_values(lua_State *L) {
  cf_buffer out = CF_BUFFER_INIT;
  cf_payload w;
  cf_payload_begin(&w, &out);
  cf_payload_nil(&w);
  cf_payload_boolean(&w, 1);
  cf_payload_boolean(&w, 0);
  cf_payload_integer(&w, 7);
  cf_payload_integer(&w, (int64_t)1 << 40);
  cf_payload_number(&w, 2.5);
  cf_payload_string(&w, "a\0b", 3);
  cf_payload_array(&w);                    /* {1, nil, "x", {k = true}} */
  cf_payload_integer(&w, 1);
  cf_payload_nil(&w);
  cf_payload_string(&w, "x", 1);
  cf_payload_map(&w);
  cf_payload_string(&w, "k", 1);
  cf_payload_boolean(&w, 1);
  cf_payload_close(&w);
  cf_payload_close(&w);
  cf_payload_map(&w);                      /* {[3] = 4.0} */
  cf_payload_integer(&w, 3);
  cf_payload_number(&w, 4.0);
  cf_payload_close(&w);
  CHECK(cf_payload_end(&w) == 0);
  CHECK(decodes_as(L, &out,
    "local n = select('#', ...) "
    "local a, b, c, d, e, f, g, t, m = ... "
    "return n == 9 and a == nil and b == true and c == false "
    "  and math.type(d) == 'integer' and d == 7 and e == 1 << 40 "
    "  and math.type(f) == 'float' and f == 2.5 and g == 'a\\0b' "
    "  and t[1] == 1 and t[2] == nil and t[3] == 'x' and t[4].k == true "
    "  and math.type(m[3]) == 'float' and m[3] == 4.0"));
  /* A lone number reads as lcf_buffer_number sees one, too. */
  {
    int64_t i = 0;
    double f = 0;
    cf_payload_begin(&w, &out);
    cf_payload_integer(&w, -5);
    CHECK(cf_payload_end(&w) == 0);
    CHECK(lcf_buffer_number(&out, &i, &f) == 1 && i == -5);
  }
  /* Nothing at all: no values. */
  cf_payload_begin(&w, &out);
  CHECK(cf_payload_end(&w) == 0);
  CHECK(decodes_as(L, &out, "return select('#', ...) == 0"));
  cf_buffer_free(&out);
}

static void test_misuse(void) {
  cf_buffer out = CF_BUFFER_INIT;
  cf_payload w;
  int i;
  cf_payload_begin(&w, &out);               /* a table left open */
  cf_payload_array(&w);
  CHECK(cf_payload_end(&w) == -EINVAL && out.len == 0);
  cf_payload_begin(&w, &out);               /* a close without a table */
  cf_payload_close(&w);
  CHECK(cf_payload_end(&w) == -EINVAL);
  cf_payload_begin(&w, &out);               /* a nil key */
  cf_payload_map(&w);
  cf_payload_nil(&w);
  cf_payload_integer(&w, 1);
  cf_payload_close(&w);
  CHECK(cf_payload_end(&w) == -EINVAL);
  cf_payload_begin(&w, &out);               /* a NaN key */
  cf_payload_map(&w);
  cf_payload_number(&w, 0.0 / 0.0);
  cf_payload_integer(&w, 1);
  cf_payload_close(&w);
  CHECK(cf_payload_end(&w) == -EINVAL);
  cf_payload_begin(&w, &out);               /* a key with no value */
  cf_payload_map(&w);
  cf_payload_string(&w, "k", 1);
  cf_payload_close(&w);
  CHECK(cf_payload_end(&w) == -EINVAL);
  cf_payload_begin(&w, &out);               /* too deep */
  for (i = 0; i <= CF_PAYLOAD_DEPTH; i++) cf_payload_array(&w);
  for (i = 0; i <= CF_PAYLOAD_DEPTH; i++) cf_payload_close(&w);
  CHECK(cf_payload_end(&w) == -EINVAL && out.len == 0);
  cf_buffer_free(&out);
}

int main(void) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return 1;
  luaL_openlibs(L);
  test_values(L);
  test_misuse();
  lua_close(L);
  if (failures == 0) printf("test_payload: all passed\n");
  return failures != 0;
}
