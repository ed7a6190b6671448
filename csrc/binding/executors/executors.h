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
