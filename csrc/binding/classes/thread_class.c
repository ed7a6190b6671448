/*
** thread_class.c -- native threads for Lua (concurrent.thread's Thread, built in
** lua/concurrent/thread.lua on the ThreadHandle class here).
**
** handle:start(self, name, daemon, direct) encodes the Thread instance
** (with its class chain, through its metatables) in the caller, so a value
** that cannot cross raises there and no thread is made; direct (run is the
** base class's) encodes only {_target=, _args=} and the new thread calls
** the target itself, so neither the class nor concurrent.thread has to be
** made there. The new thread makes its own lua_State (worker.c: the
** region allocator of runtime/allocator.c, libraries, the creator's package paths, the host hook,
** concurrent.core on first use), decodes the instance, sets
** self.ident and calls self:run() protected. An error is printed to stderr as Python does
** ("Exception in thread NAME:" and the traceback); join never raises it.
**
** Ownership: the thread owns its state, its decoded instance and the
** start record (encoded instance, name, and a reference to the config,
** which the state's starts share read-only while its package paths,
** preload C loaders and setup hook stay the same); the handle is a
** reference-counted core object (core/thread.c), so the Lua objects that
** name it can be collected while it runs. The state that started a
** thread keeps a reference to every non-daemon thread it started and
** joins them when it closes, as Python's interpreter waits for its
** non-daemon threads at exit: the program (or the executor worker, or the
** parent thread) does not end under a running thread. Daemon threads are
** not joined; they own everything they use, so they need not be.
*/
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "../../core/object.h"
#include "../runtime/inbox.h"
#include "future_class.h"
#include "../runtime/boxes.h"
#include "../runtime/errors.h"
#include "../runtime/record.h"
#include "thread_class.h"
#include "../transfer/transfer.h"
#include "../worker/worker.h"
#include "../runtime/errors.h"
#include "../runtime/wait.h"
#include "../runtime/stop.h"
#include "../../core/interrupt.h"

#define LCF_THREADHANDLE "concurrent.ThreadHandle"

static const lcf_encode_opts self_opts =
    {.root = "self", .bare = 1, .allow_objects = 1};
/* A direct start's {_target=, _args=} is made here: not a module. */
static const lcf_encode_opts direct_opts =
    {.root = "self", .bare = 1, .allow_objects = 1, .fresh_root = 1};

/* ---------------------------------------------------------------------- */
/* The threads a state joins when it closes (its close registry).         */

static void thread_close(void *t) {
  cf_thread_join(t, -1.0);
  cf_release(t);
}

static int thread_finished(void *t) {
  return !cf_thread_is_alive(t);
}

static void thread_drop(void *t) {
  cf_release(t);
}

static const lcf_close_kind thread_closer = {
  .order = LCF_CLOSE_THREADS,
  .close = thread_close,
  .finished = thread_finished,
  .drop = thread_drop,
};

/* ---------------------------------------------------------------------- */
/* In the new thread.                                                      */

typedef struct start_rec {
  lcf_worker_config *cfg;
  cf_buffer input;       /* the encoded instance, or {_target=, _args=} */
  char *name;
  int direct;            /* input is {_target=, _args=}: call the target */
  cf_icell *cell;        /* its interrupt cell (owner: the handle) */
  cf_future *task;       /* what t:interrupt() asks to stop */
} start_rec;

static void start_rec_free(start_rec *r) {
  if (r->cell) {
    cf_icell_end(r->cell);
    cf_icell_remove(r->cell);
    cf_release(r->cell);      /* the thread took its own reference */
  }
  if (r->task) {
    /* Ended: a later interrupt() finds nothing running. */
    cf_future_finish(r->task, CF_OUTCOME_RESULT, NULL, NULL);
    cf_release(r->task);
  }
  lcf_worker_config_free(r->cfg);
  cf_buffer_free(&r->input);
  free(r->name);
  free(r);
}

static int traceback_handler(lua_State *L) {
  luaL_traceback(L, L, lcf_error_text(L, 1), 1);
  return 1;
}

