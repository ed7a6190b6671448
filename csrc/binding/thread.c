/*
** thread.c -- Thread and thread handles (concurrent.thread). (Not written yet.)
*/
#include "thread.h"

void lcf_thread_open(lua_State *L) {
  (void)L;
}
