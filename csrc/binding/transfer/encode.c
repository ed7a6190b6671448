/*
** encode.c -- the encoder of the transfer layer: walks the values on the
** stack and writes them in the format described in transfer.c. Tables
** are numbered in a seen set (seen.c: a C hash of addresses kept in the
** state's context) so cycles and shared references cross as REF; the path of the
** value being written (args[2].file) is kept for errors; Lua functions
** cross as a proto (bytecode by reference, made once per function) or
** their bytecode inline, with their upvalues.
*/
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "../../core/object.h"
#include "../runtime/boxes.h"
#include "../runtime/errors.h"
#include "transfer.h"
#include "internal.h"

#define PROTO_BOX "concurrent.proto"

/* ---------------------------------------------------------------------- */
/* Encoding.                                                              */

enum { SEG_ROOT, SEG_FUNCTION, SEG_INDEX, SEG_KEY, SEG_META, SEG_UPVALUE,
       SEG_REDUCE };

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
  transfer_ctx *c;
  int cidx;              /* stack index of c's userdata */
  transfer_ctx *home;            /* the state's context (its scratch buffer) */
  uint32_t nnum;         /* numbered values started */
  int names_checked;     /* the names were found fresh in this encode */
  int depth;
  int npath;
  segment *path;         /* the walk's (MAX_PATH); the fast paths have none */
  int slot;              /* the to-be-closed slot of hold() */
  int room;              /* the stack has room up to this index (enter) */
  struct reducing *reducing; /* the values whose __reduce is being sent */
} enc;

#define MAX_PATH (LCF_MAX_DEPTH * 2 + 8)

static void push_path(enc *e, int kind, lua_Integer index, int key,
                      const char *name) {
  segment *s;
  if (e->npath >= MAX_PATH) {
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
  if (n > MAX_PATH) n = MAX_PATH;
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
      case SEG_REDUCE: luaL_addstring(&lb, "<__reduce>"); break;
      case SEG_UPVALUE:
        lua_pushfstring(L, "<upvalue %s>", s->name ? s->name : "?");
        luaL_addvalue(&lb);
        break;
    }
  }
  if (e->npath > n) luaL_addstring(&lb, "...");
  luaL_pushresult(&lb);
}

/* Mark the context in use by this encode (and the state's scratch buffer,
** if that is what is being filled) and push it as a to-be-closed value:
** any error unwinding past the encode (a refusal, or a memory error
** raised anywhere in the walk) closes it, which gives both back
** (transfer.c's ctx_close). A normal end keeps the scratch buffer, whose
** bytes the caller moves on: see let_go. */
static void hold(enc *e) {
  e->c->busy = 1;
  e->c->scratch_of = e->b == &e->home->scratch ? e->home : NULL;
  lua_pushvalue(e->L, e->cidx);
  e->slot = lua_gettop(e->L);
  lua_toclose(e->L, e->slot);
}

/* The encode is done: close the slot (top: the stack below hold's, so
** the slot is top + 1 or above). lua_closeslot, not lua_settop: Lua 5.4.4's
** lua_settop keeps a stack pointer across the __close call, which may
** move the stack (it did, in threads' small stacks). */
static void let_go(enc *e, int top) {
  e->c->scratch_of = NULL;
  lua_closeslot(e->L, e->slot);
  lua_settop(e->L, top);
}

static _Noreturn void enc_fail(enc *e, const char *msg) {
  luaL_error(e->L, "%s", msg);
  abort();
}

