/*
** executor.h -- the ThreadPoolExecutor class.
*/
#ifndef LCF_EXECUTOR_H
#define LCF_EXECUTOR_H

#include <lua.h>

#define LCF_EXECUTOR "concurrent.ThreadPoolExecutor"

void lcf_executor_open(lua_State *L);
/* Parse shutdown's arguments (both forms), shared by every executor. */
void lcf_shutdown_args(lua_State *L, int *wait, int *cancel);   /* class and constructor into top */

#endif
