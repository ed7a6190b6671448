/*
** thread.c -- native threads for Lua (concurrent.thread's Thread, built in
** lua/concurrent/thread.lua on the ThreadHandle class here).
**
** handle:start(self, name, daemon, direct) encodes the Thread instance
** (with its class chain, through its metatables) in the caller, so a value
** that cannot cross raises there and no thread is made; direct (run is the
** base class's) encodes only {_target=, _args=} and the new thread calls
** the target itself, so neither the class nor concurrent.thread has to be
** made there. The new thread makes its own lua_State (its own allocator
** for small blocks; worker.c: libraries, the creator's package paths, the
** host hook, concurrent.core on first use), decodes the instance, sets
** self.ident and calls self:run() protected. An error is printed to stderr as Python does
** ("Exception in thread NAME:" and the traceback); join never raises it.
**
** Ownership: the thread owns its state, its decoded instance and the
** start record (config, encoded instance, name); the handle is a
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

#include "../core/object.h"
#include "callbacks.h"
#include "future.h"
#include "objects.h"
#include "state.h"
#include "thread.h"
#include "transfer.h"
#include "worker.h"

#define LCF_THREADHANDLE "concurrent.ThreadHandle"

static const lcf_encode_opts self_opts = {"self", 1, 0, 1, NULL};

/* ---------------------------------------------------------------------- */
/* The threads a state joins when it closes.                              */

typedef struct tlist {
  cf_thread **v;     /* retained */
  size_t n, cap;
} tlist;

void lcf_threads_close(lcf_state *s) {
  tlist *l = s->threads;
  size_t i;
  if (l == NULL) return;
  s->threads = NULL;
  for (i = 0; i < l->n; i++) {
    cf_thread_join(l->v[i], -1.0);
    cf_release(l->v[i]);
  }
  free(l->v);
  free(l);
}

/* Make room for one more entry (dropping threads that have ended), so
** that registering after the start cannot fail. Raises on ENOMEM. */
static tlist *reserve(lua_State *L) {
  lcf_state *s = lcf_getstate(L);
  tlist *l = s->threads;
  size_t i, j = 0;
  if (l == NULL) {
    if ((l = calloc(1, sizeof *l)) == NULL) luaL_error(L, "not enough memory");
    s->threads = l;
  }
  if (l->n < l->cap) return l;
  for (i = 0; i < l->n; i++) {
    if (cf_thread_is_alive(l->v[i])) l->v[j++] = l->v[i];
    else cf_release(l->v[i]);
  }
  l->n = j;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    cf_thread **nv = realloc(l->v, cap * sizeof *nv);
    if (nv == NULL) luaL_error(L, "not enough memory");
    l->v = nv;
    l->cap = cap;
  }
  return l;
}

/* ---------------------------------------------------------------------- */
/* In the new thread.                                                      */

typedef struct start_rec {
  lcf_worker_config *cfg;
  cf_buffer input;       /* the encoded instance, or {_target=, _args=} */
  char *name;
  int direct;            /* input is {_target=, _args=}: call the target */
} start_rec;