static _Noreturn void refuse(enc *e, const char *what, const char *why) {
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

/* The seen set (seen.c): address -> number; at[number]: the offset of
** its tag. */
static inline seen_slot *seen_find(enc *e, const void *p) {
  return lcf_seen_find(e->c, p);
}

static seen_slot *seen_add(enc *e, const void *p, uint32_t num, size_t at) {
  seen_slot *s = lcf_seen_add(e->c, p, num, at);
  if (s == NULL) enc_fail(e, "not enough memory");
  return s;
}

/* A repeat: mark the first copy shared and refer to it. */
static int put_seen_ref(enc *e, const void *p) {
  seen_slot *s = seen_find(e, p);
  if (s == NULL) return 0;
  e->b->data[e->c->at[s->num]] |= T_SHARED;
  put_byte(e, T_REF);
  put_varint(e, s->num);
  return 1;
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

static inline void put_integer(enc *e, lua_Integer v) {
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
}

/* A number, inline in the loops that meet many. */
static inline void put_number(enc *e, lua_State *L, int idx) {
  unsigned char *q;
  if (lua_isinteger(L, idx)) {
    put_integer(e, lua_tointeger(L, idx));
  } else {
    double dv = (double)lua_tonumber(L, idx);
    q = room(e, 9);
    q[0] = T_FLOAT;
    memcpy(q + 1, &dv, 8);
    e->b->len += 9;
  }
}

/* One level deeper: the depth limit, and room on the stack for the
** level (a table's walk pushes a key, a value and its metatable; a
** function an upvalue; __reduce checks for its results itself). Room that
** lua_checkstack made stays while this C call runs (it raises the call's
** stack top, below which Lua never shrinks the stack), so the stack is
** asked for 80 slots only when fewer than 40 are known free: a record's
** table no longer pays a lua_checkstack. LuaJIT shrinks a stack below a C
** call's reservation in its collector: there every level asks. */
static void enter(enc *e, const char *what) {
  int top;
  if (++e->depth > LCF_MAX_DEPTH) {
    char why[64];
    snprintf(why, sizeof why, "nested deeper than %d levels", LCF_MAX_DEPTH);
    refuse(e, what, why);
  }
  top = lua_gettop(e->L);
  if (top + 40 > e->room || LCF_LUAJIT) {
    if (!lua_checkstack(e->L, 80)) enc_fail(e, "value nested too deeply");
    e->room = top + 80;
  }
}

/* A table's start: a reference if p was written before in this transfer
** (then 0), else its number in the seen set, its tag and room for its
** two counts, which table_counts fills in at the end; returns the tag's
** offset + 1 (the counts follow it). */
static size_t table_begin(enc *e, const void *p) {
  size_t at;
  if (put_seen_ref(e, p)) return 0;
  enter(e, "table");
  at = e->b->len;
  seen_add(e, p, e->nnum++, at);
  put_byte(e, T_TABLE);
  room(e, 8);
  e->b->len += 8;
  return at + 1;
}

static void table_counts(enc *e, size_t counts, uint32_t narr, uint32_t nhash) {
  memcpy(e->b->data + counts, &narr, 4);
  memcpy(e->b->data + counts + 4, &nhash, 4);
}

/* The array element k of type vt on the stack top (not popped): scalars
** cannot fail, so only the others get a path for errors. */
static void put_element(enc *e, int vt, lua_Integer k) {
  if (vt == LUA_TNUMBER) {
    put_number(e, e->L, -1);
  } else if (vt == LUA_TNIL || vt == LUA_TBOOLEAN || vt == LUA_TSTRING) {
    encode_value(e, -1, vt, 0);
  } else {
    push_path(e, SEG_INDEX, k, 0, NULL);
    encode_value(e, lua_gettop(e->L), vt, 0);
    e->npath--;
  }
}

/* One walk with lua_next: the array part comes first, in index order, so
** the leading run of keys 1, 2, 3, ... is written as the array section and
** every other entry (a key after a hole too) as a key/value pair. (A walk
** with rawgeti over 1..#t then lua_next for the rest visits the array
** part twice: lua_next from key #t would skip it, but only if #t is in
** the array part, which the API cannot tell.) idx is absolute, p the
** table's address, meta whether it had a metatable when encode_value
** looked (one without is not asked again). */
static void encode_table(enc *e, int idx, const void *p, int meta) {
  lua_State *L = e->L;
  lua_Integer k = 1;
  size_t counts = table_begin(e, p);
  uint32_t nhash = 0;
  int in_array = 1;
  if (counts == 0) return;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int vt;
    if (in_array) {
      if (lua_isinteger(L, -2) && lua_tointeger(L, -2) == k &&
          k < (lua_Integer)UINT32_MAX / 2) {
        /* An integer element (most large arrays) costs two API calls. */
        if (lua_isinteger(L, -1)) {
          put_integer(e, lua_tointeger(L, -1));
          k++;
          lua_pop(L, 1);
          continue;
        }
        put_element(e, lua_type(L, -1), k);
        k++;
        lua_pop(L, 1);
        continue;
      }
      in_array = 0;
    }
    vt = lua_type(L, -1);
    /* A string key with a scalar value (records): neither can fail, so
    ** no path; the bytes are encode_value's. */
    if ((vt == LUA_TNUMBER || vt == LUA_TSTRING || vt == LUA_TBOOLEAN) &&
        lua_type(L, -2) == LUA_TSTRING) {
      size_t n;
      const char *s = lua_tolstring(L, -2, &n);
      put_byte(e, T_STR);
      put_string(e, s, n);
      if (vt == LUA_TNUMBER) {
        put_number(e, L, -1);
      } else if (vt == LUA_TSTRING) {
        s = lua_tolstring(L, -1, &n);
        put_byte(e, T_STR);
        put_string(e, s, n);
      } else {
        put_byte(e, lua_toboolean(L, -1) ? T_TRUE : T_FALSE);
      }
      lua_pop(L, 1);
      nhash++;
      continue;
    }
    push_path(e, SEG_KEY, 0, lua_gettop(L) - 1, NULL);
    if (lua_type(L, -2) == LUA_TSTRING) {      /* a record's table field */
      size_t n;
      const char *s = lua_tolstring(L, -2, &n);
      put_byte(e, T_STR);
      put_string(e, s, n);
    } else {
      encode_value(e, lua_gettop(L) - 1, lua_type(L, -2), 0);
    }
    encode_value(e, lua_gettop(L), vt, 0);
    e->npath--;
    lua_pop(L, 1);
    nhash++;
  }
  table_counts(e, counts, (uint32_t)(k - 1), nhash);
  if (meta && lua_getmetatable(L, idx)) {
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

/* A proto box (the value of the protos table) holds one reference to
** its proto. */
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
  lua_getiuservalue(L, e->cidx, SLOT_PROTOS);         /* protos */
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
  e->home->dumps++;
  cf_object_init(pr, &lcf_proto_kind);
  pr->id = lcf_hash_bytes(b.data, b.len);
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
  lua_setiuservalue(L, e->cidx, SLOT_LAST_FUNCTION);
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

/* An upvalue already sent with another closure of this transfer: refer
** to it (marking that function shared, so the receiver keeps it), and
** return 1; or remember it as upvalue i of function num (tag at) and
** return 0. */
static int put_upvalue_ref(enc *e, int idx, int i, uint32_t num, size_t at) {
  const void *id = lua_upvalueid(e->L, idx, i);
  seen_slot *s;
  if (!LCF_HAS_UPVALUEJOIN) return 0;   /* Lua 5.1: each upvalue its own */
  s = seen_find(e, id);
  if (s == NULL) {
    seen_add(e, id, num, at)->up = i;
    return 0;
  }
  e->b->data[e->c->at[s->num]] |= T_SHARED;
  put_byte(e, T_UPREF);
  put_varint(e, s->num);
  put_byte(e, s->up);
  return 1;
}

static void encode_lfunction(enc *e, int idx) {
  lua_State *L = e->L;
  const char *name;
  int nup = 0, i, leaf = 1;
  const void *p = lua_topointer(L, idx);
  lcf_proto *pr;
  uint32_t num = e->nnum;
  size_t at = e->b->len;
  if (put_seen_ref(e, p)) return;
  enter(e, "function");
  while ((name = lua_getupvalue(L, idx, nup + 1)) != NULL) {
    if (!is_env_upvalue(L, name, lua_gettop(L))) leaf = 0;
    lua_pop(L, 1);
    nup++;
  }
  if (nup > 255) refuse(e, "function", "more than 255 upvalues");
  if (!leaf) seen_add(e, p, e->nnum++, at);
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
    } else if (!put_upvalue_ref(e, idx, i, num, at)) {
      push_path(e, SEG_UPVALUE, 0, 0, name);
      encode_value(e, lua_gettop(L), lua_type(L, -1), 1);
      e->npath--;
    }
    lua_pop(L, 1);
  }
  e->depth--;
}

/* ---------------------------------------------------------------------- */
/* Values with rules of their own: __reduce, C functions, light and full  */
/* userdata.                                                              */

/* The values whose __reduce is being sent (a chain on the C stack): one
** of them met again inside its own reduction cannot be rebuilt. */
struct reducing {
  const void *p;
  struct reducing *next;
};

/* Keep the n values from stack index first alive until the encode ends
** (the context's SLOT_KEEP, emptied when it closes): what __reduce made is
** in the seen set by address, which must not be reused meanwhile. */
static void keep_alive(enc *e, int first, int n) {
  lua_State *L = e->L;
  lua_Integer k;
  int i;
  if (lua_getiuservalue(L, e->cidx, SLOT_KEEP) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, e->cidx, SLOT_KEEP);
  }
  e->c->kept = 1;
  k = (lua_Integer)lua_rawlen(L, -1);
  for (i = 0; i < n; i++) {
    lua_pushvalue(L, first + i);
    lua_rawseti(L, -2, k + 1 + i);
  }
  lua_pop(L, 1);
}

