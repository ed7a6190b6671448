/*
** future_class.h -- the Lua Future class.
*/
#ifndef LCF_FUTURE_CLASS_H
#define LCF_FUTURE_CLASS_H

#include <lua.h>

#include "../../concurrent.h"
#include "../runtime/wait.h"

#define LCF_FUTURE "concurrent.Future"

void lcf_future_open(lua_State *L);            /* class; functions into top */
/* core.waiter and core.map_chunk (waiting.c). */
void lcf_waiter_open(lua_State *L);
cf_future *lcf_checkfuture(lua_State *L, int arg);
/* Push a box for f, taking over the caller's reference. */
void lcf_pushfuture(lua_State *L, cf_future *f);
/* Timeout argument: nil/none -> -1 (forever); a negative or NaN number is
** an argument error. */
double lcf_opttimeout(lua_State *L, int arg);
/* A buffer owned by a new userdata on the stack top (freed with it). */
cf_buffer *lcf_newbuffer(lua_State *L);

#endif