static void start_rec_free(start_rec *r) {
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
  if (lcf_decode(L, &r->input, 0) != 1 || !lua_istable(L, 1))
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

/* ---------------------------------------------------------------------- */
/* The thread's allocator.                                                */
/*
** A thread's state is made and closed once per start, and most of what it
** allocates (the standard libraries' tables, strings and closures) is
** small: through malloc that was a third of a start's instructions. Blocks
** up to SMALL_MAX bytes come from slabs owned by the state, in size
** classes of GRAIN bytes with a free list each (Lua tells the size of
** every block it frees, so no header is needed); larger ones from malloc.
** Small blocks freed while the thread runs are reused by the state, not
** returned to the system: its slabs go at lua_close, which frees the
** state's main block (always malloc'd: the first allocation) last, so that
** free releases the slabs and the allocator itself. Used by this thread
** only.
*/
#define GRAIN 16
#define NCLASS 16                       /* small: up to 256 bytes */
#define SMALL_MAX (GRAIN * NCLASS)
#define SLAB_SIZE 16384

typedef struct slab {
  struct slab *next;
  max_align_t pad_;                     /* blocks start aligned */
} slab;

typedef struct talloc {
  void *freel[NCLASS];
  char *bump, *end;
  slab *slabs;
  void *first;                          /* the state's main block */
  int *released;                        /* set when freed (lua_newstate) */
} talloc;

static void *small_new(talloc *a, size_t n) {
  size_t c = (n - 1) / GRAIN, sz = (c + 1) * GRAIN;
  void *p = a->freel[c];
  if (p != NULL) {
    a->freel[c] = *(void **)p;
    return p;
  }
  if ((size_t)(a->end - a->bump) < sz) {
    slab *s = malloc(SLAB_SIZE);
    if (s == NULL) return NULL;
    s->next = a->slabs;
    a->slabs = s;
    a->bump = (char *)(s + 1);
    a->end = (char *)s + SLAB_SIZE;
  }
  p = a->bump;
  a->bump += sz;
  return p;
}

static void small_free(talloc *a, void *p, size_t n) {
  size_t c = (n - 1) / GRAIN;
  *(void **)p = a->freel[c];
  a->freel[c] = p;
}

static void talloc_release(talloc *a) {
  slab *s = a->slabs;
  while (s != NULL) {
    slab *next = s->next;
    free(s);
    s = next;
  }
  if (a->released) *a->released = 1;
  free(a);
}

static void *talloc_f(void *ud, void *ptr, size_t osize, size_t nsize) {
  talloc *a = ud;
  void *np;
  if (ptr == NULL) {                    /* osize is a type tag: new block */
    if (nsize == 0) return NULL;
    if (a->first == NULL) return a->first = malloc(nsize);
    return nsize <= SMALL_MAX ? small_new(a, nsize) : malloc(nsize);
  }
  if (ptr == a->first) {                /* only ever freed, by lua_close */
    if (nsize != 0) return NULL;
    free(ptr);
    talloc_release(a);
    return NULL;
  }
  if (nsize == 0) {
    if (osize <= SMALL_MAX) small_free(a, ptr, osize);
    else free(ptr);
    return NULL;
  }
  if (osize > SMALL_MAX && nsize > SMALL_MAX) return realloc(ptr, nsize);
  if (osize <= SMALL_MAX && nsize <= SMALL_MAX &&
      (osize - 1) / GRAIN == (nsize - 1) / GRAIN)
    return ptr;
  np = nsize <= SMALL_MAX ? small_new(a, nsize) : malloc(nsize);
  if (np == NULL) {
    /* Lua takes a shrink to succeed: keep the block, which is then
    ** reused as a small one (bigger than its class: harmless) and never
    ** returned to malloc. Only when memory is exhausted. */
    return nsize <= osize ? ptr : NULL;
  }
  memcpy(np, ptr, osize < nsize ? osize : nsize);
  if (osize <= SMALL_MAX) small_free(a, ptr, osize);
  else free(ptr);
  return np;
}

/* What luaL_newstate installs besides the allocator: the panic message
** and warnings (off until "@on"; "@off" and "@on" are control messages;
** a warning in pieces is one line "Lua warning: ..."). */
static int t_panic(lua_State *L) {
  const char *m = lua_tostring(L, -1);
  fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n",
          m ? m : "error object is not a string");
  fflush(stderr);
  return 0;   /* Lua aborts */
}

static void warn_on(void *ud, const char *m, int tocont);
static void warn_off(void *ud, const char *m, int tocont);

static int warn_control(lua_State *L, const char *m, int tocont) {
  if (tocont || m[0] != '@') return 0;
  if (strcmp(m + 1, "off") == 0) lua_setwarnf(L, warn_off, L);
  else if (strcmp(m + 1, "on") == 0) lua_setwarnf(L, warn_on, L);
  return 1;
}

static void warn_off(void *ud, const char *m, int tocont) {
  warn_control(ud, m, tocont);
}

static void warn_cont(void *ud, const char *m, int tocont) {
  fprintf(stderr, "%s", m);
  if (tocont) {
    lua_setwarnf(ud, warn_cont, ud);
  } else {
    fprintf(stderr, "\n");
    lua_setwarnf(ud, warn_on, ud);
  }
  fflush(stderr);
}

static void warn_on(void *ud, const char *m, int tocont) {
  if (warn_control(ud, m, tocont)) return;
  fprintf(stderr, "Lua warning: ");
  warn_cont(ud, m, tocont);
}

