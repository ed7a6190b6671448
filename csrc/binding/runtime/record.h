/*
** record.h -- what the library keeps per lua_State: the host's
** worker-setup hook, the inbox of done-callbacks to run in it, and the one
** close registry: what must be closed, joined or released when the state
** closes (pools, threads, process pools, child processes, the inbox and
** the spawned coroutines).
*/
#ifndef LCF_RECORD_H
#define LCF_RECORD_H

#include <sys/types.h>

#include <lua.h>

#include "compat.h"

#include "../../concurrent_lua.h"

typedef struct lcf_inbox lcf_inbox;

/* The order in which the registry closes things, first to last: nothing
** queued for this state will run any more; its threads end (they may use
** its pools); then its pools, thread and process, are joined; then the
** child processes nobody joined are waited for. */
typedef enum lcf_close_order {
  LCF_CLOSE_INBOX,
  LCF_CLOSE_THREADS,
  LCF_CLOSE_THREAD_POOLS,
  LCF_CLOSE_PROCESS_POOLS,
  LCF_CLOSE_PROCESSES,
  LCF_CLOSE_ORDERS
} lcf_close_order;

/* How the registry treats one kind of thing it holds. */
typedef struct lcf_close_kind {
  lcf_close_order order;
  void (*close)(void *obj);      /* at state close: join, then drop obj */
  int (*finished)(void *obj);    /* may be NULL: nothing left to join */
  void (*drop)(void *obj);       /* drop obj when finished() says so */
} lcf_close_kind;

typedef struct lcf_closer {
  const lcf_close_kind *kind;
  void *obj;                     /* owned by the registry */
  pid_t owner;                   /* in a forked copy it is not ours */
} lcf_closer;

typedef struct lcf_state {
  lcf_closer *closers;        /* the close registry */
  size_t nclosers, cap;
  cf_lua_setup_fn setup;      /* host hook for new worker states */
  void *setup_ud;
  lcf_inbox *inbox;           /* done-callbacks for this state, or NULL */
  void *spawn;                /* spawned.c: coroutines, timers, fd, or NULL */
  void *thread_cfg;           /* worker.c: the config Thread starts share */
  void (*thread_cfg_free)(void *);  /* drops it when the state closes */
} lcf_state;

/* luaopen_concurrent_core, as module.c hands it over when the module is
** first opened in the process; NULL before (and in programs that link
** only the lower layers, like the fuzzers). Lower layers open the module
** in a state through it (a worker's, on first use). */
void lcf_set_module_open(lua_CFunction open);
lua_CFunction lcf_module_open(void);

/* The calling state's record (made with the module). */
lcf_state *lcf_getstate(lua_State *L);
/* Make the record and its finalizer; called by luaopen, before anything
** is registered, so its finalizer runs after every box's. */
void lcf_state_open(lua_State *L);
/* Make room for one more entry (dropping finished ones); raises when out
** of memory. Call it before making what lcf_close_add will take, so that
** taking it cannot fail. */
void lcf_close_reserve(lua_State *L);
/* Hand obj to the registry (after lcf_close_reserve): kind->close(obj)
** runs when the state closes, in kind->order. Never raises (if the room
** is gone and no memory is left, it closes obj at once). */
void lcf_close_add(lua_State *L, const lcf_close_kind *kind, void *obj);

#endif