/* The base class's run(), for a thread started direct: the input is
** {_target=, _args=} at 1, and this is target(table.unpack(args, 1,
** args.n or #args)) as Thread.run does it. */
static int run_direct(lua_State *L) {
  lua_Integer n = 0, i;
  if (lua_getfield(L, 1, "_target") == LUA_TNIL) return 0;      /* 2 */
  if (lua_getfield(L, 1, "_args") != LUA_TNIL) {                /* 3 */
    lua_getfield(L, 3, "n");
    if (lua_toboolean(L, -1)) {
      int isint;
      n = lua_tointegerx(L, -1, &isint);
      if (!isint)
        return luaL_error(L, "bad argument #3 to 'unpack' (number has no "
                             "integer representation)");
    } else {
      n = luaL_len(L, 3);
    }
    lua_pop(L, 1);
    if (n >= INT_MAX || !lua_checkstack(L, n > 0 ? (int)n : 0))
      return luaL_error(L, "too many results to unpack");
    for (i = 1; i <= n; i++) lua_geti(L, 3, i);
    lua_remove(L, 3);
  } else {
    lua_pop(L, 1);
  }
  lua_call(L, n > 0 ? (int)n : 0, 0);
  return 0;
}

/* self = decode(input); self.ident = get_ident(); self:run() */
static int run_body(lua_State *L) {
  start_rec *r = lua_touserdata(L, 1);
  lua_settop(L, 0);
  if (lcf_decode_once(L, &r->input) != 1 || !lua_istable(L, 1))
    return luaL_error(L, "thread received no instance to run");
  if (r->direct) return run_direct(L);
  lua_pushliteral(L, "ident");
  lua_pushinteger(L, (lua_Integer)cf_thread_ident());
  lua_rawset(L, 1);
  lua_getfield(L, 1, "run");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 0);
  return 0;
}

static void report(const char *name, const char *msg) {
  fprintf(stderr, "Exception in thread %s:\n%s\n", name, msg);
  fflush(stderr);
}

static void thread_body(void *arg) {
  start_rec *r = arg;
  char msg[512];
  lua_State *L;
  if (r->cell) cf_icell_adopt(cf_retain(r->cell));
  L = lcf_worker_newstate(r->cfg, msg, sizeof msg);
  if (L == NULL) {
    report(r->name, msg);
  } else {
    lcf_stop_attach(L);     /* t:interrupt() arms a hook on L */
    lua_pushcfunction(L, traceback_handler);
    lua_pushcfunction(L, run_body);
    lua_pushlightuserdata(L, r);
    if (lua_pcall(L, 1, 0, 1) != LUA_OK &&
        !(r->task && cf_future_stop_requested(r->task))) {  /* asked: quiet */
      const char *m = lua_tostring(L, -1);
      report(r->name, m ? m : "(error while reporting the error)");
    }
    if (r->cell) cf_icell_end(r->cell);
    lcf_stop_detach();
    lua_close(L);   /* joins this thread's own non-daemon threads */
  }
  if (r->cell) cf_icell_leave();
  start_rec_free(r);
}

/* ---------------------------------------------------------------------- */
/* ThreadHandle methods.                                                   */

static cf_thread *check_handle(lua_State *L, int arg) {
  return lcf_checkobject(L, arg, LCF_THREADHANDLE);
}

static int l_handle_new(lua_State *L) {
  cf_thread *t = cf_thread_new();
  if (t == NULL) return luaL_error(L, "not enough memory");
  lcf_pushbox(L, LCF_THREADHANDLE, t);
  return 1;
}

