/*
** host.c -- a C program that embeds Lua 5.4 and the concurrent library,
** the way a game or a tool would.
**
** It shows the four things a host needs:
**   1. Its own C functions in every worker state: cf_lua_set_worker_setup
**      registers the `host` table (host.log, host.hit, host.hits,
**      host.is_main_thread, host.frame) in each new worker, so tasks call
**      back into the program.
**   2. One pool for C and Lua: the script makes a ThreadPoolExecutor; the
**      host takes the cf_pool behind it (cf_lua_executor_pool) and submits
**      its own C tasks there (cf_pool_submit). A C task finishes its future
**      with values written by cf_payload_* (no Lua state needed), so
**      scripts can read them: numbers, an array, a map.
**   3. Futures both ways: one C future is handed to the script
**      (cf_lua_push_future), which adds a done-callback; another is polled
**      by the host itself, which passes its values to the script
**      (cf_lua_push_payload).
**   4. A frame loop that never blocks on the library: once per frame it
**      runs the script's done-callbacks and coroutine resumes within a
**      budget (cf_lua_poll), and between frames it waits in poll(2) on
**      the library's fd (cf_lua_poll_fd) with the frame's time left as
**      the timeout, instead of sleeping: work that arrives meanwhile runs
**      at once, on the main thread.
**   5. A C object of its own shared by reference: host.score, a counter
**      of type host.Counter (a cf_lua_type), crosses into the tasks the
**      script gives it to; they, the C tasks and the script all add to
**      the one counter (score:add(n), score:get()).
**
** The library is linked in (the module's object files), so no .so is
** loaded: luaopen_concurrent_core is registered as "concurrent.core", and
** worker states get the same linked-in module.
**
** Usage: build/host [script]   (default examples/host/game.lua)
*/
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "concurrent_lua.h"
#include "binding/runtime/compat.h"   /* the 5.4 names, on 5.1 to 5.3 too */

#define FRAME_SECONDS (1.0 / 100)
#define MAX_FRAMES 1000          /* a stuck script cannot hang the host */
#define POLL_BUDGET 0.002        /* seconds of callbacks per poll, at most */

/* ---------------------------------------------------------------------- */
/* The host's own functions, callable from any thread.                    */

static pthread_t main_thread;
static atomic_long hits;          /* counted by host.hit and the C tasks */
static atomic_int frame_no;       /* the frame being run */
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

/* Whole lines, one thread at a time: several threads log at once. */
static void log_line(const char *msg) {
  pthread_mutex_lock(&out_mu);
  printf("[frame %d] %s\n", atomic_load(&frame_no), msg);
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
}

/* host.log(message) */
static int l_log(lua_State *L) {
  log_line(luaL_checkstring(L, 1));
  return 0;
}

/* host.hit([n=1]) -> the new total: the engine's thread-safe counter. */
static int l_hit(lua_State *L) {
  long n = (long)luaL_optinteger(L, 1, 1);
  lua_pushinteger(L, atomic_fetch_add(&hits, n) + n);
  return 1;
}

/* host.hits() -> the total. */
static int l_hits(lua_State *L) {
  lua_pushinteger(L, atomic_load(&hits));
  return 1;
}

/* host.is_main_thread() -> is the caller the host's main thread? */
static int l_is_main_thread(lua_State *L) {
  lua_pushboolean(L, pthread_equal(pthread_self(), main_thread));
  return 1;
}

/* host.frame() -> the current frame number. */
static int l_frame(lua_State *L) {
  lua_pushinteger(L, atomic_load(&frame_no));
  return 1;
}

static const luaL_Reg host_funcs[] = {
  {"log", l_log},
  {"hit", l_hit},
  {"hits", l_hits},
  {"is_main_thread", l_is_main_thread},
  {"frame", l_frame},
  {NULL, NULL}
};

static int open_host(lua_State *L) {
  luaL_newlib(L, host_funcs);
  return 1;
}

/* Global `host` and require "host", in the main state and in workers. */
static void register_host(lua_State *L) {
  luaL_requiref(L, "host", open_host, 1);
  lua_pop(L, 1);
}

/* The worker setup hook: runs in each new worker state, in its thread,
** before its first task. */
static void worker_setup(lua_State *W, void *ud) {
  (void)ud;
  register_host(W);
}

