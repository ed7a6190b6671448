/*
** sync_classes.c -- Lock, RLock, Condition, Semaphore/BoundedSemaphore, Event and
** Barrier for Lua, and the guard() handles of the lock-like ones. Queue
** is in queue_class.c, Value and Dict in store_classes.c.
**
** Each object is a box around a core object (core/sync.c), so it crosses
** into executor tasks and threads by reference. Every wait happens in C
** with the Lua state untouched, on CLOCK_MONOTONIC deadlines; after each
** blocking call the state's queued done-callbacks run, as everywhere in
** the library. RLock and Condition ownership is the calling thread's
** cf_thread_ident(), so a lock taken in one thread cannot be released by
** another (and coroutines of one thread share it, as in Python).
*/
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <lauxlib.h>

#include "../../core/object.h"
#include "../runtime/inbox.h"
#include "../runtime/errors.h"
#include "future_class.h"
#include "../runtime/boxes.h"
#include "../runtime/stop.h"
#include "sync_classes.h"

#define LCF_LOCK "concurrent.Lock"
#define LCF_RLOCK "concurrent.RLock"
#define LCF_CONDITION "concurrent.Condition"
#define LCF_SEMAPHORE "concurrent.Semaphore"
#define LCF_EVENT "concurrent.Event"
#define LCF_BARRIER "concurrent.Barrier"
#define LCF_GUARD "concurrent.Guard"

/* acquire([blocking=true [, timeout]]): arguments 2 and 3. */
static void acquire_args(lua_State *L, int *blocking, double *timeout) {
  if (lua_isnoneornil(L, 2)) *blocking = 1;
  else {
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    *blocking = lua_toboolean(L, 2);
  }
  *timeout = lcf_opttimeout(L, 3);
  if (!*blocking && !lua_isnoneornil(L, 3))
    luaL_argerror(L, 3, "cannot specify a timeout for a non-blocking call");
}

