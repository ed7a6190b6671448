/*
** worker.c -- worker states and running Lua tasks in them.
**
** A worker's lua_State is made, used and closed by its own thread only.
** Everything that can raise runs under lua_pcall; the results and errors
** leave the state as encoded buffers moved into the future.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "../runtime/inbox.h"
#include "../runtime/allocator.h"
#include "../runtime/record.h"
#include "../transfer/transfer.h"
#include "worker.h"
#include "../runtime/errors.h"
#include "../../core/help.h"
#include "../runtime/stop.h"
#include "../../core/interrupt.h"

/* A pool worker's state keeps at the bottom of its stack: 1 the message
** handler, 2 the transfer context; so a task looks nothing up. */
typedef struct worker {
  lua_State *L;
  cf_buffer out;
  lcf_state *st;              /* the state's record (callback inbox) */
  int stopped;                /* a task ended by an interruption (nested
                              ** ones too) since the last depth-0 task:
                              ** forget_broken_loads is due */
} worker;

static void push_handler(lua_State *L);

static int prepare_slots(lua_State *L) {
  push_handler(L);
  lcf_transfer_context(L);
  lua_pushlightuserdata(L, lcf_getstate(L));
  return 3;
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

static const char *field_string(lua_State *L, const char *key) {
  const char *s;
  lua_getglobal(L, "package");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  lua_getfield(L, -1, key);
  s = lua_tostring(L, -1);   /* stays valid: package.path is referenced */
  lua_pop(L, 2);
  return s;
}

/* Copy the C loaders of package.preload (a host's require "clingo"),
** so workers can require what the creating state can. Loaders written in
** Lua, or with upvalues, cannot be copied: they are left out. */
static void snapshot_preload(lua_State *L, lcf_worker_config *c) {
  size_t n = 0, cap = 0;
  int top = lua_gettop(L);
  if (lua_getglobal(L, "package") != LUA_TTABLE ||
      lua_getfield(L, -1, "preload") != LUA_TTABLE) {
    lua_settop(L, top);
    return;
  }
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    int plain = lua_type(L, -2) == LUA_TSTRING && lua_iscfunction(L, -1);
    if (plain && lua_getupvalue(L, -1, 1) != NULL) {
      lua_pop(L, 1);                       /* a C closure: left out */
      plain = 0;
    }
    if (plain) {
      if (n == cap) {
        struct lcf_preload *p;
        cap = cap ? cap * 2 : 8;
        p = realloc(c->preload, cap * sizeof *p);
        if (p == NULL) break;              /* the copies made so far */
        c->preload = p;
      }
      if ((c->preload[n].name = strdup(lua_tostring(L, -2))) == NULL) break;
      c->preload[n++].fn = lua_tocfunction(L, -1);
      c->npreload = n;
    }
    lua_pop(L, 1);
  }
  lua_settop(L, top);
}

/* lcf_worker_config_new without raising: NULL when out of memory. */
static lcf_worker_config *config_build(lua_State *L, const lcf_state *st,
                                       const char *prefix) {
  lcf_worker_config *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->path = dup_or_null(field_string(L, "path"));
  c->cpath = dup_or_null(field_string(L, "cpath"));
  snapshot_preload(L, c);
  c->name_prefix = dup_or_null(prefix);
  c->setup = st->setup;
  c->setup_ud = st->setup_ud;
  cf_buffer_init(&c->init);
  atomic_init(&c->refs, 1);
  return c;
}

lcf_worker_config *lcf_worker_config_new(lua_State *L, const char *prefix) {
  lcf_worker_config *c = config_build(L, lcf_getstate(L), prefix);
  if (c == NULL) luaL_error(L, "not enough memory");
  return c;
}

