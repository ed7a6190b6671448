/*
** store_classes.c -- thread.Value and thread.Dict for Lua: shared state
** that is safe, over the core's encoded values (core/store.c).
**
** Values are copied in and out (encoded in the caller, decoded in the
** reader), the library's objects by reference. The read-modify-writes are
** atomic:
**   - Value.add and compare_and_set run as C callbacks under the value's
**     mutex (cf_value_apply) on the encoded number, so they never run Lua
**     while holding it;
**   - Dict.update runs the user's function in the caller between
**     cf_dict_update_begin and _end (a logical lock owned by this thread:
**     sets and deletes by other threads wait; reads do not). The function
**     runs under lua_pcall so an error releases the lock before it is
**     raised again.
**
** Keys of a Dict are scalars (booleans, numbers, strings), encoded with
** lcf_encode into bytes. Floats with an integer value are keys as that
** integer, as in Lua tables (d[1.0] is d[1]). Key bytes go through one
** scratch buffer per state (an upvalue), used only between encoding and
** the core call, with no Lua code in between (encoding a scalar makes no
** Lua objects, so no collection step, so no finalizer, can run there).
** Values get a fresh userdata-owned buffer each, since encoding a table
** can run finalizers, and they may use the same Dict.
*/
#include <errno.h>
#include <math.h>
#include <string.h>

#include <lauxlib.h>

#include "../../core/object.h"
#include "../runtime/inbox.h"
#include "future_class.h"
#include "../runtime/boxes.h"
#include "sync_classes.h"
#include "../transfer/transfer.h"

#define LCF_VALUE "concurrent.Value"
#define LCF_DICT "concurrent.Dict"

static const lcf_encode_opts value_opts =
    {.root = "value", .bare = 1, .allow_objects = 1};
static const lcf_encode_opts key_opts =
    {.root = "key", .bare = 1, .refuse = "keys are scalars"};

/* Push the values in b (nil if none). */
static void push_decoded(lua_State *L, const cf_buffer *b) {
  int n = lcf_decode(L, b, 0);
  if (n == 0) lua_pushnil(L);
  else if (n > 1) lua_pop(L, n - 1);
}

/* ---------------------------------------------------------------------- */
/* Value.                                                                  */

static cf_value *check_value(lua_State *L) {
  return lcf_checkobject(L, 1, LCF_VALUE);
}

/* Encode the value at idx and store it. */
static void value_store(lua_State *L, cf_value *v, int idx) {
  cf_buffer *b = lcf_newbuffer(L);
  lcf_encode(L, idx, 1, b, &value_opts);
  cf_value_set(v, b);
  lua_pop(L, 1);
}

/* Value([v]) */
static int l_value_new(lua_State *L) {
  cf_value *v;
  lua_settop(L, 1);
  v = cf_value_new();
  if (v == NULL) return luaL_error(L, "not enough memory");
  lcf_pushbox(L, LCF_VALUE, v);                /* 2: owns v from here */
  if (!lua_isnil(L, 1)) value_store(L, v, 1);
  return 1;
}

static int l_value_get(lua_State *L) {
  cf_value *v = check_value(L);
  cf_buffer *b = lcf_newbuffer(L);
  if (cf_value_get(v, b) != 0) return luaL_error(L, "not enough memory");
  push_decoded(L, b);
  return 1;
}

static int l_value_set(lua_State *L) {
  cf_value *v = check_value(L);
  luaL_checkany(L, 2);
  value_store(L, v, 2);
  return 0;
}

/* Lua's arithmetic on the encoded number: integers wrap, a float on either
** side makes a float. */
typedef struct add_op {
  int isfloat;      /* the operand n */
  int64_t i;
  double f;
  int rfloat;       /* the result */
  int64_t ri;
  double rf;
} add_op;

#define NOT_A_NUMBER 100

static int add_fn(cf_buffer *cur, void *ud) {
  add_op *op = ud;
  int64_t ci = 0;
  double cf = 0;
  int kind = lcf_buffer_number(cur, &ci, &cf);
  if (kind == 0) return NOT_A_NUMBER;
  if (kind == 1 && !op->isfloat) {
    op->rfloat = 0;
    op->ri = (int64_t)((uint64_t)ci + (uint64_t)op->i);
  } else {
    op->rfloat = 1;
    op->rf = (kind == 1 ? (double)ci : cf) + (op->isfloat ? op->f : (double)op->i);
  }
  return lcf_buffer_set_number(cur, op->rfloat, op->ri, op->rf);
}