static int push_acquired(lua_State *L, int rc) {
  lcf_callbacks_run(L);
  if (rc == -EOVERFLOW) return luaL_error(L, "maximum recursion depth exceeded");
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* ---------------------------------------------------------------------- */
/* Guards: to-be-closed handles that release what guard() acquired.       */

enum { G_LOCK, G_RLOCK, G_CONDITION, G_SEMAPHORE };

typedef struct guard {
  void *obj;      /* retained; NULL once released */
  int kind;
} guard;

static int release_obj(void *obj, int kind) {
  switch (kind) {
    case G_LOCK: return cf_lock_release(obj);
    case G_RLOCK: return cf_rlock_release(obj, cf_thread_ident());
    case G_CONDITION: return cf_condition_release(obj, cf_thread_ident());
    default: return cf_semaphore_release(obj, 1);
  }
}

static int acquire_obj(void *obj, int kind, double timeout) {
  switch (kind) {
    case G_LOCK: return cf_lock_acquire(obj, 1, timeout);
    case G_RLOCK: return cf_rlock_acquire(obj, cf_thread_ident(), 1, timeout);
    case G_CONDITION:
      return cf_condition_acquire(obj, cf_thread_ident(), 1, timeout);
    default: return cf_semaphore_acquire(obj, 1, timeout);
  }
}

typedef struct acquiring {
  void *obj;
  int kind;
} acquiring;

static int acquire_slice(void *ud, double timeout) {
  acquiring *a = ud;
  return acquire_obj(a->obj, a->kind, timeout);
}

/* Acquire in slices (Ctrl-C); not blocking is a timeout of 0. */
static int acquire_sliced(lua_State *L, void *obj, int kind, int blocking,
                          double timeout) {
  acquiring a;
  a.obj = obj;
  a.kind = kind;
  return lcf_wait(L, acquire_slice, &a, blocking ? timeout : 0);
}

/* obj:guard([timeout]) -> a handle for `local _ <close> = ...`. The
** userdata is made before acquiring, so nothing can fail in between and
** leave the lock held with no handle. */
static int push_guard(lua_State *L, void *obj, int kind) {
  double timeout = lcf_opttimeout(L, 2);
  guard *g = lua_newuserdatauv(L, sizeof *g, 0);
  int rc;
  g->obj = NULL;
  g->kind = kind;
  luaL_setmetatable(L, LCF_GUARD);
  rc = acquire_sliced(L, obj, kind, 1, timeout);
  lcf_callbacks_run(L);
  if (rc == -EOVERFLOW) return luaL_error(L, "maximum recursion depth exceeded");
  if (rc != 0) return lcf_raise(L, "TimeoutError", "not acquired within %f s",
                                timeout);
  g->obj = cf_retain(obj);
  return 1;
}

static int l_guard_close(lua_State *L) {
  guard *g = luaL_checkudata(L, 1, LCF_GUARD);
  void *obj = g->obj;
  int rc;
  if (obj == NULL) return 0;   /* idempotent */
  g->obj = NULL;
  rc = release_obj(obj, g->kind);
  cf_release(obj);
  if (rc != 0) return luaL_error(L, "cannot release un-acquired lock");
  return 0;
}

/* Collected without being closed: drop the reference only. Releasing at
** some later collection would unlock at a random moment. */
static int l_guard_gc(lua_State *L) {
  guard *g = luaL_checkudata(L, 1, LCF_GUARD);
  void *obj = g->obj;
  g->obj = NULL;
  cf_release(obj);
  return 0;
}

static int l_guard_tostring(lua_State *L) {
  guard *g = luaL_checkudata(L, 1, LCF_GUARD);
  lua_pushfstring(L, "Guard: %p (%s)", (void *)g, g->obj ? "held" : "released");
  return 1;
}

static const luaL_Reg guard_mt[] = {
  {"__close", l_guard_close},
  {"__gc", l_guard_gc},
  {"__tostring", l_guard_tostring},
  {"release", l_guard_close},
  {NULL, NULL}
};

/* obj:with(fn, ...): fn(...) between obj:guard() and the guard's release,
** which runs whether fn returns or raises; returns fn's results or raises
** its error again. The `<close>` of guard() for every Lua version, in C
** so that every state's lock has it (a lock sent to a thread too). */
static int l_with(lua_State *L) {
  int status;
  luaL_argexpected(L, lcf_callable(L, 2), 2, "function");
  lua_getfield(L, 1, "guard");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);                              /* self fn args... guard */
  lua_insert(L, 2);                               /* self guard fn args... */
  status = lua_pcall(L, lua_gettop(L) - 3, LUA_MULTRET, 0);
  lua_getfield(L, 2, "release");
  lua_pushvalue(L, 2);
  lua_call(L, 1, 0);
  if (status != LUA_OK) return lua_error(L);
  return lua_gettop(L) - 2;
}

/* ---------------------------------------------------------------------- */
/* Lock.                                                                   */

static cf_lock *check_lock(lua_State *L) {
  return lcf_checkobject(L, 1, LCF_LOCK);
}

static int l_lock_new(lua_State *L) {
  cf_lock *l = cf_lock_new();
  if (l == NULL) return luaL_error(L, "not enough memory");
  lcf_pushbox(L, LCF_LOCK, l);
  return 1;
}

static int l_lock_acquire(lua_State *L) {
  cf_lock *l = check_lock(L);
  int blocking;
  double timeout;
  acquire_args(L, &blocking, &timeout);
  return push_acquired(L, acquire_sliced(L, l, G_LOCK, blocking, timeout));
}

static int l_lock_release(lua_State *L) {
  if (cf_lock_release(check_lock(L)) != 0)
    return luaL_error(L, "cannot release un-acquired lock");
  return 0;
}

static int l_lock_locked(lua_State *L) {
  lua_pushboolean(L, cf_lock_locked(check_lock(L)));
  return 1;
}

static int l_lock_guard(lua_State *L) {
  return push_guard(L, check_lock(L), G_LOCK);
}

static int l_lock_tostring(lua_State *L) {
  cf_lock *l = check_lock(L);
  lua_pushfstring(L, "Lock: %p (%s)", (void *)l,
                  cf_lock_locked(l) ? "locked" : "unlocked");
  return 1;
}

