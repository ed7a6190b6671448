/*
** callbacks.c -- done-callbacks, run in the state that added them.
**
** A future may finish in any thread, but a Lua callback may only run in
** its own state. So the core callback only queues an entry on the adding
** state's inbox (a reference-counted C object: it outlives the state if a
** future still points at it); the state runs the queue in futures.poll()
** and after each of its blocking calls. The Lua function and the future
** object stay in the state's registry until the entry runs. An inbox is
** closed with its state, and entries that arrive later are dropped.
**
** Lock order: a future's mutex is never held when the inbox lock is taken
** (the core calls callbacks after unlocking the future).
*/
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>

#include "../core/object.h"
#include "callbacks.h"
#include "future.h"
#include "state.h"

typedef struct entry {
  struct lcf_inbox *inbox;   /* retained */
  int ref;                   /* registry: {fn, future} */
  struct entry *next;
} entry;

struct lcf_inbox {
  cf_object hdr;
  pthread_mutex_t mu;
  entry *head, **tail;
  atomic_int queued;
  int closed;
};

static void inbox_destroy(void *obj) {
  lcf_inbox *ib = obj;
  pthread_mutex_destroy(&ib->mu);
  free(ib);
}

static const cf_kind inbox_kind = {"inbox", inbox_destroy};

static void inbox_close(lcf_state *s) {
  lcf_inbox *ib = s->inbox;
  entry *e, *next;
  if (ib == NULL) return;
  s->inbox = NULL;
  cf_lock(&ib->mu);
  ib->closed = 1;
  e = ib->head;
  ib->head = NULL;
  ib->tail = &ib->head;
  cf_unlock(&ib->mu);
  for (; e != NULL; e = next) {   /* the registry goes with the state */
    next = e->next;
    free(e);
    cf_release(ib);
  }
  cf_release(ib);
}

static lcf_inbox *get_inbox(lua_State *L) {
  lcf_state *s = lcf_getstate(L);
  if (s->inbox == NULL) {
    lcf_inbox *ib = calloc(1, sizeof *ib);
    if (ib == NULL) luaL_error(L, "not enough memory");
    cf_object_init(ib, &inbox_kind);
    cf_mutex_init(&ib->mu);
    ib->tail = &ib->head;
    s->inbox = ib;
    lcf_state_on_close(L, inbox_close);
  }
  return s->inbox;
}

/* Core callback: any thread. No Lua here. */
static void on_done(cf_future *f, void *ud) {
  entry *e = ud;
  lcf_inbox *ib = e->inbox;
  (void)f;
  cf_lock(&ib->mu);
  if (ib->closed) {
    cf_unlock(&ib->mu);
    free(e);
    cf_release(ib);
    return;
  }
  e->next = NULL;
  *ib->tail = e;
  ib->tail = &e->next;
  atomic_fetch_add(&ib->queued, 1);
  cf_unlock(&ib->mu);
}

static void report(lua_State *L) {
  const char *msg = luaL_tolstring(L, -1, NULL);
  fprintf(stderr, "exception calling callback for future: %s\n", msg);
  fflush(stderr);
  lua_pop(L, 2);
}

static int traceback_handler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = luaL_tolstring(L, 1, NULL);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Call the function at -2 with the future at -1, reporting errors. */
static void call_reported(lua_State *L) {
  lua_pushcfunction(L, traceback_handler);
  lua_insert(L, -3);
  if (lua_pcall(L, 1, 0, -3) != LUA_OK) report(L);
  lua_pop(L, 1);
}

int lcf_callbacks_run(lua_State *L) {
  lcf_state *s = lcf_getstate(L);
  lcf_inbox *ib = s->inbox;
  entry *e, *next;
  int n = 0;
  if (ib == NULL || atomic_load(&ib->queued) == 0) return 0;
  cf_lock(&ib->mu);
  e = ib->head;
  ib->head = NULL;
  ib->tail = &ib->head;
  atomic_store(&ib->queued, 0);
  cf_unlock(&ib->mu);
  for (; e != NULL; e = next) {
    next = e->next;
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);      /* {fn, future} */
    luaL_unref(L, LUA_REGISTRYINDEX, e->ref);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    lua_remove(L, -3);
    free(e);
    cf_release(ib);
    call_reported(L);
    n++;
  }
  return n;
}

static int l_add_done_callback(lua_State *L) {
  cf_future *f = lcf_checkfuture(L, 1);
  lcf_inbox *ib;
  entry *e;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  if (cf_future_done(f)) {          /* at once, in the caller */
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 1);
    call_reported(L);
    return 0;
  }
  ib = get_inbox(L);
  lua_createtable(L, 2, 0);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 2);
  e = malloc(sizeof *e);
  if (e == NULL) return luaL_error(L, "not enough memory");
  e->ref = luaL_ref(L, LUA_REGISTRYINDEX);   /* cannot fail but for memory */
  e->inbox = cf_retain(ib);
  if (cf_future_add_done_callback(f, on_done, e) != 0) {
    luaL_unref(L, LUA_REGISTRYINDEX, e->ref);
    cf_release(ib);
    free(e);
    return luaL_error(L, "not enough memory");
  }
  lcf_callbacks_run(L);   /* it may have finished meanwhile */
  return 0;
}

static int l_poll(lua_State *L) {
  lua_pushinteger(L, lcf_callbacks_run(L));
  return 1;
}

void lcf_callbacks_open(lua_State *L) {
  luaL_getmetatable(L, LCF_FUTURE);
  lua_pushcfunction(L, l_add_done_callback);
  lua_setfield(L, -2, "add_done_callback");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_poll);
  lua_setfield(L, -2, "poll");
}
