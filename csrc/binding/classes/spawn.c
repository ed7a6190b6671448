/*
** spawn.c -- futures.spawn: coroutines whose waits suspend them instead of
** blocking the thread, resumed from futures.poll.
**
** A spawned coroutine has a task: a reference-counted C object, since
** other threads wake it (a future's done-callback, a waiter's notify). A
** wake queues the task's item on the state's inbox (runtime/inbox.c) at most
** once at a time (the queued flag); running the item resumes the coroutine
** if it is suspended in one of the library's waits (the awaiting flag),
** and the wait's continuation re-checks what it waits for, so a wake that
** comes late or twice costs one resume and no harm. A coroutine that
** yields any other way (a plain coroutine.yield()) fails its future with a
** clear error instead of hanging.
**
** The task, its wake, its timers (timeouts and sleeps, which wake it when
** due) and the state's record of them are the runtime's
** (runtime/spawned.c, timers.c); this file makes the coroutines, resumes
** them and finishes their futures. Everything but the wake itself (the queued flag, the inbox) is
** touched only by the state's own thread.
**
** Stopping (f:interrupt() of a spawned coroutine's future): its waits
** raise the interruption instead of suspending it, at once or when it is
** next resumed; an interrupt made in the coroutine's own state wakes it
** (lcf_spawn_interrupt), one from another thread takes effect at its
** next resume. Its to-be-closed variables close as the error unwinds and
** its future ends cancelled (cf_future_finish of a future asked to stop).
** A pool task's stop does not reach the coroutines it spawned: like the
** tasks it submitted, they are work of their own, with futures of their
** own; the blocking wait of the stopped task returns at once (block.c).
**
** References to a task: the state's list of live tasks (until the
** coroutine ends or the state closes), each pending done-callback, a
** waiter's notify, and the inbox while the item is queued.
*/
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "../../core/future.h"
#include "../runtime/boxes.h"
#include "../runtime/errors.h"
#include "../runtime/spawned.h"
#include "../runtime/stop.h"
#include "../transfer/transfer.h"
#include "../worker/worker.h"
#include "future_class.h"
#include "spawn.h"

/* Registry: {[coroutine] = light userdata task}, which also keeps the
** suspended coroutines alive. */
static const char MAP_KEY = 'm';

static const lcf_encode_opts results_opts =
    {.root = "results", .allow_objects = 1};

static void task_destroy(void *obj) {
  lcf_task *t = obj;
  cf_release(t->future);
  cf_release(t->inbox);
  free(t);
}

static const cf_kind task_kind = {"spawned coroutine", task_destroy};

static void task_run(lua_State *L, lcf_item *it);

static void wake_on_done(cf_future *f, void *ud) {
  (void)f;
  lcf_spawn_wake(ud);
  cf_release(ud);
}

static void wake_on_notify(void *obj) {
  lcf_spawn_wake(obj);
}

/* The task of L if L is a coroutine made by spawn that can yield now
** (when the wait begins; a continuation runs where its wait could
** yield: yieldable is not asked again). */
static lcf_task *spawned_at(lua_State *L, int first) {
  lcf_task *t;
  if (lcf_getstate(L)->spawn == NULL) return NULL;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &MAP_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return NULL;
  }
  lua_pushthread(L);
  lua_rawget(L, -2);
  t = lua_touserdata(L, -1);
  lua_pop(L, 2);
  if (t == NULL || t->co != L || (first && !lua_isyieldable(L))) return NULL;
  return t;
}
#define spawned(L) spawned_at((L), 1)
#define spawned_again(L) spawned_at((L), 0)

/* t's own future was asked to stop: end the wait and raise. */
static int raise_stopped(lua_State *L, lcf_task *t) {
  lcf_task_await_end(t);
  lcf_push_interrupted(L);
  return lua_error(L);
}

#define stop_asked(t) cf_future_stop_requested((t)->future)