static const luaL_Reg lock_methods[] = {
  {"acquire", l_lock_acquire},
  {"release", l_lock_release},
  {"locked", l_lock_locked},
  {"guard", l_lock_guard},
  {"with", l_with},
  {"__tostring", l_lock_tostring},
  {NULL, NULL}
};

/* ---------------------------------------------------------------------- */
/* RLock.                                                                  */

static cf_rlock *check_rlock(lua_State *L) {
  return lcf_checkobject(L, 1, LCF_RLOCK);
}

static int l_rlock_new(lua_State *L) {
  cf_rlock *r = cf_rlock_new();
  if (r == NULL) return luaL_error(L, "not enough memory");
  lcf_pushbox(L, LCF_RLOCK, r);
  return 1;
}

static int l_rlock_acquire(lua_State *L) {
  cf_rlock *r = check_rlock(L);
  int blocking;
  double timeout;
  acquire_args(L, &blocking, &timeout);
  return push_acquired(L, acquire_sliced(L, r, G_RLOCK, blocking, timeout));
}

static int l_rlock_release(lua_State *L) {
  if (cf_rlock_release(check_rlock(L), cf_thread_ident()) != 0)
    return luaL_error(L, "cannot release un-acquired lock");
  return 0;
}

static int l_rlock_locked(lua_State *L) {
  lua_pushboolean(L, cf_rlock_locked(check_rlock(L)));
  return 1;
}

static int l_rlock_guard(lua_State *L) {
  return push_guard(L, check_rlock(L), G_RLOCK);
}

static int l_rlock_tostring(lua_State *L) {
  cf_rlock *r = check_rlock(L);
  lua_pushfstring(L, "RLock: %p (%s)", (void *)r,
                  cf_rlock_is_owned(r, cf_thread_ident()) ? "owned"
                  : cf_rlock_locked(r) ? "locked" : "unlocked");
  return 1;
}

static const luaL_Reg rlock_methods[] = {
  {"acquire", l_rlock_acquire},
  {"release", l_rlock_release},
  {"locked", l_rlock_locked},
  {"guard", l_rlock_guard},
  {"with", l_with},
  {"__tostring", l_rlock_tostring},
  {NULL, NULL}
};

/* ---------------------------------------------------------------------- */
/* Condition.                                                              */

static cf_condition *check_cond(lua_State *L) {
  return lcf_checkobject(L, 1, LCF_CONDITION);
}

/* Condition([lock]): over a Lock or an RLock, or a new RLock. */
static int l_cond_new(lua_State *L) {
  void *lock = NULL;
  cf_condition *c;
  if (!lua_isnoneornil(L, 1)) {
    if (luaL_testudata(L, 1, LCF_LOCK) || luaL_testudata(L, 1, LCF_RLOCK))
      lock = lcf_toobject(L, 1);
    if (lock == NULL) luaL_typeerror(L, 1, "Lock or RLock");
  }
  c = cf_condition_new(lock);
  if (c == NULL) return luaL_error(L, "not enough memory");
  lcf_pushbox(L, LCF_CONDITION, c);
  return 1;
}

static int l_cond_acquire(lua_State *L) {
  cf_condition *c = check_cond(L);
  int blocking;
  double timeout;
  acquire_args(L, &blocking, &timeout);
  return push_acquired(L, acquire_sliced(L, c, G_CONDITION, blocking,
                                         timeout));
}

static int l_cond_release(lua_State *L) {
  if (cf_condition_release(check_cond(L), cf_thread_ident()) != 0)
    return luaL_error(L, "cannot release un-acquired lock");
  return 0;
}

static int l_cond_guard(lua_State *L) {
  return push_guard(L, check_cond(L), G_CONDITION);
}

/* wait([timeout]) -> true if notified, false on timeout. */
typedef struct cond_waiting {
  cf_condition *c;
  uint64_t owner;
} cond_waiting;

static int cond_slice(void *ud, double timeout) {
  cond_waiting *w = ud;
  return cf_condition_wait(w->c, w->owner, timeout);
}

