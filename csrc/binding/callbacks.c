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
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>

#include "../core/object.h"
#include "callbacks.h"
#include "future.h"
#include "objects.h"
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

void lcf_callbacks_close(lcf_state *s) {
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

/* The inbox is made on a state's first add_done_callback; the state's
** finalizer closes it (lcf_callbacks_close). */
static lcf_inbox *get_inbox(lua_State *L) {
  lcf_state *s = lcf_getstate(L);
  if (s->inbox == NULL) {
    lcf_inbox *ib = calloc(1, sizeof *ib);
    if (ib == NULL) luaL_error(L, "not enough memory");
    cf_object_init(ib, &inbox_kind);
    cf_mutex_init(&ib->mu);
    ib->tail = &ib->head;
    s->inbox = ib;
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

/* Message handler: the error as a string (its __tostring if it has one)
** followed by the traceback. An error in here makes the pcall return
** LUA_ERRERR with a string, which report() handles too. */
static int traceback_handler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = luaL_tolstring(L, 1, NULL);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Call the function at -2 with the future at -1, reporting errors. Pops
** both. */
static void call_reported(lua_State *L) {
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
    lua_remove(L, -3);                              /* fn future */
    free(e);
    cf_release(ib);
    call_reported(L);
    n++;
  }
  return n;
}

/* f:add_done_callback(fn): fn(f) at once if f is done, else queued on this
** state's inbox when f finishes (in whatever thread) and run here. The
** entry is allocated before the core registration, so once the core has
** it nothing below can fail. */
static int l_add_done_callback(lua_State *L) {
  cf_future *f = lcf_checkfuture(L, 1);
  lcf_inbox *ib;
  entry *e;
  int ref;
  luaL_argexpected(L, lcf_callable(L, 2), 2, "function");
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
  ref = luaL_ref(L, LUA_REGISTRYINDEX);      /* raises only for memory */
  e = malloc(sizeof *e);
  if (e == NULL) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return luaL_error(L, "not enough memory");
  }
  e->ref = ref;
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

/* ---------------------------------------------------------------------- */
/* Waiting in slices, so that Ctrl-C works.                                */
/*
** lua.c answers SIGINT by setting a hook on the main state (lstop, which
** raises "interrupted!" at the next call, return or instruction). A C
** function asleep in a condition wait never gives it that chance, so a
** blocking call wakes every LCF_SLICE seconds and, if the hook of its
** state (or, in a coroutine, of the main thread) has changed since the
** call began, calls a no-op C function: the call hook fires and lstop
** raises. It runs under lua_pcall, between slices, when the core holds
** no mutex, so each caller can undo what it must before raising again.
** 0.1 s is a fifth of the 0.5 s promised even on a loaded machine; ten
** wake-ups a second cost a few microseconds of CPU each. Threads that
** block SIGINT (every thread the library starts) cannot be reached by
** the signal: they wait in one piece and never wake for nothing.
*/

static void note_hook(lcf_watch *w, int i, lua_State *S) {
  w->hook[i] = lua_gethook(S);
  w->mask[i] = lua_gethookmask(S);
  w->count[i] = lua_gethookcount(S);
}

static int hook_changed(lcf_watch *w, int i, lua_State *S) {
  return lua_gethook(S) != w->hook[i] || lua_gethookmask(S) != w->mask[i] ||
         lua_gethookcount(S) != w->count[i];
}

void lcf_watch_start(lcf_watch *w, lua_State *L) {
  sigset_t mask;
  w->L = L;
  w->main = NULL;
  w->active = pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0 &&
              !sigismember(&mask, SIGINT);
  if (!w->active) return;
  note_hook(w, 0, L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  w->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  if (w->main == L) w->main = NULL;
  else note_hook(w, 1, w->main);
}

static int noop(lua_State *L) {
  (void)L;
  return 0;
}

int lcf_watch_check(lcf_watch *w) {
  lua_State *L = w->L;
  lcf_watch mine;
  int from_main, status;
  if (!w->active) return 0;
  if (hook_changed(w, 0, L)) from_main = 0;
  else if (w->main != NULL && hook_changed(w, 1, w->main)) from_main = 1;
  else return 0;
  if (from_main) {   /* a coroutine: run the main thread's hook here */
    note_hook(w, 1, w->main);
    note_hook(&mine, 0, L);
    lua_sethook(L, w->hook[1], w->mask[1], w->count[1]);
  }
  lua_pushcfunction(L, noop);
  status = lua_pcall(L, 0, 0, 0);
  if (from_main) lua_sethook(L, mine.hook[0], mine.mask[0], mine.count[0]);
  note_hook(w, 0, L);
  return status != LUA_OK;
}

int lcf_wait_p(lua_State *L, lcf_waitfn fn, void *ud, double timeout,
               int *raised) {
  lcf_watch w;
  double deadline = 0;
  int rc;
  *raised = 0;
  if (timeout == 0) return fn(ud, 0);
  lcf_watch_start(&w, L);
  if (!w.active) return fn(ud, timeout);
  if (timeout > 0) deadline = cf_monotonic() + timeout;
  for (;;) {
    double slice = LCF_SLICE;
    if (timeout > 0) {
      double left = deadline - cf_monotonic();
      if (left < slice) slice = left > 0 ? left : 0;
    }
    rc = fn(ud, slice);
    if (rc != CF_ETIMEDOUT || slice == 0) return rc;
    if ((*raised = lcf_watch_check(&w)) != 0) return rc;
  }
}

int lcf_wait(lua_State *L, lcf_waitfn fn, void *ud, double timeout) {
  int raised, rc = lcf_wait_p(L, fn, ud, timeout, &raised);
  if (raised) lua_error(L);
  return rc;
}