/* ---------------------------------------------------------------------- */
/* host.Counter: a C object shared by reference with every state.        */

/* The data of a counter: the library counts the references, the host
** keeps the value thread-safe (an atomic). */
typedef struct counter { atomic_long value; } counter;

static counter *check_counter(lua_State *L);

/* score:add([n=1]) -> the new value. */
static int l_counter_add(lua_State *L) {
  counter *c = check_counter(L);
  long n = (long)luaL_optinteger(L, 2, 1);
  lua_pushinteger(L, atomic_fetch_add(&c->value, n) + n);
  return 1;
}

/* score:get() -> the value. */
static int l_counter_get(lua_State *L) {
  lua_pushinteger(L, atomic_load(&check_counter(L)->value));
  return 1;
}

static int l_counter_tostring(lua_State *L) {
  lua_pushfstring(L, "host.Counter(%d)", (int)atomic_load(&check_counter(L)->value));
  return 1;
}

/* Runs once in each state that meets a counter: its methods. */
static void counter_metatable(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"add", l_counter_add},
    {"get", l_counter_get},
    {"__tostring", l_counter_tostring},
    {NULL, NULL}
  };
  luaL_setfuncs(L, methods, 0);
}

static const cf_lua_type counter_type = {"host.Counter", NULL, counter_metatable};

static counter *check_counter(lua_State *L) {
  counter *c = cf_lua_toshared(L, 1, &counter_type);
  if (c == NULL) luaL_typeerror(L, 1, counter_type.name);
  return c;
}

static counter *score;            /* the host's own reference */

/* ---------------------------------------------------------------------- */
/* C tasks.                                                               */

typedef struct prime_job { long limit; } prime_job;

/* A C task: count the primes below limit (real work, no Lua), add one to
** the score, then finish the future with (limit, count, {the first five
** primes}, {limit = limit, primes = count}), written without a Lua state:
** pool threads have none of the host's. */
static void count_primes_task(cf_future *f, void *worker_ctx, void *arg) {
  const prime_job *job = arg;
  long n, d, count = 0, first[5];
  cf_buffer out = CF_BUFFER_INIT;
  cf_payload w;
  int i;
  (void)worker_ctx;   /* the Lua worker's context: not ours to use */
  for (n = 2; n < job->limit; n++) {
    for (d = 2; d * d <= n && n % d != 0; d++) {}
    if (d * d > n && count < 5) first[count] = n;
    if (d * d > n) count++;
  }
  atomic_fetch_add(&hits, 1);
  atomic_fetch_add(&score->value, 1);
  cf_payload_begin(&w, &out);
  cf_payload_integer(&w, job->limit);
  cf_payload_integer(&w, count);
  cf_payload_array(&w);
  for (i = 0; i < 5 && i < count; i++) cf_payload_integer(&w, first[i]);
  cf_payload_close(&w);
  cf_payload_map(&w);
  cf_payload_string(&w, "limit", 5);
  cf_payload_integer(&w, job->limit);
  cf_payload_string(&w, "primes", 6);
  cf_payload_integer(&w, count);
  cf_payload_close(&w);
  if (cf_payload_end(&w) == 0)
    cf_future_finish(f, CF_OUTCOME_RESULT, &out, NULL);
  else
    cf_future_finish(f, CF_OUTCOME_NOMEM, &out, NULL);
  cf_buffer_free(&out);    /* what cf_future_finish did not take */
}

static cf_future *submit_primes(cf_pool *pool, long limit) {
  prime_job *job = malloc(sizeof *job);
  cf_future *f;
  int rc;
  if (job == NULL) return NULL;
  job->limit = limit;
  /* Once queued, job belongs to the pool: it calls free(job) after the
  ** task, or when the task is cancelled. A failed submit takes nothing. */
  f = cf_pool_submit(pool, count_primes_task, job, free, &rc);
  if (f == NULL) {
    fprintf(stderr, "host: cannot submit a C task (code %d)\n", rc);
    free(job);
  }
  return f;
}

/* ---------------------------------------------------------------------- */
/* The main state.                                                        */

/* Stack slots: run_script leaves these two at the bottom of the main
** stack, and every protected call below gets them as its first two
** arguments (protected_call), so the same indices hold inside. */
#define GAME 1    /* the table the script returns */
#define POLL 2    /* futures.poll (the host uses cf_lua_poll, its C face) */