/* A wait in slices (Ctrl-C). The lock is taken back after each slice: a
** notify needs it, so none is missed between slices; an interruption
** raises with the lock held, as Python's does. */
static int cond_wait_sliced(lua_State *L, cf_condition *c, uint64_t owner,
                            double timeout) {
  cond_waiting w;
  w.c = c;
  w.owner = owner;
  return lcf_wait(L, cond_slice, &w, timeout);
}

static int l_cond_wait(lua_State *L) {
  cf_condition *c = check_cond(L);
  double timeout = lcf_opttimeout(L, 2);
  int rc = cond_wait_sliced(L, c, cf_thread_ident(), timeout);
  lcf_callbacks_run(L);
  if (rc == CF_ESTATE) return luaL_error(L, "cannot wait on un-acquired lock");
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* wait_for(predicate [, timeout]) -> the predicate's last result. The
** deadline is computed once; each wake-up waits only what is left. */
static int l_cond_wait_for(lua_State *L) {
  cf_condition *c = check_cond(L);
  double timeout = lcf_opttimeout(L, 3), end = 0;
  uint64_t me = cf_thread_ident();
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 3);
  if (!cf_condition_is_owned(c, me))
    return luaL_error(L, "cannot wait on un-acquired lock");
  if (timeout >= 0) end = cf_monotonic() + timeout;
  for (;;) {
    double left = -1;
    int rc;
    lua_pushvalue(L, 2);
    lua_call(L, 0, 1);                        /* 4: result */
    if (lua_toboolean(L, 4)) return 1;
    if (timeout >= 0) {
      left = end - cf_monotonic();
      if (left <= 0) return 1;
    }
    lua_pop(L, 1);
    rc = cond_wait_sliced(L, c, me, left);
    lcf_callbacks_run(L);
    if (rc == CF_ESTATE) return luaL_error(L, "cannot wait on un-acquired lock");
  }
}

static int l_cond_notify(lua_State *L) {
  cf_condition *c = check_cond(L);
  lua_Integer n = luaL_optinteger(L, 2, 1);
  if (n < 0)
    return luaL_argerror(L, 2, lua_pushfstring(L,
        "n must be a non-negative integer, got %I", (LUAI_UACINT)n));
  if (cf_condition_notify(c, cf_thread_ident(), (long)n) != 0)
    return luaL_error(L, "cannot notify on un-acquired lock");
  return 0;
}

static int l_cond_notify_all(lua_State *L) {
  if (cf_condition_notify_all(check_cond(L), cf_thread_ident()) != 0)
    return luaL_error(L, "cannot notify on un-acquired lock");
  return 0;
}

static int l_cond_tostring(lua_State *L) {
  cf_condition *c = check_cond(L);
  lua_pushfstring(L, "Condition: %p (over %s %p)", (void *)c,
                  cf_condition_is_rlock(c) ? "RLock" : "Lock",
                  cf_condition_lock(c));
  return 1;
}

static const luaL_Reg cond_methods[] = {
  {"acquire", l_cond_acquire},
  {"release", l_cond_release},
  {"guard", l_cond_guard},
  {"with", l_with},
  {"wait", l_cond_wait},
  {"wait_for", l_cond_wait_for},
  {"notify", l_cond_notify},
  {"notify_all", l_cond_notify_all},
  {"__tostring", l_cond_tostring},
  {NULL, NULL}
};

/* ---------------------------------------------------------------------- */
/* Semaphore and BoundedSemaphore (one class: the core object knows).     */

static cf_semaphore *check_sem(lua_State *L) {
  return lcf_checkobject(L, 1, LCF_SEMAPHORE);
}

static int sem_new(lua_State *L, int bounded) {
  lua_Integer v = 1;
  cf_semaphore *s;
  if (!lua_isnoneornil(L, 1)) {
    v = luaL_checkinteger(L, 1);
    luaL_argcheck(L, v >= 0 && v <= LONG_MAX, 1,
                  "value must be a non-negative integer");
  }
  s = cf_semaphore_new((long)v, bounded);
  if (s == NULL) return luaL_error(L, "not enough memory");
  lcf_pushbox(L, LCF_SEMAPHORE, s);
  return 1;
}

