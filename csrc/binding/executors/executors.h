/*
** executors.h -- the executors: ThreadPoolExecutor (thread_pool.c),
** ProcessPoolExecutor (process_pool.c), and what both share (shared.c).
*/
#ifndef LCF_EXECUTORS_H
#define LCF_EXECUTORS_H

#include <lua.h>

#define LCF_EXECUTOR "concurrent.ThreadPoolExecutor"

/* core.thread_pool and its class, into the table on the top. */
void lcf_executor_open(lua_State *L);
/* core.process_pool and its class, into the table on the top. */
void lcf_procpool_open(lua_State *L);
/* Parse shutdown's arguments (both forms), shared by every executor. */
void lcf_shutdown_args(lua_State *L, int *wait, int *cancel);

#endif