/* add(n) -> the new number, atomically. */
static int l_value_add(lua_State *L) {
  cf_value *v = check_value(L);
  add_op op;
  int rc;
  if (lua_type(L, 2) != LUA_TNUMBER) luaL_typeerror(L, 2, "number");
  memset(&op, 0, sizeof op);
  op.isfloat = !lua_isinteger(L, 2);
  if (op.isfloat) op.f = (double)lua_tonumber(L, 2);
  else op.i = (int64_t)lua_tointeger(L, 2);
  rc = cf_value_apply(v, add_fn, &op);
  if (rc == NOT_A_NUMBER) {
    cf_buffer *b = lcf_newbuffer(L);
    if (cf_value_get(v, b) == 0) push_decoded(L, b);
    else lua_pushnil(L);
    return luaL_error(L, "cannot add to a Value holding %s (a number is "
                         "needed)", luaL_typename(L, -1));
  }
  if (rc != 0) return luaL_error(L, "not enough memory");
  if (op.rfloat) lua_pushnumber(L, (lua_Number)op.rf);
  else lua_pushinteger(L, (lua_Integer)op.ri);
  return 1;
}

/* Lua's == between an integer and a float: equal only if the float is
** that integer exactly. */
static int int_eq_float(int64_t i, double f) {
  if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0)) return 0;
  if (floor(f) != f) return 0;
  return (int64_t)f == i;
}

typedef struct cas_op {
  const cf_buffer *old;  /* encoded expected value */
  cf_buffer *repl;       /* the new value, moved in on success */
  cf_buffer out;         /* the replaced contents, freed after the mutex */
  int numeric;           /* old is a number: compare as Lua numbers */
  int old_nil;           /* old is nil: an empty Value matches too */
} cas_op;

static int cas_fn(cf_buffer *cur, void *ud) {
  cas_op *op = ud;
  int eq;
  if (op->numeric) {
    int64_t ai = 0, bi = 0;
    double af = 0, bf = 0;
    int ka = lcf_buffer_number(cur, &ai, &af);
    int kb = lcf_buffer_number(op->old, &bi, &bf);
    if (ka == 0 || kb == 0) eq = 0;
    else if (ka == 1 && kb == 1) eq = ai == bi;
    else if (ka == 2 && kb == 2) eq = af == bf;
    else if (ka == 1) eq = int_eq_float(ai, bf);
    else eq = int_eq_float(bi, af);
  } else {
    /* Scalars other than numbers are equal exactly when their encodings
    ** are (strings are byte strings, booleans and nil one tag each). */
    eq = (op->old_nil && cur->len == 0) ||
         (cur->nrefs == 0 && cur->len == op->old->len &&
          memcmp(cur->data, op->old->data, cur->len) == 0);
  }
  if (!eq) return 0;
  op->out = *cur;          /* moved out: released after the mutex */
  *cur = *op->repl;
  cf_buffer_init(op->repl);
  return 1;
}

/* compare_and_set(old, new) -> true if the value was old (as Lua's ==
** sees it) and is now new. old is a scalar: nil, boolean, number, string. */
static int l_value_cas(lua_State *L) {
  cf_value *v = check_value(L);
  int t = lua_type(L, 2);
  cas_op op;
  cf_buffer *oldb, *newb;
  int ok;
  luaL_checkany(L, 3);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TBOOLEAN ||
                   t == LUA_TNUMBER || t == LUA_TSTRING, 2,
                   "nil, boolean, number or string");
  lua_settop(L, 3);
  newb = lcf_newbuffer(L);                  /* 4 */
  lcf_encode(L, 3, 1, newb, &value_opts);
  oldb = lcf_newbuffer(L);                  /* 5 */
  lcf_encode(L, 2, 1, oldb, &value_opts);
  op.old = oldb;
  op.repl = newb;
  op.numeric = t == LUA_TNUMBER;
  op.old_nil = t == LUA_TNIL;
  cf_buffer_init(&op.out);
  ok = cf_value_apply(v, cas_fn, &op);
  cf_buffer_free(&op.out);
  lua_pushboolean(L, ok);
  return 1;
}

