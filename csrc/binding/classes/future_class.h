/*
** future.h -- the Lua Future class.
*/
#ifndef LCF_LFUTURE_H
#define LCF_LFUTURE_H

#include <lua.h>

#include "../../concurrent.h"
#include "../runtime/wait.h"

#define LCF_FUTURE "concurrent.Future"

void lcf_future_open(lua_State *L);            /* class; functions into top */
void lcf_waiter_open(lua_State *L);            /* core.waiter (waiting.c) */
cf_future *lcf_checkfuture(lua_State *L, int arg);
/* Push a box for f, taking over the caller's reference. */
void lcf_pushfuture(lua_State *L, cf_future *f);
/* Timeout argument: nil/none -> -1 (forever); a negative or NaN number is
** an argument error. */
double lcf_opttimeout(lua_State *L, int arg);
/* A buffer owned by a new userdata on the stack top (freed with it). */
cf_buffer *lcf_newbuffer(lua_State *L);

#endif