void lcf_worker_config_free(void *cfg) {
  lcf_worker_config *c = cfg;
  if (c == NULL ||
      atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
    return;
  free(c->path);
  free(c->cpath);
  while (c->npreload > 0) free(c->preload[--c->npreload].name);
  free(c->preload);
  free(c->name_prefix);
  cf_buffer_free(&c->init);
  free(c);
}

static int same_string(const char *a, const char *b) {
  return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* Whether config c is what lcf_worker_config_new would make now (for a
** Thread: no prefix). The C loaders of package.preload are compared in
** the order lua_next gives them: an unchanged table gives the same. */
static int config_current(lua_State *L, const lcf_state *st,
                          const lcf_worker_config *c) {
  int top = lua_gettop(L), ok = 0;
  size_t n = 0;
  if (c->setup != st->setup || c->setup_ud != st->setup_ud) return 0;
  if (lua_getglobal(L, "package") != LUA_TTABLE) {
    ok = c->path == NULL && c->cpath == NULL && c->npreload == 0;
    goto done;
  }
  lua_getfield(L, top + 1, "path");
  lua_getfield(L, top + 1, "cpath");
  if (!same_string(c->path, lua_tostring(L, top + 2)) ||
      !same_string(c->cpath, lua_tostring(L, top + 3)))
    goto done;
  if (lua_getfield(L, top + 1, "preload") != LUA_TTABLE) {
    ok = c->npreload == 0;
    goto done;
  }
  lua_pushnil(L);
  while (lua_next(L, top + 4)) {
    int plain = lua_type(L, -2) == LUA_TSTRING && lua_iscfunction(L, -1);
    if (plain && lua_getupvalue(L, -1, 1) != NULL) {
      lua_pop(L, 1);
      plain = 0;
    }
    if (plain && (n == c->npreload || lua_tocfunction(L, -1) != c->preload[n].fn ||
                  strcmp(lua_tostring(L, -2), c->preload[n].name) != 0))
      goto done;
    n += plain;
    lua_pop(L, 1);
  }
  ok = n == c->npreload;
done:
  lua_settop(L, top);
  return ok;
}

/* The state's cached Thread config goes with the state (record.c). */
static void drop_thread_config(void *cfg) {
  lcf_worker_config_free(cfg);
}

lcf_worker_config *lcf_thread_config(lua_State *L) {
  lcf_state *st = lcf_getstate(L);
  lcf_worker_config *c = st->thread_cfg;
  if (c == NULL || !config_current(L, st, c)) {
    if ((c = config_build(L, st, NULL)) == NULL) return NULL;
    lcf_worker_config_free(st->thread_cfg);
    st->thread_cfg = c;
    st->thread_cfg_free = drop_thread_config;
  }
  atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
  return c;
}

static int worker_exit(lua_State *L) {
  return luaL_error(L, "os.exit cannot be called in a worker thread "
                       "(it would end the whole process); raise an error "
                       "instead");
}

/* In the new state: libraries, paths, the module, the os.exit guard and
** the host's hook. The collector is stopped while the libraries are
** opened (as lua.c does): everything made here lives as long as the
** state, and collecting a heap that only grows is wasted work in every
** thread start. */
static int setup_state(lua_State *L) {
  const lcf_worker_config *c = lua_touserdata(L, 1);
  lua_gc(L, LUA_GCSTOP);
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  if (c->path) {
    lua_pushstring(L, c->path);
    lua_setfield(L, -2, "path");
  }
  if (c->cpath) {
    lua_pushstring(L, c->cpath);
    lua_setfield(L, -2, "cpath");
  }
  lua_getfield(L, -1, "preload");
  for (size_t i = 0; i < c->npreload; i++) {
    lua_pushcfunction(L, c->preload[i].fn);
    lua_setfield(L, -2, c->preload[i].name);
  }
  lua_pop(L, 2);
  /* concurrent.core is opened on first use (require, or an object of the
  ** library arriving: decode.c opens it then): its classes cost more than
  ** the standard libraries, and most tasks never touch them. */
  if (lcf_module_open()) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, lcf_module_open());
    lua_setfield(L, -2, "concurrent.core");
    lua_pop(L, 2);
  }
  lua_getglobal(L, "os");
  lua_pushcfunction(L, worker_exit);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
  lua_gc(L, LUA_GCRESTART);
  /* As if a cycle had just ended: the next one starts once the heap has
  ** doubled (the default pause), not at the first allocation, which
  ** would collect a heap of nothing but libraries. (A negative step
  ** only adds to the collector's allowance; it does no work.) */
  lua_gc(L, LUA_GCSTEP, -lua_gc(L, LUA_GCCOUNT));
  if (c->setup) {
    cf_lua_set_worker_setup(L, c->setup, c->setup_ud);  /* nested pools too */
    c->setup(L, c->setup_ud);
  }
  return 0;
}

