/*
** sync.h -- Lock, RLock, Condition, Semaphore, Event, Barrier, Queue, Value, Dict objects for Lua.
*/
#ifndef LCF_SYNC_H
#define LCF_SYNC_H

#include <lua.h>

/* Add this area's classes and functions to the module table on the top. */
void lcf_sync_open(lua_State *L);

#endif