static int suspend(lcf_task *t, double timeout) {
  t->awaiting = 1;
  t->timeout = timeout;
  if (timeout >= 0) lcf_timer_set(t, cf_monotonic() + timeout);
  return 1;
}

static int timed_out(lcf_task *t) {
  return t->timeout >= 0 && cf_monotonic() >= t->deadline;
}

/* Wake t when f is settled (done, and the finishing thread through with
** its callbacks): at once (queued) if it is. Woken when f is only done,
** the coroutine would find it unsettled and wait again, and the host
** watching futures.fd would wake for nothing until the finisher is
** through. */
static int wake_when_done(lcf_task *t, cf_future *f) {
  cf_retain(t);                 /* the callback's */
  if (cf_future_add_settled_callback(f, wake_on_done, t) != 0) {
    cf_release(t);
    return -1;
  }
  return 0;
}

/* A future that is done but not settled (its finishing thread is still
** running its callbacks) would block the thread for as long as that one
** is delayed: a spawned coroutine waits for it across polls instead, and
** is woken once it settles. */
int lcf_await_future(lua_State *L, cf_future *f, double timeout) {
  lcf_task *t;
  if (timeout == 0 || cf_future_settled(f) || (t = spawned(L)) == NULL)
    return 0;
  if (stop_asked(t)) return raise_stopped(L, t);
  if (wake_when_done(t, f) != 0) return 0;   /* no memory: block instead */
  return suspend(t, timeout);
}

int lcf_await_future_again(lua_State *L, cf_future *f) {
  lcf_task *t = spawned_again(L);
  if (t != NULL && stop_asked(t)) return raise_stopped(L, t);
  if (t == NULL || cf_future_settled(f)) {
    if (t) lcf_task_await_end(t);
    return 0;
  }
  if (cf_future_done(f)) {      /* not settled yet: its wake is still due */
    t->awaiting = 1;
    return 1;
  }
  if (timed_out(t)) {
    double timeout = t->timeout;
    lcf_task_await_end(t);
    return lcf_raise(L, "TimeoutError", "future not done after %f s", timeout);
  }
  t->awaiting = 1;              /* its callback is still registered */
  return 1;
}

static int waiter_has_news(cf_waiter *w) {
  return cf_waiter_ready(w) > 0 || cf_waiter_pending(w) == 0;
}

int lcf_await_waiter(lua_State *L, cf_waiter *w, double timeout) {
  lcf_task *t;
  if (timeout == 0 || waiter_has_news(w) || (t = spawned(L)) == NULL)
    return 0;
  if (stop_asked(t)) return raise_stopped(L, t);
  cf_waiter_set_notify(w, wake_on_notify, t);
  t->waiter = cf_retain(w);
  if (waiter_has_news(w)) {     /* it came before the notify was set */
    lcf_task_await_end(t);
    return 0;
  }
  return suspend(t, timeout);
}

int lcf_await_waiter_again(lua_State *L, cf_waiter *w) {
  lcf_task *t = spawned_again(L);
  if (t != NULL && stop_asked(t)) return raise_stopped(L, t);
  if (t == NULL || waiter_has_news(w) || timed_out(t)) {
    if (t) lcf_task_await_end(t);
    return 0;
  }
  t->awaiting = 1;
  return 1;
}

int lcf_await_sleep(lua_State *L, double seconds) {
  lcf_task *t = spawned(L);
  if (t == NULL) return 0;
  if (stop_asked(t)) return raise_stopped(L, t);
  return suspend(t, seconds);
}

int lcf_await_sleep_again(lua_State *L) {
  lcf_task *t = spawned_again(L);
  if (t != NULL && stop_asked(t)) return raise_stopped(L, t);
  if (t == NULL || timed_out(t)) {
    if (t) lcf_task_await_end(t);
    return 0;
  }
  t->awaiting = 1;
  return 1;
}

int lcf_spawn_stop_requested(lua_State *L) {
  lcf_task *t;
  return lcf_getstate(L)->spawn != NULL && (t = spawned_again(L)) != NULL &&
         stop_asked(t);
}

