/*
** thread_class.h -- Thread and thread handles (concurrent.thread).
*/
#ifndef LCF_THREAD_CLASS_H
#define LCF_THREAD_CLASS_H

#include <lua.h>

/* Add this area's classes and functions to the module table on the top. */
void lcf_thread_open(lua_State *L);

#endif
