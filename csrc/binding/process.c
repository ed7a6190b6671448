/*
** process.c -- Process and ProcessPoolExecutor (concurrent.process). (Not written yet.)
*/
#include "process.h"

void lcf_process_open(lua_State *L) {
  (void)L;
}
