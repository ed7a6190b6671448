/*
** process_class.h -- Process handles (concurrent.process).
*/
#ifndef LCF_PROCESS_CLASS_H
#define LCF_PROCESS_CLASS_H

#include <lua.h>

/* Add this area's classes and functions to the module table on the top
** (process handles, getpid, the children list). */
void lcf_process_open(lua_State *L);

#endif
