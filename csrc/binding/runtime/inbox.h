/*
** inbox.h -- the per-state inbox of done-callbacks: a future finishing in
** any thread queues fn(future) here, and the state that added it runs
** the queue (futures.poll and after each of its blocking calls).
*/
#ifndef LCF_INBOX_H
#define LCF_INBOX_H

#include <lua.h>

#include "compat.h"

#include "../../concurrent.h"

/* Run the callbacks queued for L; returns how many ran. Cheap when none. */
int lcf_callbacks_run(lua_State *L);
/* Queue the function at -2 with the future at -1 (f's box) on L's inbox,
** to be called when f finishes; pops both. Raises only for memory. */
void lcf_inbox_watch(lua_State *L, cf_future *f);
/* Call the function at -2 with the future at -1 now, protected, reporting
** an error on stderr; pops both. */
void lcf_inbox_call(lua_State *L);

#endif