/* A table or userdata whose metatable has __reduce: __reduce(v) returns
** a function and its arguments, sent by the usual rules; the receiver
** calls the function and takes its result. Numbered like a table, so a
** value met twice is rebuilt once. Returns 0 (nothing written) when
** there is no __reduce. */
static int encode_reduce(enc *e, int idx, const char *what) {
  lua_State *L = e->L;
  const void *p = lua_topointer(L, idx);
  struct reducing me, *r;
  int top = lua_gettop(L), n, i;
  if (luaL_getmetafield(L, idx, "__reduce") == LUA_TNIL) return 0;
  for (r = e->reducing; r; r = r->next)
    if (r->p == p) refuse(e, what, "its __reduce gives back the value itself");
  if (put_seen_ref(e, p)) {
    lua_settop(L, top);
    return 1;
  }
  enter(e, what);
  seen_add(e, p, e->nnum++, e->b->len);
  put_byte(e, T_REDUCE);
  lua_pushvalue(L, idx);                            /* __reduce v */
  if (lua_pcall(L, 1, LUA_MULTRET, 0) != LUA_OK) {
    lua_pushfstring(L, "its __reduce failed: %s", lcf_error_text(L, -1));
    refuse(e, what, lua_tostring(L, -1));
  }
  n = lua_gettop(L) - top;                          /* fn args... */
  if (n < 1 || !lcf_callable(L, top + 1))
    refuse(e, what, "its __reduce must return a function and arguments");
  if (n > 251) refuse(e, what, "its __reduce returned over 250 arguments");
  if (!lua_checkstack(L, 8)) enc_fail(e, "too many values");
  keep_alive(e, top + 1, n);
  put_byte(e, n - 1);
  me.p = p;
  me.next = e->reducing;
  e->reducing = &me;
  push_path(e, SEG_REDUCE, 0, 0, NULL);
  for (i = 1; i <= n; i++) encode_value(e, top + i, lua_type(L, top + i), 1);
  e->npath--;
  e->reducing = me.next;
  lua_settop(L, top);
  e->depth--;
  return 1;
}

