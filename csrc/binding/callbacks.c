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
** The inbox also carries other runnable items (lcf_item): spawn.c queues
** the coroutines to resume there. Once a host has asked for futures.fd(),
** the inbox has an eventfd, written when an item arrives in an empty inbox
** and drained when the queue is taken, so it is readable exactly while
** items wait.
**
** Lock order: a future's mutex is never held when the inbox lock is taken
** (the core calls callbacks after unlocking the future). A waiter's notify
** (spawn.c) takes the inbox lock under the future's stripe and the
** waiter's mutex: the inbox lock is a leaf, nothing is taken under it.
*/
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <lauxlib.h>

#include "../core/object.h"
#include "callbacks.h"
#include "future.h"
#include "objects.h"
#include "spawn.h"
#include "state.h"

typedef struct entry {
  lcf_item item;             /* first: the queue holds items */
  struct lcf_inbox *inbox;   /* retained */
  int ref;                   /* registry: {fn, future} */
} entry;

struct lcf_inbox {
  cf_object hdr;
  pthread_mutex_t mu;
  lcf_item *head, **tail;
  atomic_int queued;
  int closed;
  int efd;                   /* eventfd, or -1 until lcf_inbox_fd */
  atomic_int poked;          /* raised with nothing queued: drain it */
  int budgeted;              /* budgeted runs in progress (state's thread) */
};

static void inbox_destroy(void *obj) {
  lcf_inbox *ib = obj;
  if (ib->efd >= 0) close(ib->efd);
  pthread_mutex_destroy(&ib->mu);
  free(ib);
}

/* Under ib->mu. Keeps the eventfd readable while items wait (a write
** only on the empty -> non-empty edge, a read when the queue is taken). */
static void fd_raise(lcf_inbox *ib) {
  uint64_t one = 1;
  if (ib->efd >= 0 && write(ib->efd, &one, sizeof one) < 0) {
    /* EAGAIN: the counter is full, so it is readable anyway */
  }
}

static void fd_drain(lcf_inbox *ib) {
  uint64_t n;
  if (ib->efd >= 0 && read(ib->efd, &n, sizeof n) < 0) {
    /* EAGAIN: nothing to drain */
  }
}

/* Any thread. 0, or -1 when the state has closed (the caller drops it). */
int lcf_inbox_push(lcf_inbox *ib, lcf_item *it) {
  cf_lock(&ib->mu);
  if (ib->closed) {
    cf_unlock(&ib->mu);
    return -1;
  }
  it->next = NULL;
  if (ib->head == NULL) fd_raise(ib);
  *ib->tail = it;
  ib->tail = &it->next;
  atomic_fetch_add(&ib->queued, 1);
  cf_unlock(&ib->mu);
  return 0;
}

/* Any thread: make the eventfd readable without queuing anything (a
** state blocked on its poll fd wakes and looks again). */
void lcf_inbox_poke(lcf_inbox *ib) {
  cf_lock(&ib->mu);
  fd_raise(ib);
  atomic_store(&ib->poked, 1);
  cf_unlock(&ib->mu);
}

/* The eventfd, made on first use: -1 with errno when it cannot be. */
int lcf_inbox_fd(lcf_inbox *ib) {
  int fd;
  cf_lock(&ib->mu);
  if (ib->efd < 0) {
    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd >= 0) {
      ib->efd = fd;
      if (ib->head != NULL) fd_raise(ib);
    }
  }
  fd = ib->efd;
  cf_unlock(&ib->mu);
  return fd;
}

static const cf_kind inbox_kind = {"inbox", inbox_destroy};

void lcf_callbacks_close(lcf_state *s) {
  lcf_inbox *ib = s->inbox;
  lcf_item *e, *next;
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
    e->run(NULL, e);
  }
  cf_release(ib);
}

/* The inbox is made on a state's first add_done_callback (or spawn, or
** fd); the state's finalizer closes it (lcf_callbacks_close). NULL when
** out of memory. */
lcf_inbox *lcf_inbox_get(lua_State *L) {
  lcf_state *s = lcf_getstate(L);
  if (s->inbox == NULL) {
    lcf_inbox *ib = calloc(1, sizeof *ib);
    if (ib == NULL) return NULL;
    cf_object_init(ib, &inbox_kind);
    cf_mutex_init(&ib->mu);
    ib->tail = &ib->head;
    ib->efd = -1;
    s->inbox = ib;
  }
  return s->inbox;
}

static lcf_inbox *get_inbox(lua_State *L) {
  lcf_inbox *ib = lcf_inbox_get(L);
  if (ib == NULL) luaL_error(L, "not enough memory");
  return ib;
}

static void run_entry(lua_State *L, lcf_item *it);

/* Core callback: any thread. No Lua here. */
static void on_done(cf_future *f, void *ud) {
  entry *e = ud;
  (void)f;
  if (lcf_inbox_push(e->inbox, &e->item) != 0) run_entry(NULL, &e->item);
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

/* A done-callback's entry: call fn(future) (L NULL: the state closed,
** and the registry goes with it). */
static void run_entry(lua_State *L, lcf_item *it) {
  entry *e = (entry *)it;
  lcf_inbox *ib = e->inbox;
  if (L != NULL) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);      /* {fn, future} */
    luaL_unref(L, LUA_REGISTRYINDEX, e->ref);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    lua_remove(L, -3);                              /* fn future */
  }
  free(e);
  cf_release(ib);
  if (L != NULL) call_reported(L);
}

