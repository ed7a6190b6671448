/*
** inbox.c -- done-callbacks, run in the state that added them.
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

#include "../../core/object.h"
#include "inbox.h"
#include "record.h"
#include "errors.h"

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

/* The state closes (its close registry, first of all). */
static void inbox_close(void *record) {
  lcf_state *s = record;
  lcf_inbox *ib = s->inbox;
  entry *e, *next;
  if (ib == NULL) return;
  s->inbox = NULL;
  cf_mutex_lock(&ib->mu);
  ib->closed = 1;
  e = ib->head;
  ib->head = NULL;
  ib->tail = &ib->head;
  cf_mutex_unlock(&ib->mu);
  for (; e != NULL; e = next) {   /* the registry goes with the state */
    next = e->next;
    free(e);
    cf_release(ib);
  }
  cf_release(ib);
}

static const lcf_close_kind inbox_closer = {
  .order = LCF_CLOSE_INBOX,
  .close = inbox_close,
};

/* The inbox is made on a state's first add_done_callback; the state's
** close registry closes it. */
static lcf_inbox *get_inbox(lua_State *L) {
  lcf_state *s = lcf_getstate(L);
  if (s->inbox == NULL) {
    lcf_inbox *ib;
    lcf_close_reserve(L);
    ib = calloc(1, sizeof *ib);
    if (ib == NULL) luaL_error(L, "not enough memory");
    cf_object_init(ib, &inbox_kind);
    cf_mutex_init(&ib->mu);
    ib->tail = &ib->head;
    s->inbox = ib;
    lcf_close_add(L, &inbox_closer, s);
  }
  return s->inbox;
}

/* Core callback: any thread. No Lua here. */
static void on_done(cf_future *f, void *ud) {
  entry *e = ud;
  lcf_inbox *ib = e->inbox;
  (void)f;
  cf_mutex_lock(&ib->mu);
  if (ib->closed) {
    cf_mutex_unlock(&ib->mu);
    free(e);
    cf_release(ib);
    return;
  }
  e->next = NULL;
  *ib->tail = e;
  ib->tail = &e->next;
  atomic_fetch_add(&ib->queued, 1);
  cf_mutex_unlock(&ib->mu);
}

/* Report a failed callback. The handler below already made the message a
** string with a traceback; anything else (a failing handler, no memory)
** is reported by its type, so reporting itself never raises. */
static void report(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "exception calling callback for future: %s\n",
          msg ? msg : luaL_typename(L, -1));
  fflush(stderr);
  lua_pop(L, 1);
}

/* Message handler: the error's text (lcf_error_text) followed by the
** traceback. An error in here makes the pcall return
** LUA_ERRERR with a string, which report() handles too. */
static int traceback_handler(lua_State *L) {
  luaL_traceback(L, L, lcf_error_text(L, 1), 1);
  return 1;
}

void lcf_inbox_call(lua_State *L) {
  lua_pushcfunction(L, traceback_handler);
  lua_insert(L, -3);                        /* handler fn future */
  if (lua_pcall(L, 1, 0, -3) != LUA_OK) report(L);
  lua_pop(L, 1);                            /* handler */
}

/* Run what is queued for L, in arrival order. The queue is taken whole
** first, so a callback that makes a blocking call (which runs this again)
** only sees the entries that arrived after. Nothing here raises: the
** callbacks run protected and reporting does not allocate. */
int lcf_callbacks_run(lua_State *L) {
  lcf_state *s = lcf_getstate(L);
  lcf_inbox *ib = s->inbox;
  entry *e, *next;
  int n = 0;
  if (ib == NULL || atomic_load(&ib->queued) == 0) return 0;
  if (!lua_checkstack(L, 8)) return 0;     /* try again at the next call */
  cf_mutex_lock(&ib->mu);
  e = ib->head;
  ib->head = NULL;
  ib->tail = &ib->head;
  atomic_store(&ib->queued, 0);
  cf_mutex_unlock(&ib->mu);
  for (; e != NULL; e = next) {
    next = e->next;
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);      /* {fn, future} */
    luaL_unref(L, LUA_REGISTRYINDEX, e->ref);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    lua_remove(L, -3);                              /* fn future */
    free(e);
    cf_release(ib);
    lcf_inbox_call(L);
    n++;
  }
  return n;
}

/* The entry is allocated before the core registration, so once the core
** has it nothing below can fail. */
void lcf_inbox_watch(lua_State *L, cf_future *f) {
  lcf_inbox *ib = get_inbox(L);
  entry *e;
  int ref;
  lua_createtable(L, 2, 0);
  lua_rotate(L, -3, 1);                      /* t fn future */
  lua_rawseti(L, -3, 2);
  lua_rawseti(L, -2, 1);
  ref = luaL_ref(L, LUA_REGISTRYINDEX);      /* raises only for memory */
  e = malloc(sizeof *e);
  if (e == NULL) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    luaL_error(L, "not enough memory");
    return;
  }
  e->ref = ref;
  e->inbox = cf_retain(ib);
  if (cf_future_add_done_callback(f, on_done, e) != 0) {
    luaL_unref(L, LUA_REGISTRYINDEX, e->ref);
    cf_release(ib);
    free(e);
    luaL_error(L, "not enough memory");
  }
}
