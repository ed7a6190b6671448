/*
** record.c -- the per-state record, kept as a userdata in the registry,
** and its close registry.
**
** The record's finalizer is made when the module is first opened in a
** state, before any box, so at lua_close it runs after every box's own
** finalizer: executors' finalizers shut their pools down without
** waiting, and this one then closes what was registered, in the order of
** lcf_close_order, so no worker thread or process outlives the state
** that made it (and the module's code, which is also pinned in memory).
** Entries registered in another process (a forked copy of the state) are
** not ours and are left alone.
*/
#include <stdlib.h>

#include <lauxlib.h>

#include "../../core/object.h"
#include "record.h"

static const char STATE_KEY = 's';


/* Written once, under module.c's pthread_once, before any worker exists. */
static lua_CFunction module_open;

void lcf_set_module_open(lua_CFunction open) {
  module_open = open;
}

lua_CFunction lcf_module_open(void) {
  return module_open;
}

static int state_gc(lua_State *L) {
  lcf_state *s = lua_touserdata(L, 1);
  pid_t self = cf_self_pid();
  int order;
  size_t i;
  for (order = 0; order < LCF_CLOSE_ORDERS; order++)
    for (i = 0; i < s->nclosers; i++) {
      lcf_closer *c = &s->closers[i];
      if ((int)c->kind->order == order && c->owner == self)
        c->kind->close(c->obj);
    }
  free(s->closers);
  s->closers = NULL;
  s->nclosers = s->cap = 0;
  if (s->thread_cfg) s->thread_cfg_free(s->thread_cfg);
  s->thread_cfg = NULL;
  return 0;
}

void lcf_state_open(lua_State *L) {
  lcf_state *s;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &STATE_KEY) != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  s = lua_newuserdatauv(L, sizeof *s, 0);
  *s = (lcf_state){0};
  lua_newtable(L);
  lua_pushcfunction(L, state_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &STATE_KEY);
}

lcf_state *lcf_getstate(lua_State *L) {
  lcf_state *s;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &STATE_KEY) == LUA_TNIL) {
    lua_pop(L, 1);
    lcf_state_open(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &STATE_KEY);
  }
  s = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return s;
}

/* Entries with nothing left to join are dropped, so a program that makes
** many executors or threads stays small. */
static void prune(lcf_state *s) {
  pid_t self = cf_self_pid();
  size_t i, j = 0;
  for (i = 0; i < s->nclosers; i++) {
    lcf_closer *c = &s->closers[i];
    if (c->owner == self && c->kind->finished && c->kind->finished(c->obj))
      c->kind->drop(c->obj);
    else
      s->closers[j++] = *c;
  }
  s->nclosers = j;
}

void lcf_close_reserve(lua_State *L) {
  lcf_state *s = lcf_getstate(L);
  if (s->nclosers < s->cap) return;
  prune(s);
  if (s->nclosers == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    lcf_closer *nc = realloc(s->closers, cap * sizeof *nc);
    if (nc == NULL) luaL_error(L, "not enough memory");
    s->closers = nc;
    s->cap = cap;
  }
}

void lcf_close_add(lua_State *L, const lcf_close_kind *kind, void *obj) {
  lcf_state *s = lcf_getstate(L);
  if (s->nclosers == s->cap) {
    /* The reserved room was taken meanwhile (a finalizer that made a
    ** thread or a pool, run by an allocation in between): grow, or, with
    ** no memory, close obj now rather than let it outlive the state. */
    size_t cap = s->cap ? s->cap * 2 : 8;
    lcf_closer *nc = realloc(s->closers, cap * sizeof *nc);
    if (nc == NULL) {
      kind->close(obj);
      return;
    }
    s->closers = nc;
    s->cap = cap;
  }
  s->closers[s->nclosers++] =
      (lcf_closer){.kind = kind, .obj = obj, .owner = cf_self_pid()};
}

void cf_lua_set_worker_setup(lua_State *L, cf_lua_setup_fn fn, void *ud) {
  lcf_state *s = lcf_getstate(L);
  s->setup = fn;
  s->setup_ud = ud;
}