/* A C function: by name if a loaded module has it (the receiver calls
** its own, with its own upvalues); else, without upvalues and between
** threads of one process, as itself (a reference to its address). */
static void encode_cfunction(enc *e, int idx) {
  lua_State *L = e->L;
  lcf_cfunc *cf;
  if (lcf_find_name(L, e->c, e->cidx, idx, &e->names_checked)) {
    put_name(e, T_CFUNC);       /* with upvalues too: LuaJIT's print has one */
    return;
  }
  if (lua_getupvalue(L, idx, 1)) {
    lua_pop(L, 1);
    refuse(e, "C function", "it has upvalues and no name in a loaded module");
  }
  if (!e->o->allow_objects)
    refuse(e, "C function", "not found in any loaded module");
  if ((cf = lcf_cfunc_new(lua_tocfunction(L, idx))) == NULL ||
      cf_buffer_add_ref(e->b, cf, NULL) != 0) {
    cf_release(cf);
    enc_fail(e, "not enough memory");
  }
  cf_release(cf);                                   /* the buffer has it */
  put_byte(e, T_CPTR);
}

/* A light userdata is a pointer: between threads of one process it
** crosses as itself; to another process only NULL (cjson.null) does. */
static void encode_light(enc *e, int idx) {
  void *p = lua_touserdata(e->L, idx);
  if (p != NULL && !e->o->allow_objects)
    refuse(e, "light userdata", "only a NULL one crosses to another process");
  put_byte(e, T_LIGHT);
  put_bytes(e, &p, sizeof p);
}

