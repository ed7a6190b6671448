/*
** worker.h -- worker lua_States: how they are made (libraries, package
** paths of the creating state, os.exit guard, host setup hook,
** initializer) and how a Lua task runs in one.
*/
#ifndef LCF_WORKER_H
#define LCF_WORKER_H

#include <lua.h>

#include "../../concurrent_lua.h"

/* What every worker of one pool (or one thread) starts from. Immutable
** once made; owned by the pool (freed by its destroy hook). */
typedef struct lcf_worker_config {
  char *path, *cpath;         /* package.path / cpath of the creator */
  char *name_prefix;          /* thread names: prefix_N */
  cf_buffer init;             /* initializer and initargs, or empty */
  cf_lua_setup_fn setup;
  void *setup_ud;
  int counter;                /* atomically numbered thread names */
  size_t memory_limit;        /* bytes a task may grow its state to; 0: none */
} lcf_worker_config;

/* Snapshot the calling state's paths and setup hook into a new config
** (raises on memory errors). The init buffer is left empty. */
lcf_worker_config *lcf_worker_config_new(lua_State *L, const char *prefix);
void lcf_worker_config_free(void *cfg);

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

/* The error value at eidx into out (reset first) as a task's error is
** sent; one that cannot cross is sent as its string form. Never raises:
** out is left empty if even that fails. */
void lcf_encode_error(lua_State *L, int eidx, cf_buffer *out);

#endif