static int l_sem_new(lua_State *L) { return sem_new(L, 0); }
static int l_bsem_new(lua_State *L) { return sem_new(L, 1); }

static int l_sem_acquire(lua_State *L) {
  cf_semaphore *s = check_sem(L);
  int blocking;
  double timeout;
  acquire_args(L, &blocking, &timeout);
  return push_acquired(L, acquire_sliced(L, s, G_SEMAPHORE, blocking,
                                         timeout));
}

static int l_sem_release(lua_State *L) {
  cf_semaphore *s = check_sem(L);
  lua_Integer n = luaL_optinteger(L, 2, 1);
  int rc;
  luaL_argcheck(L, n >= 1 && n <= LONG_MAX, 2, "n must be a positive integer");
  rc = cf_semaphore_release(s, (long)n);
  if (rc == CF_ESTATE) return luaL_error(L, "Semaphore released too many times");
  if (rc != 0) return luaL_error(L, "Semaphore value overflows");
  return 0;
}

static int l_sem_guard(lua_State *L) {
  return push_guard(L, check_sem(L), G_SEMAPHORE);
}

static int l_sem_value(lua_State *L) {
  lua_pushinteger(L, cf_semaphore_value(check_sem(L)));
  return 1;
}

static int l_sem_tostring(lua_State *L) {
  cf_semaphore *s = check_sem(L);
  lua_pushfstring(L, "Semaphore: %p (value=%I)", (void *)s,
                  (LUAI_UACINT)cf_semaphore_value(s));
  return 1;
}

static const luaL_Reg sem_methods[] = {
  {"acquire", l_sem_acquire},
  {"release", l_sem_release},
  {"guard", l_sem_guard},
  {"with", l_with},
  {"_value", l_sem_value},
  {"__tostring", l_sem_tostring},
  {NULL, NULL}
};

/* ---------------------------------------------------------------------- */
/* Event.                                                                  */

static cf_event *check_event(lua_State *L) {
  return lcf_checkobject(L, 1, LCF_EVENT);
}

static int l_event_new(lua_State *L) {
  cf_event *e = cf_event_new();
  if (e == NULL) return luaL_error(L, "not enough memory");
  lcf_pushbox(L, LCF_EVENT, e);
  return 1;
}

static int l_event_set(lua_State *L) {
  cf_event_set(check_event(L));
  return 0;
}

static int l_event_clear(lua_State *L) {
  cf_event_clear(check_event(L));
  return 0;
}

static int l_event_is_set(lua_State *L) {
  lua_pushboolean(L, cf_event_is_set(check_event(L)));
  return 1;
}

static int event_slice(void *e, double timeout) {
  return cf_event_wait(e, timeout) ? 0 : CF_ETIMEDOUT;
}

static int l_event_wait(lua_State *L) {
  cf_event *e = check_event(L);
  int v = lcf_wait(L, event_slice, e, lcf_opttimeout(L, 2)) == 0;
  lcf_callbacks_run(L);
  lua_pushboolean(L, v);
  return 1;
}

static int l_event_tostring(lua_State *L) {
  cf_event *e = check_event(L);
  lua_pushfstring(L, "Event: %p (%s)", (void *)e,
                  cf_event_is_set(e) ? "set" : "unset");
  return 1;
}

static const luaL_Reg event_methods[] = {
  {"set", l_event_set},
  {"clear", l_event_clear},
  {"is_set", l_event_is_set},
  {"wait", l_event_wait},
  {"__tostring", l_event_tostring},
  {NULL, NULL}
};

/* ---------------------------------------------------------------------- */
/* Barrier.                                                                */

static cf_barrier *check_barrier(lua_State *L) {
  return lcf_checkobject(L, 1, LCF_BARRIER);
}

static int l_barrier_new(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  cf_barrier *b;
  luaL_argcheck(L, n >= 1 && n <= LONG_MAX, 1,
                "parties must be a positive integer");
  b = cf_barrier_new((long)n);
  if (b == NULL) return luaL_error(L, "not enough memory");
  lcf_pushbox(L, LCF_BARRIER, b);
  return 1;
}

