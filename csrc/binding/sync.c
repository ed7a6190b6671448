/*
** sync.c -- Lock, RLock, Condition, Semaphore, Event, Barrier, Queue, Value, Dict objects for Lua. (Not written yet.)
*/
#include "sync.h"

void lcf_sync_open(lua_State *L) {
  (void)L;
}