/* Pushes the type name of the userdata at idx (1), or nothing (0): its
** metatable's __name, which luaL_newmetatable sets since 5.3; before, the
** registry key it keeps the metatable under (an error's rare path). */
static int userdata_name(lua_State *L, int idx) {
  if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING) return 1;
#if LUA_VERSION_NUM < 503
  if (lua_getmetatable(L, idx)) {
    int mt = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, LUA_REGISTRYINDEX)) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, mt)) {
        lua_pop(L, 1);
        lua_remove(L, mt);                            /* the key */
        return 1;
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
#endif
  return 0;
}

/* A slice (slice.c): written as a table whose array is t[i..j], read
** with rawgeti now, and no hash part or metatable. The view is the
** value: the same view twice in one transfer is one table there. Returns
** 0, nothing written, if the userdata at idx is not a slice. */
static int encode_slice(enc *e, int idx) {
  lua_State *L = e->L;
  lua_Integer i, j, k;
  size_t counts;
  int t;
  if (!lcf_slice_get(L, idx, &i, &j)) return 0;      /* t pushed */
  t = lua_gettop(L);
  counts = table_begin(e, lua_topointer(L, idx));
  if (counts != 0) {
    table_counts(e, counts, (uint32_t)(j >= i ? j - i + 1 : 0), 0);
    for (k = i; k <= j; k++) {
      put_element(e, lua_rawgeti(L, t, k), k - i + 1);
      lua_pop(L, 1);
    }
    put_byte(e, 0);                                /* no metatable */
    e->depth--;
  }
  lua_pop(L, 1);                                   /* t */
  return 1;
}

/* A full userdata that is not one of the library's objects or a host's
** shared type: rebuilt through __reduce, or refused by its kind. */
static void encode_userdata(enc *e, int idx) {
  lua_State *L = e->L;
  if (encode_reduce(e, idx, "userdata")) return;
  if (userdata_name(L, idx))
    refuse(e, lua_pushfstring(L, "userdata (%s)", lua_tostring(L, -1)), NULL);
  refuse(e, "userdata", NULL);
}

static void encode_value(enc *e, int idx, int type, int named) {
  lua_State *L = e->L;
  switch (type) {
    case LUA_TNIL: put_byte(e, T_NIL); break;
    case LUA_TBOOLEAN: put_byte(e, lua_toboolean(L, idx) ? T_TRUE : T_FALSE); break;
    case LUA_TNUMBER: put_number(e, L, idx); break;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      put_byte(e, T_STR);
      put_string(e, s, n);
      break;
    }
    case LUA_TTABLE: {
      /* Module tables cross by name at every depth (names.c): named,
      ** which said where names were looked up, no longer matters. A
      ** table without a metatable (most) has no __reduce to ask for;
      ** its address is taken once for the name filter and the seen set. */
      const void *p;
      (void)named;
      idx = lua_absindex(L, idx);
      p = lua_topointer(L, idx);
      if (lcf_maybe_named(e->c, p, e->names_checked) &&
          lcf_find_name(L, e->c, e->cidx, idx, &e->names_checked))
        put_name(e, T_NAMED);
      else if (!lua_getmetatable(L, idx))
        encode_table(e, idx, p, 0);
      else {
        lua_pop(L, 1);
        if (!encode_reduce(e, idx, "table")) encode_table(e, idx, p, 1);
      }
      break;
    }
    case LUA_TFUNCTION:
      idx = lua_absindex(L, idx);
      if (!lua_iscfunction(L, idx)) encode_lfunction(e, idx);
      else encode_cfunction(e, idx);
      break;
    case LUA_TUSERDATA: {
      void *obj = lcf_toobject(L, idx);
      if (obj == NULL) {
        idx = lua_absindex(L, idx);
        if (!encode_slice(e, idx)) encode_userdata(e, idx);
        break;
      }
      if (lcf_object_class(obj) == NULL) {   /* an executor, say */
        int named = luaL_getmetafield(L, idx, "__name") == LUA_TSTRING;
        refuse(e, named ? lua_tostring(L, -1) : "object",
               "it cannot cross to another state");
      }
      if (!e->o->allow_objects)
        refuse(e, lcf_shared_class(obj) ? lcf_shared_class(obj)
                                        : cf_kind_name(obj),
               e->o->refuse ? e->o->refuse : "objects cannot cross");
      if (cf_buffer_add_ref(e->b, obj, NULL) != 0)
        enc_fail(e, "not enough memory");
      put_byte(e, T_OBJ);
      lcf_remember_box(L, idx, obj);
      break;
    }
    case LUA_TTHREAD: refuse(e, "coroutine", NULL); break;
    case LUA_TLIGHTUSERDATA: encode_light(e, idx); break;
    default: refuse(e, luaL_typename(L, idx), NULL); break;
  }
}

