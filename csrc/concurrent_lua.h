/*
** concurrent_lua.h -- the embedding API of concurrent: what a host program
** that runs Lua scripts uses to share the library with them (prepare
** every worker lua_State, share a pool between C tasks and scripts, hand
** values between C and Lua). Declared without Lua headers; defined by the
** module concurrent.core (build/concurrent/core.so, or its objects linked
** into the host). The core API, with no Lua in it, is concurrent.h.
*/
#ifndef CONCURRENT_LUA_H
#define CONCURRENT_LUA_H

#include "concurrent.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lua_State;

/* Called in each new worker lua_State (thread pool workers and threads)
** after the standard libraries and package paths are set up and before
** the first task, so a host can register its own functions and modules. */
typedef void (*cf_lua_setup_fn)(struct lua_State *worker, void *ud);

/* Open the module (what require "concurrent.core" calls). */
int luaopen_concurrent_core(struct lua_State *L);
/* Set the setup hook for workers of executors and threads made from L
** from now on (per state: NULL removes it). */
void cf_lua_set_worker_setup(struct lua_State *L, cf_lua_setup_fn fn, void *ud);
/* The pool behind the ThreadPoolExecutor at stack index idx, with a new
** reference for the caller (C tasks can then share it); NULL if idx is
** not an open executor. */
cf_pool *cf_lua_executor_pool(struct lua_State *L, int idx);
/* Push a Future object for f (adds a reference), e.g. for a C task's
** future, so scripts can wait on it. */
void cf_lua_push_future(struct lua_State *L, cf_future *f);
/* Push the values encoded in a future's payload (as a Lua task leaves
** them); returns how many. */
int cf_lua_push_payload(struct lua_State *L, const cf_buffer *payload);
/* Encode the n values at stack index first into out (cleared first), so
** a C task can finish a future with values Lua scripts can read. Returns
** 0, or -1 with an error message pushed if a value cannot cross. */
int cf_lua_encode(struct lua_State *L, int first, int n, cf_buffer *out);

/* Never blocking the host's loop (futures.fd, futures.poll). The fd is
** readable whenever L has work queued: a done-callback to run, a
** coroutine made by futures.spawn to resume (its task finished, its sleep
** or timeout is due). Watch it in the host's own loop (poll, epoll, a
** toolkit's fd source); cf_lua_poll drains it. Returns -1 with errno set
** when it cannot be made. The fd belongs to L: do not close it. */
int cf_lua_poll_fd(struct lua_State *L);
/* Run L's queued callbacks and coroutine resumes on the calling thread (L's
** own): at most max_callbacks (< 0: no limit), and none started once
** max_seconds have passed (< 0: no limit); at least one if any waits and
** max_callbacks is not 0. Returns how many ran; *more (may be NULL) says
** whether more is queued. Never raises: errors in callbacks are printed,
** errors in coroutines fail their futures. */
int cf_lua_poll(struct lua_State *L, int max_callbacks, double max_seconds,
                int *more);

#ifdef __cplusplus
}
#endif
#endif