void lcf_spawn_interrupt(lua_State *L, cf_future *f) {
  lcf_spawn_rec *rec = lcf_getstate(L)->spawn;
  lcf_task *t;
  if (rec == NULL || cf_future_done(f)) return;
  for (t = rec->live; t != NULL; t = t->next)
    if (t->future == f) {
      if (t->awaiting) lcf_spawn_wake(t);
      return;
    }
}

/* ---------------------------------------------------------------------- */
/* Ending a coroutine.                                                    */

/* Protected: (task, coroutine, status, values...): finish the task's
** future with the values (status LUA_OK) or the error (the one value), or
** with the error of a plain yield (status LUA_YIELD, no value). */
static int finish_body(lua_State *L) {
  lcf_task *t = lua_touserdata(L, 1);
  lua_State *co = lua_tothread(L, 2);
  int status = (int)lua_tointeger(L, 3), n = lua_gettop(L) - 3;
  cf_buffer *b;
  const char *tb;
  if (status == LUA_YIELD) {
    lua_settop(L, 3);
    lua_pushliteral(L, "coroutine.yield() in a coroutine made by "
      "futures.spawn: it may only be suspended by the library's waits "
      "(f:result(), futures.wait, as_completed, concurrent.sleep, ...)");
  }
  if (status == LUA_OK) {
    b = lcf_newbuffer(L);
    lcf_encode(L, 4, n, b, &results_opts);
    cf_future_finish(t->future, CF_OUTCOME_RESULT, b, NULL);
    return 0;
  }
  lua_settop(L, 4);
  luaL_traceback(L, co, lcf_error_text(L, 4), 0);
  tb = lua_tostring(L, -1);
  b = lcf_newbuffer(L);
  lcf_encode_error(L, 4, b);
  cf_future_finish(t->future, CF_OUTCOME_ERROR, b, tb);
  return 0;
}

/* Protected: (task, message): the results could not be sent. */
static int fail_body(lua_State *L) {
  lcf_task *t = lua_touserdata(L, 1);
  cf_buffer *b = lcf_newbuffer(L);
  lcf_encode_error(L, 2, b);
  cf_future_finish(t->future, CF_OUTCOME_ERROR, b, NULL);
  return 0;
}

#if LUA_VERSION_RELEASE_NUM >= 50406
#define close_thread(co, from) lua_closethread(co, from)
#else
#define close_thread(co, from) ((void)(from), lua_resetthread(co))
#endif

/* The coroutine at the top of L ended (status from lua_resume, nres
** values on its stack): finish the future, close the coroutine, forget
** the task. Pops the coroutine. Never raises. */
static void task_end(lua_State *L, lcf_task *t, int status, int nres) {
  int coidx = lua_gettop(L), moved;
  lua_State *co = lua_tothread(L, coidx);
  if (status == LUA_YIELD) lua_pop(co, nres);
  moved = status == LUA_OK ? nres : status == LUA_YIELD ? 0 : 1;
  if (lua_checkstack(L, moved + 8)) {
    lua_pushcfunction(L, finish_body);
    lua_pushlightuserdata(L, t);
    lua_pushvalue(L, coidx);
    lua_pushinteger(L, status);
    lua_xmove(co, L, moved);
    if (lua_pcall(L, 3 + moved, 0, 0) != LUA_OK) {
      lua_pushcfunction(L, fail_body);      /* err fail_body */
      lua_pushlightuserdata(L, t);
      lua_rotate(L, -3, -1);                /* fail_body task err */
      if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
    }
  }
  if (!cf_future_done(t->future)) lcf_task_finish_broken(t, "not enough memory");
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &MAP_KEY) == LUA_TTABLE) {
    lua_pushvalue(L, coidx);
    lua_pushnil(L);
    lua_rawset(L, -3);
  }
  if (status != LUA_OK) close_thread(co, L);
  lua_settop(L, coidx - 1);
  lcf_task_forget(t);
}