static void copy_message(lua_State *L, const char *prefix, char *msg,
                         size_t msgsz) {
  snprintf(msg, msgsz, "%s%s", prefix, lcf_error_text(L, -1));
}

/* ---------------------------------------------------------------------- */
/* The memory cap (ThreadPoolExecutor{memory_limit=}).                     */
/*
** A capped state counts its bytes in its own allocator. The cap is
** enforced only while a task runs (run_in), so the failure is a
** LUA_ERRMEM inside the task's lua_pcall, which fails its future with
** "not enough memory"; the runner's own unprotected calls around the pcall
** never see an allocation fail (that would panic and abort the host).
** lua_close frees the state's first block last: the counter goes with it,
** so whoever closes the state (lua_close, from any caller) frees it.
*/
typedef struct capped {
  size_t used, limit;
  int enforce;
  void *first;
} capped;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  capped *c = ud;
  size_t old = ptr ? osize : 0;
  void *np;
  if (nsize == 0) {
    free(ptr);
    c->used -= old;
    if (ptr != NULL && ptr == c->first) free(c);
    return NULL;
  }
  if (nsize > old && c->enforce && c->used - old + nsize > c->limit)
    return NULL;
  np = realloc(ptr, nsize);
  if (np == NULL) {
    if (c->first == NULL) free(c);  /* lua_newstate fails, closes nothing */
    return NULL;
  }
  if (c->first == NULL) c->first = np;
  c->used = c->used - old + nsize;
  return np;
}

static capped *capped_of(lua_State *L) {
  void *ud;
  return lua_getallocf(L, &ud) == capped_alloc ? ud : NULL;
}

static lua_State *new_capped_state(size_t limit) {
  capped *c = calloc(1, sizeof *c);
  lua_State *L;
  if (c == NULL) return NULL;
  c->limit = limit;
  L = lua_newstate(capped_alloc, c);   /* on failure c is freed already */
  if (L != NULL) lcf_state_defaults(L);
  return L;
}

/* Set up a state just made; closes it and returns NULL with a message on
** failure. */
static lua_State *setup_worker_state(lua_State *L,
                                     const lcf_worker_config *cfg,
                                     char *msg, size_t msgsz) {
  lua_pushcfunction(L, setup_state);
  lua_pushlightuserdata(L, (void *)cfg);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    copy_message(L, "worker setup failed: ", msg, msgsz);
    lua_close(L);
    return NULL;
  }
  return L;
}

lua_State *lcf_worker_newstate(const lcf_worker_config *cfg, char *msg,
                               size_t msgsz) {
  lua_State *L = cfg->memory_limit ? new_capped_state(cfg->memory_limit)
                                   : lcf_allocator_newstate();
  if (L == NULL) {
    snprintf(msg, msgsz, "not enough memory for a worker state");
    return NULL;
  }
  return setup_worker_state(L, cfg, msg, msgsz);
}


static int run_initializer(lua_State *L) {
  const lcf_worker_config *c = lua_touserdata(L, 1);
  int n = lcf_decode(L, &c->init, 0);
  if (n > 0) lua_call(L, n - 1, 0);
  return 0;
}