static int l_value_tostring(lua_State *L) {
  cf_value *v = check_value(L);
  cf_buffer *b = lcf_newbuffer(L);
  if (cf_value_get(v, b) != 0) return luaL_error(L, "not enough memory");
  push_decoded(L, b);
  lua_pushfstring(L, "Value: %p (%s)", (void *)v, luaL_tolstring(L, -1, NULL));
  return 1;
}

static const luaL_Reg value_methods[] = {
  {"get", l_value_get},
  {"set", l_value_set},
  {"add", l_value_add},
  {"compare_and_set", l_value_cas},
  {"__tostring", l_value_tostring},
  {NULL, NULL}
};

/* ---------------------------------------------------------------------- */
/* Dict.                                                                   */

static cf_dict *check_dict(lua_State *L) {
  return lcf_checkobject(L, 1, LCF_DICT);
}

/* Check the key at idx (a boolean, a number but NaN, or a string), and
** normalise a float with an integer value to that integer (on the stack
** top; returns its index). */
static int check_key(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  if (t == LUA_TNUMBER && !lua_isinteger(L, idx)) {
    lua_Number f = lua_tonumber(L, idx);
    lua_Integer i;
    if (f != f) luaL_argerror(L, idx, "key is NaN");
    if (lua_numbertointeger(f, &i) && (lua_Number)i == f) {
      lua_pushinteger(L, i);
      return lua_gettop(L);
    }
    return idx;
  }
  if (t != LUA_TBOOLEAN && t != LUA_TNUMBER && t != LUA_TSTRING) {
    if (t == LUA_TNIL || t == LUA_TNONE) luaL_argerror(L, idx, "key is nil");
    luaL_argerror(L, idx, lua_pushfstring(L, "a Dict key must be a boolean, "
                  "number or string, got %s", luaL_typename(L, idx)));
  }
  return idx;
}

/* Encode the checked key at idx into the state's scratch buffer (upvalue
** 1 of every Dict method). Nothing may run Lua between this and the core
** call that reads the key. */
static cf_buffer *scratch_key(lua_State *L, int idx) {
  cf_buffer *k = lua_touserdata(L, lua_upvalueindex(1));
  cf_buffer_reset(k);
  lcf_encode(L, idx, 1, k, &key_opts);
  return k;
}

static int key_buffer_gc(lua_State *L) {
  cf_buffer_free(lua_touserdata(L, 1));
  return 0;
}

/* Push d[key at kidx], or nil; returns 1 if found. */
static int dict_push(lua_State *L, cf_dict *d, int kidx) {
  cf_buffer *out = lcf_newbuffer(L), *k;   /* allocated before the key */
  int rc;
  kidx = check_key(L, kidx);
  k = scratch_key(L, kidx);
  rc = cf_dict_get(d, k->data, k->len, out);
  if (rc < 0) return luaL_error(L, "not enough memory");
  if (rc == 0) {
    lua_pushnil(L);
    return 0;
  }
  push_decoded(L, out);
  return 1;
}

/* d[key at kidx] = value at vidx (nil deletes), as the calling thread (so
** it does not wait for an update it is itself running). */
static void dict_store(lua_State *L, cf_dict *d, int kidx, int vidx) {
  uint64_t me = cf_thread_ident();
  cf_buffer *val = NULL, *k;
  int rc = 0;
  kidx = check_key(L, kidx);
  if (!lua_isnil(L, vidx)) {
    val = lcf_newbuffer(L);                 /* before the key: see above */
    lcf_encode(L, vidx, 1, val, &value_opts);
  }
  k = scratch_key(L, kidx);
  if (val) rc = cf_dict_set_owned(d, me, k->data, k->len, val);
  else cf_dict_delete_owned(d, me, k->data, k->len);
  if (rc != 0) luaL_error(L, "not enough memory");
  lcf_callbacks_run(L);   /* it may have waited for another's update */
}

