/*
** allocator.h -- states whose small blocks come from a region they own
** (worker and thread states: see allocator.c).
*/
#ifndef LCF_ALLOCATOR_H
#define LCF_ALLOCATOR_H

#include <lua.h>

#include "compat.h"

/* Like luaL_newstate (panic message, warnings off until "@on"), with the
** state's own small-block allocator. NULL when out of memory. */
lua_State *lcf_allocator_newstate(void);

/* What luaL_newstate installs besides its allocator (the panic message,
** warnings off until "@on"), for a state made with lua_newstate. */
void lcf_state_defaults(lua_State *L);

#endif