int lcf_worker_start(void *cfg, void **ctx, char *msg, size_t msgsz) {
  lcf_worker_config *c = cfg;
  worker *w;
  lua_State *L;
  if (c->name_prefix) {
    char name[16];
    int n = atomic_fetch_add((_Atomic int *)&c->counter, 1);
    snprintf(name, sizeof name, "%s_%d", c->name_prefix, n);
    pthread_setname_np(pthread_self(), name);
  }
  L = lcf_worker_newstate(c, msg, msgsz);
  if (L == NULL) return -1;
  if (c->init.len > 0) {
    lua_pushcfunction(L, run_initializer);
    lua_pushlightuserdata(L, c);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      copy_message(L, "initializer failed: ", msg, msgsz);
      lua_close(L);
      return -1;
    }
  }
  w = calloc(1, sizeof *w);
  lua_settop(L, 0);
  lua_pushcfunction(L, prepare_slots);
  if (w == NULL || lua_pcall(L, 0, 3, 0) != LUA_OK) {
    snprintf(msg, msgsz, "not enough memory for a worker");
    free(w);
    lua_close(L);
    return -1;
  }
  w->st = lua_touserdata(L, 3);
  lua_pop(L, 1);
  w->L = L;
  lcf_stop_attach(L);        /* a stop asked of its tasks arms a hook on L */
  *ctx = w;
  return 0;
}

void lcf_worker_stop(void *cfg, void *ctx) {
  worker *w = ctx;
  (void)cfg;
  if (w == NULL) return;
  lcf_nest_forget();          /* its threads go with the state */
  lcf_stop_detach();          /* before the state goes */
  lua_close(w->L);
  cf_buffer_free(&w->out);
  free(w);
}

/* ---------------------------------------------------------------------- */
/* Running a task.                                                        */

/* How results and errors are encoded: [0] for the caller's process,
** [1] for a process pool's parent (library objects cannot go there). */
#define REFUSE_REMOTE "shared objects cannot be sent to another process"
static const lcf_encode_opts results_opts[2] = {
  {.root = "results", .allow_objects = 1},
  {.root = "results", .refuse = REFUSE_REMOTE}};
static const lcf_encode_opts error_opts[2] = {
  {.root = "error", .bare = 1, .allow_objects = 1},
  {.root = "error", .bare = 1, .refuse = REFUSE_REMOTE}};

/* Message handler: keep the error value as it is, and leave the
** traceback in upvalue 1's slot (a table) for the runner to pick up. */
static int message_handler(lua_State *L) {
  luaL_traceback(L, L, lcf_error_text(L, 1), 1);
  lua_setfield(L, lua_upvalueindex(1), "traceback");
  lua_settop(L, 1);
  return 1;
}

/* (input, out, transfer context or nil, results opts): decode, call,
** encode the results. */
static int task_body(lua_State *L) {
  const cf_buffer *input = lua_touserdata(L, 1);
  cf_buffer *out = lua_touserdata(L, 2);
  const lcf_encode_opts *opts = lua_touserdata(L, 4);
  int cidx = lua_isnil(L, 3) ? 0 : 3, top, n;
  lua_settop(L, 4);
  n = lcf_decode_with(L, cidx, input, 1);
  if (n < 1) return luaL_error(L, "task has no function");
  lua_call(L, n - 1, LUA_MULTRET);          /* results from 5 */
  top = lua_gettop(L);
  cf_buffer_reset(out);
  lcf_encode_with(L, cidx, 5, top - 4, out, opts);
  return 0;
}

/* (error, out, opts, how): encode the error (how 0), its tostring text
** (1), or the text that names its type (2). */
static int encode_error_body(lua_State *L) {
  cf_buffer *out = lua_touserdata(L, 2);
  int how = (int)lua_tointeger(L, 4);
  if (how == 1) luaL_tolstring(L, 1, NULL);
  else if (how == 2)
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  if (how > 0) lua_replace(L, 1);
  cf_buffer_reset(out);
  lcf_encode(L, 1, 1, out, lua_touserdata(L, 3));
  return 0;
}

/* An error value that cannot cross (a coroutine, say, or a table holding
** one) is sent as its tostring text instead, so the caller still learns
** what went wrong; if its __tostring fails too, as the text naming its
** type. Each try is protected: a failing __tostring here, outside the
** task's pcall, would abort the process. */
static void encode_error(lua_State *L, int eidx, cf_buffer *out,
                         const lcf_encode_opts *opts) {
  int how;
  for (how = 0; how <= 2; how++) {
    lua_pushcfunction(L, encode_error_body);
    lua_pushvalue(L, eidx);
    lua_pushlightuserdata(L, out);
    lua_pushlightuserdata(L, (void *)opts);
    lua_pushinteger(L, how);
    if (lua_pcall(L, 4, 0, 0) == LUA_OK) return;
    lua_pop(L, 1);
  }
  cf_buffer_reset(out);
}