/* Resume t's coroutine from L with the nargs values on its stack; never
** raises. */
static void task_resume(lua_State *L, lcf_task *t, int nargs) {
  lua_State *co = t->co;
  int nres, status;
  if (!lua_checkstack(co, 1) || !lua_checkstack(L, 2)) return;
  lua_pushthread(co);
  lua_xmove(co, L, 1);          /* keeps it at hand while it runs */
  t->awaiting = 0;
  t->rec->depth++;
  status = lua_resume(co, L, nargs, &nres);
  t->rec->depth--;
  if (status == LUA_YIELD && t->awaiting) {
    lua_pop(co, nres);
    lua_pop(L, 1);
    return;
  }
  task_end(L, t, status, nres);
}

/* The inbox item: L NULL when the state closed. */
static void task_run(lua_State *L, lcf_item *it) {
  lcf_task *t = (lcf_task *)((char *)it - offsetof(lcf_task, item));
  atomic_store(&t->queued, 0);
  if (L != NULL && t->co != NULL && t->awaiting) task_resume(L, t, 0);
  cf_release(t);
}

/* ---------------------------------------------------------------------- */

/* spawn(fn, ...) -> Future. Everything that can raise comes before the
** task is made; after it, nothing does. */
static int l_spawn(lua_State *L) {
  int n = lua_gettop(L), map;
  lcf_state *s;
  lcf_inbox *ib;
  lcf_spawn_rec *rec;
  lua_State *co;
  cf_future *f;
  lcf_task *t;
  luaL_argexpected(L, lcf_callable(L, 1), 1, "function");
  luaL_checkstack(L, n + 8, "too many arguments");
  s = lcf_getstate(L);
  if ((ib = lcf_inbox_get(L)) == NULL || (rec = lcf_spawn_rec_get(s)) == NULL)
    return luaL_error(L, "not enough memory");
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &MAP_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &MAP_KEY);
  }
  map = lua_gettop(L);                                 /* fn args.. map */
  co = lua_newthread(L);                               /* .. map co */
  if (!lua_checkstack(co, n + 1)) return luaL_error(L, "too many arguments");
  lua_pushvalue(L, -1);
  lua_pushboolean(L, 1);
  lua_rawset(L, map);                   /* the slot, so the set below cannot fail */
  f = cf_future_new();
  if (f == NULL) goto nomem;
  lcf_pushfuture(L, f);                                /* .. map co future */
  t = calloc(1, sizeof *t);
  if (t == NULL) goto nomem;
  cf_object_init(t, &task_kind);
  t->item.run = task_run;
  t->inbox = cf_retain(ib);
  t->co = co;
  t->future = cf_retain(f);
  t->rec = rec;
  t->heap_at = -1;
  t->timeout = -1;
  t->next = rec->live;
  if (rec->live) rec->live->prev = t;
  rec->live = t;
  lua_pushvalue(L, map + 1);
  lua_pushlightuserdata(L, t);
  lua_rawset(L, map);
  cf_future_set_running(f);
  lua_rotate(L, 1, -n);                 /* map co future fn args.. */
  lua_xmove(L, co, n);
  task_resume(L, t, n - 1);
  return 1;
nomem:
  lua_pushvalue(L, map + 1);
  lua_pushnil(L);
  lua_rawset(L, map);
  return luaL_error(L, "not enough memory");
}

static int l_fd(lua_State *L) {
  int fd = lcf_spawn_fd(L);
  if (fd < 0)
    return luaL_error(L, "futures.fd: cannot make the file descriptor (%s)",
                      strerror(errno));
  lua_pushinteger(L, fd);
  return 1;
}

void lcf_spawn_open(lua_State *L) {
  lua_pushcfunction(L, l_spawn);
  lua_setfield(L, -2, "spawn");
  lua_pushcfunction(L, l_fd);
  lua_setfield(L, -2, "fd");
}