/* Run what is queued for L, in arrival order, within the budget: at most
** max_items (< 0: no limit; 0: none), and no new item once max_seconds
** (< 0: none) have passed; at least one item runs if any waits and
** max_items is not 0. Due coroutine timers (spawn.c) are turned into
** items first. The queue is taken whole first, so a callback that makes a
** blocking call (which runs this again) only sees the entries that
** arrived after; what the budget leaves is put back in front. *more (may
** be NULL): whether items still wait. Nothing here raises: the items run
** protected and reporting does not allocate.
**
** implicit: run by a blocking call, not by poll. Those run nothing inside
** a budgeted poll or a resumed coroutine, so that neither a budget nor
** the C stack is overrun by a resumed coroutine whose blocking calls
** resume the next ones: what arrives waits for the poll in progress. */
static int run_queue(lua_State *L, int max_items, double max_seconds,
                     int *more, int implicit) {
  lcf_state *s = lcf_getstate(L);
  lcf_inbox *ib = s->inbox;
  lcf_item *e, *next;
  double start = max_seconds >= 0 ? cf_monotonic() : 0;
  int n = 0, budgeted = max_items >= 0 || max_seconds >= 0;
  if (more) *more = 0;
  if (ib == NULL || (implicit && ib->budgeted > 0)) return 0;
  if (atomic_load(&ib->poked)) {   /* else the fd stays readable, empty */
    cf_lock(&ib->mu);
    atomic_store(&ib->poked, 0);
    if (ib->head == NULL) fd_drain(ib);
    cf_unlock(&ib->mu);
  }
  if (s->spawn != NULL && !lcf_spawn_before_run(L, s, implicit)) {
    if (more) *more = atomic_load(&ib->queued) > 0;
    return 0;
  }
  if (atomic_load(&ib->queued) == 0) return 0;
  if (max_items == 0 || !lua_checkstack(L, 8)) {   /* try again later */
    if (more) *more = 1;
    return 0;
  }
  cf_lock(&ib->mu);
  e = ib->head;
  ib->head = NULL;
  ib->tail = &ib->head;
  atomic_store(&ib->queued, 0);
  fd_drain(ib);
  cf_unlock(&ib->mu);
  ib->budgeted += budgeted;
  for (; e != NULL; e = next) {
    if (n > 0 && ((max_items >= 0 && n >= max_items) ||
                  (max_seconds >= 0 && cf_monotonic() - start >= max_seconds)))
      break;
    next = e->next;
    e->run(L, e);
    n++;
  }
  ib->budgeted -= budgeted;
  if (e != NULL) {                          /* over budget: put back */
    lcf_item **last = &e->next;
    int left = 1;
    while (*last != NULL) {
      last = &(*last)->next;
      left++;
    }
    cf_lock(&ib->mu);
    if (ib->head == NULL) {
      fd_raise(ib);
      ib->tail = last;
    }
    *last = ib->head;
    ib->head = e;
    atomic_fetch_add(&ib->queued, left);
    cf_unlock(&ib->mu);
  }
  if (more) *more = atomic_load(&ib->queued) > 0;
  return n;
}

int lcf_callbacks_run_budget(lua_State *L, int max_items, double max_seconds,
                             int *more) {
  return run_queue(L, max_items, max_seconds, more, 0);
}

int lcf_callbacks_run(lua_State *L) {
  lcf_state *s = lcf_getstate(L);
  if (s->inbox == NULL ||
      (atomic_load(&s->inbox->queued) == 0 && s->spawn == NULL))
    return 0;
  return run_queue(L, -1, -1, NULL, 1);
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
  if (e != NULL) e->item.run = run_entry;
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

/* poll([{max_callbacks = n, max_seconds = s, idle = s}]) -> ran, more.
** idle: sleep that long first: with max_callbacks = 0, the rest of a frame
** loop's frame, which any other sleep of the library would spend running
** all that is queued, whatever the budget. */
static int l_poll(lua_State *L) {
  int max_items = -1, more, n;
  double max_seconds = -1, idle = 0;
  if (!lua_isnoneornil(L, 1)) {
    luaL_argexpected(L, lua_istable(L, 1), 1, "table or nil");
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
      if (strcmp(k, "max_callbacks") == 0) {
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint || v < 0)
          return luaL_argerror(L, 1, lua_pushfstring(L,
            "max_callbacks must be a non-negative integer, got %s",
            luaL_tolstring(L, -1, NULL)));
        max_items = v > INT_MAX ? INT_MAX : (int)v;
      } else if (strcmp(k, "max_seconds") == 0) {
        lua_Number v = lua_tonumber(L, -1);
        if (!lua_isnumber(L, -1) || !(v >= 0))
          return luaL_argerror(L, 1, lua_pushfstring(L,
            "max_seconds must be a non-negative number, got %s",
            luaL_tolstring(L, -1, NULL)));
        max_seconds = (double)v;
      } else if (strcmp(k, "idle") == 0) {
        lua_Number v = lua_tonumber(L, -1);
        if (!lua_isnumber(L, -1) || !(v >= 0))
          return luaL_argerror(L, 1, lua_pushfstring(L,
            "idle must be a non-negative number of seconds, got %s",
            luaL_tolstring(L, -1, NULL)));
        idle = (double)v;
      } else {
        return luaL_argerror(L, 1, lua_pushfstring(L,
          "unknown option '%s' (max_callbacks, max_seconds or idle expected)",
          luaL_tolstring(L, -2, NULL)));
      }
      lua_pop(L, 1);
    }
  }
  if (idle > 0) cf_sleep(idle);
  n = lcf_callbacks_run_budget(L, max_items, max_seconds, &more);
  lua_pushinteger(L, n);
  lua_pushboolean(L, more);
  return 2;
}

void lcf_callbacks_open(lua_State *L) {
  luaL_getmetatable(L, LCF_FUTURE);
  lua_pushcfunction(L, l_add_done_callback);
  lua_setfield(L, -2, "add_done_callback");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_poll);
  lua_setfield(L, -2, "poll");
}