/* The message handler and its traceback slot are made once per state
** (a task costs no allocation of its own here). */
static const char HANDLER_KEY = 'h';

static int run_in(lua_State *L, int hidx, int cidx, cf_future *f,
                  const cf_buffer *input, cf_buffer *out, int remote);
static void forget_broken_loads(lua_State *L);

static void push_handler(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &HANDLER_KEY) == LUA_TFUNCTION) return;
  lua_pop(L, 1);
  lua_newtable(L);                          /* the traceback slot */
  lua_pushcclosure(L, message_handler, 1);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &HANDLER_KEY);
}

void lcf_run_encoded(lua_State *L, cf_future *f, const cf_buffer *input,
                     cf_buffer *out, int remote) {
  int base = lua_gettop(L);
  push_handler(L);                          /* base+1 */
  /* A process pool's worker process runs no nested task (depth -1). */
  if (run_in(L, base + 1, 0, f, input, out, remote) && cf_help_depth() <= 0)
    forget_broken_loads(L);
  lua_settop(L, base);
}

/* With the handler at hidx and the transfer context at cidx (0: none).
** Returns 1 if the task ended by an interruption (an error raised while
** it was asked to stop), else 0. */
static int run_in(lua_State *L, int hidx, int cidx, cf_future *f,
                  const cf_buffer *input, cf_buffer *out, int remote) {
  int base = lua_gettop(L), status, stopped = 0;
  capped *cap = capped_of(L);
  lua_pushcfunction(L, task_body);
  lua_pushlightuserdata(L, (void *)input);
  lua_pushlightuserdata(L, out);
  if (cidx) lua_pushvalue(L, cidx);
  else lua_pushnil(L);
  lua_pushlightuserdata(L, (void *)&results_opts[remote]);
  int enforced = cap ? cap->enforce : 0;   /* 1 under a nested task */
  if (cap) cap->enforce = 1;
  status = lua_pcall(L, 4, 0, hidx);
  if (cap) cap->enforce = 0;
  if (status == LUA_ERRMEM)   /* LuaJIT collects nothing when out of memory */
    lua_gc(L, LUA_GCCOLLECT);
  if (status == LUA_OK) {
    cf_future_finish(f, CF_OUTCOME_RESULT, out, NULL);
  } else {                                  /* base+1: the error */
    const char *tb;
    stopped = cf_future_stop_requested(f) || cf_task_stop_requested();
    lua_getupvalue(L, hidx, 1);             /* base+2: the slot */
    lua_getfield(L, base + 2, "traceback"); /* base+3 */
    lua_pushnil(L);
    lua_setfield(L, base + 2, "traceback"); /* empty for the next task */
    tb = lua_tostring(L, base + 3);
    encode_error(L, base + 1, out, &error_opts[remote]);
    cf_future_finish(f, CF_OUTCOME_ERROR, out, tb);
  }
  cf_buffer_reset(out);
  lua_settop(L, base);
  if (cap) cap->enforce = enforced;
  return stopped;
}

/* ---------------------------------------------------------------------- */
/* require's sentinel (5.1, LuaJIT: compat.h, LCF_REQUIRE_SENTINEL).       */
/*
** A task stopped inside require (the hook raises in the module's code, or
** a sleep there returns the interruption) leaves the sentinel in
** package.loaded[name], and every later require of that name in this
** state would raise "loop or previous error loading module". After such a
** task, with no load in progress in the state (no task running), the
** entries rawequal to the sentinel are removed. The sentinel is learned
** there and then, not kept: a C loader in package.preload reads
** package.loaded[name] while require runs it (5.1's is a light
** userdata; LuaJIT's, a small constant pointer, reads as a tiny number).
** No Lua code runs on the way (the stop hook, still set, counts Lua
** instructions only), and it all runs protected: if anything fails
** (package or require replaced by the task, no memory) the entries stay,
** as before. Plain errors keep 5.1's behaviour: only an interrupted task
** (a stop asked of it, or of the worker process) leads here.
*/
#if LCF_REQUIRE_SENTINEL
#define PROBE "concurrent.require-sentinel"
static const char SENTINEL_KEY = 's';