/* Whether the n values from stack index first are all numbers, booleans
** or nils: the fast paths below write those without the walk. */
static int all_scalars(lua_State *L, int first, int n) {
  int i;
  for (i = 0; i < n; i++) {
    int t = lua_type(L, first + i);
    if (t != LUA_TNUMBER && t != LUA_TBOOLEAN && t != LUA_TNIL) return 0;
  }
  return 1;
}

static void put_scalars(enc *e, int first, int n) {
  lua_State *L = e->L;
  int i;
  for (i = 0; i < n; i++) {
    switch (lua_type(L, first + i)) {
      case LUA_TNUMBER: put_number(e, L, first + i); break;
      case LUA_TBOOLEAN:
        put_byte(e, lua_toboolean(L, first + i) ? T_TRUE : T_FALSE);
        break;
      default: put_byte(e, T_NIL); break;
    }
  }
}

/* The common task: a Lua function whose only upvalue, if any, is _ENV,
** with numbers, booleans or nils as arguments, written without the
** walk's bookkeeping (paths, seen set, depth checks). Returns 0, having
** written nothing, if the call is not like that. */
static int encode_simple_task(lua_State *L, int cidx, int first, int n,
                              cf_buffer *b, const lcf_encode_opts *o) {
  transfer_ctx *c = lua_touserdata(L, cidx);
  const char *name;
  lcf_proto *pr;
  int nup = 0, top;
  if (c->busy || !o->allow_objects || n > 100 || b->len != 0 ||
      lua_type(L, first) != LUA_TFUNCTION || lua_iscfunction(L, first))
    return 0;
  if (!all_scalars(L, first + 1, n - 1)) return 0;
  if ((name = lua_getupvalue(L, first, 1)) != NULL) {
    int env = strcmp(name, "_ENV") == 0;
    lua_pop(L, 1);
    if (!env || lua_getupvalue(L, first, 2) != NULL) {
      if (env) lua_pop(L, 1);
      return 0;
    }
    nup = 1;
  }
  luaL_checkstack(L, 8, "too many values");
  top = lua_gettop(L);
  enc e = {.L = L, .b = b, .o = o, .c = c, .home = c, .cidx = cidx};
  hold(&e);
  pr = get_proto(&e, first);
  if (cf_buffer_add_ref(b, pr, NULL) != 0) enc_fail(&e, "not enough memory");
  put_varint(&e, (uint64_t)n);
  put_byte(&e, T_PROTO);
  put_byte(&e, nup);
  if (nup) put_byte(&e, T_ENV);
  put_scalars(&e, first + 1, n - 1);
  let_go(&e, top);
  return 1;
}

/* Only numbers, booleans and nils (most task results): no context, no
** walk. Returns 0, having written nothing, otherwise. */
static int encode_scalars(lua_State *L, int first, int n, cf_buffer *b) {
  enc e = {.L = L, .b = b};
  if (n > 16 || !all_scalars(L, first, n)) return 0;
  if (cf_buffer_reserve(b, 1 + 9 * (size_t)n) != 0) return 0;
  put_varint(&e, (uint64_t)n);
  put_scalars(&e, first, n);
  return 1;
}

