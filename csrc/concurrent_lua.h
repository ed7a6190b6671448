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

/* A host's own C type whose objects cross between states by reference
** (what Lanes calls deep userdata): a reference-counted block of the
** host's data; in each state it is seen through a box (a full userdata)
** whose metatable is made there the first time one arrives. The type
** (static, living as long as the program) is given by the host. */
typedef struct cf_lua_type {
  const char *name;   /* the boxes' __name ("host.Counter"); unique */
  /* Frees what the data holds (not the block) when the last reference
  ** goes; may be NULL. Runs in whichever thread drops it. */
  void (*destroy)(void *data);
  /* Called with the new metatable on the stack top (its __name, __gc
  ** and __index = itself are set): add the methods. Runs once per
  ** state, in that state's thread; may be NULL. */
  void (*metatable)(struct lua_State *L);
} cf_lua_type;

/* A new object of type t with size bytes of zeroed data; returns the
** data (one reference, the caller's) or NULL without memory. The data is
** shared by every thread: the host synchronises what it changes there
** (atomics, a mutex of its own). */
void *cf_lua_shared_new(const cf_lua_type *t, size_t size);
/* Add or drop a reference (data from cf_lua_shared_new; NULL is ignored). */
void *cf_lua_shared_retain(void *data);
void cf_lua_shared_release(void *data);
/* Push this state's box for data (the same box each time while it
** lives; the box holds a reference of its own). */
void cf_lua_push_shared(struct lua_State *L, void *data);
/* The data of the box of type t at idx, or NULL (another value). */
void *cf_lua_toshared(struct lua_State *L, int idx, const cf_lua_type *t);

/* A payload written without a Lua state (a C task's results): values
** in the format Lua tasks use, read by cf_lua_push_payload, a future's
** result(), a queue. Scalars, strings, arrays and maps (nested up to
** CF_PAYLOAD_DEPTH). Errors are sticky: cf_payload_end reports the
** first one. */
#define CF_PAYLOAD_DEPTH 32
typedef struct cf_payload {
  cf_buffer *out;
  int err;            /* 0, -ENOMEM or -EINVAL */
  int depth;
  uint32_t count;     /* top-level values so far */
  struct {
    size_t at;        /* the table's tag in out */
    uint32_t n;       /* values written in it */
    int map;
  } open[CF_PAYLOAD_DEPTH];
} cf_payload;

/* Start writing into out (emptied first). */
void cf_payload_begin(cf_payload *w, cf_buffer *out);
void cf_payload_nil(cf_payload *w);
void cf_payload_boolean(cf_payload *w, int v);
void cf_payload_integer(cf_payload *w, int64_t v);
void cf_payload_number(cf_payload *w, double v);
void cf_payload_string(cf_payload *w, const char *s, size_t len);
/* A table: an array takes values (t[1], t[2], ...; nil leaves a hole);
** a map takes key, value, key, value, ... (a nil or NaN key is -EINVAL).
** cf_payload_close ends the innermost one. */
void cf_payload_array(cf_payload *w);
void cf_payload_map(cf_payload *w);
void cf_payload_close(cf_payload *w);
/* Finish: 0, or the first error (-ENOMEM; -EINVAL for a table left open,
** a close without a table, a map with a key and no value, a bad key or
** nesting deeper than CF_PAYLOAD_DEPTH); out is then emptied. */
int cf_payload_end(cf_payload *w);
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