static lua_State *thread_state(const lcf_worker_config *cfg, char *msg,
                               size_t msgsz) {
  talloc *a;
  lua_State *L = NULL;
  int released = 0;
  if (cfg->memory_limit) return lcf_worker_newstate(cfg, msg, msgsz);
  if ((a = calloc(1, sizeof *a)) != NULL) {
    a->released = &released;    /* a failed lua_newstate may close it */
    L = lua_newstate(talloc_f, a);
    if (L != NULL) a->released = NULL;
    else if (!released) free(a);
  }
  if (L == NULL) {
    snprintf(msg, msgsz, "not enough memory for a worker state");
    return NULL;
  }
  lua_atpanic(L, t_panic);
  lua_setwarnf(L, warn_off, L);
  return lcf_worker_setupstate(L, cfg, msg, msgsz);
}

static void report(const char *name, const char *msg) {
  fprintf(stderr, "Exception in thread %s:\n%s\n", name, msg);
  fflush(stderr);
}

static void thread_body(void *arg) {
  start_rec *r = arg;
  char msg[512];
  lua_State *L = thread_state(r->cfg, msg, sizeof msg);
  if (L == NULL) {
    report(r->name, msg);
  } else {
    lua_pushcfunction(L, traceback_handler);
    lua_pushcfunction(L, run_body);
    lua_pushlightuserdata(L, r);
    if (lua_pcall(L, 1, 0, 1) != LUA_OK) {
      const char *m = lua_tostring(L, -1);
      report(r->name, m ? m : "(error while reporting the error)");
    }
    lua_close(L);   /* joins this thread's own non-daemon threads */
  }
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
  cf_buffer *b;
  lcf_worker_config *cfg;
  start_rec *r;
  tlist *l = NULL;
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
  b = lcf_newbuffer(L);                       /* 6 */
  lcf_encode(L, direct ? 5 : 2, 1, b, &self_opts);
  if (!daemon) l = reserve(L);
  cfg = lcf_worker_config_new(L, NULL);       /* raises before we own */
  r = calloc(1, sizeof *r);
  if (r == NULL || (r->name = strdup(name)) == NULL) {
    free(r);
    lcf_worker_config_free(cfg);
    return luaL_error(L, "not enough memory");
  }
  r->cfg = cfg;
  r->direct = direct;
  cf_buffer_init(&r->input);
  cf_buffer_move(&r->input, b);
  rc = cf_thread_start(t, thread_body, r, name);
  if (rc != 0) {
    start_rec_free(r);
    if (rc == CF_ESTATE)
      return luaL_error(L, "threads can only be started once");
    return luaL_error(L, "cannot start a thread (error %d)", -rc);
  }
  if (l) l->v[l->n++] = cf_retain(t);
  lua_pushinteger(L, (lua_Integer)cf_thread_get_ident(t));
  return 1;
}

/* handle:join([timeout]) -> true when ended, false on timeout */
static int l_join(lua_State *L) {
  cf_thread *t = check_handle(L, 1);
  double timeout = lcf_opttimeout(L, 2);
  int rc;
  if (!cf_thread_started(t))
    return luaL_error(L, "cannot join thread before it is started");
  if (cf_thread_get_ident(t) == cf_thread_ident())
    return luaL_error(L, "cannot join current thread");
  rc = cf_thread_join(t, timeout);
  lcf_callbacks_run(L);
  lua_pushboolean(L, rc == 0);
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

static int l_eq(lua_State *L) {
  lua_pushboolean(L, lcf_toobject(L, 1) == lcf_toobject(L, 2));
  return 1;
}

static const luaL_Reg handle_methods[] = {
  {"start", l_start},
  {"join", l_join},
  {"is_alive", l_is_alive},
  {"started", l_started},
  {"ident", l_ident},
  {"__tostring", l_handle_tostring},
  {"__eq", l_eq},
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

void lcf_thread_open(lua_State *L) {
  lcf_newclass(L, LCF_THREADHANDLE, handle_methods);
  lua_pop(L, 1);
  lua_pushcfunction(L, l_handle_new);
  lua_setfield(L, -2, "ThreadHandle");
  lua_pushcfunction(L, l_get_ident);
  lua_setfield(L, -2, "get_ident");
  lua_pushcfunction(L, l_thread_seq);
  lua_setfield(L, -2, "thread_seq");
}