static void encode_with(lua_State *L, int cidx, int first, int n,
                        cf_buffer *b, const lcf_encode_opts *opts) {
  static const lcf_encode_opts defaults = {.root = "value", .bare = 1,
                                           .allow_objects = 1};
  enc e = {.L = L, .b = b};
  segment path[MAX_PATH];
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
  e.o = opts ? opts : &defaults;
  e.path = path;
  if (cidx == 0) {
    lcf_transfer_context(L);
    cidx = lua_gettop(L);
  }
  e.cidx = cidx;
  e.c = e.home = lua_touserdata(L, cidx);
  if (e.c->busy) {                   /* a finalizer encoding mid-encode */
    e.c = lcf_ctx_new(L);
    e.cidx = lua_gettop(L);
  }
  hold(&e);
  lcf_seen_begin(e.c);
  e.nnum = 0;
  e.names_checked = 0;
  e.depth = e.npath = 0;
  e.room = 0;
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
    if (i == 0 && t == LUA_TTABLE && e.o->fresh_root)
      /* no name to look up (a miss walks package.loaded: ~3,400
      ** instructions), and no metatable (l_start made it) */
      encode_table(&e, first, lua_topointer(L, first), 0);
    else
      encode_value(&e, first + i, t, 1);
    e.npath--;
  }
  let_go(&e, top);
}

#if !LCF_HAS_TBC
/* Before Lua 5.4 no to-be-closed slot gives the context back when an
** error unwinds past an encode (hold), so the encode runs under lua_pcall,
** with copies of the context and the values as arguments, and a failure
** closes the context (its __close, as 5.4 would) before going on. When
** the context was busy already, the encode used one of its own, whose
** close would only have given back the state's scratch buffer. */
typedef struct {
  int n;
  cf_buffer *b;
  const lcf_encode_opts *opts;
} encode_args;

static int encode_protected(lua_State *L) {
  const encode_args *a = lua_touserdata(L, 1);
  encode_with(L, 2, 3, a->n, a->b, a->opts);
  return 0;
}

/* What closing the context would give back (hold), and the scratch
** buffer also when the error came before hold marked it: nothing here
** may allocate, as the error may be a memory error. */
static void give_back(lua_State *L, int cidx, cf_buffer *b, int was_busy) {
  transfer_ctx *c = lua_touserdata(L, cidx);
  if (!was_busy) lcf_ctx_release(L, cidx);
  if (b == &c->scratch) {
    cf_buffer_reset(b);
    c->scratch_busy = 0;
  }
}

static char ENCODE_FN_KEY;

/* Nothing here allocates before the lua_pcall (a memory error would skip
** the give back): the stack is checked with lua_checkstack, and the
** protected function (a closure on 5.1 and LuaJIT) is made once. */
static void encode_closing(lua_State *L, int cidx, int first, int n,
                           cf_buffer *b, const lcf_encode_opts *opts) {
  encode_args a = {n, b, opts};
  int i, top = lua_gettop(L), was_busy;
  transfer_ctx *c;
  first = lua_absindex(L, first);
  if (!(opts && opts->fn_first) && encode_scalars(L, first, n, b)) return;
  if (cidx == 0) {
    lcf_transfer_context(L);
    cidx = lua_gettop(L);
  }
  cidx = lua_absindex(L, cidx);
  c = lua_touserdata(L, cidx);
  was_busy = c->busy;
  if (!lua_checkstack(L, n + 4)) {
    give_back(L, cidx, b, was_busy);
    luaL_error(L, "too many values");
  }
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ENCODE_FN_KEY) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    lua_pushcfunction(L, encode_protected);   /* the state's first encode */
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ENCODE_FN_KEY);
  }
  lua_pushlightuserdata(L, &a);
  lua_pushvalue(L, cidx);
  for (i = 0; i < n; i++) lua_pushvalue(L, first + i);
  if (lua_pcall(L, n + 2, 0, 0) != LUA_OK) {
    give_back(L, cidx, b, was_busy);
    lua_error(L);
  }
  lua_settop(L, top);
}
#endif

void lcf_encode_with(lua_State *L, int cidx, int first, int n,
                     cf_buffer *b, const lcf_encode_opts *opts) {
#if LCF_HAS_TBC
  encode_with(L, cidx, first, n, b, opts);
#else
  encode_closing(L, cidx, first, n, b, opts);
#endif
}

void lcf_encode(lua_State *L, int first, int n, cf_buffer *b,
                const lcf_encode_opts *opts) {
  lcf_encode_with(L, 0, first, n, b, opts);
}
