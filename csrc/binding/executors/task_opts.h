/*
** task_opts.h -- ex:submit_with(opts, fn, ...)'s options, checked
** (executors/task_opts.c), and shutdown's interrupt option.
*/
#ifndef LCF_TASK_OPTS_H
#define LCF_TASK_OPTS_H

#include <lua.h>

#include "../../concurrent.h"
#include "../runtime/compat.h"

/* Check the table at idx ({timeout=, priority=, key=}) into *o (o->key
** points into the Lua string, valid while it is on the stack); raises an
** argument error naming the option for anything else. */
void lcf_check_task_opts(lua_State *L, int idx, cf_task_opts *o);
/* shutdown's {interrupt = true}: 1 if asked (index 2 a table with it). */
int lcf_shutdown_interrupt(lua_State *L);

#endif