/* <script dir>/../../lua: this checkout's Lua modules, before the usual
** paths (an installed library is found there when they are missing). */
static int set_paths(lua_State *L) {
  const char *script = lua_tostring(L, 1);
  const char *slash = strrchr(script, '/');
  lua_getglobal(L, "package");
  if (slash) lua_pushlstring(L, script, (size_t)(slash - script));
  else lua_pushliteral(L, ".");
  lua_pushfstring(L, "%s/../../lua/?.lua;%s/../../lua/?/init.lua;",
                  lua_tostring(L, -1), lua_tostring(L, -1));
  lua_getfield(L, -3, "path");
  lua_concat(L, 2);
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
  return 0;
}

/* Protected: load the library and the script; returns GAME and POLL. */
static int run_script(lua_State *L) {
  const char *script = lua_tostring(L, 1);
  lua_settop(L, 1);
  luaL_openlibs(L);
  /* The module is linked in: register it under its name. */
  luaL_requiref(L, "concurrent.core", luaopen_concurrent_core, 0);
  lua_pop(L, 1);
  lua_pushcfunction(L, set_paths);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 0);
  register_host(L);
  lua_getglobal(L, "host");               /* host.score, the main state's box */
  cf_lua_push_shared(L, score);
  lua_setfield(L, -2, "score");
  lua_pop(L, 1);
  /* Before the script makes its executors: their workers get `host`. */
  cf_lua_set_worker_setup(L, worker_setup, NULL);
  if (luaL_dofile(L, script) != LUA_OK) lua_error(L);
  if (!lua_istable(L, -1))
    return luaL_error(L, "%s must return a table (the game)", script);
  lua_replace(L, GAME);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "concurrent.futures");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "poll");
  lua_replace(L, POLL);
  lua_settop(L, POLL);
  return 2;
}

/* Call game[name](...) with the nargs values on top; leaves nres. */
static void call_game(lua_State *L, const char *name, int nargs, int nres) {
  lua_getfield(L, GAME, name);
  if (!lua_isfunction(L, -1)) luaL_error(L, "the game has no function '%s'", name);
  lua_insert(L, -nargs - 1);
  lua_call(L, nargs, nres);
}

/* The C futures the host watches itself, delivered once done. */
typedef struct watched {
  cf_future *f;
  const char *what;
  int delivered;
} watched;

static watched polled[1];
static int npolled;

/* Hand a finished C future's values to game.on_host_result(what, ...). */
static void deliver(lua_State *L, watched *w) {
  const cf_buffer *payload;
  const char *traceback;
  int n = 0;
  lua_pushstring(L, w->what);
  if (cf_future_outcome(w->f, &payload, &traceback) == CF_OUTCOME_RESULT) {
    n = cf_lua_push_payload(L, payload);
  } else {
    lua_pushliteral(L, "failed");
    n = 1;
  }
  w->delivered = 1;
  call_game(L, "on_host_result", n + 1, 0);
}

/* Protected: one frame. Returns whether the game goes on. */
static int frame(lua_State *L) {
  int i, keep_going, ran;
  for (i = 0; i < npolled; i++)          /* 1. the host's own futures */
    if (!polled[i].delivered && cf_future_done(polled[i].f))
      deliver(L, &polled[i]);
  /* 2. done-callbacks and coroutine resumes, here, within the budget */
  ran = cf_lua_poll(L, -1, POLL_BUDGET, NULL);
  lua_pushinteger(L, atomic_load(&frame_no));   /* 3. the script's frame */
  lua_pushinteger(L, ran);
  call_game(L, "update", 2, 1);
  keep_going = lua_toboolean(L, -1);
  lua_pop(L, 1);
  for (i = 0; i < npolled; i++)
    if (!polled[i].delivered) keep_going = 1;
  lua_pushboolean(L, keep_going);
  return 1;
}

/* Protected: give the script a C future (game.on_c_task(future, what)). */
static int hand_over(lua_State *L) {
  cf_future *f = lua_touserdata(L, 3);
  const char *what = lua_tostring(L, 4);
  cf_lua_push_future(L, f);              /* the script's own reference */
  lua_pushstring(L, what);
  call_game(L, "on_c_task", 2, 0);
  return 0;
}

