/*
** callbacks.h -- done-callbacks that run in the state that added them.
*/
#ifndef LCF_CALLBACKS_H
#define LCF_CALLBACKS_H

#include <lua.h>

/* Run the callbacks queued for L; returns how many ran. Cheap when none. */
int lcf_callbacks_run(lua_State *L);
/* Future:add_done_callback and futures.poll. */
void lcf_callbacks_open(lua_State *L);
/* core.waiter() (waiter.c). */
void lcf_waiter_open(lua_State *L);

#endif
