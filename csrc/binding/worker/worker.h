/*
** worker.h -- worker lua_States: how they are made (libraries, package
** paths of the creating state, os.exit guard, host setup hook,
** initializer) and how a Lua task runs in one.
*/
#ifndef LCF_WORKER_H
#define LCF_WORKER_H

#include <stdatomic.h>

#include <lua.h>

#include "../../concurrent_lua.h"

/* What every worker of one pool (or one thread) starts from. Immutable
** once made; owned by the pool (freed by its destroy hook). */
typedef struct lcf_worker_config {
  char *path, *cpath;         /* package.path / cpath of the creator */
  struct lcf_preload {        /* the C loaders of its package.preload */
    char *name;
    lua_CFunction fn;
  } *preload;
  size_t npreload;
  char *name_prefix;          /* thread names: prefix_N */
  cf_buffer init;             /* initializer and initargs, or empty */
  cf_lua_setup_fn setup;
  void *setup_ud;
  int counter;                /* atomically numbered thread names */
  size_t memory_limit;        /* bytes a task may grow its state to; 0: none */
  atomic_int refs;            /* lcf_worker_config_free drops one */
} lcf_worker_config;

/* Snapshot the calling state's paths, the C loaders (without upvalues)
** of its package.preload, and setup hook into a new config
** (raises on memory errors). The init buffer is left empty. One
** reference, dropped by lcf_worker_config_free (the config is freed with
** the last). */
lcf_worker_config *lcf_worker_config_new(lua_State *L, const char *prefix);
void lcf_worker_config_free(void *cfg);

/* A Thread's config (no prefix, initializer or limit), with a reference
** for the caller: the one the state's last start made while its package
** paths, preload C loaders and setup hook are the same (threads only
** read it), else a new one kept for the next start. NULL when out of
** memory (it does not raise). */
lcf_worker_config *lcf_thread_config(lua_State *L);

/* Pool hooks over a config. */
int  lcf_worker_start(void *cfg, void **ctx, char *msg, size_t msgsz);
void lcf_worker_stop(void *cfg, void *ctx);

/* Make a fresh state set up as a worker (no initializer run); NULL and a
** message on failure. Used by threads and process-pool workers too. Its
** small blocks come from a region of its own (allocator.c) unless the config
** has a memory limit. */
lua_State *lcf_worker_newstate(const lcf_worker_config *cfg, char *msg,
                               size_t msgsz);

/* The task function for Lua tasks: the future's input holds the function
** and its arguments. */
void lcf_lua_task(cf_future *f, void *ctx, void *arg);

/* Run the function and arguments encoded in input in L, protected;
** finishes f with the results or the error and its traceback. out is
** scratch space the caller owns. remote: the results go to another
** process (a process pool's parent), so library objects are refused. */
void lcf_run_encoded(lua_State *L, cf_future *f, const cf_buffer *input,
                     cf_buffer *out, int remote);

/* Nested tasks (nested.c): lcf_worker_thread pushes a new thread of L's
** state set up to run tasks (a lua_CFunction: call it protected). */
int lcf_worker_thread(lua_State *L);
/* The thread made for nesting depth d in the calling worker, or NULL. */
lua_State *lcf_nest_thread(int d);
/* The worker's state is closing: forget its threads. */
void lcf_nest_forget(void);
/* 1 if a wait in L may help (a pool worker below the bounds, its thread
** for the next depth made); 0: wait plainly. */
int lcf_help_prepare(lua_State *L);
/* Wait for f as future:result() does (in slices; helping if it may):
** 0 or CF_ETIMEDOUT. */
int lcf_wait_future(lua_State *L, cf_future *f, double timeout);
/* The error value at eidx into out (reset first) as a task's error is
** sent; one that cannot cross is sent as its string form. Never raises:
** out is left empty if even that fails. */
void lcf_encode_error(lua_State *L, int eidx, cf_buffer *out);

#endif
