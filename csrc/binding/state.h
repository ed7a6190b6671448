/*
** state.h -- what the library keeps per lua_State: the pools made from it
** (joined when the state closes), the host's worker-setup hook, and the
** inbox of done-callbacks to run in it.
*/
#ifndef LCF_STATE_H
#define LCF_STATE_H

#include <lua.h>

#include "../concurrent.h"

typedef struct lcf_inbox lcf_inbox;

typedef struct lcf_state {
  cf_pool **pools;            /* retained; shut down with wait at close */
  size_t npools, cap;
  cf_lua_setup_fn setup;      /* host hook for new worker states */
  void *setup_ud;
  lcf_inbox *inbox;           /* done-callbacks for this state, or NULL */
  void *threads;              /* thread.c: threads to join at close, or NULL */
  void *spawn;                /* spawn.c: coroutines, timers, fd, or NULL */
} lcf_state;

/* The calling state's record (made with the module). */
lcf_state *lcf_getstate(lua_State *L);
/* Make the record and its finalizer; called by luaopen. */
void lcf_state_open(lua_State *L);
/* Remember a pool to join when the state closes. */
void lcf_state_add_pool(lua_State *L, cf_pool *p);
/* What other areas hold per state, released when it closes, before its
** pools are joined (state_gc calls them in this order). */
void lcf_callbacks_close(lcf_state *s);   /* callbacks.c: the inbox */
void lcf_threads_close(lcf_state *s);     /* thread.c: join the threads */
void lcf_spawn_close(lcf_state *s);       /* spawn.c: suspended coroutines */

#endif
