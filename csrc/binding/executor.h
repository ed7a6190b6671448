/*
** executor.h -- the ThreadPoolExecutor class.
*/
#ifndef LCF_EXECUTOR_H
#define LCF_EXECUTOR_H

#include <lua.h>

#define LCF_EXECUTOR "concurrent.ThreadPoolExecutor"

void lcf_executor_open(lua_State *L);   /* class and constructor into top */

#endif
