/*
** process.h -- Process and ProcessPoolExecutor (concurrent.process).
*/
#ifndef LCF_PROCESS_H
#define LCF_PROCESS_H

#include <lua.h>

/* Add this area's classes and functions to the module table on the top
** (process handles, getpid, and the process pool of procpool.c). */
void lcf_process_open(lua_State *L);

/* core.process_pool and its class (procpool.c). */
void lcf_procpool_open(lua_State *L);

#endif
