/*
** executors.h -- the executors: ThreadPoolExecutor (thread_pool.c),
** ProcessPoolExecutor (process_pool.c), and what both share (shared.c).
*/
#ifndef LCF_EXECUTORS_H
#define LCF_EXECUTORS_H

#include <lua.h>

#include "../../concurrent.h"
#include "../runtime/boxes.h"

#define LCF_EXECUTOR "concurrent.ThreadPoolExecutor"

/* core.thread_pool and its class, into the table on the top. */
void lcf_executor_open(lua_State *L);
/* core.process_pool and its class, into the table on the top. */
void lcf_procpool_open(lua_State *L);
/* Parse shutdown's arguments (both forms), shared by every executor. */
void lcf_shutdown_args(lua_State *L, int *wait, int *cancel);

/* An executor's core pool as the methods both executors share (shared.c)
** see it: thread_pool.c and process_pool.c each describe theirs, with
** functions that take their own pool. */
typedef struct lcf_pool_ops {
  const char *tname;                            /* the box's class */
  int (*shutdown)(void *p, int wait, int cancel);
  int (*wait_slice)(void *p, double timeout);   /* lcf_wait's slice: the
                                                ** pool's end after shutdown */
  int (*interrupt)(void *p);
} lcf_pool_ops;

/* ex:shutdown(...), ex:__close() and __gc, for the executor box at
** index 1 whose pool ops describes: each class's methods call these
** (plain C functions, so a method crosses to a thread as before). */
int lcf_executor_shutdown(lua_State *L, const lcf_pool_ops *ops);
int lcf_executor_close(lua_State *L, const lcf_pool_ops *ops);
int lcf_executor_gc(lua_State *L, const lcf_pool_ops *ops);

/* Executors that cross (executor_boxes.c). The box an executor is made
** in owns it (collected, it shuts the executor down); one received in a
** task is a plain box. Pushes a new owner box of class tname, obj NULL. */
lcf_box *lcf_push_owner_box(lua_State *L, const char *tname);
int lcf_is_owner_box(lua_State *L, int idx);
/* ex:stats()'s table. */
void lcf_push_stats(lua_State *L, const cf_stats *s);
/* An executor's map before concurrent.futures is loaded (a task's state
** got the executor without it): loads it and calls its map, which takes
** this one's place. */
int lcf_lazy_map(lua_State *L);

#endif