static int sentinel_probe(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, PROBE);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &SENTINEL_KEY);
  lua_pushboolean(L, 1);
  return 1;
}

static int forget_body(lua_State *L) {
  int t;
  lua_settop(L, 0);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);    /* 1 */
  lua_getglobal(L, "package");                             /* 2 */
  if (!lua_istable(L, 1) || !lua_istable(L, 2)) return 0;
  lua_getfield(L, 2, "preload");                           /* 3 */
  lua_getglobal(L, "require");                             /* 4 */
  if (!lua_istable(L, 3) || !lua_iscfunction(L, 4)) return 0;
  lua_pushcfunction(L, sentinel_probe);
  lua_setfield(L, 3, PROBE);
  lua_pushliteral(L, PROBE);
  lua_call(L, 1, 0);
  lua_pushnil(L);
  lua_setfield(L, 3, PROBE);
  lua_pushnil(L);
  lua_setfield(L, 1, PROBE);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &SENTINEL_KEY);        /* 4 */
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &SENTINEL_KEY);
  t = lua_type(L, 4);
  if (t != LUA_TLIGHTUSERDATA && !(LCF_LUAJIT && t == LUA_TNUMBER)) return 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) {     /* clearing a present key is allowed here */
    int hit = lua_rawequal(L, -1, 4);
    lua_pop(L, 1);
    if (hit) {
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, 1);
    }
  }
  return 0;
}

static void forget_broken_loads(lua_State *L) {
  int top = lua_gettop(L);
  lua_pushcfunction(L, forget_body);
  lua_pcall(L, 0, 0, 0);
  lua_settop(L, top);
}
#else
static void forget_broken_loads(lua_State *L) {
  (void)L;
}
#endif

/* A nested task (run by a worker waiting in a task beneath it) runs on the
** thread of the state that nested.c made for its depth, whose stack has
** the same two slots at its bottom. */
void lcf_lua_task(cf_future *f, void *ctx, void *arg) {
  worker *w = ctx;
  lua_State *L = w->L;
  int depth = cf_help_depth();
  (void)arg;
  if (depth > 0) {
    if ((L = lcf_nest_thread(depth)) == NULL) {
      cf_future_finish(f, CF_OUTCOME_NOMEM, NULL, NULL);   /* never made */
      return;
    }
    /* A stop asked of this nested task hooks its own thread; the hook of
    ** the task beneath (on its thread) does not reach it. */
    lcf_stop_attach(L);
  }
  w->stopped |= run_in(L, 1, 2, f, cf_future_input(f), &w->out, 0);
  /* Only once the task at depth 0 has returned: a nested task's require
  ** must not remove the sentinel of a load the tasks beneath are in. */
  if (depth == 0 && w->stopped) {
    w->stopped = 0;
    forget_broken_loads(L);
  }
  if (depth > 0) lcf_stop_attach(depth > 1 ? lcf_nest_thread(depth - 1) : w->L);
  if (w->st->inbox) {
    /* The task's code has returned: no stop hook in the callbacks. */
    if (depth == 0 && cf_icell_current()) cf_icell_end(cf_icell_current());
    lcf_callbacks_run(L);     /* callbacks queued for this worker's state */
  }
}

/* A new thread of L's state, pushed on L, with the slots a task's runner
** expects at the bottom of its stack (nested.c). Raises on memory errors:
** call it protected. */
int lcf_worker_thread(lua_State *L) {
  lua_State *co = lua_newthread(L);
  push_handler(L);
  lcf_transfer_context(L);
  lua_xmove(L, co, 2);
  return 1;
}

void lcf_encode_error(lua_State *L, int eidx, cf_buffer *out) {
  encode_error(L, eidx, out, &error_opts[0]);
}