/* handle:start(self, name [, daemon [, direct]]) -> ident. direct: the
** instance's run is the base class's, so only {_target=, _args=} is sent
** (named as self's fields in errors) and the target is called as run would;
** the class, and the module that defines it, stay behind. */
static int l_start(lua_State *L) {
  cf_thread *t = check_handle(L, 1);
  const char *name;
  cf_buffer *b, input;
  lcf_worker_config *cfg;
  start_rec *r;
  int daemon, direct, rc;
  luaL_checktype(L, 2, LUA_TTABLE);
  name = luaL_checkstring(L, 3);
  daemon = lua_toboolean(L, 4);
  direct = lua_toboolean(L, 5);
  lua_settop(L, 5);
  if (cf_thread_started(t))
    return luaL_error(L, "threads can only be started once");
  if (direct) {                               /* 5: {_target=, _args=} */
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "_target");
    lua_rawget(L, 2);
    lua_setfield(L, -2, "_target");
    lua_pushliteral(L, "_args");
    lua_rawget(L, 2);
    lua_setfield(L, -2, "_args");
    lua_replace(L, 5);
  }
  if (!daemon) lcf_close_reserve(L);   /* so that registering cannot fail */
  /* Encoded into the state's scratch buffer (a buffer of its own only
  ** when that is in use), then copied out: a boxed buffer cost a
  ** userdata and its finalizer a start. Nothing is owned until the
  ** encode has succeeded; after it, nothing raises before r owns all. */
  lcf_transfer_context(L);                    /* 6 */
  b = lcf_scratch_begin(L, 6);
  if (b == NULL) b = lcf_newbuffer(L);        /* 7 */
  lcf_encode_with(L, 6, direct ? 5 : 2, 1, b,
                  direct ? &direct_opts : &self_opts);
  cf_buffer_init(&input);
  rc = cf_buffer_copy(&input, b);
  lcf_scratch_end(L, 6, b);
  cfg = rc == 0 ? lcf_thread_config(L) : NULL;   /* shared, read-only */
  r = cfg ? calloc(1, sizeof *r) : NULL;
  if (r == NULL || (r->name = strdup(name)) == NULL) {
    free(r);
    lcf_worker_config_free(cfg);
    cf_buffer_free(&input);
    return luaL_error(L, "not enough memory");
  }
  r->cfg = cfg;
  r->direct = direct;
  cf_buffer_init(&r->input);
  cf_buffer_move(&r->input, &input);
  /* The cell and its task exist before the thread does, so an interrupt
  ** right after start() is not lost (no memory: not interruptible). */
  if ((r->task = cf_future_new()) != NULL &&
      (r->cell = cf_icell_new(t)) != NULL) {
    cf_future_set_running(r->task);
    cf_icell_begin(r->cell, r->task);
  }
  rc = cf_thread_start(t, thread_body, r, name);
  if (rc != 0) {
    start_rec_free(r);
    if (rc == CF_ESTATE)
      return luaL_error(L, "threads can only be started once");
    return lcf_raise_errno(L, "cannot start a thread", rc);
  }
  if (!daemon) lcf_close_add(L, &thread_closer, cf_retain(t));
  lua_pushinteger(L, (lua_Integer)cf_thread_get_ident(t));
  return 1;
}

/* handle:join([timeout]) -> true when ended, false on timeout */
static int join_slice(void *t, double timeout) {
  return cf_thread_join(t, timeout);
}

static int l_join(lua_State *L) {
  cf_thread *t = check_handle(L, 1);
  double timeout = lcf_opttimeout(L, 2);
  int rc;
  if (!cf_thread_started(t))
    return luaL_error(L, "cannot join thread before it is started");
  if (cf_thread_get_ident(t) == cf_thread_ident())
    return luaL_error(L, "cannot join current thread");
  rc = lcf_wait(L, join_slice, t, timeout);   /* in slices: Ctrl-C */
  lcf_callbacks_run(L);
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* handle:interrupt() -> true if the thread runs and is now asked to stop */
static int l_interrupt(lua_State *L) {
  cf_thread *t = check_handle(L, 1);
  lua_pushboolean(L, cf_icell_interrupt_owner(t, 0) > 0);
  return 1;
}

static int l_is_alive(lua_State *L) {
  lua_pushboolean(L, cf_thread_is_alive(check_handle(L, 1)));
  return 1;
}

static int l_started(lua_State *L) {
  lua_pushboolean(L, cf_thread_started(check_handle(L, 1)));
  return 1;
}

static int l_ident(lua_State *L) {
  uint64_t id = cf_thread_get_ident(check_handle(L, 1));
  if (id == 0) lua_pushnil(L);
  else lua_pushinteger(L, (lua_Integer)id);
  return 1;
}

static int l_handle_tostring(lua_State *L) {
  cf_thread *t = check_handle(L, 1);
  lua_pushfstring(L, "ThreadHandle: %p (%s)", (void *)t,
                  !cf_thread_started(t) ? "initial"
                  : cf_thread_is_alive(t) ? "started" : "stopped");
  return 1;
}

static const luaL_Reg handle_methods[] = {
  {"start", l_start},
  {"join", l_join},
  {"interrupt", l_interrupt},
  {"is_alive", l_is_alive},
  {"started", l_started},
  {"ident", l_ident},
  {"__tostring", l_handle_tostring},
  {NULL, NULL}
};

/* ---------------------------------------------------------------------- */
/* Module functions.                                                       */

static int l_get_ident(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)cf_thread_ident());
  return 1;
}

/* A process-wide counter for default thread names (Thread-N), so threads
** started from different states get different names. */
static atomic_long name_counter = 1;

static int l_thread_seq(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)atomic_fetch_add(&name_counter, 1));
  return 1;
}

static const luaL_Reg functions[] = {
  {"ThreadHandle", l_handle_new},
  {"get_ident", l_get_ident},
  {"thread_seq", l_thread_seq},
  {NULL, NULL}
};

void lcf_thread_open(lua_State *L) {
  lcf_newclass(L, LCF_THREADHANDLE, handle_methods);
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 0);
}
