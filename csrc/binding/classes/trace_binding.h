/*
** trace_binding.h -- concurrent.trace's C side (start, stop) over the
** core's task recorder (core/trace.c).
*/
#ifndef LCF_TRACE_BINDING_H
#define LCF_TRACE_BINDING_H

#include <lua.h>

/* Add the trace_* functions to the module table on the top. */
void lcf_trace_open(lua_State *L);

#endif
