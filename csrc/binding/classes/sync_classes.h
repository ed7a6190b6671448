/*
** sync_classes.h -- Lock, RLock, Condition, Semaphore, Event, Barrier
** (sync_classes.c), Queue (queue_class.c), Value and Dict
** (store_classes.c) for Lua.
*/
#ifndef LCF_SYNC_CLASSES_H
#define LCF_SYNC_CLASSES_H

#include <lua.h>

/* Add this area's classes and functions to the module table on the top. */
void lcf_sync_open(lua_State *L);
/* The same for Queue, and for Value and Dict (called by lcf_sync_open). */
void lcf_queue_open(lua_State *L);
void lcf_store_open(lua_State *L);

#endif
