/*
** stop.h -- how a Lua task is stopped (runtime/stop.c): the hook armed on
** a worker's state while a stop is asked, the error an interrupted task
** raises (concurrent.interrupted() is module.c's).
*/
#ifndef LCF_STOP_H
#define LCF_STOP_H

#include <lua.h>

#include "compat.h"

/* In the thread that owns L (a pool worker, a Thread): let a stop asked
** of its task arm the hook on L; detach before L is closed. */
void lcf_stop_attach(lua_State *L);
void lcf_stop_detach(void);
/* A process pool's worker process: SIGUSR1 asks the task that runs on L
** to stop (the handler sets the hook, as lua.c does for SIGINT). NULL
** before L is closed. */
void lcf_stop_signal_setup(lua_State *L);
/* Push the interruption (a CancelledError saying so). */
void lcf_push_interrupted(lua_State *L);
/* If the calling thread's task is asked to stop: push the interruption
** and return 1 (the caller raises it once it has cleaned up); else 0. */
int lcf_stop_check(lua_State *L);

#endif
