/*
** process.h -- Process and ProcessPoolExecutor (concurrent.process).
*/
#ifndef LCF_PROCESS_H
#define LCF_PROCESS_H

#include <lua.h>

/* Add this area's classes and functions to the module table on the top. */
void lcf_process_open(lua_State *L);

#endif
