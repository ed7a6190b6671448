/*
** sync.h -- Lock, RLock, Condition, Semaphore, Event, Barrier (sync.c),
** Queue (queue_binding.c), Value and Dict (store_binding.c) for Lua.
*/
#ifndef LCF_SYNC_H
#define LCF_SYNC_H

#include <lua.h>

/* Add this area's classes and functions to the module table on the top. */
void lcf_sync_open(lua_State *L);
/* The same for Queue, and for Value and Dict (called by lcf_sync_open). */
void lcf_queue_open(lua_State *L);
void lcf_store_open(lua_State *L);
/* __eq of every box class here: the same core object. */
int lcf_sync_eq(lua_State *L);

#endif