/* wait([timeout]) -> index in 0..parties-1; BrokenBarrierError if the
** barrier is or becomes broken (a timeout breaks it, as in Python). */
static int barrier_poll(void *w) {
  return lcf_watch_check(w) || cf_task_stop_requested();
}

static int l_barrier_wait(lua_State *L) {
  cf_barrier *b = check_barrier(L);
  long index = 0;
  double timeout = lcf_opttimeout(L, 2);
  lcf_watch w;
  int rc;
  lcf_watch_start(&w, L);
  if (!w.active) rc = cf_barrier_wait(b, timeout, &index);
  else {   /* in slices: Ctrl-C breaks the barrier, as in Python */
    int top = lua_gettop(L);
    rc = cf_barrier_wait_poll(b, timeout, &index, LCF_SLICE, barrier_poll, &w);
    if (lua_gettop(L) > top) return lua_error(L);   /* the hook's error */
  }
  /* A task asked to stop leaves the round (breaking it, as a timeout
  ** does) and raises the interruption. */
  if (rc != 0 && lcf_stop_check(L)) return lua_error(L);
  lcf_callbacks_run(L);
  if (rc != 0) return lcf_raise(L, "BrokenBarrierError", "the barrier is broken");
  lua_pushinteger(L, index);
  return 1;
}

static int l_barrier_reset(lua_State *L) {
  cf_barrier_reset(check_barrier(L));
  return 0;
}

static int l_barrier_abort(lua_State *L) {
  cf_barrier_abort(check_barrier(L));
  return 0;
}

static int l_barrier_tostring(lua_State *L) {
  cf_barrier *b = check_barrier(L);
  lua_pushfstring(L, "Barrier: %p (%I/%I waiting%s)", (void *)b,
                  (LUAI_UACINT)cf_barrier_n_waiting(b),
                  (LUAI_UACINT)cf_barrier_parties(b),
                  cf_barrier_broken(b) ? ", broken" : "");
  return 1;
}

/* __index: the read-only fields parties, n_waiting and broken, then the
** methods (upvalue 1). */
static int l_barrier_index(lua_State *L) {
  cf_barrier *b = check_barrier(L);
  const char *k = lua_tostring(L, 2);
  if (k != NULL && lua_type(L, 2) == LUA_TSTRING) {
    if (strcmp(k, "parties") == 0) {
      lua_pushinteger(L, cf_barrier_parties(b));
      return 1;
    }
    if (strcmp(k, "n_waiting") == 0) {
      lua_pushinteger(L, cf_barrier_n_waiting(b));
      return 1;
    }
    if (strcmp(k, "broken") == 0) {
      lua_pushboolean(L, cf_barrier_broken(b));
      return 1;
    }
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

static const luaL_Reg barrier_methods[] = {
  {"wait", l_barrier_wait},
  {"reset", l_barrier_reset},
  {"abort", l_barrier_abort},
  {"__tostring", l_barrier_tostring},
  {NULL, NULL}
};

/* ---------------------------------------------------------------------- */

static const luaL_Reg constructors[] = {
  {"Lock", l_lock_new},
  {"RLock", l_rlock_new},
  {"Condition", l_cond_new},
  {"Semaphore", l_sem_new},
  {"BoundedSemaphore", l_bsem_new},
  {"Event", l_event_new},
  {"Barrier", l_barrier_new},
  {NULL, NULL}
};

void lcf_sync_open(lua_State *L) {
  luaL_newmetatable(L, LCF_GUARD);
  luaL_setfuncs(L, guard_mt, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lcf_newclass(L, LCF_LOCK, lock_methods);
  lcf_newclass(L, LCF_RLOCK, rlock_methods);
  lcf_newclass(L, LCF_CONDITION, cond_methods);
  lcf_newclass(L, LCF_SEMAPHORE, sem_methods);
  lcf_newclass(L, LCF_EVENT, event_methods);
  lua_pop(L, 5);
  lcf_newclass(L, LCF_BARRIER, barrier_methods);   /* mt */
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_barrier_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_setfuncs(L, constructors, 0);
  lcf_queue_open(L);
  lcf_store_open(L);
}