/* Call fn(GAME, POLL, the nargs values on top) protected; errors are
** reported. Returns 0 with nres results pushed, or -1. */
static int protected_call(lua_State *L, lua_CFunction fn, int nargs,
                          int nres) {
  lua_pushcfunction(L, fn);
  lua_pushvalue(L, GAME);
  lua_pushvalue(L, POLL);
  lua_rotate(L, -nargs - 3, 3);          /* fn, GAME, POLL, args... */
  if (lua_pcall(L, nargs + 2, nres, 0) == LUA_OK) return 0;
  fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
  lua_pop(L, 1);
  return -1;
}

/* Between frames: wait in poll(2) until the frame's time is up, waking
** whenever the library has work for the script (its fd is readable);
** that work runs at once, here on the main thread, in budgeted slices. */
static void wait_frame(lua_State *L, int fd, double frame_end) {
  for (;;) {
    struct pollfd p;
    double left = frame_end - cf_monotonic();
    int rc;
    if (left <= 0) return;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    rc = poll(&p, 1, (int)(left * 1000) + 1);
    if (rc > 0) cf_lua_poll(L, -1, POLL_BUDGET, NULL);
    else if (rc < 0 && errno != EINTR) return;
  }
}

/* Protected: game.finish(). */
static int finish(lua_State *L) {
  call_game(L, "finish", 0, 0);
  return 0;
}

int main(int argc, char **argv) {
  const char *script = argc > 1 ? argv[1] : "examples/host/game.lua";
  lua_State *L;
  cf_pool *pool;
  cf_future *handed = NULL;
  int status = 1, frames = 0, fd;
  char line[128];

  main_thread = pthread_self();
  score = cf_lua_shared_new(&counter_type, sizeof *score);
  L = luaL_newstate();
  if (L == NULL || score == NULL) return 1;

  lua_pushcfunction(L, run_script);      /* ends with GAME, POLL */
  lua_pushstring(L, script);
  if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
    fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }

  /* The pool behind the script's executor, shared with the C tasks. */
  lua_getfield(L, GAME, "pool");
  pool = cf_lua_executor_pool(L, -1);
  lua_pop(L, 1);
  if (pool == NULL) {
    fprintf(stderr, "host: game.pool is not an open ThreadPoolExecutor\n");
    lua_close(L);
    return 1;
  }

  /* The fd the frame loop waits on between frames. */
  fd = cf_lua_poll_fd(L);
  if (fd < 0) {
    perror("host: cf_lua_poll_fd");
    cf_release(pool);
    lua_close(L);
    return 1;
  }

  /* A C task whose future the script watches... */
  handed = submit_primes(pool, 200000);
  if (handed == NULL) goto done;
  lua_pushlightuserdata(L, handed);
  lua_pushliteral(L, "C task count_primes(200000)");
  if (protected_call(L, hand_over, 2, 0) != 0) goto done;
  /* ...and one the host polls itself. */
  polled[0].what = "C task count_primes(50000)";
  polled[0].f = submit_primes(pool, 50000);
  if (polled[0].f == NULL) goto done;
  npolled = 1;

  for (frames = 1; frames <= MAX_FRAMES; frames++) {
    int keep_going;
    double frame_end = cf_monotonic() + FRAME_SECONDS;
    atomic_store(&frame_no, frames);
    if (protected_call(L, frame, 0, 1) != 0) goto done;
    keep_going = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!keep_going) break;
    wait_frame(L, fd, frame_end);
  }
  if (frames > MAX_FRAMES) {
    fprintf(stderr, "host: the game did not end in %d frames\n", MAX_FRAMES);
    goto done;
  }

  if (protected_call(L, finish, 0, 0) != 0) goto done;  /* shuts the pool down */
  snprintf(line, sizeof line, "host: %d frames, %ld hits counted by the host, score %ld",
           frames, atomic_load(&hits), atomic_load(&score->value));
  puts(line);
  status = 0;

done:
  cf_release(handed);
  if (npolled) cf_release(polled[0].f);
  cf_release(pool);
  lua_close(L);   /* joins the script's pools */
  cf_lua_shared_release(score);
  return status;
}