/* get(k [, default]) */
static int l_dict_get(lua_State *L) {
  cf_dict *d = check_dict(L);
  luaL_checkany(L, 2);
  lua_settop(L, 3);
  if (!dict_push(L, d, 2)) lua_pushvalue(L, 3);
  return 1;
}

static int l_dict_set(lua_State *L) {
  cf_dict *d = check_dict(L);
  luaL_checkany(L, 2);
  lua_settop(L, 3);
  dict_store(L, d, 2, 3);
  return 0;
}

/* __index: methods first (so d:get works), then the entries. A key that
** is a method's name reads with d:get(key). */
static int l_dict_index(lua_State *L) {
  cf_dict *d = check_dict(L);
  lua_settop(L, 2);
  if (lua_type(L, 2) == LUA_TSTRING) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
  }
  dict_push(L, d, 2);
  return 1;
}

static int l_dict_newindex(lua_State *L) {
  cf_dict *d = check_dict(L);
  lua_settop(L, 3);
  dict_store(L, d, 2, 3);
  return 0;
}

/* In protected mode, with the update lock held: (d, fn, keybuf). */
static int update_body(lua_State *L) {
  cf_dict *d = lcf_toobject(L, 1);
  const cf_buffer *k = lua_touserdata(L, 3);
  uint64_t me = cf_thread_ident();
  cf_buffer *out = lcf_newbuffer(L);              /* 4 */
  int rc = cf_dict_get(d, k->data, k->len, out);
  if (rc < 0) return luaL_error(L, "not enough memory");
  lua_pushvalue(L, 2);                            /* 5: fn */
  if (rc == 1) push_decoded(L, out);
  else lua_pushnil(L);
  lua_call(L, 1, 1);                              /* 5: new value */
  if (lua_isnil(L, 5)) {
    cf_dict_delete_owned(d, me, k->data, k->len);
  } else {
    cf_buffer *val = lcf_newbuffer(L);            /* 6 */
    lcf_encode(L, 5, 1, val, &value_opts);
    if (cf_dict_set_owned(d, me, k->data, k->len, val) != 0)
      return luaL_error(L, "not enough memory");
    lua_pop(L, 1);
  }
  return 1;
}

/* update(k, fn) -> the new value: d[k] = fn(d[k]), atomically with
** respect to every other update, set and delete of d. fn runs here, in
** the caller, with the update lock held by this thread; it is released
** before any error of fn is raised again. */
static int l_dict_update(lua_State *L) {
  cf_dict *d = check_dict(L);
  uint64_t me = cf_thread_ident();
  cf_buffer *k;
  int kidx, kbuf, status;
  luaL_checkany(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  kidx = check_key(L, 2);
  k = lcf_newbuffer(L);          /* its own: fn may use the scratch one */
  kbuf = lua_gettop(L);
  lcf_encode(L, kidx, 1, k, &key_opts);
  lua_pushcfunction(L, update_body);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, kbuf);
  cf_dict_update_begin(d, me);   /* blocks in C; nothing raises until end */
  status = lua_pcall(L, 3, 1, 0);
  cf_dict_update_end(d, me);
  lcf_callbacks_run(L);
  if (status != LUA_OK) return lua_error(L);
  return 1;
}

/* The key array of cf_dict_keys, owned by a userdata while the keys are
** decoded (decoding can raise). */
typedef struct keylist {
  cf_buffer *keys;
  size_t n;
} keylist;

static int keylist_gc(lua_State *L) {
  keylist *kl = lua_touserdata(L, 1);
  cf_dict_keys_free(kl->keys, kl->n);
  kl->keys = NULL;
  kl->n = 0;
  return 0;
}

/* Push a sequence of the keys of d, in insertion order. */
static void push_keys(lua_State *L, cf_dict *d) {
  keylist *kl = lua_newuserdatauv(L, sizeof *kl, 0);
  size_t i;
  kl->keys = NULL;
  kl->n = 0;
  if (luaL_newmetatable(L, "concurrent.keylist")) {
    lua_pushcfunction(L, keylist_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);                        /* kl */
  if (cf_dict_keys(d, &kl->keys, &kl->n) != 0)
    luaL_error(L, "not enough memory");
  lua_createtable(L, kl->n > INT32_MAX ? 0 : (int)kl->n, 0);  /* kl t */
  for (i = 0; i < kl->n; i++) {
    push_decoded(L, &kl->keys[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_remove(L, -2);                              /* t */
}

static int l_dict_keys(lua_State *L) {
  push_keys(L, check_dict(L));
  return 1;
}

/* pairs(d): the keys as they are now, each with its value when reached
** (keys deleted meanwhile are skipped). Upvalues: scratch, d, keys, i. */
static int dict_next(lua_State *L) {
  cf_dict *d = lcf_checkobject(L, lua_upvalueindex(2), LCF_DICT);
  lua_Integer i = lua_tointeger(L, lua_upvalueindex(4));
  for (;;) {
    i++;
    lua_settop(L, 0);
    if (lua_rawgeti(L, lua_upvalueindex(3), i) == LUA_TNIL) return 0;
    lua_pushinteger(L, i);
    lua_replace(L, lua_upvalueindex(4));
    if (dict_push(L, d, 1)) {                     /* key ... value */
      lua_pushvalue(L, 1);
      lua_insert(L, -2);
      return 2;
    }
  }
}

static int l_dict_pairs(lua_State *L) {
  cf_dict *d = check_dict(L);
  lua_pushvalue(L, lua_upvalueindex(1));          /* scratch */
  lua_pushvalue(L, 1);
  push_keys(L, d);
  lua_pushinteger(L, 0);
  lua_pushcclosure(L, dict_next, 4);
  return 1;
}

static int l_dict_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)cf_dict_len(check_dict(L)));
  return 1;
}

static int l_dict_tostring(lua_State *L) {
  cf_dict *d = check_dict(L);
  lua_pushfstring(L, "Dict: %p (%I items)", (void *)d, (LUAI_UACINT)cf_dict_len(d));
  return 1;
}

/* Dict([t]): a new dict, with t's entries copied in if given. */
static int l_dict_new(lua_State *L) {
  cf_dict *d;
  int top;
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  d = cf_dict_new();
  if (d == NULL) return luaL_error(L, "not enough memory");
  lcf_pushbox(L, LCF_DICT, d);                    /* 2 */
  if (lua_istable(L, 1)) {
    lua_pushnil(L);
    while (lua_next(L, 1)) {                      /* 3 key, 4 value */
      top = lua_gettop(L);
      dict_store(L, d, 3, 4);
      lua_settop(L, top - 1);
    }
  }
  return 1;
}

static const luaL_Reg dict_methods[] = {
  {"get", l_dict_get},
  {"set", l_dict_set},
  {"update", l_dict_update},
  {"keys", l_dict_keys},
  {"len", l_dict_len},
  {NULL, NULL}
};

static const luaL_Reg dict_meta[] = {
  {"__newindex", l_dict_newindex},
  {"__len", l_dict_len},
  {"__pairs", l_dict_pairs},
  {"__tostring", l_dict_tostring},
  {NULL, NULL}
};

void lcf_store_open(lua_State *L) {
  int mt, scratch, methods;
  cf_buffer *k;
  lcf_newclass(L, LCF_VALUE, value_methods);
  lua_pop(L, 1);
  lua_pushcfunction(L, l_value_new);
  lua_setfield(L, -2, "Value");

  lcf_newclass(L, LCF_DICT, NULL);
  mt = lua_gettop(L);
  k = lua_newuserdatauv(L, sizeof *k, 0);         /* the key scratch */
  cf_buffer_init(k);
  lua_newtable(L);
  lua_pushcfunction(L, key_buffer_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  scratch = lua_gettop(L);
  lua_newtable(L);
  methods = lua_gettop(L);
  lua_pushvalue(L, scratch);
  luaL_setfuncs(L, dict_methods, 1);
  lua_pushvalue(L, mt);
  lua_pushvalue(L, scratch);
  luaL_setfuncs(L, dict_meta, 1);
  lua_pop(L, 1);
  lua_pushvalue(L, scratch);
  lua_pushvalue(L, methods);
  lua_pushcclosure(L, l_dict_index, 2);
  lua_setfield(L, mt, "__index");
  lua_pushvalue(L, scratch);
  lua_pushcclosure(L, l_dict_new, 1);
  lua_setfield(L, mt - 1, "Dict");
  lua_settop(L, mt - 1);
}
